"""Installing a tool with the system package manager (Debian's apt-get), root only.

No directory of ours is involved: the package puts the tool on PATH, where `locate` finds it,
and `probe` confirms the version. Without root the answer is the exact sudo command.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from secpipe.tools._steps import InstallResult, Log, ToolInstallError, install_env, run_step
from secpipe.tools.probe import ToolState, probe
from secpipe.tools.specs import ToolSpec

_APT_LOCK = threading.Lock()  # dpkg takes one install at a time


def install_apt(spec: ToolSpec, force: bool, log: Log, timeout: float) -> InstallResult:
    start = time.monotonic()
    if not force:
        state = probe(spec)
        if state.ok:
            log(f"{spec.name}: {state.version} already installed at {state.path}")
            return InstallResult(
                spec.name,
                spec.version,
                "already-installed",
                None,
                _found(state),
                time.monotonic() - start,
            )
    if os.geteuid() != 0:
        raise ToolInstallError(spec.name, f"needs root: run `sudo apt-get install {spec.source}`")
    if shutil.which("apt-get") is None:
        raise ToolInstallError(spec.name, f"no apt-get on this machine; by hand: {spec.by_hand}")
    argv = ["apt-get", "install", "-y", "--no-install-recommends", spec.source]
    if force:
        argv.insert(3, "--reinstall")
    env = install_env({"DEBIAN_FRONTEND": "noninteractive"})
    with _APT_LOCK:
        try:
            run_step(spec, argv, log, timeout, env)
        except ToolInstallError as exc:
            if (
                "Unable to locate package" not in exc.output
                and "no installation candidate" not in exc.output
            ):
                raise
            log(f"{spec.name}: package lists look stale, running apt-get update")
            run_step(spec, ["apt-get", "update"], log, timeout, env)
            run_step(spec, argv, log, timeout, env)
    state = probe(spec)
    if not state.ok:
        raise ToolInstallError(spec.name, f"apt-get installed {spec.source}, but: {state.reason}")
    return InstallResult(
        spec.name, spec.version, "installed", None, _found(state), time.monotonic() - start
    )


def _found(state: ToolState) -> dict[str, Path]:
    return {exe: path for exe, path in state.executables.items() if path is not None}
