"""Runs, observations and what a run changed (secpipe's own layer over Security Hub semantics).

A run's findings are imported like any provider's; the run then records one observation per
finding and compares itself with a baseline. The baseline of a (stage, tool) pair is the most
recent earlier run of the branch (or of the named base branch) in which that pair ran: a tool
that errored in the previous run neither fixes anything then nor makes its old findings look
new now. Findings of the baseline that did not recur become fixed (ARCHIVED, and RESOLVED
unless suppressed) - but only for pairs in `run.scope`, the pairs that ran cleanly this time,
and only when the baseline is the branch's own history: a feature branch compared with `main`
must not close `main`'s findings. A finding that is observed again while ARCHIVED is reopened
(ACTIVE, NEW unless SUPPRESSED), even when its scanner timestamp is not newer.
"""

from __future__ import annotations

import hashlib
import json
from itertools import islice
from typing import Any, Iterator, Mapping

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from secpipe.hub import import_rules, importer
from secpipe.hub.authz import Policy, Principal, Scope, local_principal, trusted_writer
from secpipe.hub.bulk import driver_rows
from secpipe.hub.common import canon_time, dumps, iso_ms, loads, now
from secpipe.hub.interface import InvalidInput, ResourceConflict, ResourceNotFound, RunDiff
from secpipe.hub.interface import Partition, RunRecord
from secpipe.hub.schema import finding_events as E
from secpipe.hub.schema import findings as F
from secpipe.hub.schema import run_findings as O
from secpipe.hub.schema import runs as RUNS

BASELINE_DEPTH = 50
# `record`'s statements on the runs table as text: a pipeline records one run per process,
# where compiling their Core forms cost ~0.3-0.9 ms each (text: ~0.1), about 2 ms of a
# re-run's ~150 ms of recording. The same connection, transaction and event hooks.
_RUN_SEQ = text("SELECT seq FROM runs WHERE run_id = :run_id")
_RUN_COLS = ("run_id", "repo", "branch", "commit", "started_at", "finished_at", "status",
             "exit_code", "summary", "scope", "base_branch", "baseline_run_id", "recorded_at",
             "principal", "writer_role", "writer_scope")
_INSERT_RUN = text("INSERT INTO runs (" + ", ".join(f'"{c}"' for c in _RUN_COLS)
                   + ") VALUES (" + ", ".join(f":{c}" for c in _RUN_COLS) + ") RETURNING seq")
_SET_BASELINE = text("UPDATE runs SET baseline_run_id = :baseline_run_id WHERE seq = :seq")
_OBSERVATION_COLS = ("run_seq", "finding_pk", "stage", "tool", "change")
_ROWS_PART = 5000       # observations written per `insert_rows` call
_DIGEST_PART = 5000     # Ids per JSON text hashed by `diff_digest`


def stage_tool(doc: Mapping[str, Any]) -> tuple[str, str]:
    fields = doc.get("ProductFields") or {}
    return (str(fields.get("secpipe/Stage", "")),
            str(fields.get("secpipe/Tool") or doc.get("ProductName") or ""))


def check_run(run: RunRecord) -> None:
    for name in ("run_id", "repo", "branch"):
        value = getattr(run, name)
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"run.{name} must be a non-empty string")


def _record(row) -> RunRecord:
    return RunRecord(run_id=row.run_id, repo=row.repo, branch=row.branch, commit=row.commit,
                     started_at=row.started_at, finished_at=row.finished_at, status=row.status,
                     exit_code=row.exit_code, summary=loads(row.summary),
                     scope=[tuple(p) for p in loads(row.scope)])


def _trusted(row, repo: str, branch: str, policy: Policy) -> bool:
    return trusted_writer(row.writer_role, Scope.from_json(loads(row.writer_scope or "{}")),
                          repo, branch, policy)


def _baselines(conn: Connection, repo: str, branch: str, before: int | None,
               pairs: set[tuple[str, str]], policy: Policy = Policy()
               ) -> tuple[str | None, dict[tuple[str, str], int]]:
    """(previous run id, {pair: seq of the run that is that pair's baseline}), among the
    branch's runs written by a principal trusted for it (`authz.trusted_writer`).

    A pair ran in a run when it is in the run's scope or the run observed a finding of it.
    The runs are tried newest first, and a run's observations are read only for pairs still
    without a baseline that its scope does not name: usually every pair is in the newest
    run's scope, and reading the observed pairs of all (up to 50) runs at once scanned
    every observation of them (50 x the findings of a run) to learn nothing more."""
    q = select(RUNS.c.seq, RUNS.c.run_id, RUNS.c.scope, RUNS.c.writer_role,
               RUNS.c.writer_scope).where(RUNS.c.repo == repo, RUNS.c.branch == branch)
    if before is not None:
        q = q.where(RUNS.c.seq < before)
    history = [r for r in conn.execute(q.order_by(RUNS.c.seq.desc()).limit(BASELINE_DEPTH))
               if _trusted(r, repo, branch, policy)]
    if not history:
        return None, {}
    chosen: dict[tuple[str, str], int] = {}
    left = set(pairs)
    for r in history:
        if not left:
            break
        ran = {tuple(p) for p in loads(r.scope)}
        if not left <= ran:
            ran |= _observed_pairs(conn, r.seq)
        for pair in left & ran:
            chosen[pair] = r.seq
        left -= ran
    return history[0].run_id, chosen


def _observed_pairs(conn: Connection, seq: int) -> set[tuple[str, str]]:
    """The (stage, tool) pairs of the findings run `seq` observed (fixed ones are not)."""
    q = select(O.c.stage, O.c.tool).where(O.c.run_seq == seq, O.c.change != "fixed").group_by(
        O.c.stage, O.c.tool)
    return {(stage, tool) for stage, tool in conn.execute(q)}


def _observations(conn: Connection, chosen: dict[tuple[str, str], int]
                  ) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    # one tuple per (stage, tool) for every finding of it: a re-run's baseline holds all of
    # them, and a tuple and two strings per row (~8 MB at 50k) lasted to the end of `record`
    pairs = {pair: pair for pair in chosen}
    for seq in set(chosen.values()):
        for pk, stage, tool in driver_rows(
                conn, "SELECT run_findings.finding_pk, run_findings.stage, run_findings.tool "
                "FROM run_findings WHERE run_findings.run_seq = ? AND run_findings.change != ?",
                (seq, "fixed")):
            pair = pairs.get((stage, tool))
            if pair is not None and chosen[pair] == seq:
                out.setdefault(pk, pair)
    return out


def _flip_state(conn: Connection, pks: list[int], state: str, run_id: str) -> None:
    """A provider-side RecordState change made by the hub itself (fixed / came back)."""
    if not pks:
        return
    stamp = now()
    where: dict[int, Partition] = {}        # each finding stays in its own account and region
    for i in range(0, len(pks), 900):
        where.update((pk, Partition(acct, region)) for pk, acct, region in conn.execute(
            select(F.c.pk, F.c.hub_account, F.c.hub_region).where(F.c.pk.in_(pks[i:i + 900]))))
    batches: dict[Partition, list[importer.Checked]] = {}
    for pk, (doc, _locked) in importer.load_docs(conn, pks).items():
        new = {**doc, "RecordState": state, "UpdatedAt": iso_ms(stamp)}
        batches.setdefault(where[pk], []).append(
            importer.Checked(new, None, canon_time(new["UpdatedAt"])))
    for part, batch in batches.items():
        importer.write(conn, batch, force=True, actor=f"run {run_id}", run_id=run_id,
                       partition=part)


def record(conn: Connection, run: RunRecord, observed: dict[int, tuple[str, str]],
           base_branch: str | None, writer: Principal | None = None,
           policy: Policy = Policy()) -> RunDiff:
    """Store the run and its observations, diff it, archive fixed and reopen returning findings.

    `observed` maps the pk of every finding the run reported to its (stage, tool); the
    findings themselves were imported before, in the same write transaction or earlier ones.
    `writer` (None: the local caller, admin) is recorded with its role and scope; only findings
    under its ProductArns are archived as fixed.
    """
    if conn.execute(_RUN_SEQ, {"run_id": run.run_id}).first():
        raise ResourceConflict(f"run {run.run_id} is already recorded")
    who = writer or local_principal()
    scope = {(str(s), str(t)) for s, t in run.scope}
    base = base_branch or run.branch
    own_history = base == run.branch
    seq = conn.execute(_INSERT_RUN, dict(
        run_id=run.run_id, repo=run.repo, branch=run.branch, commit=run.commit or "",
        started_at=run.started_at or "", finished_at=run.finished_at or "",
        status=run.status or "", exit_code=int(run.exit_code or 0),
        summary=dumps(run.summary or {}) if _jsonable(run.summary) else dumps({}),
        scope=dumps(sorted(scope)), base_branch=base_branch, baseline_run_id=None,
        recorded_at=now(), principal=who.name[:160], writer_role=who.role,
        writer_scope=dumps(who.scope.to_json()))).scalar_one()
    pairs = scope | set(observed.values())
    prev_id, chosen = _baselines(conn, run.repo, base, seq if own_history else None, pairs,
                                 policy)
    conn.execute(_SET_BASELINE, {"baseline_run_id": prev_id, "seq": seq})
    baseline = _observations(conn, chosen)
    fixed = [pk for pk, pair in baseline.items() if pair in scope and pk not in observed]
    fixed = _archivable(conn, writer, fixed)
    # the observations in parts: one row tuple per finding for all of them at once (~4 MB at
    # 50k) lasted to the end of `record`, through the diff's read of the same rows
    seen = iter(observed.items())
    while part := [(seq, pk, st, tl, "recurring" if pk in baseline else "new")
                   for pk, (st, tl) in islice(seen, _ROWS_PART)]:
        importer.bulk.insert_rows(conn, "run_findings", _OBSERVATION_COLS, part)
    importer.bulk.insert_rows(conn, "run_findings", _OBSERVATION_COLS,
                              [(seq, pk, *baseline[pk], "fixed") for pk in fixed])
    if own_history:
        _flip_state(conn, fixed, "ARCHIVED", run.run_id)
    archived = _archived_among(conn, list(observed))
    _flip_state(conn, archived, "ACTIVE", run.run_id)
    return _diff(conn, run.run_id, seq, prev_id)


def _archivable(conn: Connection, writer: Principal | None, pks: list[int]) -> list[int]:
    """The pks under the writer's own ProductArns (`import_rules.may_archive`)."""
    if writer is None or writer.role == "admin" or not pks:
        return pks
    keep = []
    for i in range(0, len(pks), 900):
        keep += [pk for pk, arn in conn.execute(select(F.c.pk, F.c.product_arn).where(
            F.c.pk.in_(pks[i:i + 900]))) if import_rules.may_archive(writer, arn)]
    return sorted(keep)


def _archived_among(conn: Connection, pks: list[int]) -> list[int]:
    out = []
    for i in range(0, len(pks), 900):
        chunk = pks[i:i + 900]
        out += [pk for pk, in driver_rows(
            conn, "SELECT findings.pk FROM findings WHERE findings.pk IN ("
            + ", ".join("?" for _ in chunk) + ") AND findings.record_state = ?",
            (*chunk, "ARCHIVED"))]
    return out


def _jsonable(obj: Any) -> bool:
    try:
        dumps(obj)
        return True
    except (TypeError, ValueError):
        return False


def _run_row(conn: Connection, run_id: str):
    row = conn.execute(select(RUNS).where(RUNS.c.run_id == run_id)).first()
    if row is None:
        raise ResourceNotFound(f"run {run_id} not found")
    return row


def diff(conn: Connection, run_id: str) -> RunDiff:
    row = _run_row(conn, run_id)
    return _diff(conn, run_id, row.seq, row.baseline_run_id)


def _diff(conn: Connection, run_id: str, seq: int, baseline_run_id: str | None) -> RunDiff:
    """`diff` of the run stored as `seq` (`record` knows its row without reading it)."""
    out = RunDiff(run_id=run_id, baseline_run_id=baseline_run_id)
    lists = {"new": out.new, "recurring": out.recurring, "fixed": out.fixed}
    # row by row off the cursor: all rows at once (each with its own stage and change
    # strings, ~14 MB at 50k) were the top of a run's recording, beside the Ids kept
    for fid, stage, change in _each_row(
            conn, "SELECT findings.id, run_findings.stage, run_findings.change FROM run_findings "
            "JOIN findings ON findings.pk = run_findings.finding_pk "
            "WHERE run_findings.run_seq = ? ORDER BY findings.id", (seq,)):
        lists[change].append(fid)
        counts = out.by_stage.get(stage)
        if counts is None:
            counts = out.by_stage[stage] = {"new": 0, "recurring": 0, "fixed": 0}
        counts[change] += 1
    return out


def _each_row(conn: Connection, sql: str, params: tuple) -> Iterator[tuple]:
    """`bulk.driver_rows`, one row at a time off the driver's cursor (same transaction)."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur:
            yield from cur.execute(sql.replace("?", "%s"), params)
        return
    yield from raw.execute(sql, params)


def diff_digest(result: RunDiff) -> str:
    """`audit.digest([result.new, result.recurring, result.fixed])`, the RecordRun audit
    row's `after`, hashed a part of the Ids at a time: the one JSON text of every Id and its
    UTF-8 copy (~6 MB at 50k findings) were the top of a run's recording. Same text, so the
    same digest: a list's JSON is its items' JSON joined by ","."""
    h = hashlib.sha256()
    for n, ids in enumerate((result.new, result.recurring, result.fixed)):
        h.update(b",[" if n else b"[[")
        for start in range(0, len(ids), _DIGEST_PART):
            part = json.dumps(ids[start:start + _DIGEST_PART], ensure_ascii=False,
                              separators=(",", ":"), default=str)
            h.update(((b"," if start else b"") + part[1:-1].encode("utf-8", "surrogatepass")))
        h.update(b"]")
    h.update(b"]")
    return h.hexdigest()


def get(conn: Connection, run_id: str) -> RunRecord:
    return _record(_run_row(conn, run_id))


def list_(conn: Connection, repo: str | None, branch: str | None, limit: int) -> list[RunRecord]:
    q = select(RUNS)
    if repo is not None:
        q = q.where(RUNS.c.repo == repo)
    if branch is not None:
        q = q.where(RUNS.c.branch == branch)
    return [_record(r) for r in conn.execute(q.order_by(RUNS.c.seq.desc()).limit(limit))]


def baseline_ids(conn: Connection, repo: str, branch: str,
                 policy: Policy = Policy()) -> set[str]:
    """Ids of the latest run of the branch written by a principal trusted for it."""
    q = (select(RUNS.c.seq, RUNS.c.writer_role, RUNS.c.writer_scope)
         .where(RUNS.c.repo == repo, RUNS.c.branch == branch)
         .order_by(RUNS.c.seq.desc()).limit(BASELINE_DEPTH))
    latest = next((r.seq for r in conn.execute(q) if _trusted(r, repo, branch, policy)), None)
    if latest is None:
        return set()
    return {fid for fid, in driver_rows(
        conn, "SELECT findings.id FROM run_findings JOIN findings ON findings.pk = "
        "run_findings.finding_pk WHERE run_findings.run_seq = ? AND run_findings.change != ?",
        (latest, "fixed"))}


def history(conn: Connection, finding_id: str) -> list[dict[str, Any]]:
    """Creation, every observation / fix by a run, and every triage or automatic change."""
    found = conn.execute(select(F.c.pk, F.c.product_arn, F.c.created_at)
                         .where(F.c.id == finding_id)).all()
    if not found:
        raise ResourceNotFound(f"finding {finding_id} not found")
    out: list[dict[str, Any]] = []
    pks = [r.pk for r in found]
    for r in found:
        out.append({"at": iso_ms(r.created_at), "kind": "created", "product_arn": r.product_arn})
    q = (select(O.c.change, O.c.stage, O.c.tool, RUNS.c.run_id, RUNS.c.recorded_at,
                RUNS.c.finished_at, RUNS.c.branch, RUNS.c.commit, RUNS.c.principal)
         .select_from(O.join(RUNS, RUNS.c.seq == O.c.run_seq)).where(O.c.finding_pk.in_(pks))
         .order_by(RUNS.c.seq))
    for r in conn.execute(q):
        out.append({"at": iso_ms(r.recorded_at),
                    "kind": "fixed" if r.change == "fixed" else "observed",
                    "change": r.change, "run_id": r.run_id, "stage": r.stage, "tool": r.tool,
                    "branch": r.branch, "commit": r.commit, "actor": r.principal})
    q2 = select(E).where(E.c.finding_pk.in_(pks)).order_by(E.c.seq)
    for e in conn.execute(q2):
        out.append({"at": iso_ms(e.at), "kind": e.kind, "actor": e.actor, "run_id": e.run_id,
                    "changes": loads(e.changes)})
    out.sort(key=lambda item: item["at"])   # stable: creation before same-instant events
    return out


