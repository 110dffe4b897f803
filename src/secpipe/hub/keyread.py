"""The signing key's row for SigV4 on a SQLite hub: one kept connection and one statement, not
a pooled SQLAlchemy read per request.

Why: `hub serve` looks the signing key up for every request it verifies. Through SQLAlchemy
(a pool check-out, BEGIN, a `select` built and its cache key made, COMMIT, the check-in) that
cost 150-400 µs per request in one process (docs/performance.md, "HTTP import, fourteenth
round"), i.e. 1.5-4 µs per finding of a 100-finding BatchImportFindings call; the statement
itself takes ~8 µs.

What stays exact: nothing is cached. The row is read at every lookup, in a read transaction
of its own that sees every commit made before it (autocommit: the statement is the
transaction), so a key revoked, re-scoped or given another role by any process or thread
takes effect at the next request, exactly as before. What the row means is decided by
`keys.record_of`, the same function the SQLAlchemy lookup (`keys.key_record`) uses.

The statement is stepped to its end (`fetchall`, at most one row: `akid` is the primary key),
so the read transaction ends with it and never holds back a WAL checkpoint. One lock
serialises lookups on the connection (a few microseconds each). A process forked while the
connection is open neither uses nor closes its parent's (it is kept referenced, so that no
finalizer hands it back to the child's copy of the pool); the child takes another from the
engine's pool, as its other reads do.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from sqlalchemy.engine import Engine

ROW_SQL = ("SELECT secret, secret_enc, role, scope, disabled FROM access_keys "
           "WHERE akid = ?")
_PARENTS: list[Any] = []     # a forked child's inherited connections: never used nor closed


class KeyReader:
    """Reads access-key rows on one connection of `engine` (a SQLite file's), kept checked
    out of its pool until `close`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Any = None           # the pool's proxy of the kept DBAPI connection
        self._pid = 0                    # the process that opened it
        self._lock = threading.Lock()

    def row(self, akid: str) -> tuple[Any, ...] | None:
        """(secret, secret_enc, role, scope, disabled) of key `akid`, or None."""
        with self._lock:
            if self._conn is not None and self._pid != os.getpid():
                _PARENTS.append(self._conn)
                self._conn = None
            if self._conn is None:
                self._conn = self._engine.raw_connection()
                self._pid = os.getpid()
            try:
                rows = self._conn.driver_connection.execute(ROW_SQL, (akid,)).fetchall()
            except BaseException:
                self._drop()             # the next lookup starts on a fresh connection
                raise
        return tuple(rows[0]) if rows else None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.invalidate()

    def close(self) -> None:
        """Give the connection back to the pool (the store's `close` then disposes of it)."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            if self._pid == os.getpid():
                conn.close()
            else:
                _PARENTS.append(conn)
