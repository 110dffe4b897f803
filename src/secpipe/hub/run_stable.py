"""A run's unchanged findings, known unchanged before they are validated (SQLite hubs).

Every run sends each finding again with new stamps (Created/UpdatedAt, First/LastObservedAt,
`ProductFields.secpipe/RunId`, `secpipe/Commit`), so its document and `importer.digest` differ
every time: each was validated again only for `run_refresh` to find that only stamps moved.

`findings.stable` (migration 0014_stable_digest) keeps, per row a run wrote, three things:
- `sent`: a digest of the provider's document as sent, with those stamps' values (and
  ProcessedAt's, which import ignores) left out, their keys and order kept (the stored
  CreatedAt stays: `merge` keeps it);
- `state`: a digest of the stored document and `locked` list that write produced;
- `room`: the bytes those stamps' values may take before the checked text passes 240 KB.

Why a matching `sent` proves what the full path would do (all of it reasoned from the code of
`validate.check`, `importer.check_all` and `import_merge.merge`):
- validation treats each stamp on its own (a string, `_ISO`, `canon_time`; ProductFields values
  strings of at most 2048) and never reads one to judge another field; so a document equal to
  an accepted one but for plain, valid stamps within `room` is accepted, and `check` gives the
  accepted one's checked document with the new stamps in place;
- the row was written as `merge(O, C, locked)` for the checked document C of the sent one (a
  creation's `on_create` flip is such a merge too), with no automation rule enabled. For any
  such W, `merge(W, C')`, C' being C with other stamps, is W with C''s stamps: the customer's
  fields, CreatedAt and the locked ones come from W, the rest from C' (equal to W's but for the
  stamps, in the same key order), and RecordState and Compliance.Status are unchanged, so no
  workflow flip; `run_refresh` relies on the rest (no history event, the same side rows).
- `state` is checked against the row as it is now, under the write lock: whatever else wrote
  the row since (triage, the hub archiving or reopening it, another import) changed the document
  or `locked`, and the finding takes the usual path. The property is one of the row's content,
  so a stale `stable` can only fail to match, never mislead.
Anything not proven (PostgreSQL, automation rules, a key twice in a part, a stamp not plain and
valid, an UpdatedAt not newer) takes the usual path, which fills `stable` for next time.
tests/hub/test_run_stable.py compares every table with the full path's.
"""

from __future__ import annotations

import hashlib
import marshal
import re
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy.engine import Connection

from secpipe.hub import fastjson, importer, rules_apply
from secpipe.hub.common import canon_time, now
from secpipe.hub.import_rules import check_times
from secpipe.hub.interface import Partition
from secpipe.hub.query_decode import load_doc
from secpipe.hub.validate import MAX_FINDING_BYTES, BadFinding
from secpipe.model.asff import _ISO

# stamps checked as `validate.check` checks them; a stored finding keeps its first CreatedAt
# (merge), takes the others; ProcessedAt's sent value is ignored by import
STAMPS = ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt")
MOVED = ("UpdatedAt", "FirstObservedAt", "LastObservedAt")
LEFT_OUT = (*STAMPS, "ProcessedAt")
PROVENANCE = (_RUN_ID, _COMMIT) = ("secpipe/RunId", "secpipe/Commit")   # unindexed (validate)
_FIELD_LIMIT = 2048                                 # validate._map's ProductFields values
_PLAIN = re.compile(r"[ !#-\[\]-~]*")               # ASCII printable, nothing JSON escapes
_CHUNK = 900
_POISON = ""                                        # a key sent twice in the run


def _blake(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def sent_digest(obj: Any) -> str | None:
    """The digest of `obj` with the stamps' values (not their keys) left out; None when it is
    not made of plain JSON types (marshal refuses the rest, see `importer.digest`)."""
    if type(obj) is not dict:
        return None
    probe = dict(obj)
    for key in LEFT_OUT:
        if key in probe:
            probe[key] = None
    fields = probe.get("ProductFields")
    if type(fields) is dict and (_RUN_ID in fields or _COMMIT in fields):
        fields = dict(fields)
        for key in PROVENANCE:
            if key in fields:
                fields[key] = None
        probe["ProductFields"] = fields
    try:
        return _blake(marshal.dumps(probe, 2))
    except ValueError:
        return None


def state_digest(text: str, locked: str) -> str:
    """The digest of a stored row's document and `locked` list."""
    return _blake(f"{locked}\x00{text}".encode("utf-8", "surrogatepass"))


def _values(doc: Mapping[str, Any]) -> list[Any]:
    """The values of the stamps `room` measures (STAMPS and PROVENANCE), where present."""
    out = [doc[k] for k in STAMPS if k in doc]
    fields = doc.get("ProductFields")
    if type(fields) is dict:
        out += [fields[k] for k in PROVENANCE if k in fields]
    return out


def room_of(checked_text: str, doc: Mapping[str, Any]) -> int:
    """The bytes the stamps of `doc` (a checked document, `checked_text` its text) may take."""
    size = len(checked_text) if checked_text.isascii() else len(checked_text.encode("utf-8"))
    stamps = 0
    for value in _values(doc):
        if type(value) is str and _PLAIN.fullmatch(value):
            stamps += len(value) + 2                  # as JSON: quoted, nothing escaped
        else:
            stamps += len(fastjson.encode(value).encode("utf-8", "surrogatepass"))
    return MAX_FINDING_BYTES - (size - stamps)


# Values already seen to be plain, valid stamps (a run stamps all its findings alike).
# Bounded: cleared when full (a miss only costs the checks again).
_MEMO_MAX = 4096
_good_times: set[str] = set()
_good_fields: set[str] = set()


def _time_ok(value: Any) -> bool:
    if type(value) is not str:
        return False
    if value in _good_times:
        return True
    if not _PLAIN.fullmatch(value) or not _ISO.match(value):
        return False
    try:
        canon_time(value)
    except ValueError:
        return False
    if len(_good_times) >= _MEMO_MAX:
        _good_times.clear()
    _good_times.add(value)
    return True


def _field_ok(value: Any) -> bool:
    if type(value) is not str:
        return False
    if value in _good_fields:
        return True
    if len(value) > _FIELD_LIMIT or not _PLAIN.fullmatch(value):
        return False
    if len(_good_fields) >= _MEMO_MAX:
        _good_fields.clear()
    _good_fields.add(value)
    return True


def _stamp_bytes(obj: Mapping[str, Any]) -> int | None:
    """The bytes the stamps of a sent document take as JSON, or None when one of them is not a
    plain, valid value (then the finding is checked in full)."""
    size = 0
    for key in STAMPS:
        if key in obj:
            value = obj[key]
            if not _time_ok(value):
                return None
            size += len(value) + 2
    fields = obj.get("ProductFields")
    if type(fields) is dict:
        for key in PROVENANCE:
            if key in fields:
                value = fields[key]
                if not _field_ok(value):
                    return None
                size += len(value) + 2
    return size


class RunStable:
    """One run's import on one connection: `check` in place of `known` + `check_all`,
    `refresh` in place of `run_refresh.refresh`, `stamp` after `importer.write`."""

    def __init__(self, conn: Connection, partition: Partition, future_skew: float,
                 clock: tuple[str, Any]) -> None:
        self.conn = conn
        self.part = partition
        self.skew = future_skew
        self.clock = clock
        self.on = conn.dialect.name == "sqlite" and not rules_apply.load(conn,
                                                                          partition=partition)
        self.sent: dict[tuple[str, str], str] = {}      # key -> sent digest (_POISON: twice)
        # id(item) -> (item, document as sent, sent digest); the item is held, so its id stays
        self.fast: dict[int, tuple[importer.Checked, Any, str]] = {}

    # --- before the screens ----------------------------------------------------------------
    def check(self, batch: Sequence[Any]) -> tuple[list[importer.Checked], list[dict]]:
        """`importer.check_all` of `batch` (same results, same order), but a finding proven
        unchanged but for its stamps is not validated: it comes back as an `unchanged` item
        holding the document as sent (what screens and `as_stored` read), for `refresh`."""
        if not self.on:
            stored = importer.known(self.conn, batch, self.part)
            return importer.check_all(batch, stored, None, self.skew, clock=self.clock)
        keys = [importer.provider_key(obj) for obj in batch]
        counts: dict[Any, int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        rows = self._lookup([k for k in counts if k is not None])
        known = {k: row[:3] for k, row in rows.items()}
        good: list[importer.Checked] = []
        failed: list[dict] = []
        group: list[Any] = []
        for obj, key in zip(batch, keys):
            item = None
            if key is not None:
                sent = sent_digest(obj) if counts[key] == 1 else None
                self.sent[key] = _POISON if key in self.sent or sent is None else sent
                hit = rows.get(key)
                if sent is not None and hit is not None and hit[3] and hit[3][:32] == sent:
                    item = self._candidate(obj, sent, hit)
            if item is None:
                group.append(obj)
                continue
            if group:
                self._check_all(group, known, good, failed)
                group = []
            good.append(item)
        if group:
            self._check_all(group, known, good, failed)
        return good, failed

    def _check_all(self, group: list[Any], known: importer.Known, good: list, failed: list
                   ) -> None:
        g, f = importer.check_all(group, known, None, self.skew, clock=self.clock)
        good += g
        failed += f

    def _candidate(self, obj: dict, sent: str, hit: tuple) -> importer.Checked | None:
        pk, updated_at, _digest, stable = hit
        try:
            check_times(obj, self.skew, limit=self.clock[1])
        except BadFinding:
            return None                 # check_all says so, in its words
        size = _stamp_bytes(obj)
        room = stable[64:]
        if size is None or not room.isdigit() or size > int(room):
            return None
        updated = canon_time(obj["UpdatedAt"])
        if not updated > updated_at:
            return None                 # ignored or refused: check_all and write decide
        digest = importer.digest(obj)
        if digest is None:
            return None
        item = importer.Checked(obj, None, updated, digest=digest, unchanged=True, pk=pk)
        self.fast[id(item)] = (item, obj, sent)
        return item

    def _lookup(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
        """(pk, updated_at, digest, stable) per stored key (read as `importer._lookup` does)."""
        wanted = set(keys)
        found: dict[tuple[str, str], tuple] = {}
        ids = [i for i in dict.fromkeys(k[0] for k in keys) if "\x00" not in i]
        raw = self.conn.connection.driver_connection
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            sql = ("SELECT json_group_array(json_array(id, product_arn, pk, updated_at, digest, "
                   "stable)) FROM findings WHERE id IN (" + ", ".join("?" for _ in chunk)
                   + ") AND hub_account = ? AND hub_region = ?")
            got = raw.execute(sql, (*chunk, self.part.account, self.part.region)).fetchone()[0]
            for fid, arn, pk, updated, digest, stable in fastjson.loads_rows(got):
                if (fid, arn) in wanted:
                    found[(fid, arn)] = (pk, updated, digest, stable)
        return found

    # --- the write ---------------------------------------------------------------------------
    def refresh(self, chunk: list[importer.Checked]
                ) -> tuple[dict[tuple[str, str], int], list[importer.Checked]]:
        """Write the proven items of `chunk` (the stored document, new stamps), then
        `run_refresh.refresh` the rest; pks by key and what is left for `importer.write`."""
        from secpipe.hub import run_refresh

        done: dict[tuple[str, str], int] = {}
        items = list(chunk)
        if self.fast and any(self._is_fast(it) for it in chunk):
            done, items = self._write_fast(chunk)
        pks, rest = run_refresh.refresh(self.conn, items, self.part,
                                        stable=self._stable if self.on else None)
        done.update(pks)
        return done, rest

    def _is_fast(self, item: importer.Checked) -> bool:
        entry = self.fast.get(id(item))
        return entry is not None and entry[0] is item

    def _write_fast(self, chunk: list[importer.Checked]
                    ) -> tuple[dict[tuple[str, str], int], list[importer.Checked]]:
        counts: dict[tuple[str, str], int] = {}
        for it in chunk:
            counts[it.key] = counts.get(it.key, 0) + 1
        mine = [it for it in chunk if self._is_fast(it)]
        stored = self._rows([it.key for it in mine])
        stamp = now()
        processed = canon_time(stamp)
        done: dict[tuple[str, str], int] = {}
        redo: dict[int, importer.Checked] = {}
        rows = []
        for it in mine:
            _item, obj, sent = self.fast.pop(id(it))
            hit = stored.get(it.key)
            if (counts[it.key] != 1 or hit is None or hit[0] != it.pk
                    or not it.updated_at > hit[1] or not hit[4]
                    or hit[4][:32] != sent or hit[4][32:64] != state_digest(hit[2], hit[3])):
                redo[id(it)] = self._check_now(obj)
                continue
            pk, _updated, text, locked, stable = hit
            doc = load_doc(text)                     # exactly json.loads's reading
            for key in MOVED:
                if key in obj:
                    doc[key] = obj[key]
            fields = obj.get("ProductFields")
            if type(fields) is dict and any(k in fields for k in PROVENANCE):
                doc["ProductFields"] = merged = dict(doc["ProductFields"])
                for key in PROVENANCE:
                    if key in fields:
                        merged[key] = fields[key]
            doc["ProcessedAt"] = stamp
            new_text = fastjson.encode(doc)
            first, last = doc.get("FirstObservedAt"), doc.get("LastObservedAt")
            rows.append((it.updated_at, canon_time(first) if first else None,
                         canon_time(last) if last else None, processed, new_text, it.digest,
                         sent + state_digest(new_text, locked) + stable[64:], pk))
            done[it.key] = pk
        if rows:
            self.conn.connection.driver_connection.executemany(
                "UPDATE findings SET updated_at = ?, first_observed_at = ?, "
                "last_observed_at = ?, processed_at = ?, doc = ?, digest = ?, stable = ? "
                "WHERE pk = ?", rows)
        rest = [redo.get(id(it), it) for it in chunk if it.key not in done]
        return done, rest

    def _check_now(self, obj: Any) -> importer.Checked:
        """Check in full a finding whose row this run changed since `check` (it is valid)."""
        stored = importer.known(self.conn, [obj], self.part)
        good, failed = importer.check_all([obj], stored, None, self.skew, clock=self.clock)
        if failed or len(good) != 1:
            raise RuntimeError(f"hub: finding {failed[0]['Id'] if failed else '?'} matched "
                               "an accepted document but failed its checks")
        return good[0]

    def _rows(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
        """(pk, updated_at, doc, locked, stable) per stored key."""
        wanted = set(keys)
        found: dict[tuple[str, str], tuple] = {}
        ids = list(dict.fromkeys(k[0] for k in keys))
        raw = self.conn.connection.driver_connection
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            sql = ("SELECT id, product_arn, pk, updated_at, doc, locked, stable FROM findings "
                   "WHERE id IN (" + ", ".join("?" for _ in chunk)
                   + ") AND hub_account = ? AND hub_region = ?")
            for fid, arn, *row in raw.execute(sql, (*chunk, self.part.account,
                                                    self.part.region)):
                if (fid, arn) in wanted:
                    found[(fid, arn)] = tuple(row)
        return found

    def _stable(self, item: importer.Checked, text: str, locked: str) -> str | None:
        """`stable` for a row written from a checked `item` (stored as `text`, `locked`)."""
        sent = self.sent.get(item.key)
        if not sent or item.text is None or item.unchanged:
            return None
        return sent + state_digest(text, locked) + str(room_of(item.text, item.doc))

    # --- after importer.write ----------------------------------------------------------------
    def stamp(self, rest: Iterable[importer.Checked], written: importer.WriteResult) -> None:
        """Fill `stable` of the rows `importer.write` created or updated from checked items.
        A creation (`touched` lists them first) of an ACTIVE finding not PASSED is stored as
        checked, unlocked (no rule, no `on_create` flip): no read-back. (Were that wrong, the
        state digest would only miss next time: a slower path, never another result.)"""
        if not self.on or not written.touched:
            return
        touched = set(written.touched)
        created = set(written.touched[:written.created])
        items = {it.key: it for it in rest if it.key in touched and self.sent.get(it.key)
                 and it.text is not None and not it.unchanged}
        if not items:
            return
        rows = []
        read = []
        for key, it in items.items():
            doc = it.doc
            if key in created and doc.get("RecordState") == "ACTIVE" \
                    and (doc.get("Compliance") or {}).get("Status") != "PASSED":
                value = self._stable(it, it.text, "")        # type: ignore[arg-type]
                if value is not None:
                    rows.append((value, written.pks[key]))
            else:
                read.append(key)
        stored = self._rows(read) if read else {}
        for key in read:
            hit = stored.get(key)
            if hit is not None:
                value = self._stable(items[key], hit[2], hit[3])
                if value is not None:
                    rows.append((value, hit[0]))
        if rows:
            self.conn.connection.driver_connection.executemany(
                "UPDATE findings SET stable = ? WHERE pk = ?", rows)
