"""`secpipe hub serve --workers N`: N server processes behind one listening socket.

Why: one Python process serves BatchImportFindings at about one core's worth of checking and
JSON work; on a machine with more cores the GIL, not the database, was the bound. The parent
binds the socket, forks N workers that each open their own store connection pool and run
uvicorn, accepts connections and hands each to the worker with the fewest open ones
(`handoff`: a shared socket left the spread of long-lived connections to chance), and
supervises them: SIGINT/SIGTERM stop them all; a worker that exits on its own stops the
others and the parent exits non-zero, so a process manager restarts the whole hub rather than
a hub running short-handed without anyone noticing.

What is shared and what is per process (the store is the only shared state):
- findings, runs, keys, users, audit: in the database; writers are serialised by the hub's
  write lock (SQLite BEGIN IMMEDIATE, a PostgreSQL advisory lock) across processes as across
  threads, so every import/update rule holds as with one process;
- the per-principal rate limit (`--rate-limit/--rate-burst`) is a token bucket per process:
  with N workers a principal may get up to N times the rate;
- the Falco intake's queue and its `max_pending` back-pressure are per process; its counts are
  merged in the database under the write lock (`runtime.dedup`), so none is lost or doubled;
- the dashboard keeps sign-in sessions and sign-in throttling in memory, which N processes
  cannot share: with more than one worker it is not served (serve it from a second
  `hub serve --workers 1` on another port, on the same database).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import socket
from typing import Callable

from secpipe.hub.api.handoff import Dispatcher, Handoff

log = logging.getLogger("secpipe.hub.workers")


def resolve(workers: int | str) -> int:
    """`auto` -> one per CPU core; otherwise the number (at least 1)."""
    if workers == "auto":
        return max(1, os.cpu_count() or 1)
    n = int(workers)
    if n < 1:
        raise ValueError("workers must be at least 1 (or auto)")
    return n


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts on (TCP_NODELAY-capable, see server.py)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(run: Callable[[Handoff], None], dispatcher: Dispatcher, slot: int) -> None:
    run(dispatcher.child_side(slot))


def supervise(count: int, sock: socket.socket, run: Callable[[Handoff], None]) -> int:
    """Fork `count` workers running `run(handoff)`, accept on `sock` here and hand each
    connection to the least busy worker (`handoff`); return when they are all gone (0 after
    a requested stop, 1 when a worker exited on its own)."""
    ctx = mp.get_context("fork")   # workers inherit their channel and the route factory as is
    dispatcher = Dispatcher(sock, count)
    procs = [ctx.Process(target=_worker, args=(run, dispatcher, i), name=f"hub-worker-{i}",
                         daemon=False)
             for i in range(count)]
    stopping = crashed = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in procs:
            p.start()
        dispatcher.start()
        log.info("hub serving with %d worker processes: %s", count,
                 ", ".join(str(p.pid) for p in procs))
        alive = list(procs)
        while alive:
            gone = multiprocessing.connection.wait([p.sentinel for p in alive])
            for p in [p for p in alive if p.sentinel in gone]:
                p.join()
                alive.remove(p)
                dispatcher.gone(procs.index(p))
                if not stopping:
                    log.error("hub worker %s exited with %s: stopping the others", p.pid,
                              p.exitcode)
                    crashed = True
                    stop(signal.SIGTERM, None)
        return 1 if crashed else 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        try:
            sock.shutdown(socket.SHUT_RDWR)   # wakes the dispatcher's blocked accept()
        except OSError:
            log.debug("listening socket already shut down")
        sock.close()
        dispatcher.close()
