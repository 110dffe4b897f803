"""Dedup and rate-limit memory, in a small SQLite file of its own.

Why not the hub store: a pipeline run may record into a remote hub over HTTP (no place for this
state there), and the runtime intake may notify from a hub on PostgreSQL; a local SQLite file
works the same in every case and needs no migration. The pipeline keeps it beside the local hub
(`OUT/notify.db`) unless `SECPIPE_NOTIFY_STATE` names another file, so CI that caches `.secpipe`
keeps both.

The check ("was this finding notified within the window? is the rule under its rate?") and the
claim are one `BEGIN IMMEDIATE` transaction, so two processes (parallel CI jobs, the hub's
workers) cannot both decide to send the same alert. Sending happens after the commit; when
every channel failed the claim is given back (`release`), so the next event retries it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

ENV_STATE = "SECPIPE_NOTIFY_STATE"
DEFAULT_STATE = Path(".secpipe") / "notify.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notified (rule TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL,
                                     PRIMARY KEY (rule, key));
CREATE TABLE IF NOT EXISTS sent (id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL,
                                 at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sent_rule_at ON sent (rule, at);
CREATE TABLE IF NOT EXISTS held (rule TEXT PRIMARY KEY, count INTEGER NOT NULL,
                                 since REAL NOT NULL);
"""


@dataclass
class Claim:
    """The outcome of `reserve`: which keys are fresh, and whether the rule may send now."""

    rule: str
    fresh: list[str]
    allowed: bool
    sent_id: int | None = None
    held: int = 0                    # messages held back by the rate limit before this one
    held_since: float | None = None
    previous: dict[str, float | None] = field(default_factory=dict)


def default_state_path(out_dir: Path | None = None) -> Path:
    env = os.environ.get(ENV_STATE)
    if env:
        return Path(env)
    return (out_dir / "notify.db") if out_dir is not None else DEFAULT_STATE


class NotifyState:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One immediate (write-locking) transaction on a fresh connection: safe across
        threads and processes."""
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    with sqlite3.connect(self.path, timeout=30) as conn:
                        conn.executescript(_SCHEMA)
                    conn.close()
                    self._ready = True
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def reserve(self, rule: str, keys: Sequence[str], *, now: float, dedup_window: float,
                rate_max: int | None = None, rate_window: float = 3600) -> Claim:
        """Claim the keys not notified within `dedup_window` and a rate-limit slot.

        No fresh key: nothing to send (allowed, empty). Over the rate: not allowed, the keys
        stay unclaimed (so they go out with a later message) and the held count grows.
        """
        keys = list(dict.fromkeys(keys))
        with self._tx() as db:
            if dedup_window > 0:
                db.execute("DELETE FROM notified WHERE rule = ? AND at <= ?",
                           (rule, now - dedup_window))
            seen = {k: at for k, at in self._lookup(db, rule, keys)}
            fresh = [k for k in keys if dedup_window <= 0 or k not in seen]
            if not fresh:
                return Claim(rule, [], True)
            if rate_max is not None:
                db.execute("DELETE FROM sent WHERE rule = ? AND at <= ?", (rule, now - rate_window))
                (count,) = db.execute("SELECT COUNT(*) FROM sent WHERE rule = ? AND at > ?",
                                      (rule, now - rate_window)).fetchone()
                if count >= rate_max:
                    db.execute("INSERT INTO held (rule, count, since) VALUES (?, 1, ?) "
                               "ON CONFLICT (rule) DO UPDATE SET count = count + 1",
                               (rule, now))
                    return Claim(rule, fresh, False)
            previous = {k: seen.get(k) for k in fresh}
            if dedup_window > 0:
                db.executemany("INSERT INTO notified (rule, key, at) VALUES (?, ?, ?) "
                               "ON CONFLICT (rule, key) DO UPDATE SET at = excluded.at",
                               [(rule, k, now) for k in fresh])
            sent_id = db.execute("INSERT INTO sent (rule, at) VALUES (?, ?)",
                                 (rule, now)).lastrowid
            row = db.execute("SELECT count, since FROM held WHERE rule = ?", (rule,)).fetchone()
            db.execute("DELETE FROM held WHERE rule = ?", (rule,))
            return Claim(rule, fresh, True, sent_id, row[0] if row else 0,
                         row[1] if row else None, previous)

    def release(self, claim: Claim) -> None:
        """Give a claim back after every channel failed: the keys count as not notified and
        the rate-limit slot is free again."""
        if claim.sent_id is None:
            return
        with self._tx() as db:
            db.execute("DELETE FROM sent WHERE id = ?", (claim.sent_id,))
            for key, at in claim.previous.items():
                if at is None:
                    db.execute("DELETE FROM notified WHERE rule = ? AND key = ?", (claim.rule, key))
                else:
                    db.execute("UPDATE notified SET at = ? WHERE rule = ? AND key = ?",
                               (at, claim.rule, key))
            if claim.held:
                db.execute("INSERT INTO held (rule, count, since) VALUES (?, ?, ?) "
                           "ON CONFLICT (rule) DO UPDATE SET count = count + excluded.count",
                           (claim.rule, claim.held, claim.held_since or 0.0))

    @staticmethod
    def _lookup(db: sqlite3.Connection, rule: str, keys: list[str]) -> list[tuple[str, float]]:
        found: list[tuple[str, float]] = []
        for start in range(0, len(keys), 500):   # SQLite's variable limit
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found += db.execute(f"SELECT key, at FROM notified WHERE rule = ? AND key IN ({marks})",
                                (rule, *chunk)).fetchall()
        return found
