"""Run a planned pipeline: stages in parallel where `needs` allows, tools in parallel within.

Data flows one way: scanner -> raw report -> parser -> Finding -> gate. Raw reports and tool logs
are held in memory until every tool has finished, then scrubbed of every secret value any parser
saw, and only then written to the run directory: nothing reaches disk in clear. Scrubbed, they
wait for the writing on disk, in a scratch folder of their own (`spill.py`), not in memory.
"""

from __future__ import annotations

import contextvars
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import AbstractSet, BinaryIO, Callable, Mapping, Sequence

from secpipe.formats import ReportFormatError
from secpipe.model import Finding, FingerprintKey, SecretCollector, keyed, scrubonce
from secpipe.model.asff import now_iso
from secpipe.model.finding import forget_fingerprints
from secpipe.pipeline.gate import judge_findings, stage_status
from secpipe.pipeline.identity import assign_identities
from secpipe.pipeline.issues import correlate_run, prepare_stage
from secpipe.pipeline.judging import needed_now
from secpipe.pipeline.keep import kept_unparsable
from secpipe.pipeline.plan import Plan, PlannedStage
from secpipe.pipeline.schedule import Priorities, longest_first
from secpipe.pipeline.scratch import new_scratch
from secpipe.pipeline.spill import Spill, SpilledReport
from secpipe.pipeline.versions import PROBE_TIMEOUT
from secpipe.pipeline.result import (
    RunResult, StageResult, StageStatus, Suppression, ToolResult, ToolStatus,
)
from secpipe.scancache import deferred as scan_saved, hints as scan_hints, scan_and_parse
from secpipe.scancache.turns import my_turn, turns
from secpipe.scanners._history import OFF as HISTORY_OFF
from secpipe.scanners.interface import RawReport, ScannerError, ScanRequest, kill_all_tools
from secpipe.scanners.registry import get_scanner


# The values' scrub as soon as the last tool is done (`_scrub_values`); off, it comes after
# every stage is judged (a run whose last tools are followed by a skipped stage): the tests
# compare both.
SCRUB_EARLY = True


class RunError(Exception):
    """The run could not start or finish (output dir unwritable, ...). Exit code 2."""


@dataclass
class Events:
    """Progress callbacks; the CLI renders them, tests record them.

    `tool_queued` when a tool's inputs are ready and it waits for a free slot, `tool_started`
    (from the worker thread) when it really starts, `phase` for secpipe's own work after the
    tools (scrubbing, hub, outputs), so a long post-processing is never silent.
    """

    tool_started: Callable[[str, str], None] = lambda stage, tool: None
    tool_finished: Callable[[ToolResult], None] = lambda result: None
    stage_finished: Callable[[StageResult], None] = lambda result: None
    tool_queued: Callable[[str, str], None] = lambda stage, tool: None
    phase: Callable[[str], None] = lambda name: None


@dataclass
class _ToolRun:
    result: ToolResult
    reports: list[RawReport | SpilledReport] = field(default_factory=list)
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    cleanup: Callable[[], None] | None = None


def run_plan(plan: Plan, *, run: RunResult, suppressions: Sequence[Suppression],
             env: dict[str, str], jobs: int, events: Events | None = None,
             version_of: Callable[[str], str | None] = lambda tool: None,
             baselines: Mapping[str, AbstractSet[str]] | None = None,
             fingerprint_key: FingerprintKey | None = None,
             gate_inputs: GateInputs | None = None,
             durations: Mapping[str, float] | None = None) -> list[_ToolRun]:
    """Execute the plan, filling `run.stages`; returns every tool's raw material for writing.

    Secrets are fingerprinted under `fingerprint_key` (a random one when None: keyed all the
    same, but Ids then last one run).

    `gate_inputs` (opening the hub: its imports, schema check, baselines and suppressions) is
    called once on this thread as soon as the first tools have started, before any stage is
    judged: its cost overlaps the tools' instead of delaying their start. Its baselines and
    suppressions join `baselines` and `suppressions`; if it raises, every tool is stopped and
    the error ends the run. `durations` (tool -> seconds last time) orders the queue."""
    events = events or Events()
    collector = SecretCollector()
    scan_saved.begin(collector)   # the scan cache is written after the run's scrub
    fkey = fingerprint_key or FingerprintKey.ephemeral()
    done: dict[str, StageResult] = {}
    pending: dict[str, PlannedStage] = {s.name: s for s in plan.stages}
    tool_runs: list[_ToolRun] = []
    running: dict[Future, tuple[PlannedStage, str]] = {}
    per_stage: dict[str, list[_ToolRun]] = {}
    tool_starts: dict[tuple[str, str], float] = {}   # (stage, tool) -> when it really started
    ready: list = []
    outputs: dict[str, dict[str, str]] = {}    # stage -> outputs of its tools
    cleanups: list[tuple[str, Callable[[], None]]] = []
    scratch, release_scratch = new_scratch()   # stale folders of dead runs go first
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="secpipe-tool")
    priorities = Priorities()
    tree_only = _tree_only(plan)
    values_scrubbed = False
    deferred: list[PlannedStage] = []    # done, their judging put off (`judging.py`)
    # a put-off stage's clear values as its first turn saw them: judged later, it correlates
    # with the values it had then, not with those of tools that ended meanwhile
    seen_values: dict[str, set[str]] = {}
    ended: dict[str, float] = {}         # stage -> when its last tool ended
    digested: set[tuple[str, str]] = set()   # tools whose output is digested (in their turn)
    try:
        while pending or running:
            for stage in list(pending.values()):
                needs = [done.get(n) for n in stage.needs]
                if any(n is None for n in needs):
                    continue
                del pending[stage.name]
                if stage.skip_reason:  # its `when:` is not met: said, never silently dropped
                    result = StageResult(stage.name, StageStatus.SKIPPED, stage.fail_on,
                                         stage.mode, error=stage.skip_reason)
                    done[stage.name] = result
                    run.stages.append(result)
                    events.stage_finished(result)
                    continue
                # a need that ERRORed, or was itself skipped for its needs, skips this stage; a
                # need whose tools all had nothing to do (build in filesystem mode) does not
                failed_need = next((n for n in needs if n and (
                    n.status is StageStatus.ERROR
                    or (n.status is StageStatus.SKIPPED and not n.tools))), None)
                if failed_need is not None:
                    result = StageResult(stage.name, StageStatus.SKIPPED, stage.fail_on,
                                         stage.mode, error=f"needs {failed_need.name}, which "
                                         f"ended {failed_need.status.value}")
                    done[stage.name] = result
                    run.stages.append(result)
                    events.stage_finished(result)
                    continue
                per_stage[stage.name] = []
                inputs = _inputs_for(stage, plan, outputs)
                ready += [((stage, inputs), tool) for tool in stage.tools]
            # the costliest tools first (history scans): the run lasts as long as the last one
            for (stage, inputs), tool in longest_first(ready, durations, tree_only):
                events.tool_queued(stage.name, tool)
                fut = pool.submit(_started_then_run, events, tool_starts, priorities,
                                  digested, stage, tool, plan, env, scratch, collector,
                                  version_of, inputs, run.run_id, fkey)
                running[fut] = (stage, tool)
            ready = []
            if gate_inputs is not None:
                baselines, suppressions = _with_gate_inputs(gate_inputs, baselines,
                                                            suppressions, pool, running)
                gate_inputs = None
            if not running:
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            completed: list[PlannedStage] = []
            for fut in finished:
                stage, tool = running.pop(fut)
                tool_run = fut.result()
                tool_runs.append(tool_run)
                outputs.setdefault(stage.name, {}).update(tool_run.outputs)
                if tool_run.cleanup is not None:
                    cleanups.append((f"{stage.name}/{tool}", tool_run.cleanup))
                per_stage[stage.name].append(tool_run)
                events.tool_finished(tool_run.result)
                if len(per_stage[stage.name]) == len(stage.tools):
                    completed.append(stage)
                    ended[stage.name] = time.monotonic()
            if SCRUB_EARLY and not running and not pending and not values_scrubbed:
                # the run's last tools are done: every clear value is known, so the reports
                # and logs are scrubbed of them before their stages are judged (which copies
                # the stages' findings), not after; tools that finished together (a cached
                # run) are all in, so no stage is judged with every report still in clear
                _cleanup(cleanups, tool_runs)   # what a cleanup logs is scrubbed too
                cleanups.clear()
                _scrub_values(tool_runs, collector, fkey, errors=False)
                values_scrubbed = True
            judging, deferred = [*deferred, *completed], []
            for stage in judging:
                needed = needed_now(stage, judging, pending, done)
                # correlation compares digests under the run's key; a stage is judged (its
                # findings copied) in a turn of its own, not beside a tool's digest
                with keyed(fkey), turns():
                    my_turn()
                    if running and not needed and _digest_in(running, digested):
                        # a tool's output came in while this waited for its turn: judged
                        # now, the stage would overlap nothing and add its copies to that
                        # digest's and the scrub's (`judging.py`); put off to a later turn
                        seen_values.setdefault(stage.name, collector.values.copy())
                        deferred.append(stage)
                        continue
                    judged_from = time.monotonic()
                    values = seen_values.pop(stage.name, None)
                    result = _judge(stage, per_stage[stage.name], run, suppressions,
                                    (baselines or {}).get(stage.name),
                                    collector.values.copy() if values is None else values)
                # running time only: from its first tool's real start, not its queueing, to
                # its last tool's end, and its own judging (not the wait for a turn)
                first = min(tool_starts.get((stage.name, t), ended[stage.name])
                            for t in stage.tools)
                result.duration_s = ended[stage.name] - first \
                    + (time.monotonic() - judged_from)
                done[stage.name] = result
                run.stages.append(result)
                events.stage_finished(result)
    except KeyboardInterrupt:
        run.interrupted = True
        _stop_tools(pool, running)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _cleanup(cleanups, tool_runs)
        release_scratch()
    if gate_inputs is not None:   # a plan with no stage to run: the hub is still opened
        gate_inputs()
    order = {s.name: i for i, s in enumerate(plan.stages)}
    run.stages.sort(key=lambda s: order[s.name])
    forget_fingerprints()   # the findings carry theirs: not held through the copy below
    events.phase("scrubbing raw reports and logs")
    if values_scrubbed:   # the tools' errors, which the last stage's judging read as they were
        _scrub_errors(tool_runs, collector.scrub_text)
    else:   # the last tools were not the last step (a stage skipped after them)
        _scrub_values(tool_runs, collector, fkey, errors=True)
    with keyed(fkey):
        correlate_run(run, collector.values)   # one issue per root cause, across stages
    _scrub_all(tool_runs, fkey.scrub_hashes_text, fkey.scrub_hashes)
    scan_saved.commit(collector, fkey.scrub_hashes, tool_runs)   # as raw/ and logs/ hold them
    fkey.forget_hashes()   # and the hashes and their table, before the outputs are written
    return tool_runs


def _scrub_values(tool_runs: list[_ToolRun], collector: SecretCollector,
                  fkey: FingerprintKey, *, errors: bool) -> None:
    """Every report, log and error scrubbed of the run's clear values, once every tool is
    done, and what only that needed dropped: the values' automaton (32 MB at 25,000 values),
    the scan cache's scrubbed copies and the hashes' bytes table (7 MB at 50,000 findings,
    built again by the hashes' pass). It comes before the last stage's judging and the run's
    correlation, which copy findings and were the run's peak with all that alive; neither
    reads what the scrub changes. The hashes' pass stays after them: the correlations' index
    of the values (pipeline.secretvalues) records their SHA-1s in the run's key when the
    run's correlation drops it, and that pass replaces what the key recorded. Before the last judging, the tools' errors are left
    (`errors`) for `_scrub_errors` after it: a stage's error holds them as they are. Short
    texts are then searched without the automaton, with the same result."""
    scan_hints.forget(collector)   # its copies of the reports: freed as each is scrubbed
    scan_saved.check(collector, tool_runs)   # before the reports are replaced by their scrub
    # scrubbed, each report goes to disk (pipeline.spill) until write_raw copies it
    spill = Spill() if any(tr.reports for tr in tool_runs) else None
    _scrub_all(tool_runs, collector.scrub_text,
               lambda data: scrubonce.scrub_values(collector, data), errors=errors,
               spill=spill, into=partial(scrubonce.scrub_values_into, collector))
    scan_saved.search(collector)   # while the values' automaton is built
    collector.release()
    scrubonce.forget()
    fkey.release()


def _scrub_errors(tool_runs: list[_ToolRun], text: Callable[[str], str]) -> None:
    for tr in tool_runs:
        if tr.result.error:
            tr.result.error = text(tr.result.error)


def _scrub_all(tool_runs: list[_ToolRun], text: Callable[[str], str],
               data: Callable[[bytes], bytes], *, errors: bool = True,
               spill: Spill | None = None,
               into: Callable[[bytes, BinaryIO], None] | None = None) -> None:
    """One scrub over every report, log and error: clear values first (the scan cache's pass
    reused where it gives the same bytes), then in a second call the plain hashes tools
    reported (detect-secrets' SHA-1). Each report is replaced in place, so its former bytes
    are freed before the next is scrubbed: by its scrubbed bytes, or with `spill` by those
    bytes on disk; a spilled report (only the hashes' pass sees one: `data` is then
    FingerprintKey.scrub_hashes, which a window at a time gives the same bytes) is scrubbed
    on disk a window at a time, one report after the other. With `spill` and `into` (`data`
    writing its result to a file as it goes), a report is scrubbed straight into its file.
    Spilling, the largest reports go first: the most memory is given back before the values'
    search of the others (each report's result is its own, whatever the order)."""
    places = [(tr, i) for tr in tool_runs for i in range(len(tr.reports))]
    if spill is not None:
        places.sort(key=lambda place: -len(place[0].reports[place[1]].data))
    for tr, i in places:
        report = tr.reports[i]
        if isinstance(report, SpilledReport):   # the hashes' pass: read a window at a time
            report.scrub_hashes(data)
            continue
        name, raw = report.name, report.data
        del report
        if spill is not None and into is not None:
            tr.reports[i] = spill.put_scrubbed(name, raw, into)
            del raw
            continue
        scrubbed = data(raw)
        del raw   # the report's clear bytes: freed as tr.reports[i] is replaced
        tr.reports[i] = RawReport(name, scrubbed) if spill is None \
            else spill.put(name, scrubbed)
        del scrubbed
    for tr in tool_runs:
        tr.log = text(tr.log)
    if errors:
        _scrub_errors(tool_runs, text)


GateInputs = Callable[[], tuple[Mapping[str, AbstractSet[str]], Sequence[Suppression]]]


def _with_gate_inputs(gate_inputs: GateInputs, baselines: Mapping[str, AbstractSet[str]] | None,
                      suppressions: Sequence[Suppression], pool: ThreadPoolExecutor,
                      running: Mapping[Future, object]
                      ) -> tuple[Mapping[str, AbstractSet[str]], Sequence[Suppression]]:
    """Call `gate_inputs` while the first tools run; a failure stops every tool first.

    It runs in a thread of its own (in a copy of this context) while the main thread waits
    for it: a Ctrl-C or SIGTERM, which Python delivers to the main thread, then lands in that
    wait, never halfway through an import or inside a lock that opening the hub holds (an
    interrupted import of the output writers left the run unable to write its summary)."""
    side = ThreadPoolExecutor(max_workers=1, thread_name_prefix="secpipe-gate")
    try:
        future = side.submit(contextvars.copy_context().run, gate_inputs)
        more_baselines, more_suppressions = future.result()
    except BaseException:
        _stop_tools(pool, running)
        raise
    finally:
        side.shutdown(wait=False)
    return {**(baselines or {}), **more_baselines}, [*suppressions, *more_suppressions]


def _stop_tools(pool: ThreadPoolExecutor, running: Mapping[Future, object]) -> None:
    """Cancel the queued tools and kill the running ones, again until every worker is done:
    a worker that was just starting its tool when the first kill came must not leave it
    running."""
    pool.shutdown(wait=False, cancel_futures=True)
    while True:
        kill_all_tools()
        _, not_done = wait(list(running), timeout=0.2)
        if not not_done:
            return


def _started_then_run(events: Events, starts: dict[tuple[str, str], float],
                      priorities: Priorities, digested: set[tuple[str, str]],
                      stage: PlannedStage, tool: str, *args) -> _ToolRun:
    """In the worker: the tool leaves the queue now (its progress line says so), at the
    normal CPU priority while a core has no other tool at it, else at a lower one. Its name
    joins `digested` once its output is digested, still in its turn."""
    starts[(stage.name, tool)] = time.monotonic()
    events.tool_started(stage.name, tool)
    nice = priorities.take()
    try:
        return _run_tool(stage, tool, *args, nice=nice,
                         digested=lambda: digested.add((stage.name, tool)))
    finally:
        priorities.give_back(nice)


def _tree_only(plan: Plan) -> frozenset[str]:
    """The plan's tools that scan no history in this run (`history: false`, or no git work
    tree): a history scanner among them is queued as the tree scan it is."""
    return frozenset(tool for stage in plan.stages for tool in stage.tools
                     if plan.git_root is None
                     or str(plan.tool_options(tool).get("history", True)).lower() in HISTORY_OFF)


def _inputs_for(stage: PlannedStage, plan: Plan, outputs: dict[str, dict[str, str]]
                ) -> dict[str, str]:
    """Outputs of every stage this one needs, directly or through its needs (nearest wins)."""
    by_name = {s.name: s for s in plan.stages}
    merged: dict[str, str] = {}
    seen: set[str] = set()
    queue = list(stage.needs)
    order: list[str] = []
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        order.append(name)
        queue += list(by_name[name].needs) if name in by_name else []
    for name in reversed(order):
        merged.update(outputs.get(name, {}))
    return merged


def _cleanup(cleanups: list[tuple[str, Callable[[], None]]], tool_runs: list[_ToolRun]) -> None:
    """Stop what the run started (deployed services), last started first, whatever happened."""
    for name, fn in reversed(cleanups):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - every cleanup runs; failures are logged
            for tr in tool_runs:
                if f"{tr.result.stage}/{tr.result.tool}" == name:
                    tr.log += f"\ncleanup failed: {exc}"


def _digest_in(running: Mapping[Future, tuple[PlannedStage, str]],
               digested: AbstractSet[tuple[str, str]]) -> bool:
    """Whether a running tool's output is digested already (its worker is just returning)."""
    return any((stage.name, tool) in digested for stage, tool in running.values())


def _judge(stage: PlannedStage, runs: list[_ToolRun], run: RunResult,
           suppressions: Sequence[Suppression], baseline: AbstractSet[str] | None,
           secret_values: AbstractSet[str] = frozenset()) -> StageResult:
    order = {t: i for i, t in enumerate(stage.tools)}
    runs = sorted(runs, key=lambda r: order[r.result.tool])
    tools = [r.result for r in runs]
    ctx = replace(run.context, stage=stage.name)
    # not-secrets dropped, one issue per root cause, entropy-only secrets graded (issues.py)
    findings: list[Finding] = prepare_stage(tools, root=run.root, ctx=ctx, values=secret_values)
    gated = judge_findings(findings, stage=stage.name, fail_on=stage.fail_on,
                           suppressions=suppressions, ctx=ctx, baseline=baseline,
                           new_only=stage.new_only)
    errors = [f"{t.tool}: {t.error}" for t in tools if t.status is ToolStatus.ERROR]
    return StageResult(name=stage.name, status=stage_status(tools, gated, stage.mode),
                       fail_on=stage.fail_on, mode=stage.mode, tools=tools, findings=gated,
                       error="; ".join(errors) or None)


def _run_tool(stage: PlannedStage, tool: str, plan: Plan, env: dict[str, str], scratch: Path,
              collector: SecretCollector, version_of: Callable[[str], str | None],
              inputs: Mapping[str, str], run_id: str, fkey: FingerprintKey,
              nice: int = 0, digested: Callable[[], None] = lambda: None) -> _ToolRun:
    start = time.monotonic()
    result = ToolResult(tool=tool, stage=stage.name, status=ToolStatus.OK)
    tool_run = _ToolRun(result)
    log: list[str] = []
    workdir = scratch / f"{stage.name}-{tool}"
    workdir.mkdir(parents=True, exist_ok=True)
    outcome = None
    try:
        scanner = get_scanner(tool)
        # the version probe runs beside the scan: a cold `checkov --version` costs seconds
        version_box: list[str | None] = []
        prober = threading.Thread(target=lambda: version_box.append(version_of(tool)),
                                  name=f"secpipe-version-{tool}", daemon=True)
        prober.start()
        req = ScanRequest(root=plan.root, workdir=workdir, options=plan.tool_options(tool),
                          timeout=stage.timeout, env=env, exclude=plan.exclude,
                          git_root=plan.git_root, inputs=dict(inputs), run_id=run_id,
                          nice=nice)
        # parsing and the cache's digests under the run's key; one tool's output digested
        # at a time, from its parse to its identities (scancache.turns)
        with keyed(fkey), turns():
            outcome, findings = scan_and_parse(scanner, req, collector, lambda: version_of(tool))
            tool_run.outputs = dict(outcome.outputs)
            tool_run.cleanup = outcome.cleanup
            result.exit_code = outcome.exit_code
            result.command = list(outcome.command)
            result.coverage = dict(outcome.coverage)
            log += [f"$ {' '.join(outcome.command)}", f"exit code: {outcome.exit_code}",
                    *outcome.notes, "--- stderr ---", outcome.stderr.decode("utf-8", "replace")]
            result.findings = _named(scanner, req, tool, findings)
            digested()   # in the turn: a judging that waited for it sees it (run_plan)
        prober.join(timeout=PROBE_TIMEOUT + 5)   # the probe is killed at PROBE_TIMEOUT
        result.version = version_box[0] if version_box else None
        tool_run.reports = [RawReport(f"{stage.name}/{r.name}", r.data)
                            for r in (*outcome.reports, *outcome.artifacts)]
        if not outcome.reports and scanner.produces_findings:
            result.status = ToolStatus.SKIPPED
            result.error = "; ".join(outcome.notes) or "nothing to scan"
    except ScannerError as exc:
        result.status = ToolStatus.ERROR
        result.error = f"{exc.cause}: {exc.message}"
        result.exit_code = exc.exit_code
        result.command = exc.command
        log += [f"$ {' '.join(exc.command)}", f"ERROR ({exc.cause}): {exc.message}",
                "--- stderr ---", exc.stderr.decode("utf-8", "replace")]
    except ReportFormatError as exc:
        result.status = ToolStatus.ERROR
        result.error = f"unparsable report: {exc}"
        log.append(f"ERROR: unparsable report: {exc}")
        # beside its log, masked (a parse inside the scan cache hands its outcome on the error)
        tool_run.reports = kept_unparsable(stage.name, outcome or getattr(exc, "outcome", None))
    except KeyError as exc:  # unknown tool name in the config
        result.status = ToolStatus.ERROR
        result.error = str(exc.args[0]) if exc.args else str(exc)
        log.append(f"ERROR: {result.error}")
    except Exception as exc:  # noqa: BLE001 - an adapter's bug or a full scratch disk
        # fails this tool closed (stage ERROR, exit 2) instead of ending the whole run in a
        # traceback with exit status 1, which reads as "findings" in CI
        import traceback

        result.status = ToolStatus.ERROR
        result.error = f"internal error: {type(exc).__name__}: {exc}"
        log += [f"ERROR: {result.error}", traceback.format_exc()]
    result.duration_s = time.monotonic() - start
    tool_run.log = "\n".join(log)
    return tool_run


def _named(scanner, req: ScanRequest, tool: str, findings: list[Finding]) -> list[Finding]:
    """The scanner's postprocessing, then each finding's identity."""
    findings = scanner.postprocess(findings, req)
    # one tool name from run to hub: the scanner's (osv-match, dast, runtime-sensor), not
    # its format's (cyclonedx, zap, falco), which stays in the property `parsed_as`
    findings = [f if f.tool == tool else
                replace(f, tool=tool, properties={**f.properties, "parsed_as": f.tool})
                for f in findings]
    return assign_identities(findings)


def write_raw(run_dir: Path, tool_runs: Sequence[_ToolRun]) -> None:
    """Write scrubbed raw reports under raw/<stage>/ and logs under logs/."""
    for tr in tool_runs:
        for report in tr.reports:
            dest = _inside(run_dir / "raw", report.name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(report, SpilledReport):
                report.write_to(dest)
            else:
                dest.write_bytes(report.data)
        if tr.reports:
            tr.result.report_file = "raw/" + tr.reports[0].name
        log_name = f"{tr.result.stage}-{tr.result.tool}.log"
        dest = _inside(run_dir / "logs", log_name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(tr.log + "\n", encoding="utf-8")
        tr.result.log_file = "logs/" + log_name


def _inside(base: Path, name: str) -> Path:
    """Join without letting a tool-chosen name escape the run directory."""
    target = (base / name).resolve()
    if not target.is_relative_to(base.resolve()):
        raise RunError(f"refusing to write {name!r} outside {base}")
    return target


def start_run(run_dir: Path, context, root: Path) -> RunResult:
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"cannot write the run's output to {run_dir}: {exc.strerror or exc}") from None
    return RunResult(run_id=context.run_id, root=str(root), run_dir=str(run_dir),
                     context=context, started_at=now_iso())


__all__ = ["Events", "RunError", "run_plan", "start_run", "write_raw"]
