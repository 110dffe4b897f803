"""`sqlitebind`'s adapters bind exactly what the sqlite3 module bound without them: NULL for
None, the integer for a bool, and every other value as before (same storage class, value)."""

from __future__ import annotations

import sqlite3

from secpipe.hub import sqlitebind

VALUES = [None, True, False, 0, 1, -7, 2**62, 1.5, -0.0, "", "text", "é\u2028", b"\x00raw",
          bytearray(b"ba")]


def _stored(values: list) -> list[tuple]:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE t (i INTEGER, v)")
        # one multi-row statement and single-row ones, as `bulk.insert_rows` and the reads do
        conn.execute("INSERT INTO t VALUES " + ", ".join("(?, ?)" for _ in values),
                     [x for i, v in enumerate(values) for x in (i, v)])
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(-1, v) for v in values])
        return conn.execute("SELECT i, typeof(v), quote(v) FROM t ORDER BY rowid").fetchall()
    finally:
        conn.close()


def test_adapters_bind_what_the_search_bound() -> None:
    sqlitebind.install()
    mine = {k: sqlite3.adapters.pop(k) for k in [(type(None), sqlite3.PrepareProtocol),
                                                  (bool, sqlite3.PrepareProtocol)]}
    try:
        before = _stored(VALUES)
    finally:
        sqlite3.adapters.update(mine)
    assert _stored(VALUES) == before
    assert [row[1] for row in before[:3]] == ["null", "integer", "integer"]


def test_install_is_idempotent_and_leaves_base_types_alone() -> None:
    sqlitebind.install()
    sqlitebind.install()
    assert sqlite3.adapters[(bool, sqlite3.PrepareProtocol)] is int
    assert not any(t in (int, float, str, bytearray) for t, _p in sqlite3.adapters)
