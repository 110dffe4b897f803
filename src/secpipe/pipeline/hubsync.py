"""A run and its hub: baselines before the gate, the run's record and diff after it.

The hub is where "new", "recurring" and "fixed" come from: before the stages are judged, each
`new_only` stage asks for the Ids of its baseline run; after the run, the run and its findings
are recorded and the hub answers with the diff, which the console and summary.json report.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import AbstractSet, Any, Callable, Iterable

from secpipe.hub.interface import HubError, HubStore, RunRecord
from secpipe.malloc_tune import give_back
from secpipe.pipeline.plan import Plan
from secpipe.pipeline.result import RunResult, Suppression, ToolStatus


class HubSyncError(Exception):
    """The hub could not be reached or refused the run (exit 2: a sink that failed)."""


def hub_location(spec: str | None, out_dir: Path) -> str:
    """`--hub` as given (a path or database URL), else the project's local `hub.db`."""
    if spec:
        return spec
    return str(out_dir / "hub.db")


# A run's SQLite page cache. Recording 50,000 findings filled the default 64 MB with pages
# written once and never read again in the run. 16 MB, with the run's other memory cuts,
# lowered the peak of recording them into a new hub from 490 to 420 MB and of re-recording
# them from 514 to 448 MB against main (bench/own_cpu.py's reports, /usr/bin/time), with the
# same CPU (re-recording 55.7 s against 58-64 s). 8 MB was too few then: re-recording took
# 77 s of CPU, its updates spilling pages again and again. Since the recording writes in
# parts of `RUN_PART` and refreshes unchanged findings narrowly, 4 MB is enough: the
# recording's top at 50,000 findings (a new hub) fell from 172-174 to 161-163 MB, a
# re-recording's from 173 to 166 MB, with SQLite's own instructions at 5,000 findings
# slightly fewer (valgrind: 1,268.8 against 1,274.9 million); the pages read back cost
# system time instead (+0.5 s at 50,000, ~0 at 5,000). See docs/performance.md, twelfth
# round.
RUN_CACHE_MB = 4

# The parts a local hub checks and writes the run's findings in (`record_run`'s batch_size;
# a remote hub parts them itself). A part's documents, their stored JSON texts and UTF-8
# copies live together while it is written, most of them in malloc's heap, whose holes the
# next part only partly refills: parts of 500 rather than 1,000 lowered a 5,000-finding run's
# peak from 108 to 101-102 MB, the recording's top at 50,000 from 186.6 to 182.0 MB (250:
# 176.0), with the same CPU at 5,000 (bench/own_cpu_ab.py, 4 alternated rounds: ratio 0.97).
RUN_PART = 500


def open_hub(location: str) -> HubStore:
    try:
        if location.startswith(("http://", "https://")):
            from secpipe.hub.client import RemoteHub

            return RemoteHub(location)
        from secpipe.hub.store import open_store

        return open_store(location, cache_mb=RUN_CACHE_MB, mmap=False)
    except HubError as exc:
        raise HubSyncError(f"hub {location}: {exc.message}") from None
    except Exception as exc:  # a database driver's own error: say which hub and why
        raise HubSyncError(f"hub {location}: cannot open: {exc}") from None


def close_behind(store: HubStore, location: str) -> Callable[[], None]:
    """Start closing `store` in a thread; the function returned waits for it (a close that
    failed is a HubSyncError there, as a failed open is).

    A local hub's close folds the run's write-ahead log into the database file and deletes
    it (SQLite's checkpoint, which runs with the GIL released, so it overlaps the reports
    being written). Left open, the log kept every run's writes (~9 MB per unchanged re-run of
    2,000 findings, never folded in by `secpipe run` alone), and the next process to open the
    hub read all of it back first (WAL recovery: ~0.3 ms of CPU per MB, 40 ms at 127 MB, on
    every run's critical path, growing run after run).

    Once closed, the heaps' free pages go back to the system (`malloc_tune.give_back`): the
    page cache the close freed and the holes the recording's parts left among live blocks
    (~30 MB at 50,000 findings), which RSS kept through the reports written meanwhile, whose
    own memory comes from elsewhere (pymalloc's arenas): 50k run with the hub, the writers'
    top 225 -> ~200 MB."""
    failed: list[Exception] = []

    def close() -> None:
        try:
            store.close()
        except Exception as exc:  # a database driver's own error: raised by wait()
            failed.append(exc)
            return
        give_back()

    closing = threading.Thread(target=close, name="secpipe-hub-close")
    closing.start()

    def wait() -> None:
        closing.join()
        if failed:
            raise HubSyncError(f"hub {location}: cannot close: {failed[0]}")

    return wait


def baselines(store: HubStore, plan: Plan, repo: str, branch: str) -> dict[str, AbstractSet[str]]:
    """Baseline Ids for every `new_only` stage (its base branch's, else its own branch's)."""
    out: dict[str, AbstractSet[str]] = {}
    for stage in plan.stages:
        if stage.new_only:
            ids = store.baseline_ids(repo, stage.base_branch or branch)
            if ids or stage.base_branch:
                out[stage.name] = ids
    return out


def record(store: HubStore, run: RunResult, findings: Iterable[dict[str, Any]],
           summary: dict) -> None:
    """Record the run; fill `run.diff` with new / recurring / fixed per stage. `findings` is
    read once, in parts (a local hub checks and writes one part at a time)."""
    scope = [(t.stage, t.tool) for s in run.stages for t in s.tools if t.status is ToolStatus.OK]
    ctx = run.context
    rec = RunRecord(run_id=run.run_id, repo=ctx.repo, branch=ctx.branch, commit=ctx.commit,
                    started_at=run.started_at, finished_at=run.finished_at, status=run.verdict,
                    exit_code=run.exit_code, summary=summary, scope=scope)
    from secpipe.hub.client import RemoteHub

    parts = {} if isinstance(store, RemoteHub) else {"batch_size": RUN_PART}
    try:
        diff = store.record_run(rec, findings, **parts)
    except HubError as exc:
        raise HubSyncError(f"the hub refused the run: {exc.message}") from None
    run.baseline_run_id = diff.baseline_run_id
    # In the run's stage order (dict.fromkeys drops repeats): summary.json is compared
    # byte for byte between runs, and a set's order changes with the hash seed.
    stages = dict.fromkeys(s.name for s in run.stages)
    run.diff = {name: dict(diff.by_stage.get(name, {"new": 0, "recurring": 0, "fixed": 0}))
                for name in stages}
    new_ids = set(diff.new)
    del diff        # its other Ids (a re-run's 50,000 recurring ones) go now, not after the loop
    for stage in run.stages:
        for g in stage.findings:
            if g.is_new is None:
                g.is_new = g.asff_id in new_ids



def hub_suppressions(store: HubStore, repo: str) -> tuple[list[Suppression], list[Suppression]]:
    """(honoured, reopened): the suppressions the hub holds for `repo`'s findings that the gate
    honours (made by triage or a rule of a principal that may triage, not expired) and the
    expired ones the hub has just reopened (they block again). A hub that cannot say (an older
    remote hub) gives none: its findings block, as they would without a hub."""
    ask = getattr(store, "hub_suppressions", None)
    if ask is None:
        return [], []
    try:
        honoured, expired = ask(repo)
    except HubError as exc:
        raise HubSyncError(f"the hub could not list its suppressions: {exc.message}") from None

    return [_entry(s) for s in honoured], [_entry(s) for s in expired]


def _entry(s) -> Suppression:
    """A hub suppression (secpipe.hub.suppressed.HubSuppression) as the gate's entry."""
    return Suppression(reason=s.note or "(no note)", expires=s.expires or "", id=s.id,
                       source="hub",
                       actor=s.actor if s.kind != "import" else "import (triage role)")


def spare_by_rules(store: HubStore, run: RunResult) -> None:
    """Re-judge the run's blocking findings that the hub's automation rules will suppress when
    the run is recorded (rules apply on import, as in Security Hub, so a rule made after a
    finding was first seen spares it from the next run on). Called before the run is recorded,
    so the hub's run record and the run's outputs give the same verdict."""
    ask = getattr(store, "rule_suppressions", None)
    pending = [(stage, g) for stage in run.stages for g in stage.findings if g.blocking]
    if ask is None or not pending:
        return
    any_rules = getattr(store, "has_enabled_rules", None)    # a local hub can say at once
    if any_rules is not None and not any_rules():
        return
    from secpipe.outputs._common import Origins
    from secpipe.outputs.asff import gated_to_asff
    from secpipe.pipeline.gate import stage_status

    origins = Origins(run)
    try:
        found = {s.id: _entry(s) for s in ask([gated_to_asff(run, stage, g, origins=origins)
                                               for stage, g in pending])}
    except HubError as exc:
        raise HubSyncError(f"the hub could not apply its automation rules: {exc.message}"
                           ) from None
    changed = {}
    for stage, g in pending:
        hit = found.get(g.asff_id)
        if hit is not None:
            g.suppressed_by, g.blocking = hit, False
            changed[stage.name] = stage
    for stage in changed.values():
        stage.status = stage_status(stage.tools, stage.findings, stage.mode)
    run.hub_suppressions += list(found.values())
