"""A re-run's unchanged findings take the narrow update (`hub.run_refresh`) and leave the hub in
exactly the state the full provider-update path leaves it in: every column of every table
(findings, side rows, history events, run observations), the documents, and each run's diff.
Runs on both databases (PostgreSQL always takes the full path: the comparison still holds).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from secpipe.hub import run_refresh
from secpipe.hub.store import open_store
from tests.hub.builders import example_run, key
from tests.hub.test_store_runs import T1, T2, T3, ids, run

T4 = "2024-06-04T10:00:00.000Z"
VOLATILE_COLS = {"processed_at"}          # now(), different in two stores
_NOW = re.compile(r"20(?!24-)\d\d-\d\d-\d\dT[0-9:.]+Z")     # the runs stamp 2024
TABLES = ("findings", "finding_types", "finding_resources", "finding_map", "finding_events",
          "run_findings")


def _dump(store) -> dict[str, list]:
    """Every table the import and a run write, with the hub's own clock masked."""
    out: dict[str, list] = {}
    with store.engine.connect() as conn:
        for table in TABLES:
            res = conn.execute(text(f"SELECT * FROM {table}"))
            cols = list(res.keys())
            rows = []
            for r in res:
                row = dict(zip(cols, r))
                for c in VOLATILE_COLS & row.keys():
                    row[c] = "*"
                if "doc" in row and table == "findings":
                    doc = json.loads(row["doc"])
                    doc["ProcessedAt"] = "*"
                    row["doc"] = json.dumps(doc)   # key order kept
                if table == "finding_events":
                    row.pop("at", None)
                    row.pop("seq", None)
                # the hub's own clock (a flip's UpdatedAt, a triage Note's): not the runs'
                rows.append(_NOW.sub("*", json.dumps(row, sort_keys=True, default=str)))
            out[table] = sorted(rows)
    return out


def triage_then_third(store) -> list[dict]:
    """Triage (customer fields) on trivy's finding, then the third run's documents: a
    provider change on checkov's (a new title) and hadolint fixed (absent)."""
    store.batch_update([key(store.get_finding(ids(T1)["trivy"]))],
                       {"Note": {"Text": "seen", "UpdatedBy": "me"},
                        "Workflow": {"Status": "NOTIFIED"}})
    third = example_run(T3, "r3", skip=("hadolint",))
    for doc in third:
        if doc["ProductFields"]["secpipe/Tool"] == "checkov":
            doc["Title"] = "a new title"
    return third


def _scenario(store) -> list[Any]:
    """Runs that exercise the narrow path and every case it must leave to the full one."""
    diffs = []
    diffs.append(store.record_run(run("r1", T1), example_run(T1, "r1")))
    diffs.append(store.record_run(run("r2", T2), example_run(T2, "r2")))      # all unchanged
    diffs.append(store.record_run(run("r3", T3), triage_then_third(store)))
    # the fixed finding comes back (reopened), an older UpdatedAt is ignored
    fourth = example_run(T4, "r4")
    stale = [d for d in example_run(T1, "r4") if d["ProductFields"]["secpipe/Tool"] == "trivy"]
    fourth = [d for d in fourth if d["ProductFields"]["secpipe/Tool"] != "trivy"] + stale
    diffs.append(store.record_run(run("r4", T4), fourth))
    return [(sorted(d.new), sorted(d.recurring), sorted(d.fixed), d.by_stage) for d in diffs]


def _full_path_only(conn, items, partition, trusted=None, looked=None):
    return {}, list(items)


def _narrow_and_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario
                     ) -> tuple[list[int], Any, Any, dict, dict]:
    """`scenario` on a hub with the narrow path (counting the findings it took per call) and
    on one with the full path only: (counts, both results, both hubs' states)."""
    used: list[int] = []
    real = run_refresh.refresh

    def counting(conn, items, partition, trusted=None, looked=None):
        done, rest = real(conn, items, partition, trusted, looked)
        used.append(len(done))
        return done, rest

    monkeypatch.setattr(run_refresh, "refresh", counting)
    narrow = open_store(f"sqlite:///{tmp_path / 'narrow.db'}")
    got, narrow_state = scenario(narrow), _dump(narrow)
    monkeypatch.setattr(run_refresh, "refresh", _full_path_only)
    full = open_store(f"sqlite:///{tmp_path / 'full.db'}")
    want = scenario(full)
    return used, got, want, narrow_state, _dump(full)


def test_the_narrow_update_stores_what_the_full_update_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite (PostgreSQL always takes the full path; the tests below run on both)."""
    used, got, want, narrow_state, full_state = _narrow_and_full(tmp_path, monkeypatch,
                                                                 _scenario)
    assert got == want
    assert narrow_state == full_state
    # r2: all 4 unchanged; r3: the untouched detect-secrets and the triaged trivy (its
    # customer fields are the stored ones); r4: detect-secrets only (checkov changed back,
    # hadolint reopened, trivy stale)
    assert used == [0, 4, 2, 1]


def test_documents_json_loads_reads_take_the_narrow_path_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The narrow path reads each stored document as its UTF-8 bytes: a non-ASCII one, and
    one holding a run of 19 digits (read by json.loads, not orjson), store what the full
    path stores."""
    def docs(stamp: str, run_id: str) -> list[dict]:
        out = example_run(stamp, run_id)
        out[0]["Title"] = "token 12345678901234567890123 \u2014 caf\u00e9"
        out[1]["Description"] = "na\u00efve \u2603 text, 99999999999999999999"
        return out

    def scenario(store) -> tuple:
        store.record_run(run("r1", T1), docs(T1, "r1"))
        d = store.record_run(run("r2", T2), docs(T2, "r2"))
        return sorted(d.new), sorted(d.recurring), sorted(d.fixed)

    used, got, want, narrow_state, full_state = _narrow_and_full(tmp_path, monkeypatch,
                                                                 scenario)
    assert got == want
    assert narrow_state == full_state
    assert used == [0, 4]            # r1 creates (no row read), r2 takes the narrow path


def test_an_unchanged_rerun_moves_the_timestamps_and_nothing_else(store) -> None:
    store.record_run(run("r1", T1), example_run(T1, "r1"))
    first = {d["Id"]: store.get_finding(d["Id"]) for d in example_run(T1, "r1")}
    diff = store.record_run(run("r2", T2), example_run(T2, "r2"))
    assert diff.new == [] and diff.fixed == [] and len(diff.recurring) == 4
    for fid, before in first.items():
        after = store.get_finding(fid)
        assert after["UpdatedAt"] == after["LastObservedAt"] == T2      # Security Hub's view
        assert after["CreatedAt"] == before["CreatedAt"] == T1          # the first import's
        assert after["ProductFields"]["secpipe/RunId"] == "r2"
        moved = {k for k in after if after[k] != before[k]}
        assert moved <= {"UpdatedAt", "FirstObservedAt", "LastObservedAt", "ProcessedAt",
                         "ProductFields"}
        assert store.finding_history(fid)[-1]["kind"] == "observed"    # no import event


def test_automation_rules_keep_the_full_path(store) -> None:
    store.record_run(run("r1", T1), example_run(T1, "r1"))
    store.create_automation_rule({
        "RuleOrder": 1, "RuleName": "sev", "Description": "d", "RuleStatus": "ENABLED",
        "Criteria": {"GeneratorId": [{"Value": "trivy/", "Comparison": "PREFIX"}]},
        "Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                     "FindingFieldsUpdate": {"Severity": {"Label": "LOW"}}}]})
    store.record_run(run("r2", T2), example_run(T2, "r2"))
    assert store.get_finding(ids(T1)["trivy"])["Severity"]["Label"] == "LOW"


def test_only_run_stamps() -> None:
    old = {"Id": "a", "UpdatedAt": "1", "ProductFields": {"secpipe/RunId": "r1", "x": "1"},
           "Title": "t"}
    assert run_refresh.only_run_stamps(old, {**old, "UpdatedAt": "2", "ProductFields": {
        "secpipe/RunId": "r2", "x": "1"}})
    assert not run_refresh.only_run_stamps(old, {**old, "ProductFields": {
        "secpipe/RunId": "r2", "x": "2"}})
    assert not run_refresh.only_run_stamps(old, {**old, "Title": "u"})
    assert not run_refresh.only_run_stamps(old, {"Title": "t", **old})     # another order
    assert not run_refresh.only_run_stamps(old, {**old, "New": 1})
