"""How the Falco intake writes: bounded chunks, short transactions, poison set aside.

Why: the intake used to write everything pending in ONE transaction. A flood of distinct
alerts then held SQLite's write lock for 30 s, and BatchImportFindings waiting behind it failed
with "database is locked"; and one episode that could not be written failed the whole
transaction, was put back, and failed every later flush with it (issue 12).

- Chunks: at most CHUNK episodes per transaction (`write_episodes`), so the write lock is held
  for milliseconds at a time. Between chunks the flusher lets this process's other writers go
  first (`WriteGate`: they wait inside SQLite's busy handler, which polls, and would otherwise
  keep missing the short gap between two chunks). The engine's busy timeout (30 s, set in
  `hub.store`) covers writers in other processes.
- Poison: a chunk that fails with an error that is not transient is written again one episode
  at a time; an episode that fails alone is a dead letter with the error as the reason, and the
  others are stored. Findings the import checks refuse (FailedFindings) are dead letters too,
  instead of a log line.
- Transient errors (the database is unreachable, locked, a connection dropped, any OSError)
  stop the flush: what was not written goes back to the caller, to retry later.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from secpipe.runtime import deadletter
from secpipe.runtime.dedup import Episode, WriteStats, write_episodes

CHUNK = 100
GATE_WAIT = 1.0          # at most this long between two chunks for other writers
TRANSIENT = (OSError, sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
             sa_exc.DisconnectionError)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying later (the database, not the data)."""
    return isinstance(exc, TRANSIENT) or bool(getattr(exc, "connection_invalidated", False))


class WriteGate:
    """Knows when other threads of this process wait to begin a write transaction, so the
    intake can step aside between two chunks. Hooks the store engine's `begin` event (before
    and after the store's own listener, which issues BEGIN IMMEDIATE on SQLite)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._waiting: dict[int, float] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        event.listen(engine, "begin", self._before, insert=True)
        event.listen(engine, "begin", self._after)
        event.listen(engine, "handle_error", self._error)

    def close(self) -> None:
        for name, fn in (("begin", self._before), ("begin", self._after),
                         ("handle_error", self._error)):
            if event.contains(self.engine, name, fn):
                event.remove(self.engine, name, fn)

    def _before(self, conn: Any) -> None:
        if getattr(self._local, "own", False):
            return
        if conn.get_execution_options().get("secpipe_write"):
            with self._lock:
                self._waiting[threading.get_ident()] = time.monotonic()

    def _after(self, conn: Any) -> None:
        with self._lock:
            self._waiting.pop(threading.get_ident(), None)

    def _error(self, _ctx: Any) -> None:
        self._after(None)

    def owned(self) -> "_Owned":
        """`with gate.owned():` marks the intake's own writes (not waited for)."""
        return _Owned(self._local)

    def others_waiting(self) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(now - since < 60 for since in self._waiting.values())

    def step_aside(self, limit: float = GATE_WAIT) -> None:
        """Let waiting writers in: return once none waits, or after `limit` seconds."""
        deadline = time.monotonic() + limit
        time.sleep(0.001)
        while self.others_waiting() and time.monotonic() < deadline:
            time.sleep(0.002)


class _Owned:
    def __init__(self, local: threading.local) -> None:
        self.local = local

    def __enter__(self) -> None:
        self.local.own = True

    def __exit__(self, *exc: object) -> None:
        self.local.own = False


@dataclass
class Flushed:
    """What one flush did: stats of what was stored, dead letters, and what is left."""

    stats: WriteStats = field(default_factory=lambda: WriteStats(failed=[], documents=[]))
    dead: list[deadletter.DeadLetter] = field(default_factory=list)
    left: list[Episode] = field(default_factory=list)     # not written: retry later
    error: BaseException | None = None                   # the transient error that stopped it


def _add(total: WriteStats, stats: WriteStats, episodes: list[Episode],
         dead: list[deadletter.DeadLetter]) -> None:
    failed_eps: set[int] = set()
    for entry in stats.failed or ():
        fid, why = str(entry.get("Id") or ""), str(entry.get("ErrorMessage") or "refused")
        for i, ep in enumerate(episodes):
            if i not in failed_eps and f"/falco/{ep.key}/" in fid:
                failed_eps.add(i)
                dead.append(deadletter.from_alert(ep.alert, "write",
                                                  f"the hub refused its finding: {why}", ep.count))
                break
    total.alerts += stats.alerts - sum(episodes[i].count for i in failed_eps)
    total.created += stats.created
    total.updated += stats.updated
    total.correlated += stats.correlated
    assert total.failed is not None and total.documents is not None
    total.failed.extend(stats.failed or ())
    total.documents.extend(stats.documents or ())


def write_chunked(store: Any, episodes: list[Episode], window: float,
                  gate: WriteGate | None = None, chunk: int = CHUNK) -> Flushed:
    """Write `episodes` in chunks (see the module docstring); never raises for bad data."""
    out = Flushed()
    for start in range(0, len(episodes), max(1, chunk)):
        part = episodes[start:start + chunk]
        if start and gate is not None:
            gate.step_aside()
        try:
            _add(out.stats, _write(store, part, window, gate), part, out.dead)
            continue
        except Exception as exc:  # noqa: BLE001 - sorted below: transient or poison
            if is_transient(exc):
                out.left, out.error = episodes[start:], exc
                return out
        for i, ep in enumerate(part):           # poison somewhere: one at a time
            try:
                _add(out.stats, _write(store, [ep], window, gate), [ep], out.dead)
            except Exception as exc:  # noqa: BLE001 - transient: stop; else a dead letter
                if is_transient(exc):
                    out.left, out.error = part[i:] + episodes[start + chunk:], exc
                    return out
                out.dead.append(deadletter.from_alert(
                    ep.alert, "write", f"{type(exc).__name__}: {exc}"[:2000], ep.count))
    return out


def _write(store: Any, part: list[Episode], window: float, gate: WriteGate | None
           ) -> WriteStats:
    if gate is None:
        return write_episodes(store, part, window)
    with gate.owned():
        return write_episodes(store, part, window)


__all__ = ["CHUNK", "WriteGate", "Flushed", "write_chunked", "is_transient"]
