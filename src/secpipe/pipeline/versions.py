"""The version each tool reports, probed once per executable and remembered on disk.

A tool's version is recorded in every run, and the scan cache keys on it: a tool whose version
is unknown is never served from the cache nor saved to it. A probe that fails in a cold run
(checkov's `--version` is seconds of Python start-up, more under load) therefore costs the next
run a whole scan. So:
- one probe per executable at a time in a process: the tool's own version thread and the scan
  cache ask together, and the second caller waits for the first probe's answer instead of
  starting a second `checkov --version` beside it;
- the probe may take PROBE_TIMEOUT seconds (10 s was measured too short for checkov at a load
  of 6-8 on 2 cores while the scans run);
- the file (`versions-cache.json` in the tools folder, shared by every secpipe process) is
  updated under an exclusive lock and re-read first, so two runs that probe at once both keep
  their answers (each used to write back what it read plus its own, dropping the other's).
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PROBE_TIMEOUT = 30   # seconds; a version probe is run and killed like a scan
CACHE_NAME = "versions-cache.json"

_LOCK = threading.Lock()
_PROBING: dict[str, "_Probe"] = {}


class _Probe:
    """One probe in flight; the threads that ask for the same executable wait for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.version: str | None = None


def tool_version(tool: str, env: dict[str, str]) -> str | None:
    """The version the tool on the run's PATH reports (recorded per tool in every run).

    Run like a scan (own process group, killed whole on timeout), so a hanging or forking tool
    cannot leave anything behind through its version probe either. Cached by the executable's
    real path, size and mtime: `checkov --version` alone costs two seconds of Python start-up.
    """
    import shutil

    from secpipe.tools import UnknownToolError, get_spec, tools_dir

    try:
        spec = get_spec(tool)
    except UnknownToolError:
        # secpipe's own engines (baseline DAST, OSV matcher, SBOM builder, deploy targets,
        # runtime sensor): their version is secpipe's
        from secpipe import __version__
        return f"secpipe {__version__}"
    exe = shutil.which(spec.primary, path=env.get("PATH", ""))
    if exe is None:
        return None
    real = os.path.realpath(exe)
    try:
        st = os.stat(real)
    except OSError:
        return None
    key = f"{tool}|{real}|{st.st_size}|{st.st_mtime_ns}"
    cache_file = tools_dir() / CACHE_NAME
    with _LOCK:
        known = _read_json(cache_file).get(key)
        if known is not None:
            return known
        probe = _PROBING.get(key)
        mine = probe is None
        if mine:
            probe = _PROBING[key] = _Probe()
    if not mine:
        probe.done.wait()
        return probe.version
    try:
        probe.version = _probe(tool, spec, exe, env)
        if probe.version:
            _remember(cache_file, key, probe.version)
    finally:
        with _LOCK:
            del _PROBING[key]
        probe.done.set()
    return probe.version


def _probe(tool: str, spec, exe: str, env: dict[str, str]) -> str | None:
    from secpipe.scanners.interface import ScannerError, run_tool
    from secpipe.tools.specs import EXE

    argv = [exe if a == EXE else a for a in spec.version_argv]
    try:
        done = run_tool(tool, argv, cwd=Path.cwd(), env=env, timeout=PROBE_TIMEOUT,
                        ok=frozenset(range(256)))
    except ScannerError:
        return None
    return spec.parse_version((done.stdout + done.stderr).decode("utf-8", "replace"))


def _remember(path: Path, key: str, version: str) -> None:
    """Add one answer to the file, keeping every other process's (see the module doc)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(path.with_name(path.name + ".lock")):
            data = _read_json(path)
            data[key] = version
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            tmp.replace(path)
    except OSError:
        pass  # a cache only: the next run probes again


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:   # not POSIX: the write is still atomic, only not serialised
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["PROBE_TIMEOUT", "tool_version"]
