"""Where secpipe's tools live, how scanners find them, and what state each one is in.

`probe` is what `secpipe doctor` and every scanner adapter's `available()` ask. It runs the
tool for its version rather than trusting a receipt, because a tool that is present but
broken (a wrong libc, a venv whose base Python was upgraded away) must not read as available:
the pipeline fails closed on it. It never raises for a missing or broken tool; that is a state.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Literal, Mapping

from secpipe.tools.specs import EXE, SPECS, ToolSpec, get_spec

RECEIPT = ".secpipe-tool.json"
VERSION_TIMEOUT = 60.0

Status = Literal["ok", "missing", "wrong-version", "unverified", "broken"]
"""ok: runs and reports the pinned version; missing: not found; wrong-version: runs, reports
another version; unverified: runs but reports no version; broken: found but does not run."""

# A scanner must not import secpipe's own packages, nor run on another Python's stdlib.
_NOT_FOR_TOOLS = ("PYTHONPATH", "PYTHONHOME")


def tools_dir() -> Path:
    """$SECPIPE_TOOLS_DIR, else $XDG_CACHE_HOME/secpipe/tools, else ~/.cache/secpipe/tools."""
    from secpipe.paths import from_env_or_cache

    return from_env_or_cache("SECPIPE_TOOLS_DIR", "tools")


def bin_dir() -> Path:
    """The one directory holding a link to every executable secpipe installed."""
    return tools_dir() / "bin"


def locate(executable: str) -> Path | None:
    """Our installed copy of `executable` first, then the first one on PATH; None if neither."""
    ours = bin_dir() / executable
    if ours.is_file() and os.access(ours, os.X_OK):  # is_file follows the link: not dangling
        return ours
    found = shutil.which(executable)
    return Path(found) if found else None


def tool_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment scanners run with: `base` (os.environ) with our bin/ first on PATH.

    Also drops PYTHONPATH/PYTHONHOME (they would leak secpipe's packages into a scanner's
    venv) and adds each spec's offline defaults (e.g. semgrep's update check off) unless set.
    """
    env = {
        k: v for k, v in (os.environ if base is None else base).items() if k not in _NOT_FOR_TOOLS
    }
    ours = str(bin_dir())
    rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != ours]
    env["PATH"] = os.pathsep.join([ours, *rest])
    for spec in SPECS.values():
        for key, value in spec.run_env:
            env.setdefault(key, value)
    return env


def read_receipt(spec: ToolSpec, root: Path | None = None) -> dict | None:
    """The receipt of a complete install of exactly this spec, or None (absent, partial, stale)."""
    home = (root or tools_dir()) / spec.dirname
    try:
        receipt = json.loads((home / RECEIPT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(receipt, dict) or any(
        receipt.get(key) != getattr(spec, key) for key in ("name", "version", "kind", "source")
    ):
        return None
    exes = receipt.get("executables")
    if not isinstance(exes, dict) or set(exes) != set(spec.executable_names):
        return None
    if not all(isinstance(rel, str) and (home / rel).is_file() for rel in exes.values()):
        return None
    return receipt


def read_version(
    spec: ToolSpec, exe: Path, timeout: float = VERSION_TIMEOUT
) -> tuple[str | None, bool, str]:
    """Run the spec's version command on `exe`: (version or None, whether it ran cleanly, detail).

    The detail is a one-line account for a person: the start of the output, or why it failed.
    """
    argv = [str(exe) if arg == EXE else arg for arg in spec.version_argv]
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout,
            env=tool_env(),
        )
    except subprocess.TimeoutExpired:
        return None, False, f"`{shlex.join(argv)}` did not finish in {timeout:.0f}s"
    except OSError as exc:  # not executable, wrong architecture, vanished meanwhile
        return None, False, f"`{shlex.join(argv)}` cannot run: {exc.strerror or exc}"
    output = proc.stdout.strip()
    first = " ".join(output.splitlines()[:2])[:200] or "(no output)"
    version = spec.parse_version(output)
    if version is not None:
        return version, proc.returncode == 0, first
    if proc.returncode != 0:
        return None, False, f"`{shlex.join(argv)}` exited {proc.returncode}: {first}"
    return None, True, first


def install_hint(spec: ToolSpec) -> str:
    """The one command that gets this tool here."""
    if spec.kind == "apt":
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            return f"secpipe tools install {spec.name}  (runs apt-get install {spec.source})"
        return f"sudo apt-get install {spec.source}"
    return f"secpipe tools install {spec.name}"


@dataclass(frozen=True)
class ToolState:
    """One tool as found on this machine. Pure data: render it, or serialise `as_dict()`."""

    name: str
    pinned: str
    status: Status
    path: Path | None = None
    version: str | None = None
    managed: bool = False  # found in secpipe's tools dir rather than elsewhere on PATH
    reason: str | None = None  # why it is not ok (or a remark, e.g. a missing extra command)
    hint: str | None = None  # how to fix it, when it is not ok
    by_hand: str = ""
    executables: Mapping[str, Path | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def found(self) -> bool:
        return self.path is not None

    @property
    def matches(self) -> bool | None:
        """Whether the reported version is the pinned one; None when none was reported."""
        return None if self.version is None else self.version == self.pinned

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        data["executables"] = {k: str(v) if v else None for k, v in self.executables.items()}
        data.update(ok=self.ok, found=self.found, matches=self.matches)
        return data


def probe(tool: str | ToolSpec, *, timeout: float = VERSION_TIMEOUT) -> ToolState:
    """Find a tool, run it for its version and say whether it is the pinned one.

    Raises only UnknownToolError (for a name no spec has); everything about the tool itself,
    absent, broken or another version, is reported in the returned state.
    """
    spec = tool if isinstance(tool, ToolSpec) else get_spec(tool)
    hint = install_hint(spec)
    state = ToolState(spec.name, spec.version, "missing", hint=hint, by_hand=spec.by_hand)
    try:
        paths = {exe: locate(exe) for exe in spec.executable_names}
        ours = bin_dir().absolute()
        primary = paths[spec.primary]
        if primary is None:
            reason = f"{spec.primary} is neither in {ours} nor on PATH"
            if spec.kind != "apt" and read_receipt(spec) is not None:
                home = tools_dir() / spec.dirname
                reason = f"installed in {home}, but {ours / spec.primary} is missing"
            return replace(state, reason=reason, executables=paths)
        managed = primary.absolute().parent == ours
        version, ran, detail = read_version(spec, primary, timeout)
    except Exception as exc:  # noqa: BLE001 - an unreadable tools dir is a state, not a crash
        return replace(state, status="broken", reason=f"probe failed: {exc}")
    absent = [exe for exe, path in paths.items() if path is None]
    state = replace(state, path=primary, version=version, managed=managed, executables=paths)
    if version == spec.version:
        remark = f"also provides {', '.join(absent)}, not found" if absent else None
        return replace(state, status="ok", reason=remark, hint=None)
    if managed and spec.kind != "apt" and read_receipt(spec) is not None:
        # A plain install would be a no-op: the receipt says this version is complete.
        state = replace(state, hint=f"secpipe tools install --force {spec.name}")
    if version is not None:
        reason = f"reports version {version}, secpipe pins {spec.version}"
        return replace(state, status="wrong-version", reason=reason)
    if ran:
        return replace(state, status="unverified", reason=f"runs but reports no version: {detail}")
    return replace(state, status="broken", reason=detail)


def probe_many(tools: Iterable[str | ToolSpec] | None = None, *, jobs: int = 4) -> list[ToolState]:
    """`probe` for several tools (all known ones by default) in parallel, in the order given."""
    names = list(tools) if tools is not None else list(SPECS)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(probe, names))
