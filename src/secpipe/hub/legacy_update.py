"""UpdateFindings, Security Hub's legacy triage call: a Note and/or a RecordState for every
finding the Filters match.

Security Hub deprecated it for BatchUpdateFindings but still answers it, and older tools call
it. Same store, same rules as the rest of the hub: the change and its history rows (`legacy`
events, shown by GetFindingHistory as BATCH_UPDATE_FINDINGS) are written in one transaction;
UpdatedAt does not move; a RecordState change moves Workflow.Status as an import's would
(ARCHIVED resolves NEW/NOTIFIED, ACTIVE again reopens NOTIFIED/RESOLVED, SUPPRESSED stays).
Filters that match nothing answer ResourceNotFound; a scoped principal whose filter reaches a
finding outside its scope is refused as a whole (AccessDenied), never half applied.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from secpipe.hub import bulk, query
from secpipe.hub.authz import Principal
from secpipe.hub.common import bad_text, dumps, iso_ms, now
from secpipe.hub.importer import (EVENT_COLS, MAP_COLS, UPDATE_COLS, _diff, finding_row,
                                  load_docs, transition)
from secpipe.hub.import_rules import update_denial
from secpipe.hub.interface import AccessDenied, InvalidInput, ResourceNotFound
from secpipe.hub.schema import findings as F
from secpipe.hub.validate import side_rows

RECORD_STATES = ("ACTIVE", "ARCHIVED")
CHUNK = 1000


def check(note: Any, record_state: Any) -> tuple[dict[str, str] | None, str | None]:
    """The Note and RecordState of the request, validated; InvalidInput for the whole call."""
    if note is None and record_state is None:
        raise InvalidInput("UpdateFindings needs Note or RecordState")
    out_note = None
    if note is not None:
        if not isinstance(note, Mapping) or not isinstance(note.get("Text"), str) \
                or not isinstance(note.get("UpdatedBy"), str):
            raise InvalidInput("Note needs Text and UpdatedBy")
        text, by = note["Text"], note["UpdatedBy"]
        if not 1 <= len(text) <= 512 or not 1 <= len(by) <= 512 or bad_text([text, by]):
            raise InvalidInput("Note.Text and Note.UpdatedBy must be 1-512 characters")
        out_note = {"Text": text, "UpdatedBy": by, "UpdatedAt": iso_ms(now())}
    if record_state is not None and record_state not in RECORD_STATES:
        raise InvalidInput("RecordState must be ACTIVE or ARCHIVED")
    return out_note, record_state


def update(conn: Connection, filters: Mapping[str, Any], note: Any, record_state: Any,
           actor: str, principal: Principal | None = None, scope: Any = None) -> int:
    """Apply to every matching finding (of the account and region `scope`, a condition on
    `findings`, narrows to); returns how many changed."""
    new_note, new_state = check(note, record_state)
    where = query.where_clause(filters, conn.dialect.name)
    if scope is not None:
        where = and_(where, scope)
    pks = [r[0] for r in conn.execute(select(F.c.pk).where(where).order_by(F.c.pk))]
    if not pks:
        raise ResourceNotFound("No findings match the Filters")
    stamp = now()
    changed = 0
    # chunks keep memory flat however many findings match; it is still one transaction, so
    # a refusal in a later chunk rolls the earlier ones back (never half applied)
    for i in range(0, len(pks), CHUNK):
        changed += _apply(conn, pks[i:i + CHUNK], new_note, new_state, actor, principal, stamp)
    return changed


def _apply(conn: Connection, pks: list[int], new_note: dict[str, str] | None,
           new_state: str | None, actor: str, principal: Principal | None, stamp: str) -> int:
    docs = load_docs(conn, pks)
    for pk in pks:
        denial = update_denial(principal, docs[pk][0])
        if denial:
            raise AccessDenied(f"{denial}; UpdateFindings changed nothing")
    rows, events, del_maps, add_maps = [], [], [], []
    for pk in pks:
        doc, locked = docs[pk]
        old_maps = side_rows(pk, doc)[2]    # Note* and RecordState are filter index rows too
        diff: dict[str, list[Any]] = {}
        if new_note is not None and doc.get("Note") != new_note:
            diff["Note"] = [doc.get("Note"), new_note]
            doc["Note"] = new_note
        if new_state is not None and doc.get("RecordState") != new_state:
            old_state = doc.get("RecordState", "ACTIVE")
            diff["RecordState"] = [old_state, new_state]
            doc["RecordState"] = new_state
            status = (doc.get("Workflow") or {}).get("Status", "NEW")
            comp = (doc.get("Compliance") or {}).get("Status")
            after = transition(status, old_state, new_state, comp, comp)
            if after != status:
                diff["Workflow.Status"] = [status, after]
                doc["Workflow"] = {**(doc.get("Workflow") or {}), "Status": after}
        if not diff:
            continue
        rows.append(finding_row(pk, doc, dumps(doc), locked, stamp)[3:] + (pk,))
        events.append((pk, stamp, "legacy", actor, None, dumps(diff)))
        _diff(old_maps, side_rows(pk, doc)[2], lambda r: r[:4], del_maps, add_maps)
    bulk.update_rows(conn, "findings", ("pk",), UPDATE_COLS, rows)
    bulk.delete_rows(conn, "finding_map", MAP_COLS[:4], del_maps)
    bulk.insert_rows(conn, "finding_map", MAP_COLS, add_maps)
    bulk.insert_rows(conn, "finding_events", EVENT_COLS, events)
    return len(rows)
