"""The run's scratch folder, where tools write their clear-text reports, and what a new run
does with the scratch folders of runs that died.

A run that ends in any way Python sees removes its scratch folder. A SIGKILLed run cannot: its
folder (clear-text secrets in the tools' own reports) would stay in /tmp for good. So each
folder is named `secpipe-<pid>-<random>` and holds a lock (flock) for as long as its run lives;
every new run removes the folders whose pid is gone and whose lock is free. Both are checked
because a pid can be reused and a container sharing /tmp may have other pid numbers: the lock
is the kernel's word that no process holds the folder any more.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

log = logging.getLogger("secpipe.pipeline")

PREFIX = "secpipe-"
LOCK_NAME = ".secpipe-run.lock"
_NAME = re.compile(r"secpipe-(\d+)-[A-Za-z0-9_]+")


def new_scratch() -> tuple[Path, Callable[[], None]]:
    """A fresh scratch folder (stale ones of dead runs removed first) and its release, which
    removes it. The folder is 0700 (mkdtemp)."""
    remove_stale()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release() -> None:
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)

    return path, release


def remove_stale(base: Path | None = None) -> list[Path]:
    """Remove this user's scratch folders of runs that are gone; returns what was removed."""
    base = Path(base or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError as exc:
        log.warning("cannot look for stale scratch folders in %s: %s", base, exc)
        return removed
    for entry in entries:
        match = _NAME.fullmatch(entry.name)
        if match is None:
            continue
        try:
            st = entry.lstat()
        except OSError:
            continue   # gone meanwhile (another run cleaned it)
        if not entry.is_dir() or entry.is_symlink() or st.st_uid != os.getuid():
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or _running(pid) or _locked(entry):
            continue
        try:
            shutil.rmtree(entry)
        except FileNotFoundError:
            continue   # another run removed it at the same time
        except OSError as exc:
            log.warning("cannot remove the stale scratch folder %s: %s", entry, exc)
            continue
        removed.append(entry)
    return removed


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is not: it holds no files and runs nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True   # another user's process: not ours to judge
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True   # no /proc (not Linux): the signal check stands
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else ""
    return state not in ("Z", "X")


def _locked(folder: Path) -> bool:
    """Whether a live run still holds the folder's lock (in any pid namespace)."""
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False   # the run died between creating the folder and locking it
    except OSError:
        return True    # cannot tell: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False

