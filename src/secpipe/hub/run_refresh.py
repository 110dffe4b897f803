"""A run's unchanged findings: the same stored result as a full provider update, written cheaply.

Every run sends each finding again with a new UpdatedAt, First/LastObservedAt and run id
(`ProductFields.secpipe/RunId`, `secpipe/Commit`), so on an unchanged tree every finding is a
provider update under Security Hub's rules, and the hub stores the new timestamps (UpdatedAt:
when the provider last updated the finding; LastObservedAt: when it last saw it). The full
update path (`importer.write`) spends most of its time proving that nothing else moved: it
reads each stored document through SQLAlchemy, diffs it for GetFindingHistory, builds and
compares side rows, and rewrites every column (and so every index) of the row.

Here the stored document is read on the driver's cursor and merged exactly as `importer.write`
merges it (`import_merge.merge`, ProcessedAt = now). When the merged document differs from the
stored one only in those timestamps and the unindexed run provenance, the full path would record
no history event, change no side row and no other column, so the row's timestamp columns, its
document and its digest are written with one narrow UPDATE: the same stored state, by
construction (tests/hub/test_run_refresh.py compares both paths). Anything else - a real change,
an automatic workflow change, automation rules, PostgreSQL, an UpdatedAt that is not newer, a
key twice in the batch - goes to `importer.write` unchanged.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Mapping, Sequence

from sqlalchemy.engine import Connection

from secpipe.hub import fastjson, rules_apply
from secpipe.hub.common import canon_time, now
from secpipe.hub.import_merge import merge
from secpipe.hub.importer import Checked, known, provider_key
from secpipe.hub.query_decode import load_doc
from secpipe.hub.interface import Partition
from secpipe.hub.stored import storable

# What a run changes in an unchanged finding. CreatedAt is the first import's (merge keeps it).
_TIMES = ("UpdatedAt", "FirstObservedAt", "LastObservedAt", "ProcessedAt")
# unindexed ProductFields (validate.UNINDEXED_PRODUCT_FIELDS) that history ignores as provenance
_PROVENANCE = ("secpipe/RunId", "secpipe/Commit")
_CHUNK = 900


def only_run_stamps(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when `new` (the merged document) differs from `old` (the stored one) only in the
    timestamps and run provenance a re-run moves (same keys, in the same order)."""
    if list(old) != list(new):
        return False
    probe = dict(new)               # new, with old's stamps: then one comparison in C
    for key in _TIMES:
        if key in old:
            probe[key] = old[key]
    before, fields = old.get("ProductFields"), new.get("ProductFields")
    if type(before) is dict and type(fields) is dict:
        if list(before) != list(fields):
            return False
        fields = dict(fields)
        for key in _PROVENANCE:
            if key in before:
                fields[key] = before[key]
        probe["ProductFields"] = fields
    return probe == old


def lookup(conn: Connection, findings: Sequence[Any], partition: Partition
           ) -> tuple[dict[tuple[str, str], tuple], dict[tuple[str, str], tuple]]:
    """`importer.known`'s answer for `findings` (key -> (pk, updated_at, digest)) and, on
    SQLite, the rows `refresh` reads for the same keys (key -> (pk, updated_at, digest,
    document bytes, locked)), from one query: `record_run` looked every key up twice, once
    for the checks and once for the narrow update. PostgreSQL: no rows (the narrow update is
    SQLite's only)."""
    if conn.dialect.name != "sqlite":
        return known(conn, findings, partition), {}
    rows = _rows(conn, {k for k in map(provider_key, findings) if k is not None}, partition)
    return {key: row[:3] for key, row in rows.items()}, rows


def _rows(conn: Connection, keys: Collection[tuple[str, str]], partition: Partition
          ) -> dict[tuple[str, str], tuple]:
    """The stored (pk, updated_at, digest, document bytes, locked) of the `keys` that exist,
    on the driver's cursor. An Id no driver can bind (NUL, a lone surrogate: never stored,
    and refused by the checks) is not looked up, as `stored.lookup` does not."""
    raw = conn.connection.driver_connection
    out: dict[tuple[str, str], tuple] = {}
    ids = [i for i in dict.fromkeys(k[0] for k in keys) if storable(i)]
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        # the document as its UTF-8 bytes, which orjson reads (`load_doc`): not decoded into
        # a str by the driver only to be encoded back (json.loads reads bytes as it reads
        # the str; ~2.5 us of ~17 us per 2 KB document)
        sql = ("SELECT id, product_arn, pk, updated_at, digest, CAST(doc AS BLOB), locked "
               "FROM findings WHERE id IN (" + ", ".join("?" for _ in chunk)
               + ") AND hub_account = ? AND hub_region = ?")
        for fid, arn, pk, updated, sent, text, locked in raw.execute(
                sql, (*chunk, partition.account, partition.region)):
            if (fid, arn) in keys:
                out[(fid, arn)] = (pk, updated, sent, text, locked)
    return out


def refresh(conn: Connection, items: Sequence[Checked], partition: Partition,
            trusted: Callable[[tuple[str, str]], bool] | None = None,
            looked: Mapping[tuple[str, str], tuple] | None = None
            ) -> tuple[dict[tuple[str, str], int], list[Checked]]:
    """Write the items that are a re-run's unchanged findings; returns their pks by key and
    the items left for `importer.write` (in their order).

    `trusted` (as `importer.write`'s): the keys whose checks' lookup still holds; an item
    that lookup found `absent` is a creation, and its row is not looked for. `looked`: that
    lookup's rows (`lookup`), used for the trusted keys instead of reading them again (a
    trusted key missing from it was absent, and still is)."""
    if conn.dialect.name != "sqlite" or not items:
        return {}, list(items)
    counts: dict[tuple[str, str], int] = {}
    for it in items:
        counts[it.key] = counts.get(it.key, 0) + 1
    wanted = {it.key: it for it in items
              if not it.unchanged and it.digest is not None and counts[it.key] == 1
              and not (it.absent and trusted is not None and trusted(it.key))}
    if not wanted or rules_apply.load(conn, partition=partition):
        return {}, list(items)
    stored: dict[tuple[str, str], tuple] = {}
    unread: Collection[tuple[str, str]] = wanted.keys()
    if looked is not None and trusted is not None:
        unread = {k for k in wanted if not trusted(k)}
        stored.update((k, looked[k]) for k in wanted if k in looked and trusted(k))
    if unread:
        stored.update(_rows(conn, unread, partition))
    raw = conn.connection.driver_connection
    stamp = now()
    processed = canon_time(stamp)
    done: dict[tuple[str, str], int] = {}
    rows = []
    for key, it in wanted.items():
        hit = stored.get(key)
        if hit is None or not it.updated_at > hit[1]:
            continue            # a creation, or an update the full path ignores
        pk, _updated, _sent, text, locked = hit
        old = load_doc(text)           # exactly json.loads's reading
        doc, flip = merge(old, it.doc, [f for f in locked.split(",") if f])
        doc["ProcessedAt"] = stamp
        if flip is not None or not only_run_stamps(old, doc):
            continue
        first, last = doc.get("FirstObservedAt"), doc.get("LastObservedAt")
        rows.append((canon_time(doc["UpdatedAt"]), canon_time(first) if first else None,
                     canon_time(last) if last else None, processed, fastjson.encode(doc),
                     it.digest, pk))
        done[key] = pk
    if rows:
        raw.executemany("UPDATE findings SET updated_at = ?, first_observed_at = ?, "
                        "last_observed_at = ?, processed_at = ?, doc = ?, digest = ? "
                        "WHERE pk = ?", rows)
    return done, [it for it in items if it.key not in done]
