"""Security Hub's provider-update semantics and the row helpers both import and update share.

Security Hub's rules (FACTS.md), applied in `merge` and `on_create`:
- create or update by (ProductArn, Id); an UpdatedAt not newer than the stored one is ignored;
- CreatedAt stays the first import's; Note, UserDefinedFields, VerificationState and Workflow
  stay the customer's; so do Confidence, Criticality, RelatedFindings, Severity and Types once a
  customer changed them with BatchUpdateFindings (the provider's values live on in
  FindingProviderFields);
- RecordState ARCHIVED->ACTIVE, or Compliance.Status PASSED->other, sends NOTIFIED/RESOLVED
  back to NEW; ACTIVE->ARCHIVED, or Compliance.Status becoming PASSED, turns NEW/NOTIFIED into
  RESOLVED; SUPPRESSED is never touched.

Pure functions of documents (plus `load_docs`, one query): `importer.write` applies them under
the write lock; `updates` and `legacy_update` reuse `finding_row`, `load_docs` and `_diff`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from secpipe.hub.common import canon_time, loads
from secpipe.hub.schema import findings as F
from secpipe.hub.validate import row

CUSTOMER_FIELDS = ("Note", "UserDefinedFields", "VerificationState", "Workflow", "WorkflowState")
LOCKABLE = ("Confidence", "Criticality", "RelatedFindings", "Severity", "Types")
_CUSTOMER = frozenset(CUSTOMER_FIELDS)   # import never changes them (a flip: the auto event)
_LOOKUP_CHUNK = 900


def transition(status: str, old_rs: str, new_rs: str, old_cs: str | None,
               new_cs: str | None) -> str:
    """Security Hub's automatic Workflow.Status changes on a provider update."""
    if status in ("NOTIFIED", "RESOLVED") and (
        (old_rs == "ARCHIVED" and new_rs == "ACTIVE")
        or (old_cs == "PASSED" and new_cs in ("WARNING", "FAILED", "NOT_AVAILABLE"))
    ):
        return "NEW"
    if status in ("NEW", "NOTIFIED") and (
        (old_rs == "ACTIVE" and new_rs == "ARCHIVED")
        or (new_cs == "PASSED" and old_cs != "PASSED")
    ):
        return "RESOLVED"
    return status


def _compliance(doc: Mapping[str, Any]) -> str | None:
    return (doc.get("Compliance") or {}).get("Status")


def on_create(doc: dict[str, Any]) -> bool:
    """A finding born archived or passing is born resolved (as if it came from ACTIVE/FAILED)."""
    status = doc["Workflow"]["Status"]
    new = transition(status, "ACTIVE", doc["RecordState"], None, _compliance(doc))
    if new != status:
        doc["Workflow"] = {**doc["Workflow"], "Status": new}
        return True
    return False


def merge(old: Mapping[str, Any], new: Mapping[str, Any],
          locked: Sequence[str]) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """The stored finding after a provider update; also the automatic workflow change, if any."""
    doc = dict(new)
    for key in CUSTOMER_FIELDS:
        if key in old:
            doc[key] = old[key]
        else:
            doc.pop(key, None)
    doc["CreatedAt"] = old["CreatedAt"]
    for key in locked:
        if key in old:
            doc[key] = old[key]
        else:
            doc.pop(key, None)
    status = old["Workflow"]["Status"]
    after = transition(status, old.get("RecordState", "ACTIVE"), doc["RecordState"],
                       _compliance(old), _compliance(doc))
    if after != status:
        doc["Workflow"] = {**doc["Workflow"], "Status": after}
        return doc, (status, after)
    return doc, None


def load_docs(conn: Connection, pks: list[int]) -> dict[int, tuple[dict[str, Any], str]]:
    """Stored documents (and the `locked` list) by pk."""
    out: dict[int, tuple[dict[str, Any], str]] = {}
    for i in range(0, len(pks), _LOOKUP_CHUNK):
        q = select(F.c.pk, F.c.doc, F.c.locked).where(F.c.pk.in_(pks[i:i + _LOOKUP_CHUNK]))
        for pk, doc, locked in conn.execute(q):
            out[pk] = (loads(doc), locked)
    return out


def finding_row(pk: int, doc: Mapping[str, Any], text: str, locked: str, stamp: str) -> tuple:
    """The row; its processed_at is the document's ProcessedAt, so filters and answers agree."""
    processed = doc.get("ProcessedAt")
    return row(pk, doc, text, locked, canon_time(processed) if processed else stamp)


def _diff(old: list[tuple], new: list[tuple], key, deletes: list, inserts: list) -> None:
    """Side-table rows to delete (by key) and insert so `old` becomes `new`."""
    old_set, new_set = set(old), set(new)
    deletes.extend(key(row) for row in old if row not in new_set)
    inserts.extend(row for row in new if row not in old_set)
