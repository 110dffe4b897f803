"""What the hub stores for findings' keys: (pk, updated_at, digest) per (Id, ProductArn),
read by the import's checks (the unchanged re-import shortcut, `importer.check_all`) and by
its writes under the lock (`importer.write`, `updates`, `suppressed`)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from secpipe.hub import fastjson
from secpipe.hub.bulk import driver_rows
from secpipe.hub.common import SURROGATES
from secpipe.hub.interface import Partition

_LOOKUP_CHUNK = 900


def lookup(conn: Connection, keys: list[tuple[str, str]], partition: Partition | None = None
           ) -> dict[tuple[str, str], tuple]:
    """Stored (pk, updated_at, digest) per key in `partition` (None: Partition()); one
    indexed IN query per chunk of Ids.

    On the driver's own cursor with one fetchall: SQLAlchemy's per-row result handling cost
    as much as the lookups themselves on an unchanged re-import (two lookups per finding).
    An Id holding NUL or a lone surrogate cannot be stored (the checks refuse both), so it is
    not looked up: that finding fails alone in the checks rather than the driver refusing the
    whole query (a surrogate made every driver raise UnicodeEncodeError for the whole import).

    Keys of one product (the pipeline's imports) name it in the query: SQLite probes the
    whole unique key and the answer does not repeat the ARN per row, nor is it filtered
    here (~0.45 against ~0.54 s of CPU for 100k keys). Keys of several products, or of an
    ARN no driver may bind (NUL, a lone surrogate: never stored), are looked up by Id alone
    and the answer filtered."""
    part = partition or Partition()
    found: dict[tuple[str, str], tuple] = {}
    ids = [i for i in dict.fromkeys(k[0] for k in keys) if storable(i)]
    arns = {k[1] for k in keys}
    one = arns.pop() if len(arns) == 1 else None
    if one is not None and not storable(one):
        one = None
    wanted = set(keys) if one is None else None
    pg = conn.dialect.name == "postgresql"
    # SQLite: the whole answer as one JSON row. The sqlite3 module releases the GIL for each
    # row it steps, and while another thread runs Python (the overlap's checker, or the
    # writer) every re-acquisition waits up to the switch interval: fetching ~900 rows one
    # by one took 7x as long as the query itself on an unchanged re-import.
    named = "id, pk, updated_at, digest" if one is not None else \
        "id, product_arn, pk, updated_at, digest"
    cols = named if pg else f"json_group_array(json_array({named}))"
    where = "product_arn = ? AND " if one is not None else ""
    raw = conn.connection.driver_connection
    for i in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[i:i + _LOOKUP_CHUNK]
        # plain SQL: compiling an expanding IN of ~900 parameters costs more than running it
        sql = (f"SELECT {cols} FROM findings WHERE id IN ("
               + ", ".join("?" for _ in chunk) + f") AND {where}hub_account = ? AND "
               "hub_region = ?")
        params = (*chunk, *(() if one is None else (one,)), part.account, part.region)
        if pg:
            rows = driver_rows(conn, sql, params)
        else:
            rows = fastjson.loads_rows(raw.execute(sql, params).fetchone()[0])
        if one is not None:
            for fid, pk, updated, sent in rows:
                found[(fid, one)] = (pk, updated, sent)
            continue
        for fid, arn, pk, updated, sent in rows:
            if (fid, arn) in wanted:                        # type: ignore[operator]
                found[(fid, arn)] = (pk, updated, sent)
    return found


def storable(text: str) -> bool:
    """Whether a driver can bind `text` and a hub can hold it: no NUL (PostgreSQL text refuses
    it), no lone surrogate (no UTF-8 encoder takes one; the non-ASCII screen keeps the common
    case to one scan)."""
    return "\x00" not in text and (text.isascii() or not SURROGATES.search(text))
