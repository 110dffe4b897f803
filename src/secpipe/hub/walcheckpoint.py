"""WAL checkpoints of a serving hub run beside its writers, not inside the write gate.

Why: SQLite checkpoints automatically in the COMMIT that takes the WAL past
`wal_autocheckpoint` pages (128 MB here), and that commit returns only once the checkpoint has
synced the WAL, copied its pages into the database and synced that. The hub's writers hold
their write gate (`writegate`) until the commit returns, so every other writer of every
`hub serve` worker waited out the checkpoint too: importing 20,000 new findings
(BatchImportFindings, 100 per call, ~60 KB of WAL each) took eight or nine checkpoints of
0.1-0.25 s of wall time each on this machine, against ~40 ms for a whole 100-finding call.

How: the serving store's connections checkpoint automatically only past `BACKSTOP` pages (4x
the usual: a bound should this thread fall behind or stop), and one process of the server
(`_elected`) runs the usual PASSIVE checkpoint in a thread of its own, at most once per period
and after a write has left the gate. The period follows the WAL's growth, so that a checkpoint copies about
`AUTOCHECKPOINT` pages as before (fewer, larger checkpoints copy a page rewritten by many
commits once): each checkpoint reports the WAL's length, and the frames added since the last
one over the time since then give the rate. A PASSIVE checkpoint waits for nobody: it copies what no
reader still needs and leaves the rest for the next one, exactly as the automatic checkpoint
does; SQLite serialises concurrent checkpointers (another worker's) on its own lock, and the
write lock is not involved, so writers go on meanwhile. What the database holds and answers is
unchanged: a checkpoint moves committed pages from the WAL into the file, whoever runs it.

Only `hub serve` does this (a long-lived process that writes often); a run or a CLI command
keeps SQLite's automatic checkpoint, so a short process never leaves a checkpoint half done
in a thread when it exits (harmless to SQLite, but it would leave the WAL behind).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from typing import Any

from sqlalchemy.engine import Engine

from secpipe.hub import writegate

AUTOCHECKPOINT = 8000     # pages: SQLite's own checkpoint, every 128 MB of WAL at 16 KB pages
BACKSTOP = 4 * AUTOCHECKPOINT
# journal_size_limit: the WAL file is cut back to this size when it starts over. As large as
# the WAL the checkpoints let grow (128 MB, or up to the backstop's 512 MB here): a WAL cut
# back at every start and grown again costs the file system a block freed and allocated for
# every page written past the limit (in-process, the cycles' WAL reached 190-250 MB).
WAL_LIMIT = 128 * 1024 * 1024
BACKSTOP_WAL_LIMIT = 4 * WAL_LIMIT
PERIOD = 0.5              # seconds: the first period, ~100-150 MB of WAL at the rate of four
#                           clients importing new findings on two free cores
PERIODS = (0.05, 5.0)     # bounds of the period the WAL's growth sets

_log = logging.getLogger(__name__)


class Checkpointer:
    """One serving process's checkpoints of one SQLite database (its engine)."""

    def __init__(self, engine: Engine, period: float = PERIOD) -> None:
        self._engine = engine
        self._side = f"{writegate.database_file(engine)}-checkpointer"
        self._fd: int | None = None    # the flock that makes this process the checkpointer
        self._period = period
        self._wake = threading.Event()
        self._stop = False
        self._last = 0.0
        self._frames = 0           # the WAL's length at the last checkpoint
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.runs = 0              # checkpoints run (for tests and benchmarks)

    def after_write(self) -> None:
        """A write transaction of this process has committed and left the gate: checkpoint
        soon (at most one per `period`; the thread is started on first use, in the process
        that writes, so a forked worker gets its own)."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stop:
                    self._thread = threading.Thread(target=self._loop, daemon=True,
                                                    name="secpipe-hub-checkpoint")
                    self._thread.start()
        self._wake.set()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread, letting a checkpoint under way finish (before the engine goes)."""
        with self._start_lock:
            self._stop = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        if self._fd is not None and (thread is None or not thread.is_alive()):
            os.close(self._fd)             # another worker may take the election now
            self._fd = None

    def _elected(self) -> bool:
        """Whether this process checkpoints: the one holding an exclusive flock on the side
        file `<db>-checkpointer` (kept until `close`; a process that dies lets it go). One is
        enough: two, each paced by its own view of the WAL, would copy the same WAL in more
        and smaller checkpoints. Without the side file (a read-only folder), every process
        checkpoints, as SQLite's automatic checkpoint would."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self._side, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def _loop(self) -> None:
        while True:
            # the elected process checkpoints every period, written or not (the other
            # workers' writes grow the WAL too); the others look again after their next write
            self._wake.wait(self._period if self._fd is not None else None)
            if self._stop:
                return
            pause = self._last + self._period - time.monotonic()
            if pause > 0:
                time.sleep(pause)          # writes meanwhile join this checkpoint
                if self._stop:
                    return
            self._wake.clear()
            if not self._elected():
                self._last = time.monotonic()
                continue
            try:
                frames, left = self.cycle()
            except Exception as exc:       # noqa: BLE001 - reported; the backstop still bounds
                _log.warning("hub WAL checkpoint failed (SQLite's own checkpoint at %d pages "
                             "still applies): %s", BACKSTOP, exc)
            else:
                self._pace(frames, left)
            self._last = time.monotonic()

    def _pace(self, frames: int, left: int) -> None:
        """The next period from the WAL's growth since the last cycle: `frames` is its length
        when this cycle began, `left` what the next writer will not start over (0: all)."""
        now = time.monotonic()
        added = frames - self._frames if frames >= self._frames else frames
        self._frames = left
        if self._last:
            rate = max(added, 1) / max(now - self._last, 1e-3)
            low, high = PERIODS
            self._period = min(high, max(low, AUTOCHECKPOINT / rate))

    def cycle(self) -> tuple[int, int]:
        """Checkpoint everything written so far and let the next writer restart the WAL: the
        WAL's length (frames) when the cycle began and the length the next writer keeps (0
        when it starts over; a reader of an older snapshot can keep frames from being copied).

        SQLite starts the WAL over (writes from its first frame again, within the file) only
        when the writer that begins finds every frame copied into the database. A checkpoint
        beside busy writers never leaves it so: they append while it copies, the WAL grew past
        the backstop in a test (32,000 pages, 512 MB, then the backstop's checkpoint in a
        commit) and writes went to new blocks of the file instead of over old ones. So the
        bulk is copied beside the writers, then what they wrote meanwhile, and the little
        written during that last copy is copied holding the write gate, between two writers."""
        raw = self._engine.raw_connection()      # taken before the gate, held to the end
        try:
            _busy, frames, _done = self.checkpoint(raw)
            self.checkpoint(raw)
            with writegate.for_engine(self._engine):
                _busy, log, done = self.checkpoint(raw)
        finally:
            raw.close()
        return frames, 0 if done == log else log

    def checkpoint(self, raw: Any) -> tuple[int, int, int]:
        """One PASSIVE checkpoint on `raw` (a pooled DB-API connection, outside any
        transaction): SQLite's (busy, frames in the WAL, frames checkpointed)."""
        cur = raw.cursor()
        try:
            busy, log, done = cur.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            cur.close()
        self.runs += 1
        return busy, log, done
