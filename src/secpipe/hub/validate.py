"""Per-finding checks and normalisation for BatchImportFindings.

Security Hub judges every finding of a batch on its own and lists the bad ones in
FailedFindings; so does `check`, which never raises anything but `BadFinding`. It runs the
type checks first (so `validate_asff`, which assumes the right JSON types, cannot trip on a
list where a map belongs), then `validate_asff` for the ASFF rules, then fills in what Security
Hub fills in on import (RecordState, Workflow, Severity label/normalized, ProductName,
CompanyName, Region, FindingProviderFields).
"""

from __future__ import annotations

import re
from collections.abc import Mapping   # not typing's: its isinstance() is several times slower
from typing import Any

from secpipe.hub import filtermatch, validate_plain
from secpipe.hub.common import canon_time
from secpipe.hub.products import registered_names
from secpipe.hub.schema import MAP_VALUE_INDEXED
from secpipe.hub.validate_fast import surely_valid
from secpipe.model.asff import LABELS, validate_asff
from secpipe.model.finding import Severity

MAX_FINDING_BYTES = 240 * 1024
RECORD_STATES = ("ACTIVE", "ARCHIVED")
WORKFLOW_STATUSES = ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED")
VERIFICATION_STATES = ("UNKNOWN", "TRUE_POSITIVE", "FALSE_POSITIVE", "BENIGN_POSITIVE")
COMPLIANCE_STATUSES = ("PASSED", "WARNING", "FAILED", "NOT_AVAILABLE")
PROVIDER_FIELDS = ("Confidence", "Criticality", "RelatedFindings", "Severity", "Types")
# each allowed value or None (absent), built once: the tuples were built per finding
_OR_NONE_RECORD_STATES = (None, *RECORD_STATES)
_OR_NONE_VERIFICATION_STATES = (None, *VERIFICATION_STATES)
_OR_NONE_WORKFLOW_STATUSES = (None, *WORKFLOW_STATUSES)
_OR_NONE_COMPLIANCE_STATUSES = (None, *COMPLIANCE_STATUSES)
LABEL_NORMALIZED = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 40, "HIGH": 70, "CRITICAL": 90}
LABEL_RANK = {label: rank for rank, label in enumerate(LABELS)}
_ARN = re.compile(r"^arn:[a-z0-9-]+:securityhub:([a-z0-9-]*):(\d{0,12}):product/([^/\s]+)/([^/\s]+)$")


class BadFinding(ValueError):
    """Why one finding of a batch was refused (it becomes a FailedFindings entry)."""


def _is_map(value: Any) -> bool:
    # `type(...) is dict` first: isinstance against the Mapping ABC costs ~1 µs a call, and
    # the import path makes dozens of these checks per finding (None is the usual other case).
    return type(value) is dict or (value is not None and isinstance(value, Mapping))


def _str(obj: Mapping[str, Any], key: str, limit: int | None = None) -> None:
    value = obj.get(key)
    if value is None:
        return
    if type(value) is not str and not isinstance(value, str):
        raise BadFinding(f"{key} must be a string")
    if limit is not None and len(value) > limit:
        raise BadFinding(f"{key} longer than {limit}")


def _map(obj: Mapping[str, Any], key: str, value_limit: int) -> None:
    value = obj.get(key)
    if value is None:
        return
    if not _is_map(value):
        raise BadFinding(f"{key} must be a map of strings")
    if len(value) > 50:
        raise BadFinding(f"{key} holds more than 50 keys")
    if type(value) is dict and _plain_strings(value, value_limit):
        return                    # the usual case, in C loops; else find the culprit below
    for k, v in value.items():
        if type(k) is not str or type(v) is not str or not k:
            if not (isinstance(k, str) and isinstance(v, str) and k):
                raise BadFinding(f"{key} must map non-empty strings to strings")
        if len(k) > 128 or len(v) > value_limit:
            raise BadFinding(f"{key} key {k[:40]!r} or its value is too long")


def _plain_strings(value: dict, value_limit: int) -> bool:
    """Every key a str of 1-128 characters and every value a str of at most `value_limit`
    (False: the caller's loop decides, and words the problem). `str.join` refuses anything
    but str (subclasses included, which the slow path accepts too), in C.

    The lengths without a pass per bound where the totals prove them: values whose joined
    length is within the limit are each within it, and a key tuple seen to pass (a run's
    findings of one tool share their ProductFields names) is not measured again. The three
    `min`/`max(map(len, ...))` passes over ~20 members cost ~27k instructions per finding,
    4% of recording one (bench: a 5,000-finding run, valgrind)."""
    if not value:
        return True
    vals = value.values()
    try:
        "".join(value)
        joined = "".join(vals)
    except TypeError:
        return False
    if len(joined) > value_limit and max(map(len, vals)) > value_limit:
        return False
    keys = tuple(value)
    if keys in _GOOD_KEYS:
        return True
    if "" in value or max(map(len, value)) > 128:
        return False
    if len(_GOOD_KEYS) >= _GOOD_KEYS_MAX:
        _GOOD_KEYS.clear()
    _GOOD_KEYS.add(keys)
    return True


# Key tuples of maps `_plain_strings` passed (every key a str of 1-128 characters). Bounded:
# cleared when full (a miss only measures the keys again).
_GOOD_KEYS: set[tuple[str, ...]] = set()
_GOOD_KEYS_MAX = 1024


def _score(obj: Mapping[str, Any], key: str, where: str) -> None:
    value = obj.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise BadFinding(f"{where}{key} must be a number from 0 to 100")


def _object(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not _is_map(value):
        raise BadFinding(f"{key} must be an object")
    return value


_STRING_KEYS = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Title",
                "Description", "CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt",
                "ProductName", "CompanyName", "Region", "SourceUrl", "RecordState",
                "VerificationState")


_RESOURCE_STRINGS = (("Type", 256), ("Id", 512), ("Partition", 16), ("Region", 32))
_ARN_MEMO: dict[str, tuple[str, ...] | None] = {}


def _arn_parts(arn: str) -> tuple[str, ...] | None:
    """`_ARN`'s groups for `arn` (None: no match), memoised: a run's findings share a few
    ARNs. Bounded: cleared when full (a miss only costs the regex again)."""
    try:
        return _ARN_MEMO[arn]
    except KeyError:
        pass
    except TypeError:                     # not hashable: not a string, no match
        return None
    m = _ARN.match(arn)
    if len(_ARN_MEMO) >= 1024:
        _ARN_MEMO.clear()
    _ARN_MEMO[arn] = parts = m.groups() if m else None
    return parts


def check_types(obj: Mapping[str, Any]) -> None:
    """The JSON-type rules Security Hub's schema enforces before any ASFF rule."""
    get = obj.get
    for key in _STRING_KEYS:      # `_str` inlined: the import path runs this per finding
        value = get(key)
        if value is not None and type(value) is not str and not isinstance(value, str):
            raise BadFinding(f"{key} must be a string")
    if obj.get("SchemaVersion") not in (None, "2018-10-08"):
        raise BadFinding("SchemaVersion must be 2018-10-08")
    arn = obj.get("ProductArn")
    if arn and (len(arn) > 256 or _arn_parts(arn) is None):
        raise BadFinding("ProductArn is not a Security Hub product ARN")
    # strings (checked above); the column widths: PostgreSQL refuses longer values
    for key, limit in (("ProductName", 128), ("CompanyName", 128), ("Region", 32)):
        value = get(key)
        if value is not None and len(value) > limit:
            raise BadFinding(f"{key} longer than {limit}")
    sev = _object(obj, "Severity")
    _str(sev, "Label")
    _str(sev, "Original", 64)
    _score(sev, "Normalized", "Severity.")
    if sev.get("Product") is not None and (isinstance(sev["Product"], bool)
                                           or not isinstance(sev["Product"], (int, float))):
        raise BadFinding("Severity.Product must be a number")
    for key in ("Confidence", "Criticality"):
        _score(obj, key, "")
    types = obj.get("Types")
    if types is not None and (not isinstance(types, list)
                              or not all(type(t) is str and 0 < len(t) <= 256 for t in types)):
        raise BadFinding("Types must be a list of strings of 1-256 characters")
    resources = obj.get("Resources")
    if resources is not None:
        if not isinstance(resources, list):
            raise BadFinding("Resources must be a list")
        for r in resources:
            if not _is_map(r):
                raise BadFinding("each Resource must be an object")
            for key, limit in _RESOURCE_STRINGS:      # `_str` inlined
                value = r.get(key)
                if value is not None:
                    if type(value) is not str and not isinstance(value, str):
                        raise BadFinding(f"{key} must be a string")
                    if len(value) > limit:
                        raise BadFinding(f"{key} longer than {limit}")
            if r.get("Tags") is not None:
                _map(r, "Tags", 256)
    _map(obj, "ProductFields", 2048)
    _map(obj, "UserDefinedFields", 1024)
    if obj.get("RecordState") not in _OR_NONE_RECORD_STATES:
        raise BadFinding("RecordState must be ACTIVE or ARCHIVED")
    if obj.get("VerificationState") not in _OR_NONE_VERIFICATION_STATES:
        raise BadFinding("VerificationState must be one of " + ", ".join(VERIFICATION_STATES))
    if _object(obj, "Workflow").get("Status") not in _OR_NONE_WORKFLOW_STATUSES:
        raise BadFinding("Workflow.Status must be one of " + ", ".join(WORKFLOW_STATUSES))
    if _object(obj, "Compliance").get("Status") not in _OR_NONE_COMPLIANCE_STATUSES:
        raise BadFinding("Compliance.Status must be one of " + ", ".join(COMPLIANCE_STATUSES))
    note = _object(obj, "Note")
    if note:
        for key in ("Text", "UpdatedBy", "UpdatedAt"):
            if not isinstance(note.get(key), str):
                raise BadFinding(f"Note.{key} is required and must be a string")
    rec = _object(_object(obj, "Remediation"), "Recommendation")
    _str(rec, "Text", 512)
    _str(rec, "Url", 1024)
    related = obj.get("RelatedFindings")
    if related is not None and (
        not isinstance(related, list) or len(related) > 10
        or not all(_is_map(r) and isinstance(r.get("Id"), str)
                   and isinstance(r.get("ProductArn"), str) for r in related)
    ):
        raise BadFinding("RelatedFindings must be at most 10 {ProductArn, Id} objects")
    if obj.get("Sample") is not None and not isinstance(obj["Sample"], bool):
        raise BadFinding("Sample must be a boolean")
    provider = _object(obj, "FindingProviderFields")
    if provider:
        _object(provider, "Severity")
        _score(provider, "Confidence", "FindingProviderFields.")
        _score(provider, "Criticality", "FindingProviderFields.")


def normalize(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Fill in what Security Hub derives on import; returns a new (shallow) document."""
    doc = dict(obj)
    provider = doc.get("FindingProviderFields")
    if _is_map(provider):
        for key in PROVIDER_FIELDS:
            if key not in doc and key in provider:
                doc[key] = provider[key]
    sev = dict(doc.get("Severity") or {})
    if sev:
        label = sev.get("Label")
        if label is None and sev.get("Normalized") is not None:
            sev["Label"] = Severity.from_normalized(sev["Normalized"]).name
        elif label in LABEL_NORMALIZED and sev.get("Normalized") is None:
            sev["Normalized"] = LABEL_NORMALIZED[label]
        doc["Severity"] = sev
    doc.setdefault("RecordState", "ACTIVE")
    workflow = doc.get("Workflow")
    if not workflow or not workflow.get("Status"):
        doc["Workflow"] = {**(workflow or {}), "Status": "NEW"}
    parts = _arn_parts(doc.get("ProductArn") or "")
    if parts:
        region, _account, company, product = parts
        custom = product == "default"
        # a registered product's names are Security Hub's, not the importer's (hub/products.py)
        doc.update(registered_names(doc["ProductArn"]))
        doc.setdefault("ProductName", "Default" if custom else product)
        doc.setdefault("CompanyName", "Personal" if custom else company)
        if region:
            doc.setdefault("Region", region)
    if not _is_map(provider):
        doc["FindingProviderFields"] = {k: doc[k] for k in PROVIDER_FIELDS if k in doc}
    return doc


def check(obj: Any) -> dict[str, Any]:
    """A finding as the hub will store it, or BadFinding saying why Security Hub would refuse it."""
    doc = _plain_check(obj)          # the usual plain, well-formed document: one pass
    if doc is not None:
        return doc
    if not _is_map(obj):
        raise BadFinding("a finding must be a JSON object")
    check_types(obj)
    doc = normalize(obj)
    if not surely_valid(doc):        # the usual well-formed finding skips the wordy checks
        try:
            problems = validate_asff(doc)
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise BadFinding(f"malformed finding: {exc}") from None
        if problems:
            raise BadFinding("; ".join(problems[:5]))
    for key in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
        if doc.get(key) is not None:
            try:
                canon_time(doc[key])
            except ValueError:
                raise BadFinding(f"{key} is not a valid timestamp") from None
    return doc


# `check`'s first pass (see `validate_plain`)
_plain_check = validate_plain.checker(_plain_strings, _arn_parts, normalize)


def row(pk: int, doc: Mapping[str, Any], text: str, locked: str, stamp: str) -> tuple:
    """The `findings` row of a (checked) document, in `FINDING_COLS` order."""
    sev = doc["Severity"]
    label = sev["Label"]
    res0 = doc["Resources"][0]
    first, last = doc.get("FirstObservedAt"), doc.get("LastObservedAt")
    confidence, criticality = doc.get("Confidence"), doc.get("Criticality")
    return (
        pk, doc["ProductArn"], doc["Id"], doc.get("ProductName", ""), doc.get("CompanyName", ""),
        doc["GeneratorId"], doc["AwsAccountId"], doc.get("Region", ""), doc["Title"],
        doc["Description"], label, LABEL_RANK[label],
        int(sev.get("Normalized", LABEL_NORMALIZED[label])),
        None if confidence is None else int(confidence),
        None if criticality is None else int(criticality),
        doc["Workflow"]["Status"], doc["RecordState"], doc.get("VerificationState"),
        (doc.get("Compliance") or {}).get("Status"),
        canon_time(doc["CreatedAt"]), canon_time(doc["UpdatedAt"]),
        canon_time(first) if first else None, canon_time(last) if last else None,
        res0["Type"], res0["Id"], bool(doc.get("Sample", False)), locked, stamp, text,
    )


FINDING_COLS = (
    "pk", "product_arn", "id", "product_name", "company_name", "generator_id",
    "aws_account_id", "region", "title", "description", "severity_label", "severity_rank",
    "severity_normalized", "confidence", "criticality", "workflow_status", "record_state",
    "verification_state", "compliance_status", "created_at", "updated_at",
    "first_observed_at", "last_observed_at", "resource_type", "resource_id", "sample",
    "locked", "processed_at", "doc",
)


# ProductFields that are a finding's own identity or change with every run: indexing them
# would double the side-table rows (and rewrite them on every run) for filters nobody needs to
# be fast; the query builder answers filters on these keys from the stored document instead.
UNINDEXED_PRODUCT_FIELDS = frozenset(
    f"secpipe/{k}" for k in ("Fingerprint", "LocationKey", "StartLine", "EndLine", "RunId",
                              "Commit", "ToolVersion", "References", "SecretMasked"))


def side_inputs(doc: Mapping[str, Any]) -> tuple:
    """Everything `side_rows` reads of `doc`: two documents with equal side inputs have the
    same side rows, so a re-import that changed only timestamps, run ids and the like (an
    unchanged finding seen by the next run) need not build and diff them twice."""
    fields = doc.get("ProductFields")
    if fields:
        fields = {k: v for k, v in fields.items() if k not in UNINDEXED_PRODUCT_FIELDS}
    return (fields, doc.get("UserDefinedFields"), doc.get("Types"),
            *(doc.get(k) for k in _SIDE_KEYS))


def side_rows(pk: int, doc: Mapping[str, Any]) -> tuple[list, list, list]:
    """(types, resources, map entries) rows of one finding, as positional tuples."""
    return _side(doc, (pk,))


def bind_side(pk: int, side: tuple[list, list, list]) -> tuple[list, list, list]:
    """`side_rows_of`'s rows with the finding's pk in front (their first column)."""
    types, resources, maps = side
    return ([(pk, t) for t in types], [(pk, *r) for r in resources],
            [(pk, *m) for m in maps])


def side_rows_of(doc: Mapping[str, Any]) -> tuple[list, list, list]:
    """`side_rows` without the pk column: (type strings, resource rows, map rows). Built by
    the importer's checking thread before the finding has a pk, so the writer (which holds
    the write lock) only binds the pk."""
    return _side(doc, ())


def _side(doc: Mapping[str, Any], head: tuple) -> tuple[list, list, list]:
    """The side rows, each with `head` in front: `(pk,)` for `side_rows`, built in one pass
    (binding `side_rows_of`'s rows after cost the writer ~1.5 us per finding), or `()` for
    `side_rows_of` (whose types are then the strings themselves; `() + row` is `row`)."""
    types = doc.get("Types")
    types = list(dict.fromkeys(types)) if types else []
    if head:
        types = [head + (t,) for t in types]
    resources = []
    maps: list[tuple] = []
    limit = MAP_VALUE_INDEXED
    tagged: dict[tuple[str, str], str | None] | None = None
    for idx, r in enumerate(doc["Resources"]):
        resources.append(head + (idx, r["Type"], r["Id"], r.get("Partition"), r.get("Region")))
        tags = r.get("Tags")
        if tags:                 # several resources may carry the same tag: first one wins
            if tagged is None:
                tagged = {}
            for k, v in tags.items():
                tagged.setdefault((k, v[:limit]), v if len(v) > limit else None)
    if tagged:
        maps += [head + ("T", k, v, full) for (k, v), full in tagged.items()]
    # the keys of one map are unique, so only a value cut to `limit` can repeat a row
    fields = doc.get("ProductFields")
    if fields:
        maps += [head + ("P", k, v, None) if len(v) <= limit else head + ("P", k, v[:limit], v)
                 for k, v in fields.items() if k not in UNINDEXED_PRODUCT_FIELDS]
    udf = doc.get("UserDefinedFields")
    if udf:
        maps += [head + ("U", k, v, None) if len(v) <= limit else head + ("U", k, v[:limit], v)
                 for k, v in udf.items()]
    indexed = filtermatch.indexed_values(doc, limit)      # nested keys' values (kind "X")
    if indexed:
        maps += [head + (kind, k, v, full) for (kind, k, v), full in indexed.items()]
    return types, resources, maps


# the other top-level members side_rows reads: Resources, and those filtermatch.indexed_values
# walks (its trie's roots and the members of its FindingProviderFields twins)
_SIDE_KEYS = tuple(sorted({"Resources", *filtermatch.top_level_members()}))


def doc_size_ok(text: str | bytes) -> bool:
    """Security Hub refuses a finding over 240 KB (checked on the serialised form: a text, or
    its UTF-8 bytes as orjson wrote them)."""
    if type(text) is bytes:
        return len(text) <= MAX_FINDING_BYTES
    return len(text) <= MAX_FINDING_BYTES // 4 or len(text.encode("utf-8")) <= MAX_FINDING_BYTES


