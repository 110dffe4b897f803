"""One pass over a plain document for `validate.check`'s usual case: every rule it applies,
read once.

`check` judges a finding in three passes over much the same members: `check_types` (the JSON
types, on the document as sent), `normalize`, then `surely_valid` (the ASFF rules, on the
normalised document), plus the timestamps' parse. On a well-formed plain document (dicts,
lists and exact strs, as JSON bodies and the pipeline's documents are) the two checking
passes read the same members twice, through a dozen helper calls: ~90k instructions per
finding, ~3% of recording a run in the hub (valgrind, 5,000 findings).

`plain_check` reads each member once with exact type tests and answers the normalised
document only where each rule of both passes, and the timestamps' parse, certainly holds;
anything else (a Mapping that is not a dict, a str subclass, a value of another type or
out of its bounds, a member `normalize` would take from FindingProviderFields, a Severity
without its Label) answers None, and `check`'s former passes decide and word the problem.
So `check`'s verdict, document and message are the former ones in every case
(tests/hub/test_validate_plain.py checks this on fixtures and on generated, mostly broken,
documents).
"""

from __future__ import annotations

from typing import Any, Callable

from secpipe.hub.common import canon_time
from secpipe.hub.validate_fast import _ORIGINAL, _REC_TEXT, _NOTE_TEXT, _time_ok, _type_ok
from secpipe.model.asff import LABELS, LIMITS

_LABELS = frozenset(LABELS)
_ID, _GENERATOR, _TITLE, _DESCRIPTION = (LIMITS[k] for k in ("Id", "GeneratorId", "Title",
                                                               "Description"))
_TYPES = LIMITS["Types"]
_RESOURCES = LIMITS["Resources"]
_RESOURCE_TYPE = LIMITS["Resource.Type"]
_FIELDS = LIMITS["ProductFields"]
_NUMBER = (int, float)          # exact types: bool (an int subclass) is refused
_RECORD_STATES = frozenset(("ACTIVE", "ARCHIVED"))
_VERIFICATION_STATES = frozenset(("UNKNOWN", "TRUE_POSITIVE", "FALSE_POSITIVE",
                                  "BENIGN_POSITIVE"))
_WORKFLOW_STATUSES = frozenset(("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"))
_COMPLIANCE_STATUSES = frozenset(("PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"))
def _stamp_ok(value: Any) -> bool:
    """`surely_valid`'s and `check`'s rules for a present timestamp: `validate_asff`'s
    pattern (memoised), and `canon_time` reads it (cached where it does)."""
    if type(value) is not str or not _time_ok(value):
        return False
    try:
        canon_time(value)
    except ValueError:
        return False
    return True


def _score_ok(value: Any) -> bool:
    """`validate._score`'s rule: absent, or a number from 0 to 100 (no bool)."""
    return value is None or (type(value) in _NUMBER and 0 <= value <= 100)


def _short_str(value: Any, limit: int) -> bool:
    return value is None or (type(value) is str and len(value) <= limit)


def _status_ok(obj: Any, allowed: frozenset[str]) -> bool:
    """An absent object, or a dict whose Status is absent or allowed."""
    if obj is None:
        return True
    if type(obj) is not dict:
        return False
    status = obj.get("Status")
    return status is None or (type(status) is str and status in allowed)


def checker(plain_strings: Callable[[dict, int], bool],
            arn_parts: Callable[[str], tuple[str, ...] | None],
            normalize: Callable[[dict], dict[str, Any]]
            ) -> Callable[[Any], dict[str, Any] | None]:
    """`plain_check` on `validate`'s string maps' test, ARN parser and `normalize` (given
    here: this module is imported by `validate`)."""

    def map_ok(value: Any, limit: int) -> bool:
        """`validate._map`'s rule for a present value, on its fast path only."""
        return type(value) is dict and len(value) <= 50 and plain_strings(value, limit)

    def plain_check(obj: Any) -> dict[str, Any] | None:
        """`normalize(obj)` when `check(obj)` certainly accepts `obj` and returns just that;
        None when unsure (then `check` decides as before)."""
        if type(obj) is not dict:
            return None
        get = obj.get
        value = get("SchemaVersion")
        if type(value) is not str or value != "2018-10-08":
            return None
        # required strings (check_types: strs; surely_valid: non-empty, within their limits)
        arn = get("ProductArn")
        value = get("Id")
        if type(value) is not str or not 0 < len(value) <= _ID:
            return None
        value = get("GeneratorId")
        if type(value) is not str or not 0 < len(value) <= _GENERATOR:
            return None
        value = get("Title")
        if type(value) is not str or not 0 < len(value) <= _TITLE:
            return None
        value = get("Description")
        if type(value) is not str or not 0 < len(value) <= _DESCRIPTION:
            return None
        value = get("AwsAccountId")
        if type(value) is not str or len(value) != 12 or not value.isascii() \
                or not value.isdigit():
            return None
        if not _stamp_ok(get("CreatedAt")) or not _stamp_ok(get("UpdatedAt")):
            return None
        if "FirstObservedAt" in obj and not _stamp_ok(obj["FirstObservedAt"]):
            return None
        if "LastObservedAt" in obj and not _stamp_ok(obj["LastObservedAt"]):
            return None
        # optional strings
        if not (_short_str(get("ProductName"), 128) and _short_str(get("CompanyName"), 128)
                and _short_str(get("Region"), 32)):
            return None
        value = get("SourceUrl")
        if value is not None and type(value) is not str:
            return None
        value = get("RecordState")
        if value is not None and (type(value) is not str or value not in _RECORD_STATES):
            return None
        value = get("VerificationState")
        if value is not None and (type(value) is not str or value not in _VERIFICATION_STATES):
            return None
        # Severity: its own Label (normalize derives one from Normalized otherwise)
        sev = get("Severity")
        if type(sev) is not dict:
            return None
        label = sev.get("Label")
        if type(label) is not str or label not in _LABELS:
            return None
        if not _short_str(sev.get("Original"), _ORIGINAL):
            return None
        value = sev.get("Product")
        if value is not None and type(value) not in _NUMBER:
            return None
        if not (_score_ok(sev.get("Normalized")) and _score_ok(get("Confidence"))
                and _score_ok(get("Criticality"))):
            return None
        provider = get("FindingProviderFields")
        if "Types" in obj:
            types = obj["Types"]
            if type(types) is not list or len(types) > _TYPES:
                return None
            for t in types:
                if type(t) is not str or not 0 < len(t) <= 256 or not _type_ok(t):
                    return None
        elif provider is not None:
            return None                     # normalize may take them from provider: unsure
        resources = get("Resources")
        if type(resources) is not list or not 0 < len(resources) <= _RESOURCES:
            return None
        for r in resources:
            if type(r) is not dict:
                return None
            rget = r.get
            value = rget("Type")
            if type(value) is not str or not 0 < len(value) <= _RESOURCE_TYPE:
                return None
            value = rget("Id")
            if type(value) is not str or not 0 < len(value) <= 512:
                return None
            if not (_short_str(rget("Partition"), 16) and _short_str(rget("Region"), 32)):
                return None
            tags = rget("Tags")
            if tags is not None and not map_ok(tags, 256):
                return None
        fields = get("ProductFields")
        if fields is not None and not (map_ok(fields, 2048) and len(fields) <= _FIELDS):
            return None
        value = get("UserDefinedFields")
        if value is not None and not map_ok(value, 1024):
            return None
        if not (_status_ok(get("Workflow"), _WORKFLOW_STATUSES)
                and _status_ok(get("Compliance"), _COMPLIANCE_STATUSES)):
            return None
        note = get("Note")
        if note is not None:
            if type(note) is not dict:
                return None
            if note and not (type(note.get("Text")) is str and len(note["Text"]) <= _NOTE_TEXT
                             and type(note.get("UpdatedBy")) is str
                             and type(note.get("UpdatedAt")) is str):
                return None
        remediation = get("Remediation")
        if remediation is not None:
            if type(remediation) is not dict:
                return None
            rec = remediation.get("Recommendation")
            if rec is not None:
                if type(rec) is not dict:
                    return None
                if "Text" in rec:
                    value = rec["Text"]
                    if type(value) is not str or len(value) > _REC_TEXT:
                        return None
                if not _short_str(rec.get("Url"), 1024):
                    return None
        related = get("RelatedFindings")
        if related is not None:
            if type(related) is not list or len(related) > 10:
                return None
            for r in related:
                if type(r) is not dict or type(r.get("Id")) is not str \
                        or type(r.get("ProductArn")) is not str:
                    return None
        value = get("Sample")
        if value is not None and type(value) is not bool:
            return None
        if provider is not None:
            if type(provider) is not dict:
                return None
            if provider:
                pget = provider.get
                value = pget("Severity")
                if value is not None and type(value) is not dict:
                    return None
                if not (_score_ok(pget("Confidence")) and _score_ok(pget("Criticality"))):
                    return None
        if type(arn) is not str or not 0 < len(arn) <= 256 or arn_parts(arn) is None:
            return None
        return normalize(obj)

    return plain_check
