"""A prompt queue in front of SQLite's write lock, for the hub's own writers.

Why: every hub write is one `BEGIN IMMEDIATE` transaction, and a writer that finds the lock
taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between
tries. With three import threads per process and `hub serve --workers 2`, most BatchImportFindings
calls found the lock taken, and the lock then sat free while the next writer slept: two
workers imported fewer findings per second than one. Here writers of this database queue on a
thread lock (within the process) and an `flock` on a side file (`<db>-writer`, across the
hub's processes) that wake the next writer as soon as the previous one is done.

Correctness never depends on the gate: SQLite's lock is still taken, so a writer that does not
use the gate (another tool, an older hub) is serialised as before, and a gate held longer than
`WAIT` seconds is given up on (SQLite's busy timeout then applies as it always did).
The side file is never the database file: closing any descriptor of a database file would drop
the POSIX locks SQLite holds on it in this process.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections import deque
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import ContextManager, Iterator

from sqlalchemy.engine import Engine

WAIT = 30.0        # as SQLite's busy_timeout (hub/store.py)


class FifoLock:
    """A lock handed to its waiters in arrival order: a writer that releases and at once wants
    to write again (the Falco intake's chunks, `runtime.flusher`) queues behind the writers
    already waiting, where a plain Lock would most often go to the releasing thread."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._busy = False
        self._queue: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._busy:
                self._busy = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._queue.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True                    # handed over by `release`
        with self._mutex:
            try:
                self._queue.remove(waiter)
            except ValueError:
                return True                # handed over while the wait timed out
        return False

    def release(self) -> None:
        with self._mutex:
            if self._queue:
                self._queue.popleft().release()     # still busy: it is the next one's now
            else:
                self._busy = False


class WriteGate:
    """One database's writers: re-entrant per thread (a nested write is the same writer)."""

    def __init__(self, database: Path) -> None:
        self.side = database.with_name(database.name + "-writer")
        self._lock = FifoLock()
        self._local = threading.local()

    @contextmanager
    def held(self) -> Iterator[None]:
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        deadline = time.monotonic() + WAIT
        if not self._lock.acquire(timeout=WAIT):
            yield                          # not ours to wait longer: SQLite decides
            return
        try:
            fd = self._flock(deadline)
            self._local.depth = 1
            try:
                yield
            finally:
                self._local.depth = 0
                if fd is not None:
                    os.close(fd)           # releases the flock
        finally:
            self._lock.release()

    def _flock(self, deadline: float) -> int | None:
        """An exclusive flock on the side file (a descriptor of our own, opened per write:
        a descriptor inherited across fork would share its lock with the parent)."""
        try:
            fd = os.open(self.side, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return None                    # e.g. a read-only folder: SQLite's lock alone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        except BaseException:
            os.close(fd)
            raise
        return _blocking_flock(fd, deadline)


def _blocking_flock(fd: int, deadline: float) -> int | None:
    """`fd` locked by a blocking flock, or None (and `fd` closed) once `deadline` passes.

    The kernel wakes a blocked flock as soon as the holder lets go; trying again every half
    millisecond instead cost ~30 us of CPU per try (an exception, a sleep and a GIL handover),
    about 1,600 tries a second for each waiting worker while another imported. flock has no
    timeout, so the blocking call runs in a thread of its own and the writer waits on it with
    the deadline; a thread whose writer gave up closes the descriptor when the lock comes (or
    the holder dies), so the lock is never left held."""
    done = threading.Event()
    guard = threading.Lock()
    state = {"abandoned": False, "error": None}

    def take() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException as exc:       # noqa: BLE001 - handed to the writer below
            state["error"] = exc
        with guard:
            if state["abandoned"]:
                os.close(fd)
                return
            done.set()

    threading.Thread(target=take, name="secpipe-writegate", daemon=True).start()
    done.wait(max(0.0, deadline - time.monotonic()))
    with guard:
        if not done.is_set():
            state["abandoned"] = True
            return None
    if state["error"] is not None:
        os.close(fd)
        raise state["error"]
    return fd


_GATES: dict[str, WriteGate] = {}
_GATES_LOCK = threading.Lock()


def database_file(engine: Engine) -> str | None:
    """The SQLite database file `engine` writes, or None (PostgreSQL, in-memory SQLite)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def for_engine(engine: Engine) -> ContextManager[None]:
    """The gate of `engine`'s database file; a no-op for PostgreSQL (its advisory lock wakes
    waiters at once) and for in-memory SQLite (one connection)."""
    database = database_file(engine)
    if database is None:
        return nullcontext()
    with _GATES_LOCK:
        gate = _GATES.get(database)
        if gate is None:
            gate = _GATES[database] = WriteGate(Path(database))
    return gate.held()
