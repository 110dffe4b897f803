"""Runs and diffs: new / recurring / fixed, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from secpipe.hub.interface import ResourceConflict, ResourceNotFound, RunRecord
from tests.hub.builders import SCOPE, example_run, key

T1, T2, T3 = "2024-06-01T10:00:00.000Z", "2024-06-02T10:00:00.000Z", "2024-06-03T10:00:00.000Z"


def run(run_id: str, stamp: str, scope=SCOPE, branch="main") -> RunRecord:
    return RunRecord(run_id=run_id, repo="example/web", branch=branch, commit=run_id,
                     started_at=stamp, finished_at=stamp, status="passed", exit_code=0,
                     summary={"run_id": run_id}, scope=scope)


def ids(stamp: str, *tools: str) -> dict[str, str]:
    """tool -> ASFF Id of the example's findings."""
    return {d["ProductFields"]["secpipe/Tool"]: d["Id"] for d in example_run(stamp, "x")
            if not tools or d["ProductFields"]["secpipe/Tool"] in tools}


def state(store, fid: str) -> tuple[str, str]:
    doc = store.get_finding(fid)
    return doc["RecordState"], doc["Workflow"]["Status"]


def three_runs(store, suppress: bool = False):
    fixed_id = ids(T1)["hadolint"]
    d1 = store.record_run(run("r1", T1), example_run(T1, "r1"))
    if suppress:
        store.batch_update([key(store.get_finding(fixed_id))],
                           {"Workflow": {"Status": "SUPPRESSED"}})
    d2 = store.record_run(run("r2", T2), example_run(T2, "r2", skip=("hadolint",)))
    after2 = state(store, fixed_id)
    d3 = store.record_run(run("r3", T3), example_run(T3, "r3"))
    return fixed_id, d1, d2, after2, d3


def test_a_fixed_finding_is_archived_and_comes_back_new(store):
    fixed_id, d1, d2, after2, d3 = three_runs(store)
    every = sorted(ids(T1).values())
    assert d1.baseline_run_id is None and sorted(d1.new) == every and d1.fixed == []
    assert d2.baseline_run_id == "r1"
    assert d2.fixed == [fixed_id] and d2.new == []
    assert sorted(d2.recurring) == sorted(set(every) - {fixed_id})
    assert after2 == ("ARCHIVED", "RESOLVED")
    assert d3.baseline_run_id == "r2"
    assert d3.new == [fixed_id] and d3.fixed == []
    assert state(store, fixed_id) == ("ACTIVE", "NEW")
    assert d2.by_stage["lint"] == {"new": 0, "recurring": 0, "fixed": 1}
    assert d2.by_stage["iac"] == {"new": 0, "recurring": 1, "fixed": 0}
    assert d3.by_stage["lint"] == {"new": 1, "recurring": 0, "fixed": 0}
    assert store.count_findings() == 4                    # deduplicated across runs


def test_a_suppressed_finding_stays_suppressed(store):
    fixed_id, _, d2, after2, d3 = three_runs(store, suppress=True)
    assert d2.fixed == [fixed_id] and after2 == ("ARCHIVED", "SUPPRESSED")
    assert d3.new == [fixed_id] and state(store, fixed_id) == ("ACTIVE", "SUPPRESSED")


def test_a_tool_that_did_not_run_fixes_nothing_and_makes_nothing_new(store):
    trivy_id = ids(T1)["trivy"]
    store.record_run(run("r1", T1), example_run(T1, "r1"))
    no_trivy = tuple(p for p in SCOPE if p[1] != "trivy")         # trivy errored in r2
    d2 = store.record_run(run("r2", T2, scope=no_trivy), example_run(T2, "r2", skip=("trivy",)))
    assert d2.fixed == [] and state(store, trivy_id) == ("ACTIVE", "NEW")
    d3 = store.record_run(run("r3", T3), example_run(T3, "r3"))
    assert d3.new == [] and trivy_id in d3.recurring        # compared with r1 for trivy


def test_an_empty_scope_fixes_nothing(store):
    store.record_run(run("r1", T1), example_run(T1, "r1"))
    d2 = store.record_run(run("r2", T2, scope=()), [])
    assert d2.fixed == [] and d2.new == [] and d2.recurring == []


def test_reopening_does_not_depend_on_scanner_timestamps(store):
    fixed_id = ids(T1)["hadolint"]
    store.record_run(run("r1", T1), example_run(T1, "r1"))
    store.record_run(run("r2", T2), example_run(T2, "r2", skip=("hadolint",)))
    d3 = store.record_run(run("r3", T3), example_run(T1, "r3"))   # an old stamp again
    assert d3.new == [fixed_id] and state(store, fixed_id) == ("ACTIVE", "NEW")


def test_a_branch_compared_with_main_does_not_close_mains_findings(store):
    hadolint = ids(T1)["hadolint"]
    store.record_run(run("m1", T1), example_run(T1, "m1"))
    feature = example_run(T2, "f1", skip=("hadolint",), branch="feature")
    d = store.record_run(run("f1", T2, branch="feature"), feature, base_branch="main")
    assert d.baseline_run_id == "m1" and d.fixed == [hadolint] and d.new == []
    assert state(store, hadolint) == ("ACTIVE", "NEW")
    assert store.baseline_ids("example/web", "main") == set(ids(T1).values())
    assert store.baseline_ids("example/web", "feature") == set(ids(T1).values()) - {hadolint}
    assert store.baseline_ids("example/web", "nope") == set()


def test_runs_are_kept_and_listed(store):
    d1 = store.record_run(run("r1", T1), example_run(T1, "r1"))
    store.record_run(run("r2", T2), example_run(T2, "r2", skip=("hadolint",)))
    assert [r.run_id for r in store.list_runs()] == ["r2", "r1"]
    assert [r.run_id for r in store.list_runs("example/web", "main", limit=1)] == ["r2"]
    assert store.list_runs("other/repo") == []
    got = store.get_run("r1")
    assert got.summary == {"run_id": "r1"} and got.status == "passed"
    assert sorted(got.scope) == sorted(SCOPE)
    again = store.run_diff("r1")
    assert (sorted(again.new), again.fixed, again.by_stage) == (sorted(d1.new), [], d1.by_stage)
    with pytest.raises(ResourceNotFound):
        store.get_run("nope")
    with pytest.raises(ResourceNotFound):
        store.run_diff("nope")


def test_a_run_is_recorded_once_and_atomically(store):
    store.record_run(run("r1", T1), example_run(T1, "r1"))
    with pytest.raises(ResourceConflict):
        store.record_run(run("r1", T2), example_run(T2, "r1", skip=("hadolint",)))
    assert store.get_finding(ids(T1)["trivy"])["UpdatedAt"] == T1    # nothing imported


def test_findings_refused_on_import_are_reported(store):
    findings = example_run(T1, "r1") + [{"Id": "broken"}]
    d = store.record_run(run("r1", T1), findings)
    assert len(d.new) == 4 and [f["Id"] for f in d.failed] == ["broken"]


def test_history_shows_observations_fixes_and_triage(store):
    fixed_id, *_ = three_runs(store)
    store.batch_update([key(store.get_finding(fixed_id))], {"Workflow": {"Status": "NOTIFIED"}},
                       updated_by="alice")
    history = store.finding_history(fixed_id)
    kinds = [(h["kind"], h.get("run_id")) for h in history]
    assert kinds[0] == ("created", None)
    assert ("observed", "r1") in kinds and ("fixed", "r2") in kinds and ("observed", "r3") in kinds
    autos = [h["changes"] for h in history if h["kind"] == "auto"]
    assert {"Workflow.Status": ["NEW", "RESOLVED"]} in autos
    assert {"Workflow.Status": ["RESOLVED", "NEW"]} in autos
    assert history[-1]["kind"] == "update" and history[-1]["actor"] == "alice"
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    with pytest.raises(ResourceNotFound):
        store.finding_history("nope")
