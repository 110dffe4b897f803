"""Make an ASFF finding fit Security Hub's limits before it is sent, never after AWS refuses it.

`to_asff` already respects the field limits for findings secpipe builds; this is the sink's own
guard for findings that arrive from elsewhere (a Lambda envelope, an edited file) or that are
big in ways a field limit does not catch: any field must stay under 32 KB and the whole finding
under 240 KB. Long text is cut with the visible marker `to_asff` uses; lists are shortened
only when cutting text was not enough.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from secpipe.model.asff import LIMITS, TRUNCATION_MARKER, clip

MAX_FINDING_BYTES = 240 * 1024
MAX_FIELD_BYTES = 32 * 1024 - 1
_MIN_CUT = 256  # text is never cut shorter than this while making a finding fit

# (path, limit) for the text fields with a limit of their own.
_TEXT_LIMITS = (
    (("Id",), LIMITS["Id"]),
    (("GeneratorId",), LIMITS["GeneratorId"]),
    (("Title",), LIMITS["Title"]),
    (("Description",), LIMITS["Description"]),
    (("ProductName",), LIMITS["ProductName"]),
    (("CompanyName",), LIMITS["CompanyName"]),
    (("Severity", "Original"), LIMITS["Severity.Original"]),
    (("Remediation", "Recommendation", "Text"), LIMITS["Remediation.Recommendation.Text"]),
    (("Remediation", "Recommendation", "Url"), LIMITS["Remediation.Recommendation.Url"]),
    (("Note", "Text"), LIMITS["Note.Text"]),
)


def size_of(obj: Any) -> int:
    return len(json.dumps(obj, ensure_ascii=False).encode("utf-8"))


def clip_bytes(text: str, limit: int) -> str:
    """Cut so the UTF-8 encoding stays within `limit` bytes, marker included."""
    if len(text.encode("utf-8")) <= limit:
        return text
    room = limit - len(TRUNCATION_MARKER.encode("utf-8"))
    cut = text.encode("utf-8")[:max(room, 0)].decode("utf-8", "ignore")
    return cut + TRUNCATION_MARKER


def fit_finding(obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(a copy that fits, whether anything was cut)."""
    out = copy.deepcopy(obj)
    changed = False
    for path, limit in _TEXT_LIMITS:
        changed |= _clip_at(out, path, limit)
    if isinstance(out.get("Types"), list) and len(out["Types"]) > LIMITS["Types"]:
        out["Types"], changed = out["Types"][:LIMITS["Types"]], True
    resources = out.get("Resources")
    if isinstance(resources, list):
        if len(resources) > LIMITS["Resources"]:
            out["Resources"] = resources = resources[:LIMITS["Resources"]]
            changed = True
        for res in resources:
            if isinstance(res, dict):
                changed |= _clip_at(res, ("Type",), LIMITS["Resource.Type"])
                changed |= _clip_at(res, ("Id",), LIMITS["Resource.Id"])
    for key in ("ProductFields", "UserDefinedFields"):
        changed |= _fit_map(out, key)
    changed |= _clip_all_strings(out, MAX_FIELD_BYTES)
    while size_of(out) > MAX_FINDING_BYTES:
        if not (_cut_longest_text(out) or _halve_longest_list(out)):
            break  # nothing left to cut: validate_asff/Security Hub will say what is wrong
        changed = True
    return out, changed


def _clip_at(obj: dict[str, Any], path: tuple[str, ...], limit: int) -> bool:
    parent: Any = obj
    for key in path[:-1]:
        parent = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or not isinstance(parent.get(path[-1]), str):
        return False
    value = parent[path[-1]]
    if len(value) <= limit:
        return False
    parent[path[-1]] = clip(value, limit)
    return True


def _fit_map(obj: dict[str, Any], key: str) -> bool:
    fields = obj.get(key)
    if not isinstance(fields, dict):
        return False
    kept = {}
    for k, v in list(fields.items())[:LIMITS["ProductFields"]]:
        kept[clip(str(k), LIMITS["ProductFields.key"])] = clip(str(v), LIMITS["ProductFields.value"])
    if kept != fields:
        obj[key] = kept
        return True
    return False


def _clip_all_strings(node: Any, limit: int) -> bool:
    changed = False
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str) and len(v) * 4 > limit and len(v.encode("utf-8")) > limit:
                node[k], changed = clip_bytes(v, limit), True
            else:
                changed |= _clip_all_strings(v, limit)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, str) and len(v.encode("utf-8")) > limit:
                node[i], changed = clip_bytes(v, limit), True
            else:
                changed |= _clip_all_strings(v, limit)
    return changed


# Identity and required fields are never cut to make room.
_KEEP = frozenset({"Id", "ProductArn", "GeneratorId", "AwsAccountId", "SchemaVersion",
                   "CreatedAt", "UpdatedAt", "Type"})


def _leaves(node: Any, out: list[tuple[int, Any, Any]]) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        if isinstance(v, str):
            if not (isinstance(node, dict) and k in _KEEP):
                out.append((len(v.encode("utf-8")), node, k))
        elif isinstance(v, (dict, list)):
            _leaves(v, out)


def _cut_longest_text(obj: dict[str, Any]) -> bool:
    leaves: list[tuple[int, Any, Any]] = []
    _leaves(obj, leaves)
    if not leaves:
        return False
    size, parent, key = max(leaves, key=lambda t: t[0])
    if size <= _MIN_CUT:
        return False
    parent[key] = clip_bytes(parent[key], max(_MIN_CUT, size // 2))
    return True


def _lists(node: Any, out: list[tuple[int, list, str]]) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        if isinstance(v, list):
            floor = 1 if k in ("Resources", "Types") else 0
            if len(v) > max(floor, 1):
                out.append((size_of(v), v, str(k)))
            _lists(v, out)
        elif isinstance(v, dict):
            _lists(v, out)


def _halve_longest_list(obj: dict[str, Any]) -> bool:
    found: list[tuple[int, list, str]] = []
    _lists(obj, found)
    if not found:
        return False
    _, biggest, _ = max(found, key=lambda t: t[0])
    del biggest[max(1, len(biggest) // 2):]
    return True
