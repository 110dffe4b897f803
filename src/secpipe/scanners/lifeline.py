"""Tools die with `secpipe run`, however it dies.

Ctrl-C and SIGTERM are handled (`kill_all_tools` kills every tool's process group), but a
SIGKILL (the OOM killer, `kill -9`, a CI runner that gives up) runs no code in secpipe, and
every scanner would run on as an orphan, holding clear-text reports in the scratch folder.
Two guards, Linux only, both set up without secpipe's cooperation at death:

- each tool is started with PR_SET_PDEATHSIG = SIGKILL (prctl, in the child before exec): the
  kernel kills it when the thread that started it ends (the worker thread waits for the tool,
  so that is when secpipe ends);
- PDEATHSIG is not inherited by the tool's own children (a shell script's `sleep`, checkov's
  workers), so a small watchdog process holds the read end of a pipe and the list of the tools'
  process groups; when secpipe ends, the kernel closes the write end, the watchdog reads EOF
  and kills every group still listed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
from typing import Callable

log = logging.getLogger("secpipe.scanners")

PR_SET_PDEATHSIG = 1

# Runs in its own session so a Ctrl-C to secpipe's terminal group does not end it first.
# Reads `+PGID` / `-PGID` lines; at EOF (secpipe gone, however) kills what is left.
_WATCHDOG = r"""
import os, signal, sys
groups = set()
for line in sys.stdin.buffer:
    line = line.strip()
    try:
        pgid = int(line[1:])
    except ValueError:
        continue
    if line[:1] == b"+":
        groups.add(pgid)
    elif line[:1] == b"-":
        groups.discard(pgid)
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()   # resolved in the parent: the child only calls it


def preexec() -> Callable[[], None] | None:
    """The `preexec_fn` that ties a tool to secpipe's life (None off Linux). It does as little
    as possible between fork and exec: one prctl call, one getppid, and one write.

    The write tells the watchdog the tool's process group from inside the child, before the
    tool runs: the parent's own `watch()` comes only once its thread has the GIL back after
    the fork, and a secpipe SIGKILLed in between (a busy main thread, a loaded machine) left
    the tool's children running. `Popen` closes the inherited pipe after this (close_fds), so
    the tool never holds it."""
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()
    announce = _WATCHDOG_INSTANCE.fileno()

    def tie() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:      # secpipe died before the prctl took: do not start
            os._exit(137)
        if announce is not None:
            try:   # one line under PIPE_BUF: atomic beside the parent's own lines
                os.write(announce, b"+%d\n" % os.getpid())
            except OSError:
                pass   # the parent's watch() after the fork still registers it

    return tie


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen | None:
        try:
            return subprocess.Popen(
                [sys.executable, "-S", "-c", _WATCHDOG], stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                close_fds=True)
        except OSError as exc:
            log.warning("no watchdog for tool process groups (%s): a SIGKILLed secpipe may "
                        "leave the tools' children running", exc)
            return None

    def _send(self, line: str) -> None:
        with self._lock:
            for _ in range(2):   # one restart if the watchdog went away
                if self._proc is None or self._proc.poll() is not None:
                    if line.startswith("-"):
                        return   # a new watchdog does not know this group anyway
                    self._proc = self._start()
                    if self._proc is None:
                        return
                try:
                    assert self._proc.stdin is not None
                    self._proc.stdin.write(line.encode() + b"\n")
                    self._proc.stdin.flush()
                    return
                except (BrokenPipeError, OSError):
                    self._proc = None

    def fileno(self) -> int | None:
        """The write end of the watchdog's pipe (the watchdog started if needed), for a child
        to announce itself before exec; None without a watchdog."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            if self._proc is None or self._proc.stdin is None:
                return None
            return self._proc.stdin.fileno()

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def unwatch(self, pgid: int) -> None:
        self._send(f"-{pgid}")


_WATCHDOG_INSTANCE = _Watchdog()


def watch(pgid: int) -> None:
    """Kill process group `pgid` if secpipe dies before :func:`unwatch`."""
    if sys.platform.startswith("linux"):
        _WATCHDOG_INSTANCE.watch(pgid)


def unwatch(pgid: int) -> None:
    if sys.platform.startswith("linux"):
        _WATCHDOG_INSTANCE.unwatch(pgid)
