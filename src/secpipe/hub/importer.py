"""BatchImportFindings semantics, written set-at-a-time.

One call of `write` is one transaction under the hub's write lock and costs a fixed number of
statements whatever the batch size: look the keys up, read the stored documents of the
findings that will really change, then insert / update / delete rows with executemany or COPY.
An unchanged re-import (same UpdatedAt) stops after the key lookup.

Every finding is judged in one place, `check_all`, before the bulk write. The one shortcut
there is for a document that is byte-for-byte one this hub already accepted for the same key
(its `digest`, stored with the row) and whose UpdatedAt is not newer than the stored one: the
import would validate it only to ignore it, so `check_all` marks it `unchanged` without
validating it again (validation is a pure function of the document), and `write` ignores it
after confirming, under the write lock, that the stored row still says so.

Security Hub's own rules for an update (CreatedAt, the customer's fields, the automatic
Workflow.Status changes) live in `import_merge`, re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy.engine import Connection

from secpipe.hub import bulk, fastjson, history, import_rules, rules_apply
from secpipe.hub.common import SURROGATES, bad_text, canon_time, dumps, now
from secpipe.hub.docdigest import digest  # noqa: F401 (importer.digest: the shortcut's)
from secpipe.hub.import_merge import (CUSTOMER_FIELDS, LOCKABLE, _CUSTOMER, _diff,  # noqa: F401
                                      finding_row, load_docs, merge, on_create, transition)
from secpipe.hub.interface import Partition
from secpipe.hub.stored import lookup as _lookup  # (importer._lookup: tests patch it)
from secpipe.hub.validate import (FINDING_COLS, BadFinding, bind_side, check, doc_size_ok,
                                  normalize, side_inputs, side_rows, side_rows_of)

UPDATE_COLS = FINDING_COLS[3:]
TYPE_COLS = ("finding_pk", "type")
RESOURCE_COLS = ("finding_pk", "idx", "type", "id", "partition", "region")
MAP_COLS = ("finding_pk", "kind", "key", "v", "full")
EVENT_COLS = ("finding_pk", "at", "kind", "actor", "run_id", "changes")
# the digest is the importer's alone (BatchUpdateFindings keeps the stored one); the partition
# (account, region) is set once, on creation (secpipe.hub.partitions)
INSERT_COLS = (*FINDING_COLS, "digest", "hub_account", "hub_region")
REWRITE_COLS = (*UPDATE_COLS, "digest")
_MAX_PK = "SELECT coalesce(max(pk), 0) FROM findings"
_DOC_COL = INSERT_COLS.index("doc")
# The stored document's text (orjson where it is exact, see `fastjson`).
encode = _encode = fastjson.encode
_encode_screened = fastjson.encode_screened
_encode_utf8_screened = fastjson.encode_utf8_screened


@dataclass(slots=True)
class Checked:
    """A finding that passed the per-finding checks, ready for `write`."""

    doc: dict[str, Any]
    # the serialised doc, reused when the doc is stored unchanged; its UTF-8 bytes only
    # where `check_all` was asked for them (`utf8`: a SQLite writer, see `write`)
    text: str | bytes | None
    updated_at: str           # canonical
    key: tuple[str, str] = ("", "")
    digest: str | None = None     # of the provider's document as sent; None: the hub's own
    unchanged: bool = False       # `doc` is the provider's document, accepted before (see top)
    pk: Any = None                # an `unchanged` item's stored pk, as the checks read it
    # `side_rows_of(doc)`, built by the checks for a key the hub did not hold (a likely
    # creation), so the writer only binds the pk; None: the writer builds them if needed
    side: tuple[list, list, list] | None = None
    # the checks' key lookup found no row for this key (False: not found absent, or not
    # looked up); the writer trusts it where `freshness` proves the lookup still holds
    absent: bool = False

    def __post_init__(self) -> None:
        self.key = (self.doc["Id"], self.doc["ProductArn"])


@dataclass
class WriteResult:
    pks: dict[tuple[str, str], int] = field(default_factory=dict)   # every key of the batch
    created: int = 0
    updated: int = 0
    ignored: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)   # see `write`
    touched: list[tuple[str, str]] = field(default_factory=list)   # keys created or updated


Known = Mapping[tuple[str, str], tuple[Any, str, str | None]]   # key -> (pk, updated_at, digest)


def provider_key(obj: Any) -> tuple[str, str] | None:
    """(Id, ProductArn) of a document not yet checked, when both are strings."""
    if type(obj) is not dict:
        return None
    fid, arn = obj.get("Id"), obj.get("ProductArn")
    return (fid, arn) if type(fid) is str and type(arn) is str else None


def known(conn: Connection, findings: Iterable[Any], partition: Partition | None = None
          ) -> dict[tuple[str, str], tuple]:
    """What the hub stores for the keys of `findings` (for `check_all`'s shortcut)."""
    keys = [k for k in map(provider_key, findings) if k is not None]
    return _lookup(conn, keys, partition) if keys else {}


def as_stored(item: Checked) -> Mapping[str, Any]:
    """The document with what import fills in (ProductName...), also for `unchanged` items."""
    if item.unchanged and "secpipe/Tool" not in (item.doc.get("ProductFields") or {}):
        return normalize(item.doc)
    return item.doc


def failure(obj: Any, message: str) -> dict[str, str]:
    fid = obj.get("Id") if isinstance(obj, Mapping) else None
    return {"Id": fid if isinstance(fid, str) else "", "ErrorCode": "InvalidInput",
            "ErrorMessage": message}


def _unchanged(obj: Any, sent: str, stored: Known) -> Checked | None:
    """`obj` as an unchanged re-import, if it is one (see the module docstring).

    The item is made without `Checked`'s __init__ (`_accepted`)."""
    key = provider_key(obj)
    hit = stored.get(key)                        # type: ignore[arg-type]
    if hit is None or hit[2] != sent:
        return None
    updated = canon_time(obj["UpdatedAt"])       # it passed this check when it was accepted
    if updated > hit[1]:
        return None
    return _accepted(obj, key, updated, sent, hit[0])   # type: ignore[arg-type]


_new = object.__new__


def _accepted(doc: dict[str, Any], key: tuple[str, str], updated: str, sent: str, pk: Any
              ) -> Checked:
    """`Checked(doc, None, updated, digest=sent, unchanged=True, pk=pk)`: one item per finding
    of an unchanged re-import (see `_item`)."""
    return _item(doc, None, updated, key, sent, True, pk, None, False)


def _checked(doc: dict[str, Any], text: str, updated: str, key: tuple[str, str],
             sent: str | None, side: tuple[list, list, list] | None, absent: bool) -> Checked:
    """`Checked(doc, text, updated, digest=sent, side=side, absent=absent)`: one item per
    finding checked in full (see `_item`)."""
    return _item(doc, text, updated, key, sent, False, None, side, absent)


def _item(doc: dict[str, Any], text: str | None, updated: str, key: tuple[str, str],
          sent: str | None, unchanged: bool, pk: Any, side: tuple[list, list, list] | None,
          absent: bool) -> Checked:
    """A `Checked`, field for field (tests/hub/test_store_reimport.py compares them), without
    the dataclass's keyword __init__ and __post_init__: one per finding imported, ~0.6 against
    ~1.4 us each."""
    it = _new(Checked)
    it.doc = doc
    it.text = text
    it.updated_at = updated
    it.key = key
    it.digest = sent
    it.unchanged = unchanged
    it.pk = pk
    it.side = side
    it.absent = absent
    return it


def check_all(findings: Iterable[Any], stored: Known | None = None,
              sizes: list[int | None] | None = None,
              future_skew: float = import_rules.DEFAULT_FUTURE_SKEW, *, side: bool = False,
              clock: tuple[str, Any] | None = None, utf8: bool = False
              ) -> tuple[list[Checked], list[dict[str, str]]]:
    """Split a batch into acceptable findings and FailedFindings entries: the one place where
    each finding is judged before the bulk write. `stored` (from `known`) enables the
    unchanged re-import shortcut; rules that depend on the caller or the clock rather than
    on the document alone (`import_rules.check_times` here, `import_rules.screen` at write
    time) also apply to `unchanged` items (whose `doc` is the provider's document as sent).

    `sizes`, when given, receives per finding an upper bound of its JSON size in bytes as
    sent, or None where unknown (see `request_size`).

    `side`: also build the side rows of findings whose key is not stored (`Checked.side`),
    for a caller that checks in another thread than it writes (`bulk_import`); elsewhere
    they would only be held in memory longer.

    `clock`: (ProcessedAt, `import_rules.future_limit`) from `run_clock`, for a caller that
    checks one import in several calls (`record_run`, batch by batch) and wants one reading
    of the clock for all of them, as one call would have.

    `utf8`: a `Checked.text` that orjson wrote stays its UTF-8 bytes, for a caller whose
    `write` goes to SQLite (`record_run`); the same text, the same checks."""
    good: list[Checked] = []
    encode_screened = _encode_utf8_screened if utf8 else _encode_screened
    failed: list[dict[str, str]] = []
    # ProcessedAt: when the hub took the finding in (the provider's is ignored)
    processed, limit = clock or run_clock(future_skew)
    check_times = import_rules.check_times
    for obj in findings:
        if sizes is not None:
            sizes.append(None)
        try:
            check_times(obj, future_skew, limit=limit)
            sent = digest(obj)
            if stored and sent is not None:
                item = _unchanged(obj, sent, stored)
                if item is not None:
                    good.append(item)
                    continue
            doc = check(obj)
            doc["ProcessedAt"] = processed
            try:
                text, no_surrogates = encode_screened(doc)
            except (TypeError, ValueError, RecursionError) as exc:
                raise BadFinding(f"finding is not JSON: {str(exc)[:200]}") from None
            # cheap screen (NUL is always escaped; surrogates need non-ASCII and a text orjson
            # did not write, `fastjson.encode_screened`: its UTF-8 bytes, `utf8`, never hold
            # one), then be sure
            if (b"\\u0000" if type(text) is bytes else "\\u0000") in text or (
                    not no_surrogates and not text.isascii() and SURROGATES.search(text)):
                problem = bad_text(doc)
                if problem:
                    raise BadFinding(problem)
            if not doc_size_ok(text):
                raise BadFinding("finding larger than 240 KB")
            # side rows here, in the checking thread, for a key not stored (a creation);
            # an update's are built (or found unchanged) by the writer against the old doc
            key = (doc["Id"], doc["ProductArn"])
            new_key = not stored or key not in stored
            good.append(_checked(doc, text, canon_time(doc["UpdatedAt"]), key, sent,
                                 side_rows_of(doc) if side and new_key else None,
                                 stored is not None and new_key))
            if sizes is not None:
                # normalising only adds keys or lengthens values, except a null
                # FindingProviderFields that becomes {}: 2 bytes shorter
                sizes[-1] = (len(text) if type(text) is bytes or text.isascii()
                             else len(text.encode())) + 2
        except BadFinding as exc:
            failed.append(failure(obj, str(exc)))
    return good, failed


def run_clock(future_skew: float = import_rules.DEFAULT_FUTURE_SKEW) -> tuple[str, Any]:
    """One reading of the clock for `check_all`: (ProcessedAt, latest accepted time)."""
    return now(), import_rules.future_limit(future_skew)


def request_size(findings: Sequence[Any], sizes: Sequence[int | None]) -> int:
    """The bytes of `findings` as compact JSON, or an upper bound of them: the bounds
    `check_all` left in `sizes`, serialising only the findings it has none for."""
    return sum(len(encode(f).encode("utf-8")) if n is None else n
               for f, n in zip(findings, sizes))


def _dedupe(batch: Sequence[Checked]) -> list[Checked]:
    """Within one batch the newest UpdatedAt of a key wins (a later one on a tie)."""
    if len({it.key for it in batch}) == len(batch):
        return list(batch)                  # the usual batch: every key once
    best: dict[tuple[str, str], Checked] = {}
    for item in batch:
        seen = best.get(item.key)
        if seen is None or item.updated_at >= seen.updated_at:
            best[item.key] = item
    return list(best.values())


def write(conn: Connection, batch: Sequence[Checked], *, force: bool = False,
          actor: str = "import", run_id: str | None = None,
          partition: Partition | None = None,
          trusted: Callable[[tuple[str, str]], bool] | None = None,
          texts: dict[int, tuple[str, str, str]] | None = None) -> WriteResult:
    """Create or update the findings of `batch` in the caller's write transaction.

    `force` skips the "newer UpdatedAt wins" test: the hub's own provider-side updates (a run
    archiving a fixed finding, or reopening one that came back) must apply even when the
    scanner's timestamp is not newer.

    An `unchanged` item whose stored row changed since `check_all` saw it is checked in full
    here; if it fails, it lands in `result.failed` (the caller's FailedFindings).

    `partition`: the account and region the findings belong to (None: `Partition()`; the
    store always names its own).

    `trusted` (from `freshness.Freshness.trusted`): the keys whose row cannot have changed
    since the checks looked them up; their `unchanged` items are ignored, and their `absent`
    items created, without looking them up again.
    """
    result = WriteResult()
    part = partition or Partition()
    items = _dedupe(batch)
    absent: set[tuple[str, str]] = set()          # keys known not stored: no lookup
    if trusted is not None and not force:
        rest = []
        for it in items:
            if it.unchanged and it.pk is not None and trusted(it.key):
                result.pks[it.key] = it.pk
                result.ignored += 1
                continue
            if it.absent and trusted(it.key):
                absent.add(it.key)
            rest.append(it)
        items = rest
    wanted = [it.key for it in items if it.key not in absent]
    stored = _lookup(conn, wanted, part) if wanted else {}
    if any(it.unchanged for it in items):
        items = _confirm(items, stored, force, result)
    stamp = now()
    fresh: list[Checked] = []
    changed: list[tuple[int, Checked]] = []
    for it in items:
        hit = stored.get(it.key)              # None too for the `absent` keys
        if hit is None:
            fresh.append(it)
        else:
            result.pks[it.key] = hit[0]
            if force or it.updated_at > hit[1]:
                changed.append((hit[0], it))
            else:
                result.ignored += 1

    rows, types, resources, maps, events = [], [], [], [], []
    # automation rules, applied before storage (not read when nothing is written: a re-import)
    ruleset = rules_apply.load(conn, partition=part) if fresh or changed else None
    if fresh:
        # on the driver's cursor: the SQLAlchemy select cost ~65 us per write, the query ~2
        next_pk = bulk.driver_rows(conn, _MAX_PK, ())[0][0] + 1
        for it in fresh:
            pk = next_pk
            next_pk += 1
            result.pks[it.key] = pk
            if it.text is None:  # the hub's own write (a run archiving): processed now
                it.doc["ProcessedAt"] = stamp
            flipped = on_create(it.doc)
            locked, ruled = ruleset.apply(pk, it.doc, "", stamp, events, run_id)  # type: ignore
            text = _encode(it.doc) if flipped or ruled or it.text is None else it.text
            rows.append(finding_row(pk, it.doc, text, locked, stamp)
                        + (it.digest, part.account, part.region))
            if texts is not None:
                texts[pk] = (*it.key, text.decode() if type(text) is bytes else text)
            # the checks' side rows hold unless a rule changed the document (on_create's
            # Workflow.Status is no side input)
            t, r, m = bind_side(pk, it.side) if it.side is not None and not ruled \
                else side_rows(pk, it.doc)
            types += t
            resources += r
            maps += m
        result.created = len(fresh)
    if rows:
        # the doc column as text also when it is orjson's UTF-8 bytes (`check_all`'s utf8)
        bulk.insert_rows(conn, "findings", INSERT_COLS, rows, as_text=_DOC_COL)

    if changed:
        old_docs = load_docs(conn, [pk for pk, _ in changed])
        updates, del_types, del_res, del_maps = [], [], [], []
        for pk, it in changed:
            old, locked = old_docs[pk]
            doc, flip = merge(old, it.doc, [f for f in locked.split(",") if f])
            doc["ProcessedAt"] = stamp
            if flip:
                events.append((pk, stamp, "auto", actor, run_id,
                               dumps({"Workflow.Status": list(flip)})))
            changes = history.import_changes(old, doc, _CUSTOMER)   # GetFindingHistory
            if changes:
                events.append((pk, stamp, "import", actor, run_id, dumps(changes)))
            locked, _ = ruleset.apply(pk, doc, locked, stamp, events, run_id)  # type: ignore
            row = finding_row(pk, doc, _encode(doc), locked, stamp)
            updates.append(row[3:] + (it.digest, pk))
            if texts is not None:
                texts[pk] = (*it.key, row[-1])
            if side_inputs(old) == side_inputs(doc):
                continue   # the same side rows: nothing to delete or insert (a re-run)
            ot, orr, om = side_rows(pk, old)
            nt, nr, nm = side_rows(pk, doc)
            _diff(ot, nt, lambda row: row, del_types, types)
            _diff(orr, nr, lambda row: row[:2], del_res, resources)
            _diff(om, nm, lambda row: row[:4], del_maps, maps)
        bulk.update_rows(conn, "findings", ("pk",), REWRITE_COLS, updates)
        bulk.delete_rows(conn, "finding_types", TYPE_COLS, del_types)
        bulk.delete_rows(conn, "finding_resources", RESOURCE_COLS[:2], del_res)
        bulk.delete_rows(conn, "finding_map", MAP_COLS[:4], del_maps)
        result.updated = len(changed)
    result.touched = [it.key for it in fresh] + [it.key for _, it in changed]

    bulk.insert_rows(conn, "finding_types", TYPE_COLS, types)
    bulk.insert_rows(conn, "finding_resources", RESOURCE_COLS, resources)
    bulk.insert_rows(conn, "finding_map", MAP_COLS, maps)
    bulk.insert_rows(conn, "finding_events", EVENT_COLS, events)
    return result


def _confirm(items: list[Checked], stored: Mapping[tuple[str, str], tuple], force: bool,
             result: WriteResult) -> list[Checked]:
    """Ignore the `unchanged` items the stored rows still vouch for; check the rest in full."""
    keep: list[Checked] = []
    stale: list[dict[str, Any]] = []
    for it in items:
        if not it.unchanged:
            keep.append(it)
            continue
        hit = stored.get(it.key)
        if hit is not None and not force and hit[2] == it.digest and it.updated_at <= hit[1]:
            result.pks[it.key] = hit[0]
            result.ignored += 1
        else:
            stale.append(it.doc)
    if stale:
        again, failed = check_all(stale)
        keep += again
        result.failed += failed
    return keep


