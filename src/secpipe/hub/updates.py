"""BatchUpdateFindings: the customer's side of a finding (triage), with a history row per change.

Security Hub's rules: at most 100 identifiers; a bad request (an unknown field, an invalid
value) fails the whole call; an identifier that names no finding is returned in
UnprocessedFindings while the others are processed; UpdatedAt never changes. Severity,
Confidence, Criticality, Types and RelatedFindings changed here become the customer's: later
imports keep them (`locked`), as Security Hub keeps them out of the provider's reach.
UserDefinedFields are merged key by key; a key set to "" is removed.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy.engine import Connection

from secpipe.hub import bulk, import_rules
from secpipe.hub.authz import Principal
from secpipe.hub.common import dumps, now
from secpipe.hub.fieldupdates import FIELDS, MAX_IDENTIFIERS, _bad, check_changes
from secpipe.hub.fieldupdates import apply_changes as _apply
from secpipe.hub.importer import EVENT_COLS, MAP_COLS, TYPE_COLS, UPDATE_COLS, _diff
from secpipe.hub.importer import _lookup, finding_row, load_docs
from secpipe.hub.interface import UpdateResult
from secpipe.hub.validate import side_rows

__all__ = ["FIELDS", "MAX_IDENTIFIERS", "batch_update", "check_changes"]


def batch_update(conn: Connection, identifiers: Sequence[Mapping[str, str]],
                 changes: Mapping[str, Any], updated_by: str,
                 principal: Principal | None = None) -> UpdateResult:
    if not isinstance(identifiers, Sequence) or not identifiers:
        raise _bad("FindingIdentifiers must list at least one finding")
    if len(identifiers) > MAX_IDENTIFIERS:
        raise _bad(f"at most {MAX_IDENTIFIERS} FindingIdentifiers are allowed")
    for ident in identifiers:
        if not isinstance(ident, Mapping) or not isinstance(ident.get("Id"), str) \
                or not isinstance(ident.get("ProductArn"), str):
            raise _bad("each FindingIdentifier needs Id and ProductArn")
    checked = check_changes(changes, updated_by)
    result = UpdateResult()
    keys = [(i["Id"], i["ProductArn"]) for i in identifiers]
    stored = _lookup(conn, keys)
    docs = load_docs(conn, [hit[0] for hit in stored.values()])
    stamp = now()
    seen: set[tuple[str, str]] = set()
    updates, events, del_types, add_types, del_maps, add_maps = [], [], [], [], [], []
    for key in keys:
        ident = {"Id": key[0], "ProductArn": key[1]}
        if key in seen:
            result.unprocessed.append({"FindingIdentifier": ident,
                                       "ErrorCode": "DuplicatedFindingIdentifier",
                                       "ErrorMessage": "the finding is listed more than once"})
            continue
        seen.add(key)
        hit = stored.get(key)
        if hit is None:
            result.unprocessed.append({"FindingIdentifier": ident, "ErrorCode": "FindingNotFound",
                                       "ErrorMessage": "no finding has this Id and ProductArn"})
            continue
        pk = hit[0]
        doc, locked = docs[pk]
        denial = import_rules.update_denial(principal, doc)
        if denial:
            result.unprocessed.append({"FindingIdentifier": ident, "ErrorCode": "AccessDenied",
                                       "ErrorMessage": denial})
            continue
        old_types, _, old_maps = side_rows(pk, doc)
        diff = _apply(doc, checked)
        result.processed.append(ident)
        if not diff:
            continue
        lock = sorted({*(f for f in locked.split(",") if f),
                       *(k for k in diff if k in ("Confidence", "Criticality", "RelatedFindings",
                                                  "Severity", "Types"))})
        row = finding_row(pk, doc, dumps(doc), ",".join(lock), stamp)
        updates.append(row[3:] + (pk,))
        events.append((pk, stamp, "update", updated_by, None, dumps(diff)))
        new_types, _, new_maps = side_rows(pk, doc)
        _diff(old_types, new_types, lambda r: r, del_types, add_types)
        _diff(old_maps, new_maps, lambda r: r[:4], del_maps, add_maps)
    bulk.update_rows(conn, "findings", ("pk",), UPDATE_COLS, updates)
    bulk.delete_rows(conn, "finding_types", TYPE_COLS, del_types)
    bulk.delete_rows(conn, "finding_map", MAP_COLS[:4], del_maps)
    bulk.insert_rows(conn, "finding_types", TYPE_COLS, add_types)
    bulk.insert_rows(conn, "finding_map", MAP_COLS, add_maps)
    bulk.insert_rows(conn, "finding_events", EVENT_COLS, events)
    return result
