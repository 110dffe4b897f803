"""Set-at-a-time writes below SQLAlchemy's per-row parameter handling.

The import path writes tens of thousands of rows per second, so the rows travel as plain
tuples straight to the driver: on SQLite multi-row INSERT OR FAIL statements of
`_SQLITE_ROWS` rows and of powers of two for the rest (the benchmark's physical limit is
`executemany` of the same rows, which these beat: no statement journal), and COPY on
PostgreSQL (one round trip for the whole set; updates and deletes go through a temporary table
joined back in one statement). Everything runs on the caller's connection, inside the caller's
transaction.

Why multi-row INSERTs: the sqlite3 module releases the GIL only while SQLite steps a
statement. `executemany` steps once per row (~50 us), and after each step the writer waits up
to the interpreter's switch interval (5 ms) for the GIL if another thread is busy in Python -
so the importer's checking thread and the writer took turns instead of overlapping (measured:
no gain from the overlap at all). One statement of hundreds of rows is one step of several
ms without the GIL, during which the checker runs.
"""

from __future__ import annotations

import sqlite3
import zlib
from itertools import chain, repeat
from typing import Iterable, Iterator, Sequence

from sqlalchemy.engine import Connection

# Below this many rows the temp-table dance costs more than it saves on PostgreSQL.
_PG_SET_MIN = 64
# Rows per multi-row INSERT on SQLite (bounded by the connection's variable limit). 256, not
# 2048: the sqlite3 module keeps each statement it prepared, compiled, for the connection's
# life, one per size (`_chunks`), and a compiled INSERT of ~1000 rows of `findings` (32
# columns) is megabytes: with 2048 a run's hub recording at 5,000 findings peaked 17-19 MB
# higher (163-164 against 144-146 MB, `bench/own_cpu_ab.py`; 512 gave 151 MB). Store import
# CPU was the same for 256 and 2048 (10k: 1.04 against 1.00-1.10 s; 100k: 11.1-13.5 against
# 13.0-13.8 s, alternating at load 3-9): the statement count barely matters once rows no
# longer go one executemany step each.
_SQLITE_ROWS = 256
# _NO_STMT: the statements say OR FAIL (the default is OR ABORT). A multi-row INSERT that
# may abort part-way must be able to undo its own rows alone, so SQLite keeps a statement
# journal for it: a copy of every page (16 KB) the statement changes that existed when it
# began, which in a large hub is most of the index pages a part touches. OR FAIL stops at
# the failing row and leaves the rows before it, as executemany's single-row INSERTs (which
# need no statement journal) did; the error is raised all the same and every caller's
# transaction (or a group commit's savepoint) rolls back whole. Measured on the benchmark's
# rows, parts of 1,000 findings, one CPU: 100k findings 5.5-6.2 s against 7.5-8.4 s for
# plain multi-row INSERTs and 6.8-7.7 s for executemany; 10k: 0.42 against 0.48 and 0.55 s.
# What is left after the statements of `_SQLITE_ROWS` rows goes in statements of powers of
# two (`_chunks`), not `executemany`: parts of `overlap.PART` findings never filled one of
# `_SQLITE_ROWS` rows, so every `findings`, `finding_types` and `finding_resources` row of
# `bulk_import` (and a thousand `finding_map` rows per part) used to be one executemany step,
# one GIL hand-off, each: ~30k hand-offs per 10k findings instead of ~60 statements.


def _raw(conn: Connection):
    return conn.connection.driver_connection


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def driver_rows(conn: Connection, sql: str, params: Sequence) -> list[tuple]:
    """The rows of `sql` (written with `?` marks) on the driver's own cursor, in the
    transaction of `conn`: for reads of one row per finding, where SQLAlchemy's expanding IN
    and per-row result handling cost more than the query (~3 us a row)."""
    raw = _raw(conn)
    if _is_pg(conn):
        with raw.cursor() as cur:
            return cur.execute(sql.replace("?", "%s"), tuple(params)).fetchall()
    return raw.execute(sql, tuple(params)).fetchall()


def insert_rows(conn: Connection, table: str, cols: Sequence[str], rows: list[tuple],
                as_text: int | None = None) -> None:
    """`rows` into `table`. `as_text`: the index of a text column whose values may also come
    as UTF-8 bytes (SQLite stores them as the same text: `CAST(? AS TEXT)` reinterprets a
    blob's bytes in the database's encoding, UTF-8, and leaves a str as it is; PostgreSQL
    gets them decoded)."""
    if not rows:
        return
    collist = ", ".join(f'"{c}"' for c in cols)
    if _is_pg(conn):
        with _raw(conn).cursor() as cur:
            with cur.copy(f'COPY "{table}" ({collist}) FROM STDIN') as copy:
                for row in rows:
                    if as_text is not None and type(row[as_text]) is bytes:
                        row = (*row[:as_text], row[as_text].decode(), *row[as_text + 1:])
                    copy.write_row(row)
        return
    raw = _raw(conn)
    one = "(" + ", ".join("CAST(? AS TEXT)" if i == as_text else "?"
                          for i in range(len(cols))) + ")"
    sql = f'INSERT OR FAIL INTO "{table}" ({collist}) VALUES '     # OR FAIL: see _NO_STMT
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if hasattr(raw, "getlimit") \
        else 999                                     # Python < 3.11: SQLite's oldest default
    start = 0
    for size in _chunks(len(rows), max(1, min(_SQLITE_ROWS, limit // len(cols)))):
        # one cached statement per size: `_SQLITE_ROWS` and the powers of two below it
        raw.execute(sql + ", ".join([one] * size),
                    list(chain.from_iterable(rows[start:start + size])))
        start += size


def _chunks(count: int, per: int) -> Iterator[int]:
    """Statement sizes for `count` rows: `per` rows while they last, then the rest cut into
    powers of two, largest first, so a dozen sizes, each prepared once per connection (the
    sqlite3 module caches statements by text), serve every count: preparing one statement
    for exactly the rest each time would cost ~10 ms for 1,000 rows of `findings`."""
    yield from repeat(per, count // per)
    rest = count % per
    while rest:
        size = 1 << (rest.bit_length() - 1)
        yield size
        rest -= size


def _pg_temp(cur, table: str, cols: Sequence[str], rows: Iterable[tuple]) -> str:
    """A transaction-scoped scratch table with just `cols` (no constraints), filled by COPY."""
    collist = ", ".join(f'"{c}"' for c in cols)
    tmp = f"_tmp_{table}_{zlib.crc32(collist.encode()):08x}"
    cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{tmp}" ON COMMIT DROP AS '
                f'SELECT {collist} FROM "{table}" WITH NO DATA')
    cur.execute(f'TRUNCATE "{tmp}"')
    with cur.copy(f'COPY "{tmp}" ({collist}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
    return tmp


def update_rows(conn: Connection, table: str, key: Sequence[str], cols: Sequence[str],
                rows: list[tuple]) -> None:
    """UPDATE table SET cols WHERE key; each row is (*cols values, *key values)."""
    if not rows:
        return
    if _is_pg(conn) and len(rows) >= _PG_SET_MIN:
        with _raw(conn).cursor() as cur:
            tmp = _pg_temp(cur, table, [*cols, *key], rows)
            sets = ", ".join(f'"{c}" = t."{c}"' for c in cols)
            where = " AND ".join(f'x."{k}" = t."{k}"' for k in key)
            cur.execute(f'UPDATE "{table}" AS x SET {sets} FROM "{tmp}" AS t WHERE {where}')
        return
    mark = "%s" if _is_pg(conn) else "?"
    sets = ", ".join(f'"{c}" = {mark}' for c in cols)
    where = " AND ".join(f'"{k}" = {mark}' for k in key)
    sql = f'UPDATE "{table}" SET {sets} WHERE {where}'
    if _is_pg(conn):
        with _raw(conn).cursor() as cur:
            cur.executemany(sql, rows)
    else:
        _raw(conn).executemany(sql, rows)


def delete_rows(conn: Connection, table: str, key: Sequence[str], rows: list[tuple]) -> None:
    """DELETE FROM table WHERE key = row, for every row."""
    if not rows:
        return
    if _is_pg(conn) and len(rows) >= _PG_SET_MIN:
        with _raw(conn).cursor() as cur:
            tmp = _pg_temp(cur, table, key, rows)
            where = " AND ".join(f'x."{k}" = t."{k}"' for k in key)
            cur.execute(f'DELETE FROM "{table}" AS x USING "{tmp}" AS t WHERE {where}')
        return
    mark = "%s" if _is_pg(conn) else "?"
    where = " AND ".join(f'"{k}" = {mark}' for k in key)
    sql = f'DELETE FROM "{table}" WHERE {where}'
    if _is_pg(conn):
        with _raw(conn).cursor() as cur:
            cur.executemany(sql, rows)
    else:
        _raw(conn).executemany(sql, rows)
