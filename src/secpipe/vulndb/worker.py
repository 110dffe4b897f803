"""The OSV API's matching in a worker process of its own, off the hub's GIL.

Why a process and not a thread: matching a 1,000-query batch is ~2 s of pure-Python CPU. On a
thread of the hub's process it holds the GIL, and every time a GetFindings thread gives the GIL
up (SQLite releases it for each row it steps) it waits up to the interpreter's switch interval
(5 ms) to get it back: measured, a GetFindings page went from 23 ms (p50) to 160 ms at p95
during a batch flood even with the OSV work confined to one thread. In a process of its own
the batch only competes for a CPU core, which the operating system shares fairly.

One worker (the hub's `osv` pool bounds what waits for it to one call at a time, on the event
loop); started on first use with the `spawn` method (never `fork` from a threaded server);
restarted if it dies; at a lower CPU priority (nice 10), so on a busy machine the hub's own
requests get the cores first. The worker opens the database by path, read-only in practice.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

NICE = 10                          # the worker's CPU priority below the hub's


PARENT_POLL_S = 0.5                # how often the worker checks that its hub still lives


def _worker_init(parent: int) -> None:
    """Batch matching yields the CPU to the hub's interactive requests (nice), and the worker
    ends with its hub: a hub killed outright (SIGKILL, the OOM killer, a container runtime's
    timeout) runs no atexit and no shutdown, and its worker would otherwise wait on the pipe
    forever, holding the database open. A daemon thread watches the parent's pid."""
    try:
        os.nice(NICE)
    except OSError:                      # not permitted: run at the hub's priority
        pass
    threading.Thread(target=_exit_with_parent, args=(parent,), name="osv-parent-watch",
                     daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)                          # reparented: the hub is gone, nobody reads answers


class ProcessRunner:
    """Calls OsvApi methods in the worker process; `await runner.call("query_batch", body)`.

    `target` is the module-level function the worker runs (`secpipe.vulndb.api.worker_call`),
    handed in so this module never imports the API that uses it."""

    def __init__(self, db_path: str | Path,
                 target: Callable[[str, str, Any], tuple[Any, ...]]) -> None:
        self.db_path = str(db_path)
        self._target = target
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_init, initargs=(os.getpid(),))
                atexit.register(self.close)
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def call(self, method: str, arg: Any) -> Any:
        from secpipe.vulndb.errors import QueryError, VulnDBError

        pool = self._executor()
        try:
            answer = await asyncio.wrap_future(pool.submit(self._target, self.db_path, method, arg))
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None           # the next call starts a new worker
            raise VulnDBError("the OSV worker process died; retry the request") from None
        if answer[0] == "ok":
            return answer[1]
        if answer[0] == "query":
            raise QueryError(*answer[1:])
        raise VulnDBError(answer[1])


__all__ = ["ProcessRunner"]
