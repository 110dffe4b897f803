"""The customer's changes of a finding (BatchUpdateFindings' fields): checked, then applied to a
document. Pure, and apart from `updates` (which writes them) so that the importer's automation
rules (`rules_apply`), which make the same changes on import, need nothing that imports the
importer.

Security Hub's rules: an unknown field or an invalid value fails the whole request;
UserDefinedFields are merged key by key, a key set to "" is removed; a Severity given by Label
or by Normalized gets the other one derived.
"""

from __future__ import annotations

from typing import Any, Mapping

from secpipe.hub.common import bad_text, iso_ms, now
from secpipe.hub.interface import InvalidInput
from secpipe.hub.validate import (
    LABEL_NORMALIZED,
    VERIFICATION_STATES,
    WORKFLOW_STATUSES,
    BadFinding,
    _map,
)
from secpipe.model.asff import LABELS, TYPE_NAMESPACES
from secpipe.model.finding import Severity

FIELDS = ("Note", "Severity", "VerificationState", "Confidence", "Criticality", "Types",
          "UserDefinedFields", "Workflow", "RelatedFindings")
MAX_IDENTIFIERS = 100


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message)


def check_changes(changes: Mapping[str, Any], updated_by: str) -> dict[str, Any]:
    """The requested changes, validated and in stored form; InvalidInput for the whole call."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise _bad(f"cannot update {', '.join(sorted(unknown))} with BatchUpdateFindings")
    problem = bad_text(changes) or bad_text(updated_by)
    if problem:
        raise _bad(problem)
    out: dict[str, Any] = {}
    note = changes.get("Note")
    if note is not None:
        if not isinstance(note, Mapping) or not isinstance(note.get("Text"), str):
            raise _bad("Note needs Text")
        by = note.get("UpdatedBy", updated_by)
        if not isinstance(by, str) or not 1 <= len(by) <= 512 or len(note["Text"]) > 512:
            raise _bad("Note.Text and Note.UpdatedBy must be 1-512 characters")
        out["Note"] = {"Text": note["Text"], "UpdatedBy": by, "UpdatedAt": iso_ms(now())}
    sev = changes.get("Severity")
    if sev is not None:
        if not isinstance(sev, Mapping) or not ({"Label", "Normalized", "Product"} & set(sev)):
            raise _bad("Severity needs Label, Normalized or Product")
        label, norm = sev.get("Label"), sev.get("Normalized")
        if label is not None and label not in LABELS:
            raise _bad("Severity.Label must be one of " + ", ".join(LABELS))
        if norm is not None and (isinstance(norm, bool) or not isinstance(norm, int)
                                 or not 0 <= norm <= 100):
            raise _bad("Severity.Normalized must be an integer from 0 to 100")
        new = {k: sev[k] for k in ("Label", "Normalized", "Product") if k in sev}
        if label is None and norm is not None:
            new["Label"] = Severity.from_normalized(norm).name
        if "Normalized" not in new and new.get("Label"):
            new["Normalized"] = LABEL_NORMALIZED[new["Label"]]
        out["Severity"] = new
    if "VerificationState" in changes:
        if changes["VerificationState"] not in VERIFICATION_STATES:
            raise _bad("VerificationState must be one of " + ", ".join(VERIFICATION_STATES))
        out["VerificationState"] = changes["VerificationState"]
    for key in ("Confidence", "Criticality"):
        if key in changes:
            value = changes[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise _bad(f"{key} must be an integer from 0 to 100")
            out[key] = value
    if "Types" in changes:
        types = changes["Types"]
        if (not isinstance(types, list) or len(types) > 50
                or not all(isinstance(t, str) and t.split("/")[0] in TYPE_NAMESPACES
                           and len(t.split("/")) <= 3 and len(t) <= 256 for t in types)):
            raise _bad("Types must be at most 50 namespace/category/classifier strings")
        out["Types"] = list(types)
    if "UserDefinedFields" in changes:
        try:
            _map(changes, "UserDefinedFields", 1024)
        except BadFinding as exc:
            raise _bad(str(exc)) from None
        out["UserDefinedFields"] = dict(changes["UserDefinedFields"] or {})
    wf = changes.get("Workflow")
    if wf is not None:
        if not isinstance(wf, Mapping) or wf.get("Status") not in WORKFLOW_STATUSES:
            raise _bad("Workflow.Status must be one of " + ", ".join(WORKFLOW_STATUSES))
        out["Workflow"] = {"Status": wf["Status"]}
    if "RelatedFindings" in changes:
        rel = changes["RelatedFindings"]
        if (not isinstance(rel, list) or len(rel) > 10
                or not all(isinstance(r, Mapping) and isinstance(r.get("Id"), str)
                           and isinstance(r.get("ProductArn"), str) for r in rel)):
            raise _bad("RelatedFindings must be at most 10 {ProductArn, Id} objects")
        out["RelatedFindings"] = [{"ProductArn": r["ProductArn"], "Id": r["Id"]} for r in rel]
    return out


def apply_changes(doc: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Apply checked changes to a stored document; returns {field: [before, after]}."""
    diff: dict[str, list[Any]] = {}
    for key, value in changes.items():
        before = doc.get(key)
        if key == "UserDefinedFields":
            merged = dict(before or {})
            for k, v in value.items():
                if v == "":
                    merged.pop(k, None)
                else:
                    merged[k] = v
            value = merged
        elif key == "Workflow":
            value = {**(before or {}), "Status": value["Status"]}
        elif key == "Severity":
            value = {**(before or {}), **value}
            if "Label" in changes[key] and "Normalized" not in changes[key]:
                value["Normalized"] = LABEL_NORMALIZED[value["Label"]]
            if "Normalized" in changes[key] and "Label" not in changes[key]:
                value["Label"] = Severity.from_normalized(value["Normalized"]).name
        if value != before:
            doc[key] = value
            diff[key] = [before, value]
    return diff
