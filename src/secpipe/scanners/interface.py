"""The contract of a scanner adapter, and the one way secpipe starts an external tool.

An adapter knows how to call its tool and where the report lands; it never parses (the format
does) and never judges (the gate does). Every way a tool can fail to give a trustworthy report
becomes a :class:`ScannerError`, so the runner can turn it into a stage ERROR: missing tool,
crash, timeout, unexpected exit code, missing or empty report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


class ScannerError(Exception):
    """A tool could not produce a report secpipe can trust. Always fails closed."""

    cause = "error"

    def __init__(self, tool: str, message: str, *, stderr: bytes = b"",
                 exit_code: int | None = None, command: Sequence[str] = ()) -> None:
        super().__init__(f"{tool}: {message}")
        self.tool = tool
        self.message = message
        self.stderr = stderr
        self.exit_code = exit_code
        self.command = list(command)


class ToolMissing(ScannerError):
    cause = "missing"


class ToolTimeout(ScannerError):
    cause = "timeout"


class ToolCrashed(ScannerError):
    cause = "crashed"


class ReportMissing(ScannerError):
    cause = "no report"


@dataclass(frozen=True)
class ScanRequest:
    """What a stage asks of one tool."""

    root: Path                       # the tree to scan
    workdir: Path                    # private scratch dir for this tool's outputs
    options: Mapping[str, Any]       # the tool's section of secpipe.yml
    timeout: float                   # seconds, for the whole tool
    env: Mapping[str, str]           # environment with secpipe's tool dir on PATH
    exclude: Sequence[str] = ()      # directory names / globs never to scan (.git, .secpipe...)
    git_root: Path | None = None     # the enclosing git work tree, when there is one
    inputs: Mapping[str, str] = field(default_factory=dict)  # outputs of the stages it needs
    run_id: str = ""
    # lower the tool's CPU priority by this much (nice): a tool off the run's critical path
    # takes what the longest ones leave (secpipe.pipeline.schedule.Priorities)
    nice: int = 0


@dataclass(frozen=True)
class RawReport:
    name: str    # file name in the run's raw/ folder, e.g. "checkov.json"
    data: bytes


@dataclass
class ScanOutcome:
    reports: list[RawReport]
    exit_code: int
    command: list[str]
    stderr: bytes = b""
    duration_s: float = 0.0
    version: str | None = None
    notes: list[str] = field(default_factory=list)
    artifacts: list[RawReport] = field(default_factory=list)  # archived, not parsed (HTML reports)
    format: str | None = None  # the reports' format when it differs from the scanner's default
    outputs: dict[str, str] = field(default_factory=dict)  # handed to the stages that need this one
    cleanup: Callable[[], None] | None = None  # run when the pipeline ends (stop a deployed service)
    # what the tool covered and what it could not (summary.json `coverage`, console): e.g.
    # {"frameworks": [...], "dockerfiles": [...], "history": "not scanned: ..."}
    coverage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Execution:
    command: list[str]
    exit_code: int
    stdout: bytes
    stderr: bytes
    duration_s: float


class Scanner(ABC):
    """One external tool. Subclasses set the class attributes and implement :meth:`scan`."""

    name: str = ""            # the tool's name as used in secpipe.yml
    format: str = ""          # the report format that parses its output
    executable: str = ""      # what must be on PATH (or in secpipe's tool dir)
    ok_exit_codes: frozenset[int] = frozenset({0})  # codes that mean "report written"
    produces_findings: bool = True  # False for deploy targets: no report is not "nothing scanned"

    @abstractmethod
    def scan(self, req: ScanRequest) -> ScanOutcome:
        """Run the tool and hand back its raw report(s), or raise ScannerError."""

    def postprocess(self, findings: list[Any], req: ScanRequest) -> list[Any]:
        """Findings after parsing, adjusted by the tool's options (parsers are pure and see no
        options): e.g. checkov's per-check severity overrides. Default: unchanged."""
        return findings

    def locate(self, req: ScanRequest, executable: str | None = None) -> str:
        """Absolute path of an executable on the request's PATH, or ToolMissing with the fix."""
        from shutil import which

        exe = executable or self.executable
        found = which(exe, path=req.env.get("PATH", os.environ.get("PATH", "")))
        if not found:
            raise ToolMissing(
                self.name,
                f"`{exe}` not found on PATH or in secpipe's tool dir; "
                f"install it with `secpipe tools install {self.name}` (see `secpipe doctor`)",
            )
        return found

    def execute(self, req: ScanRequest, argv: Sequence[str], *, cwd: Path | None = None,
                ok: frozenset[int] | None = None, deadline: float | None = None) -> Execution:
        """Run argv under the request's timeout; raise on timeout, signal or unexpected exit."""
        return run_tool(self.name, argv, cwd=cwd or req.root, env=req.env,
                        timeout=_remaining(req.timeout, deadline),
                        ok=self.ok_exit_codes if ok is None else ok, nice=req.nice)


def _remaining(timeout: float, deadline: float | None) -> float:
    if deadline is None:
        return timeout
    return max(0.1, deadline - time.monotonic())


def run_tool(tool: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
             timeout: float, ok: frozenset[int], nice: int = 0) -> Execution:
    """Start a tool in its own process group so a timeout kills it and all its children, tied
    to secpipe's life so a SIGKILLed secpipe leaves no tool behind (secpipe.scanners.lifeline),
    at a CPU priority lowered by `nice` (its children inherit it)."""
    from secpipe.scanners import lifeline

    argv = [str(a) for a in argv]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, cwd=str(cwd), env=dict(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=_child_setup(nice),
        )
    except FileNotFoundError:
        raise ToolMissing(tool, f"`{argv[0]}` not found", command=argv) from None
    except PermissionError as exc:
        raise ToolCrashed(tool, f"cannot execute `{argv[0]}`: {exc}", command=argv) from None
    with _LIVE_LOCK:
        _LIVE.add(proc)
    lifeline.watch(proc.pid)   # its process group: start_new_session made it the leader
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        raise ToolTimeout(tool, f"timed out after {timeout:.0f}s and was killed",
                          stderr=stderr, command=argv) from None
    except BaseException:
        _kill_group(proc)  # Ctrl-C or any error: leave no orphan behind
        proc.wait()
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
        lifeline.unwatch(proc.pid)
    duration = time.monotonic() - start
    code = proc.returncode
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else -code
        raise ToolCrashed(tool, f"killed by signal {name}", stderr=stderr,
                          exit_code=code, command=argv)
    if code not in ok:
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        detail = (": " + " | ".join(tail)) if tail else ""
        raise ToolCrashed(tool, f"exited with code {code}{detail}", stderr=stderr,
                          exit_code=code, command=argv)
    return Execution(argv, code, stdout, stderr, duration)


def _child_setup(nice: int) -> Callable[[], None] | None:
    """The child's `preexec_fn`: lifeline's tie, then the lowered priority when asked. A
    priority that cannot be set leaves the tool at the normal one: it only decides who waits
    for a core, never what the tool does."""
    from secpipe.scanners import lifeline

    tie = lifeline.preexec()
    if nice <= 0:
        return tie

    def setup() -> None:
        if tie is not None:
            tie()
        try:
            os.nice(nice)
        except OSError:
            pass

    return setup


_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def kill_all_tools() -> None:
    """Kill every tool still running (Ctrl-C): no orphan scanner outlives secpipe."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def require_report(tool: str, name: str, data: bytes | None, command: Sequence[str]) -> RawReport:
    """A report that is absent or empty is an error, never an empty pass."""
    if data is None:
        raise ReportMissing(tool, f"wrote no report ({name})", command=command)
    if not data.strip():
        raise ReportMissing(tool, f"wrote an empty report ({name})", command=command)
    return RawReport(name, data)
