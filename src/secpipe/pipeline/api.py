"""`secpipe run` as one function: config -> plan -> tools -> findings -> gate -> outputs."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from secpipe.config import ConfigError, LoadedConfig, load_config
from secpipe.model.asff import now_iso
from secpipe.pipeline.hubsync import (HubSyncError, baselines, close_behind, hub_location,
                                      hub_suppressions, open_hub, spare_by_rules)
from secpipe.pipeline.hubsync import record as hub_record
from secpipe.pipeline.context import detect_context, new_run_id
from secpipe.pipeline.durations import load_durations, remember_durations
from secpipe.pipeline.plan import Plan, build_plan
from secpipe.pipeline.result import RunResult
from secpipe.pipeline.schedule import default_jobs
from secpipe.pipeline.runner import Events, RunError, run_plan, start_run, write_raw
from secpipe.pipeline.suppressions import DEFAULT_NAME, load_suppressions, split_expired
from secpipe.pipeline.versions import tool_version
from secpipe.scanners.git_secrets import git_toplevel
from secpipe.scanners.registry import all_scanners, find_scanner


@dataclass
class RunRequest:
    root: Path
    config_file: Path | None = None
    out_dir: Path | None = None
    stages: Sequence[str] = ()
    jobs: int | None = None
    suppressions_file: Path | None = None
    extra_exclude: Sequence[str] = field(default_factory=tuple)
    env: dict[str, str] | None = None  # the tools' environment (default: secpipe's tool dir on PATH)
    # CPU-time origin for summary.json's secpipe_cpu_s: 0.0 counts the whole process (the CLI:
    # interpreter start and imports included); None counts from the call.
    cpu_origin: float | None = None
    hub: str | None = None       # path or database URL (default: OUT/hub.db)
    use_hub: bool = True         # record the run and diff it against the branch's previous run
    sinks: Sequence[str] = ()    # sink types to deliver to after the outputs (`--sink`)
    ignore_hub_suppressions: bool = False   # audits: the hub's triage does not spare a finding


def prepare(req: RunRequest) -> tuple[LoadedConfig, Plan]:
    """Load and check everything that can be checked before any tool starts."""
    root = req.root.resolve()
    if not root.is_dir():
        raise ConfigError(f"{req.root}: not a directory")
    loaded = load_config(root, req.config_file)
    for name, stage in loaded.config.stages.items():
        for tool in stage.tools:
            if find_scanner(tool) is None:
                raise ConfigError(f"{loaded.source}: stage {name!r} uses unknown tool {tool!r}; "
                                  f"known tools: {', '.join(sorted(all_scanners()))}")
    out_dir = _out_dir(req, loaded)
    exclude = list(req.extra_exclude)
    try:
        exclude.append(out_dir.resolve().relative_to(root).as_posix())
    except ValueError:
        pass  # the output dir is outside the scanned tree
    plan = build_plan(loaded.config, root, only=req.stages, exclude=exclude,
                      git_root=git_toplevel(root))
    return loaded, plan


def _out_dir(req: RunRequest, loaded: LoadedConfig) -> Path:
    """`--out`, else the config's `output` (default .secpipe) under the scanned PATH: a run's
    reports and its local hub belong to the project scanned, wherever secpipe was started."""
    if req.out_dir is not None:
        return req.out_dir
    return req.root.resolve() / Path(loaded.config.output).expanduser()


def run_pipeline(req: RunRequest, events: Events | None = None) -> RunResult:
    from secpipe.tools import tool_env

    wall0 = time.perf_counter()
    cpu0 = time.process_time() if req.cpu_origin is None else req.cpu_origin
    loaded, plan = prepare(req)
    cfg = loaded.config
    sinks = _build_sinks(cfg, req.sinks)  # bad sink options fail before any tool starts
    sup_path = req.suppressions_file
    if sup_path is None and cfg.suppressions:
        sup_path = plan.root / cfg.suppressions
    if sup_path is None and (plan.root / DEFAULT_NAME).is_file():
        sup_path = plan.root / DEFAULT_NAME
    entries = load_suppressions(sup_path) if sup_path else []
    active, expired = split_expired(entries)
    run_id = new_run_id()
    ctx = detect_context(plan.root, run_id=run_id, repo_name=cfg.project.repo or cfg.project.name,
                         account_id=cfg.project.account_id, region=cfg.project.region,
                         partition=cfg.project.partition)
    out_dir = _out_dir(req, loaded)
    run_dir = out_dir / "runs" / run_id
    fingerprint_key = _fingerprint_key(hub_location(req.hub, out_dir) if req.use_hub else None,
                                       out_dir)
    run = start_run(run_dir, ctx, plan.root)
    run.expired_suppressions = expired
    jobs = req.jobs or cfg.jobs or default_jobs()
    env = dict(req.env) if req.env is not None else tool_env()
    store = None

    def gate_inputs() -> tuple[dict, list]:
        """While the first tools run: import the output writers (Jinja2, ...) and open the
        hub (SQLAlchemy's imports, the schema check: about 0.3 s together); the hub's
        baselines, and its suppressions after the file's (a file entry names itself), gate
        the stages."""
        nonlocal store
        import secpipe.outputs  # noqa: F401 - needed at the end; imported off the critical path

        if not req.use_hub:
            return {}, []
        store = open_hub(run.hub)
        stage_baselines = baselines(store, plan, ctx.repo, ctx.branch)
        run.hub_suppressions_ignored = req.ignore_hub_suppressions
        if req.ignore_hub_suppressions:
            return stage_baselines, []
        run.hub_suppressions, run.hub_reopened = hub_suppressions(store, ctx.repo)
        return stage_baselines, run.hub_suppressions

    if req.use_hub:
        run.hub = hub_location(req.hub, out_dir)
    try:
        with _terminate_is_interrupt():
            tool_runs = run_plan(plan, run=run, suppressions=active, env=env, jobs=jobs,
                                 events=events, version_of=lambda t: tool_version(t, env),
                                 fingerprint_key=fingerprint_key,
                                 gate_inputs=gate_inputs,
                                 durations=load_durations(plan.root))
    except KeyboardInterrupt:
        # every tool is already killed; leave a summary that says the run was interrupted
        from secpipe.outputs import write_all

        run.interrupted = True
        run.finished_at = now_iso()
        write_all(run, run_dir)
        raise
    run.finished_at = now_iso()
    remember_durations(plan.root, run)   # the next run on this tree starts its longest first
    events = events or Events()
    with _disk_errors(run_dir):
        write_raw(run_dir, tool_runs)
    del tool_runs  # the tools' raw reports: on disk now, not held through the hub and outputs
    hub_error: HubSyncError | None = None
    files = None        # findings.asff.json and .ocsf.json, filled as the hub takes the documents
    closed: Callable[[], None] | None = None
    try:
        if store is not None:
            events.phase("recording the run in the hub")
            from secpipe.outputs.asff import iter_asff
            from secpipe.outputs.ocsf import FindingsFiles
            from secpipe.outputs.summary import summary_dict

            try:
                if not req.ignore_hub_suppressions:
                    spare_by_rules(store, run)   # what the hub's rules will suppress on import
                # built after the rules' verdicts, as the recording takes them, part by part:
                # each document is written to the findings files on its way to the hub and
                # dropped with its part (all 50,000 held through the recording: ~70 MB)
                files = FindingsFiles(run_dir)
                hub_record(store, run, files.passing(iter_asff(run)), summary_dict(run))
            except HubSyncError as exc:
                hub_error = exc  # the run's own outputs are still written, then the error stands
            closed = close_behind(store, run.hub)   # while the reports are written
        run.wall_s = time.perf_counter() - wall0
        run.self_cpu_s = time.process_time() - cpu0
        events.phase("writing reports")
        from secpipe.outputs import write_all

        try:
            with _disk_errors(run_dir):
                write_all(run, run_dir, findings_files=files)
        finally:
            if closed is not None:
                closed()
    finally:
        if files is not None:
            files.abort()       # an error on the way: no temporary files left behind
    _point_latest(out_dir / "runs", run_id)
    if cfg.notifications:
        _notify(cfg, run, run_dir, out_dir)
    if sinks:
        from secpipe.sinks import SinksFailed, deliver_all

        outcomes = deliver_all(sinks, run, run_dir)
        if not all(o.ok for o in outcomes):
            raise SinksFailed(run, outcomes)
    if hub_error is not None:
        raise HubSyncError(f"{hub_error} (the run's reports are in {run_dir})")
    return run


def _fingerprint_key(hub: str | None, out_dir: Path):
    """The run's secret-fingerprint key (secpipe.secretkey), the output folder created first
    (with its `.gitignore`). A bad key file is a config error, an unwritable folder a run
    error: both exit 2 before any tool starts."""
    from secpipe.keyfile import KeyFileError
    from secpipe.secretkey import load_fingerprint_key, make_private_dir

    try:
        make_private_dir(out_dir)
        return load_fingerprint_key(hub, out_dir)
    except KeyFileError as exc:
        raise ConfigError(f"secret fingerprint key: {exc}") from None
    except OSError as exc:
        raise RunError(f"cannot write the run's output to {out_dir}: "
                       f"{exc.strerror or exc}") from None


@contextlib.contextmanager
def _terminate_is_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled or timed out) and SIGHUP end the run as Ctrl-C does: tools
    killed, the run marked interrupted, exit 2. Python's default would end secpipe at once and
    leave every tool, each in its own process group, running as an orphan."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _disk_errors(run_dir: Path) -> Iterator[None]:
    """A full disk or a vanished output dir is a run ERROR (exit 2) saying so, never a
    traceback with Python's exit status 1, which CI would read as "findings"."""
    try:
        yield
    except OSError as exc:
        raise RunError(f"cannot write the run's output to {run_dir}: "
                       f"{exc.strerror or exc}") from None


def _build_sinks(cfg, requested: Sequence[str]) -> list:
    if not cfg.sinks and not requested:
        return []
    from secpipe.sinks import SinkError, build_sinks

    try:
        return build_sinks(cfg.sinks, requested)
    except SinkError as exc:
        raise ConfigError(str(exc)) from None


def _notify(cfg, run: RunResult, run_dir: Path, out_dir: Path) -> None:
    """`notifications:` rules (secpipe.notify), after every output is written. A failure is
    logged and recorded in RUN_DIR/notifications.json, never raised: the verdict stands."""
    import logging

    try:
        from secpipe.notify.dispatcher import Notifier, write_outcomes
        from secpipe.notify.state import default_state_path

        notifier = Notifier(cfg.notifications, state=default_state_path(out_dir))
        write_outcomes(notifier.notify_run(run), run_dir)
    except Exception as exc:  # noqa: BLE001 - a notification problem must not cost the run
        logging.getLogger("secpipe.notify").warning(
            "notifications failed: %s (the run's result and exit code are unchanged)", exc)


def _point_latest(runs: Path, run_id: str) -> None:
    latest = runs / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_id)
    except OSError:
        pass  # a convenience only (some filesystems refuse symlinks)


__all__ = ["HubSyncError", "RunError", "RunRequest", "prepare", "run_pipeline"]
