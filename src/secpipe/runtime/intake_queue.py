"""The Falco intake's queue: alerts held in memory per identity, and the thread that writes
them to the hub (`FalcoIntake`). The HTTP side - authentication, routes - is
`secpipe.runtime.intake`, whose docstring describes the durability and back-pressure rules
this class implements; the writing itself is `secpipe.runtime.flusher`.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import timedelta
from typing import Any, Callable, Sequence

import anyio

from secpipe.formats.falco import Alert
from secpipe.hub.api.errors import PayloadTooLarge
from secpipe.hub.interface import RetryLater
from secpipe.runtime import deadletter
from secpipe.runtime.admission import MAX_FUTURE
from secpipe.runtime.dedup import DEFAULT_WINDOW, Aggregator, QueueFull, WriteStats
from secpipe.runtime.flusher import WriteGate, is_transient, write_chunked

log = logging.getLogger("secpipe.runtime.intake")

ENV_WINDOW = "SECPIPE_FALCO_DEDUP_WINDOW"
ENV_FLUSH = "SECPIPE_FALCO_FLUSH_INTERVAL"
DEFAULT_FLUSH = 0.25
MAX_PENDING = 20000
WAIT_SECONDS = 10.0


class Unavailable(RetryLater):
    """503 with Retry-After: the intake is full; nothing of the request was kept."""

    code, status = "ServiceUnavailableException", 503


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


class FalcoIntake:
    """Pending alerts and the thread that writes them to the hub."""

    def __init__(self, store: Any, *, window: float | None = None,
                 flush_interval: float | None = None, max_pending: int = MAX_PENDING,
                 start: bool = True, max_future: timedelta = MAX_FUTURE,
                 on_stored: Callable[[list[dict[str, Any]]], Any] | None = None) -> None:
        self.store = store
        self.on_stored = on_stored   # gets the ASFF documents of each write (notifications)
        self.window = window if window is not None else _env_float(ENV_WINDOW, DEFAULT_WINDOW)
        self.flush_interval = flush_interval if flush_interval is not None else \
            _env_float(ENV_FLUSH, DEFAULT_FLUSH)
        self.max_pending = max_pending
        self.max_future = max_future
        self.aggregator = Aggregator(self.window)
        self.dead = deadletter.Buffer()
        engine = getattr(store, "engine", None)
        self.gate = WriteGate(engine) if engine is not None else None
        self._backoff = self.flush_interval
        self._cond = threading.Condition()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._submitted = 0          # generation of the last accepted request
        self._flushed = 0            # every generation up to this one is in the database
        self.received = 0
        self.stored = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="secpipe-falco-intake",
                                            daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def submit(self, alerts: Sequence[Alert]) -> int:
        """Take alerts (all or none); returns the generation to `wait` for."""
        with self._cond:
            try:
                self.aggregator.add(alerts, max_keys=self.max_pending)
            except QueueFull as full:
                self._wake.set()
                if full.adding > self.max_pending:
                    raise PayloadTooLarge(
                        f"this request holds {full.adding} distinct alerts, more than the "
                        f"intake's max_pending ({self.max_pending}): send it in parts") from None
                raise Unavailable(
                    f"the hub has {full.pending} alert identities waiting for its database "
                    f"(max_pending {self.max_pending}); retry later (nothing of this request "
                    "was kept)", retry_after=max(1.0, self._backoff)) from None
            self.received += len(alerts)
            self._submitted += 1
            return self._submitted

    def refuse(self, letters: Sequence[deadletter.DeadLetter]) -> None:
        """Keep refused alerts as dead letters (written by the next flush)."""
        self.dead.add(letters)
        self._wake.set()

    def wait(self, generation: int, timeout: float = WAIT_SECONDS) -> bool:
        """True once everything up to `generation` is committed."""
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._flushed < generation:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
                self._wake.set()
        return True

    async def wait_async(self, generation: int, timeout: float = WAIT_SECONDS) -> bool:
        """`wait` without holding a thread for up to 10 s per request: polls."""
        self._wake.set()
        deadline = time.monotonic() + timeout
        while self._flushed < generation:
            if time.monotonic() > deadline:
                return False
            await anyio.sleep(0.01)
        return True

    def flush(self) -> WriteStats | None:
        """Write everything pending now, in chunks (see `flusher`); None when there was
        nothing. Raises the database's error when it could not be reached; what was not
        written then stays pending."""
        with self._flush_lock:
            with self._cond:
                episodes = self.aggregator.take()
                generation = self._submitted
            letters = self.dead.take()
            if not episodes and not letters:
                with self._cond:
                    self._flushed = max(self._flushed, generation)
                    self._cond.notify_all()
                return None
            done = write_chunked(self.store, episodes, self.window, self.gate)
            if done.left:
                self.aggregator.restore(done.left)
            self._write_dead(letters + done.dead)
            stats = done.stats
            if stats.failed:
                log.error("the hub refused %d Falco findings (dead letters): %s",
                          len(stats.failed), stats.failed[:3])
            with self._cond:
                self.stored += stats.alerts
                if not done.left:
                    self._flushed = max(self._flushed, generation)
                self._cond.notify_all()
            if self.on_stored is not None and stats.documents:
                try:   # on the flusher thread, in write order; keep it quick
                    self.on_stored(stats.documents)
                except Exception as exc:  # noqa: BLE001 - stored is stored; say what failed
                    log.error("the intake's on_stored hook failed: %s", exc)
            if done.error is not None:
                self.last_error = f"{type(done.error).__name__}: {done.error}"
                log.error("writing %d Falco episodes failed (kept for retry): %s",
                          len(done.left), self.last_error)
                raise done.error
            self.last_error = None
            return stats

    def _write_dead(self, letters: list[deadletter.DeadLetter]) -> None:
        if not letters:
            return
        log.warning("%d Falco alerts set aside as dead letters: %s", len(letters),
                    letters[0].reason)
        try:
            deadletter.write(self.store, letters)
        except Exception as exc:  # noqa: BLE001 - keep them for the next flush if transient
            if is_transient(exc):
                self.dead.restore(letters)
            log.error("writing %d dead letters failed: %s", len(letters), exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._backoff)
            self._wake.clear()
            if self._stop.is_set():
                break
            began = time.monotonic()
            try:
                self.flush()
                # at most a third of the time writing: under a flood the next flush waits
                # twice as long as this one took, which also lets more alerts merge in memory
                self._backoff = max(self.flush_interval,
                                    min(5.0, 2 * (time.monotonic() - began)))
            except Exception:  # noqa: BLE001 - logged in flush; back off up to 5 s
                self._backoff = min(5.0, self._backoff * 2)

    def close(self) -> None:
        """Stop the thread and write what is pending (idempotent)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - already logged; nothing more to do at exit
            pass
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001
            pass
        if self.gate is not None:
            self.gate.close()


__all__ = ["FalcoIntake", "Unavailable", "ENV_WINDOW", "ENV_FLUSH", "MAX_PENDING", "_env_float"]
