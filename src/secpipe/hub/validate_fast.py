"""A sufficient condition for `validate_asff` finding nothing wrong, at a third of its cost.

`validate_asff` (the model's rules, shared with the pipeline's writers) takes any Mapping and
reports every problem in words; on the import path it runs once per finding, and almost every
finding is well-formed. `surely_valid` checks the same rules on plain dicts, lists and strings
with exact type tests and memoised string checks, and answers True only where each of
`validate_asff`'s rules certainly holds. Anything else (a Mapping that is not a dict, a str
subclass, a missing member, a limit exceeded, a value of another type) answers False, and
`validate_asff` itself decides and words the problems: the import's verdict and messages are
`validate_asff`'s in every case (tests/hub/test_validate_fast.py checks both paths against
each other on fixtures and on generated, mostly broken, documents).
"""

from __future__ import annotations

from typing import Any

from secpipe.model.asff import _ISO, LABELS, LIMITS
from secpipe.model.asff_types import TYPE_NAMESPACES

_REQUIRED_STR = ("SchemaVersion", "ProductArn", "CreatedAt", "UpdatedAt")
_SIZED = tuple((key, LIMITS[key]) for key in ("Id", "GeneratorId", "Title", "Description"))
_TIMES = ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt")
_LABELS = frozenset(LABELS)
_ORIGINAL = LIMITS["Severity.Original"]
_TYPES = LIMITS["Types"]
_RESOURCES = LIMITS["Resources"]
_RESOURCE_TYPE = LIMITS["Resource.Type"]
_REC_TEXT = LIMITS["Remediation.Recommendation.Text"]
_NOTE_TEXT = LIMITS["Note.Text"]
_FIELDS = LIMITS["ProductFields"]

# Strings already seen to pass a rule: timestamps and Types repeat across a run's findings.
# Bounded: cleared when full (a cache miss only costs the regex or the split again).
_MEMO_MAX = 4096
_good_times: set[str] = set()
_good_types: set[str] = set()


def _time_ok(value: str) -> bool:
    if value in _good_times:
        return True
    if not _ISO.match(value):
        return False
    if len(_good_times) >= _MEMO_MAX:
        _good_times.clear()
    _good_times.add(value)
    return True


def _type_ok(value: str) -> bool:
    if value in _good_types:
        return True
    parts = value.split("/")
    if parts[0] not in TYPE_NAMESPACES or len(parts) > 3:
        return False
    if len(_good_types) >= _MEMO_MAX:
        _good_types.clear()
    _good_types.add(value)
    return True


def surely_valid(doc: Any) -> bool:
    """True only if `validate_asff(doc)` returns no problem (False: it must decide)."""
    if type(doc) is not dict:
        return False
    get = doc.get
    for key in _REQUIRED_STR:                       # required: non-empty strings here
        value = get(key)
        if type(value) is not str or not value:
            return False
    for key, limit in _SIZED:                       # required, strings of 1-limit
        value = get(key)
        if type(value) is not str or not 0 < len(value) <= limit:
            return False
    account = get("AwsAccountId")
    if type(account) is not str or len(account) != 12 or not account.isascii() \
            or not account.isdigit():
        return False
    for key in _TIMES:
        if key in doc:
            value = doc[key]
            if type(value) is not str or not _time_ok(value):
                return False
    sev = get("Severity")
    if type(sev) is not dict:
        return False
    label = sev.get("Label")
    if type(label) is not str or label not in _LABELS:
        return False
    if "Original" in sev:
        original = sev["Original"]
        if type(original) is not str or len(original) > _ORIGINAL:
            return False
    if "Types" in doc:
        types = doc["Types"]
        if type(types) is not list or len(types) > _TYPES:
            return False
        for t in types:
            if type(t) is not str or not _type_ok(t):
                return False
    resources = get("Resources")
    if type(resources) is not list or not 0 < len(resources) <= _RESOURCES:
        return False
    for r in resources:
        if type(r) is not dict:
            return False
        rtype = r.get("Type")
        if type(rtype) is not str or not rtype or len(rtype) > _RESOURCE_TYPE or not r.get("Id"):
            return False
    remediation = get("Remediation") or {}
    if type(remediation) is not dict:
        return False
    rec = remediation.get("Recommendation") or {}
    if type(rec) is not dict or not _short(rec, "Text", _REC_TEXT):
        return False
    note = get("Note") or {}
    if type(note) is not dict or not _short(note, "Text", _NOTE_TEXT):
        return False
    fields = get("ProductFields") or {}
    return type(fields) is dict and len(fields) <= _FIELDS


def _short(obj: dict, key: str, limit: int) -> bool:
    """`len(obj.get(key, "")) <= limit`, as validate_asff reads it, for a str value only."""
    if key not in obj:
        return True
    value = obj[key]
    return type(value) is str and len(value) <= limit
