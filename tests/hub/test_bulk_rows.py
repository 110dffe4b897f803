"""`bulk.insert_rows` on SQLite: multi-row INSERTs of up to `_SQLITE_ROWS` rows (fewer for
wide tables: the variable limit) plus executemany for the rest store every row once, in
order, for narrow and wide tables and for every remainder."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from secpipe.hub import bulk


@pytest.mark.parametrize("width, count", [(2, 1), (5, 2047), (5, 2048), (5, 4097),
                                          (32, 1023), (32, 1024), (32, 3001)])
def test_every_row_is_stored_once_in_order(tmp_path, width, count):
    engine = create_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    cols = [f"c{i}" for i in range(width)]
    rows = [tuple([n] + [f"v{n}-{i}" for i in range(1, width)]) for n in range(count)]
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE t ({', '.join(cols)})")
        bulk.insert_rows(conn, "t", cols, rows)
        got = conn.exec_driver_sql("SELECT * FROM t ORDER BY rowid").fetchall()
    assert [tuple(r) for r in got] == rows
    engine.dispose()


def test_the_statement_stays_within_the_variable_limit(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        limit = raw.getlimit(3) if hasattr(raw, "getlimit") else 999   # VARIABLE_NUMBER
        width = 40
        cols = [f"c{i}" for i in range(width)]
        conn.exec_driver_sql(f"CREATE TABLE t ({', '.join(cols)})")
        rows = [tuple(range(n, n + width)) for n in range(limit // width * 3 + 7)]
        bulk.insert_rows(conn, "t", cols, rows)
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == len(rows)
    engine.dispose()
