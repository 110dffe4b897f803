"""One install step at a time: run a command, keep the end of its output, fail with both.

Shared by the venv/wheel installs (`provision.py`) and the system-package ones (`_apt.py`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping, Sequence

from secpipe.tools.specs import ToolSpec

Log = Callable[[str], None]
TAIL_LINES = 25

# Variables that would make pip install somewhere other than the tool's own venv, or make the
# venv's Python import secpipe's packages.
_UNSAFE_FOR_PIP = ("PYTHONPATH", "PYTHONHOME", "PIP_USER", "PIP_TARGET", "PIP_PREFIX", "PIP_ROOT")


def quiet(_line: str) -> None:
    """The default log: say nothing."""


class ToolInstallError(Exception):
    """An install failed: which tool, what went wrong, the command and the end of its output."""

    def __init__(
        self, tool: str, problem: str, command: Sequence[str] | None = None, output: str = ""
    ) -> None:
        self.tool = tool
        self.problem = problem
        self.command = list(command) if command else None
        self.output = output
        message = f"{tool}: {problem}"
        if self.command:
            message += f"\n  command: {shlex.join(self.command)}"
        if output.strip():
            message += "\n  last output:\n" + "\n".join("    " + ln for ln in output.splitlines())
        super().__init__(message)


@dataclass(frozen=True)
class InstallResult:
    """What `install` did for one tool; `install_many` also reports failures this way."""

    name: str
    version: str
    status: Literal["installed", "already-installed", "failed"]
    location: Path | None = None
    executables: Mapping[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def tail(output: str | bytes | None, lines: int = TAIL_LINES) -> str:
    if isinstance(output, bytes):
        output = output.decode("utf-8", errors="replace")
    return "\n".join((output or "").rstrip().splitlines()[-lines:])


def install_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _UNSAFE_FOR_PIP}
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra or {})
    return env


def run_step(
    spec: ToolSpec,
    argv: Sequence[str],
    log: Log,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run one install step; its combined output, or ToolInstallError with the output's tail."""
    log(f"{spec.name}: $ {shlex.join(argv)}")
    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
            env=dict(env) if env is not None else install_env(),
        )
    except FileNotFoundError as exc:
        raise ToolInstallError(spec.name, f"cannot run {argv[0]}: {exc.strerror}", argv) from None
    except subprocess.TimeoutExpired as exc:
        raise ToolInstallError(
            spec.name, f"timed out after {timeout:.0f}s", argv, tail(exc.output)
        ) from None
    if proc.returncode != 0:
        raise ToolInstallError(spec.name, f"exited {proc.returncode}", argv, tail(proc.stdout))
    return proc.stdout
