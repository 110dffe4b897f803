"""Request-shape checks for the Security Hub operations, from botocore's service model.

Structure only (types, required members, list lengths, enums, the 1–100 bounds): a client
that sends the wrong shape gets InvalidInputException naming the member, never a 500 from
deep inside the store. What a value MEANS (an ASFF finding's own validity, a filter on an
unknown field) stays the store's business, so the rules live in one place.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping

from secpipe.hub.common import bad_text
from secpipe.hub.fastjson import SLOW as _SLOW, loads_exact
from secpipe.hub.interface import InvalidInput

MAX_BODY = 6 * 1024 * 1024           # Security Hub: a request is at most 6 MB
MAX_IMPORT = 100                     # findings per BatchImportFindings
MAX_UPDATE = 100                     # identifiers per BatchUpdateFindings
MAX_FILTER_FIELDS = 10
MAX_FILTER_VALUES = 20
WORKFLOW = {"NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"}
VERIFICATION = {"UNKNOWN", "TRUE_POSITIVE", "FALSE_POSITIVE", "BENIGN_POSITIVE"}
SEVERITY = {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}
SORT_ORDER = {"asc", "desc"}
_ESCAPES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
UPDATE_MEMBERS = {"Note", "Severity", "VerificationState", "Confidence", "Criticality",
                  "Types", "UserDefinedFields", "Workflow", "RelatedFindings"}


def _reject_constant(name: str) -> Any:
    raise InvalidInput(f"Request body is not valid JSON: {name} is not a number JSON allows")


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a request; an empty body is an empty request (GET/DELETE)."""
    if not body.strip():
        return {}
    data = _fast_loads(body)
    if data is _SLOW:
        try:
            data = json.loads(body, parse_constant=_reject_constant)
        except InvalidInput:
            raise
        except (ValueError, RecursionError) as err:
            raise InvalidInput(f"Request body is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"Request body must be a JSON object, not {type(data).__name__}")
    # NUL and lone surrogates only reach a string through a \u escape: look closer only then.
    # (`in` first: the regex steps every byte of a 200 KB body, ~1% of a BatchImportFindings
    # call's instructions. A body without a single escape is told by one memchr: ~2 us for
    # 200 KB, against ~170 us for the two-byte `b"\\u" in body`, which steps byte by byte.)
    if b"\\" in body and b"\\u" in body and _ESCAPES.search(body):
        problem = bad_text(data)
        if problem:
            raise InvalidInput(f"Request body cannot be stored: {problem}")
    return data


def _fast_loads(body: bytes) -> Any:
    """orjson's parse of `body` where it is exactly `json.loads`'s (about twice as fast on a
    BatchImportFindings body of 200 KB), else `_SLOW`: `fastjson.loads_exact`. What orjson
    refuses (NaN and Infinity, which we refuse too; lone surrogates and other encodings) the
    slow path judges and reports as it always did."""
    return loads_exact(body)


def _name(kind: type | tuple[type, ...]) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def member(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *,
           required: bool = False, where: str = "") -> Any:
    """`body[key]` if it has the right JSON type; None when absent and optional."""
    label = f"{where}.{key}" if where else key
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"Missing required parameter {label}")
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise InvalidInput(f"{label} must be {_name(kind)}")
    if not isinstance(value, kind):
        raise InvalidInput(f"{label} must be {_name(kind)}")
    if kind is str and required and not value:
        raise InvalidInput(f"{label} must not be empty")
    return value


def bounded_list(body: Mapping[str, Any], key: str, lo: int, hi: int | None, *,
                 required: bool = False) -> list[Any] | None:
    value = member(body, key, list, required=required)
    if value is None:
        return None
    if len(value) < lo or (hi is not None and len(value) > hi):
        limit = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise InvalidInput(f"{key} must hold {limit} items; got {len(value)}")
    return value


def max_results(body: Mapping[str, Any], default: int = 100) -> int:
    value = member(body, "MaxResults", int)
    if value is None:
        return default
    if not 1 <= value <= 100:
        raise InvalidInput(f"MaxResults must be between 1 and 100; got {value}")
    return value


def next_token(body: Mapping[str, Any]) -> str | None:
    return member(body, "NextToken", str) or None


def query_page(params: Mapping[str, str], default: int = 100) -> tuple[int, str | None]:
    """MaxResults (1-100) and NextToken of a GET operation, whose members are querystring
    parameters in botocore's model rather than body members."""
    raw = params.get("MaxResults")
    size = default
    if raw is not None:
        try:
            size = int(raw)
        except ValueError:
            raise InvalidInput(f"MaxResults must be an integer; got {raw[:40]!r}") from None
        if not 1 <= size <= 100:
            raise InvalidInput(f"MaxResults must be between 1 and 100; got {size}")
    return size, params.get("NextToken") or None


def arn_list(body: Mapping[str, Any], name: str) -> list[str] | None:
    """An optional list of ARNs (InsightArns, ActionTargetArns): None or [] means all."""
    arns = member(body, name, list)
    if arns is not None and not all(isinstance(a, str) and a for a in arns):
        raise InvalidInput(f"{name} must be a list of non-empty strings")
    return arns or None


def paged(key: str, items: Any, token: str | None) -> dict[str, Any]:
    """A list answer: NextToken only when there is a next page, as Security Hub answers."""
    out: dict[str, Any] = {key: items}
    if token:
        out["NextToken"] = token
    return out


def filters(body: Mapping[str, Any], *, required: bool = False) -> dict[str, Any] | None:
    """AwsSecurityFindingFilters: each attribute a list of criteria objects."""
    value = member(body, "Filters", dict, required=required)
    if value is None:
        return None
    if len(value) > MAX_FILTER_FIELDS:
        raise InvalidInput(f"Filters may name at most {MAX_FILTER_FIELDS} attributes; "
                           f"got {len(value)}")
    for field, criteria in value.items():
        if not isinstance(criteria, list):
            raise InvalidInput(f"Filters.{field} must be a list of filter objects")
        if len(criteria) > MAX_FILTER_VALUES:
            raise InvalidInput(f"Filters.{field} may hold at most {MAX_FILTER_VALUES} values; "
                               f"got {len(criteria)}")
        for item in criteria:
            if not isinstance(item, dict):
                raise InvalidInput(f"Filters.{field} must be a list of filter objects")
    return value


def sort_criteria(body: Mapping[str, Any]) -> list[dict[str, str]] | None:
    value = member(body, "SortCriteria", list)
    if value is None:
        return None
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise InvalidInput("SortCriteria must be a list of {Field, SortOrder} objects")
        field = member(item, "Field", str, required=True, where="SortCriteria")
        order = member(item, "SortOrder", str, where="SortCriteria") or "asc"
        if order not in SORT_ORDER:
            raise InvalidInput(f"SortCriteria.SortOrder must be asc or desc; got {order!r}")
        out.append({"Field": field, "SortOrder": order})
    return out


def _ratio(changes: Mapping[str, Any], key: str) -> None:
    value = member(changes, key, (int, float))
    if value is not None and (not math.isfinite(value) or not 0 <= value <= 100):
        raise InvalidInput(f"{key} must be between 0 and 100")


def _enum(value: Any, allowed: set[str], label: str) -> None:
    if value is not None and value not in allowed:
        raise InvalidInput(f"{label} must be one of {', '.join(sorted(allowed))}; got {value!r}")


def identifiers(body: Mapping[str, Any]) -> list[dict[str, str]]:
    items = bounded_list(body, "FindingIdentifiers", 1, MAX_UPDATE, required=True) or []
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidInput("FindingIdentifiers must be a list of {Id, ProductArn} objects")
        out.append({"Id": member(item, "Id", str, required=True, where="FindingIdentifiers"),
                    "ProductArn": member(item, "ProductArn", str, required=True,
                                         where="FindingIdentifiers")})
    return out


def update_changes(body: Mapping[str, Any]) -> dict[str, Any]:
    """The BatchUpdateFindings members other than the identifiers, shape-checked."""
    changes = {k: v for k, v in body.items() if k in UPDATE_MEMBERS and v is not None}
    note = member(changes, "Note", dict)
    if note is not None:
        text = member(note, "Text", str, required=True, where="Note")
        member(note, "UpdatedBy", str, required=True, where="Note")
        if len(text) > 512:
            raise InvalidInput("Note.Text must be at most 512 characters")
    severity = member(changes, "Severity", dict)
    if severity is not None:
        _enum(member(severity, "Label", str, where="Severity"), SEVERITY, "Severity.Label")
        _ratio(severity, "Normalized")
        member(severity, "Product", (int, float), where="Severity")
    _enum(member(changes, "VerificationState", str), VERIFICATION, "VerificationState")
    _ratio(changes, "Confidence")
    _ratio(changes, "Criticality")
    types = member(changes, "Types", list)
    if types is not None and (len(types) > 50 or not all(isinstance(t, str) for t in types)):
        raise InvalidInput("Types must be a list of at most 50 strings")
    fields = member(changes, "UserDefinedFields", dict)
    if fields is not None and not all(isinstance(v, str) for v in fields.values()):
        raise InvalidInput("UserDefinedFields must map strings to strings")
    workflow = member(changes, "Workflow", dict)
    if workflow is not None:
        _enum(member(workflow, "Status", str, where="Workflow"), WORKFLOW, "Workflow.Status")
    related = member(changes, "RelatedFindings", list)
    if related is not None:
        for item in related:
            if not isinstance(item, dict):
                raise InvalidInput("RelatedFindings must be a list of {ProductArn, Id} objects")
            member(item, "ProductArn", str, required=True, where="RelatedFindings")
            member(item, "Id", str, required=True, where="RelatedFindings")
    return changes


def tags(body: Mapping[str, Any]) -> dict[str, str] | None:
    value = member(body, "Tags", dict)
    if value is not None and not all(isinstance(v, str) for v in value.values()):
        raise InvalidInput("Tags must map strings to strings")
    return value


# POST /v1/runs: the run's text members and their column widths (hub/schema.py `runs`).
RUN_TEXT = {"run_id": 128, "repo": 512, "branch": 256, "commit": 64, "started_at": 40,
            "finished_at": 40, "status": 16}
_INT32 = 2**31 - 1


def run_body(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any], str | None]:
    """(RunRecord fields, findings, base_branch) of a POST /v1/runs body, every member of the
    right JSON type and width: a number where a string goes (or a 10 KB commit) used to reach
    the database and come back as a 500 on PostgreSQL."""
    run = body.get("run")
    findings = body.get("findings", [])
    if not isinstance(run, dict) or not isinstance(findings, list):
        raise InvalidInput("body must be {\"run\": {...}, \"findings\": [...]}")
    missing = [k for k in (*RUN_TEXT, "exit_code", "summary") if run.get(k) is None]
    if missing:
        raise InvalidInput(f"run needs {', '.join(missing)} (run_id, repo, branch, commit, "
                           "started_at, finished_at, status, exit_code and summary)")
    fields: dict[str, Any] = {}
    for key, width in RUN_TEXT.items():
        value = run[key]
        if not isinstance(value, str):
            raise InvalidInput(f"run.{key} must be a string, not {_json_type(value)}")
        if len(value) > width:
            raise InvalidInput(f"run.{key} must be at most {width} characters")
        if bad_text(value):
            raise InvalidInput(f"run.{key}: {bad_text(value)}")
        fields[key] = value
    code = run["exit_code"]
    if type(code) is not int or not -_INT32 <= code <= _INT32:
        raise InvalidInput("run.exit_code must be a 32-bit integer")
    if not isinstance(run["summary"], dict):
        raise InvalidInput(f"run.summary must be an object, not {_json_type(run['summary'])}")
    fields.update(exit_code=code, summary=run["summary"])
    scope = run.get("scope") or []
    if not isinstance(scope, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(
                isinstance(x, str) and 0 < len(x) <= 128 and not bad_text(x) for x in p)
            for p in scope):
        raise InvalidInput("run.scope must be a list of [stage, tool] pairs of strings "
                           "(at most 128 characters each)")
    fields["scope"] = [tuple(p) for p in scope]
    base = body.get("base_branch")
    if base is not None and (not isinstance(base, str) or not 0 < len(base) <= 256
                             or bad_text(base)):
        raise InvalidInput("base_branch must be a branch name (a string of 1-256 characters)")
    return fields, findings, base


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)
