"""`runs.record` and `audit.record` write the runs and audit_log tables with text statements
(compiling their Core forms cost ~2 ms of a pipeline's one recording per process). They store
what the Core statements they replace stored: the same runs through both (the reference keeps
the Core forms, bound as the text ones are) leave the same rows in every table, the same
diffs and the same refusals, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text

from secpipe.hub import audit, importer, runs
from secpipe.hub.authz import Policy, local_principal
from secpipe.hub.bulk import driver_rows
from secpipe.hub.common import dumps, now
from secpipe.hub.interface import ResourceConflict, RunDiff
from secpipe.hub.schema import audit_log, runs as RUNS
from secpipe.hub.store import open_store
from tests.hub.builders import ACCOUNT
from tests.hub.test_record_run_parts import CI, _extras, _parted, _runs
from tests.hub.test_record_run_parts import two_urls  # noqa: F401 (the fixture)
from tests.hub.test_run_refresh import TABLES, _dump
from tests.hub.test_store_runs import T1, run

# the hub's clock: different in two hubs
_VOLATILE = {"runs": ("recorded_at",), "audit_log": ("at",)}


def _record_core(conn, run, observed, base_branch, writer=None, policy=Policy()) -> RunDiff:
    """`runs.record` as it was (Core statements, the diff read back), verbatim but for the
    module prefix."""
    if conn.execute(select(RUNS.c.seq).where(RUNS.c.run_id == run.run_id)).first():
        raise ResourceConflict(f"run {run.run_id} is already recorded")
    who = writer or local_principal()
    scope = {(str(s), str(t)) for s, t in run.scope}
    base = base_branch or run.branch
    own_history = base == run.branch
    seq = conn.execute(insert(RUNS).values(
        run_id=run.run_id, repo=run.repo, branch=run.branch, commit=run.commit or "",
        started_at=run.started_at or "", finished_at=run.finished_at or "",
        status=run.status or "", exit_code=int(run.exit_code or 0),
        summary=dumps(run.summary or {}) if runs._jsonable(run.summary) else dumps({}),
        scope=dumps(sorted(scope)), base_branch=base_branch, baseline_run_id=None,
        recorded_at=now(), principal=who.name[:160], writer_role=who.role,
        writer_scope=dumps(who.scope.to_json())).returning(RUNS.c.seq)).scalar_one()
    pairs = scope | set(observed.values())
    prev_id, chosen = runs._baselines(conn, run.repo, base, seq if own_history else None,
                                      pairs, policy)
    conn.execute(RUNS.update().where(RUNS.c.seq == seq).values(baseline_run_id=prev_id))
    baseline = runs._observations(conn, chosen)
    rows = [(seq, pk, st, tl, "recurring" if pk in baseline else "new")
            for pk, (st, tl) in observed.items()]
    fixed = [pk for pk, pair in baseline.items() if pair in scope and pk not in observed]
    fixed = runs._archivable(conn, writer, fixed)
    rows += [(seq, pk, *baseline[pk], "fixed") for pk in fixed]
    importer.bulk.insert_rows(conn, "run_findings", ("run_seq", "finding_pk", "stage", "tool",
                                                     "change"), rows)
    if own_history:
        runs._flip_state(conn, fixed, "ARCHIVED", run.run_id)
    archived = runs._archived_among(conn, list(observed))
    runs._flip_state(conn, archived, "ACTIVE", run.run_id)
    return _diff_all_rows(conn, run.run_id, seq, prev_id)


def _diff_all_rows(conn, run_id, seq, baseline_run_id) -> RunDiff:
    """`runs._diff` as it was: every row read at once."""
    out = RunDiff(run_id=run_id, baseline_run_id=baseline_run_id)
    for fid, stage, change in driver_rows(
            conn, "SELECT findings.id, run_findings.stage, run_findings.change FROM run_findings "
            "JOIN findings ON findings.pk = run_findings.finding_pk "
            "WHERE run_findings.run_seq = ? ORDER BY findings.id", (seq,)):
        getattr(out, change).append(fid)
        counts = out.by_stage.setdefault(stage, {"new": 0, "recurring": 0, "fixed": 0})
        counts[change] += 1
    return out


def _core(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Core statements of before: `runs.record` as it was (its observations in one
    insert, its diff read at once), `insert(audit_log)`, and the RecordRun row's digest of
    one JSON text (`audit.digest`)."""
    monkeypatch.setattr(runs, "record", _record_core)
    monkeypatch.setattr(runs, "diff_digest",
                        lambda d: audit.digest([d.new, d.recurring, d.fixed]))
    monkeypatch.setattr(audit, "_INSERT", insert(audit_log))


def _rows(store) -> dict[str, list]:
    out = _dump(store)
    assert set(TABLES) <= set(out)
    with store.engine.connect() as conn:
        for table, volatile in _VOLATILE.items():
            res = conn.execute(text(f"SELECT * FROM {table} ORDER BY seq"))
            cols = list(res.keys())
            rows = [dict(zip(cols, r)) for r in res]
            for row in rows:
                masked = volatile
                if row.get("action") == "BatchUpdateFindings":   # digests of the hub's clock
                    masked += ("before", "after")
                row.update((c, "*") for c in masked)
            out[table] = [json.dumps(row, default=str) for row in rows]
    return out


def _scenario(store, principal) -> list[Any]:
    out = _runs(_parted, store, principal)
    with pytest.raises(ResourceConflict):              # the same run id twice
        store.record_run(run("r1", T1), _extras(T1, "r1"), principal=principal)
    return out


@pytest.mark.parametrize("principal", [None, CI], ids=["local", "ci"])
def test_text_statements_store_what_the_core_ones_stored(two_urls, principal,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    # observations written and Ids hashed a few at a time: every run's in several parts
    monkeypatch.setattr(runs, "_ROWS_PART", 2)
    monkeypatch.setattr(runs, "_DIGEST_PART", 2)
    by_text = open_store(two_urls[0], account_id=ACCOUNT)
    try:
        got, got_rows = _scenario(by_text, principal), _rows(by_text)
    finally:
        by_text.close()
    _core(monkeypatch)
    by_core = open_store(two_urls[1], account_id=ACCOUNT)
    try:
        assert got == _scenario(by_core, principal)
        assert got_rows == _rows(by_core)
        assert got_rows["runs"] and got_rows["audit_log"]
    finally:
        by_core.close()


_IDS = st.lists(st.text(st.characters(codec=None), max_size=12), max_size=9)


@settings(max_examples=300, deadline=None)
@given(new=_IDS, recurring=_IDS, fixed=_IDS, part=st.integers(1, 4))
def test_diff_digest_is_the_digest_of_one_json_text(new, recurring, fixed, part) -> None:
    """The RecordRun row's digest, hashed a part of the Ids at a time, is `audit.digest` of
    the three lists (any text: quotes, controls, non-ASCII, lone surrogates)."""
    diff = RunDiff(run_id="r", baseline_run_id=None, new=new, recurring=recurring, fixed=fixed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "_DIGEST_PART", part)
        assert runs.diff_digest(diff) == audit.digest([new, recurring, fixed])
