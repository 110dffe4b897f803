"""`bulk.insert_rows` on SQLite: multi-row INSERTs of up to `_SQLITE_ROWS` rows (fewer for
wide tables: the variable limit) and the rest in multi-row INSERTs of powers of two store
every row once, in order, for narrow and wide tables and for every remainder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


@given(count=st.integers(0, 5000), per=st.integers(1, 2048))
def test_chunks_cover_every_row_with_few_sizes(count, per):
    sizes = list(bulk._chunks(count, per))
    assert sum(sizes) == count and all(0 < s <= per for s in sizes)
    rest = [s for s in sizes if s != per]
    # the rest: distinct powers of two, largest first
    assert all(s & (s - 1) == 0 for s in rest) and rest == sorted(set(rest), reverse=True)


@settings(max_examples=40, deadline=None)
@given(width=st.sampled_from([2, 5, 32]), count=st.integers(0, 1100))
def test_rows_stored_once_in_order_against_executemany(tmp_path_factory, width, count):
    """The same table content as the plain executemany of every row (the old remainder)."""
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('rows') / 'rows.db'}")
    cols = [f"c{i}" for i in range(width)]
    rows = [tuple([n] + [f"v{n}-{i}" if i % 3 else None for i in range(1, width)])
            for n in range(count)]
    with engine.begin() as conn:
        for t in ("a", "b"):
            conn.exec_driver_sql(f"CREATE TABLE {t} ({', '.join(cols)})")
        bulk.insert_rows(conn, "a", cols, rows)
        raw = conn.connection.driver_connection
        if rows:
            raw.executemany(f"INSERT INTO b VALUES ({', '.join('?' for _ in cols)})", rows)
        got = [conn.exec_driver_sql(f"SELECT rowid, * FROM {t} ORDER BY rowid").fetchall()
               for t in ("a", "b")]
    assert got[0] == got[1]
    engine.dispose()


def test_a_part_of_findings_rows_is_a_few_statements(tmp_path):
    """1,000 rows of a 32-column table (an import part of `findings`) take a handful of
    statements, not one executemany step per row (each step is a GIL hand-off)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    cols = [f"c{i}" for i in range(32)]
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE t ({', '.join(cols)})")
        raw = conn.connection.driver_connection
        steps: list[str] = []
        raw.set_trace_callback(steps.append)
        bulk.insert_rows(conn, "t", cols, [tuple(range(n, n + 32)) for n in range(1000)])
        raw.set_trace_callback(None)
    inserts = [s for s in steps if s.startswith("INSERT")]
    assert len(inserts) == 7                   # 3 x 256 + 128 + 64 + 32 + 8 rows
    engine.dispose()


def test_a_failing_row_raises_and_the_transaction_keeps_nothing(tmp_path):
    """OR FAIL keeps a failing statement's earlier rows until the caller's transaction
    rolls back (as executemany did): the error is raised and nothing of it is stored."""
    import sqlite3

    engine = create_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    rows = [(n, f"v{n}") for n in range(100)] + [(5, "again")]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        with engine.begin() as conn:
            bulk.insert_rows(conn, "t", ("k", "v"), rows)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    engine.dispose()
