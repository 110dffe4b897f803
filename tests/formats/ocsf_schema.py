"""Validate an OCSF event against the schema subset in tests/fixtures/ocsf (OCSF 1.1.0).

What is checked, for the event class and every object of the subset found inside it:
required attributes present (and not empty), no attribute the class or object does not
define, enumerations (class-level enums where the class overrides the dictionary's), the
primitive types (integer_t, long_t, timestamp_t as integers, string_t, boolean_t, float_t,
arrays), `at_least_one` constraints, and OCSF's uid arithmetic: class_uid = category_uid *
1000 + the class's uid, type_uid = class_uid * 100 + activity_id.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SUBSET = Path(__file__).resolve().parents[1] / "fixtures" / "ocsf" / "schema-subset.json"


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SUBSET.read_text(encoding="utf-8"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_PRIMITIVES = {
    "integer_t": _is_int, "long_t": _is_int, "timestamp_t": _is_int, "port_t": _is_int,
    "string_t": lambda v: isinstance(v, str), "datetime_t": lambda v: isinstance(v, str),
    "url_t": lambda v: isinstance(v, str), "boolean_t": lambda v: isinstance(v, bool),
    "float_t": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "json_t": lambda v: True, "object": lambda v: isinstance(v, dict),
}


def _check_value(path: str, spec: dict[str, Any], value: Any, problems: list[str]) -> None:
    if spec.get("is_array"):
        if not isinstance(value, list):
            problems.append(f"{path}: expected an array")
            return
        for i, item in enumerate(value):
            _check_value(f"{path}[{i}]", {**spec, "is_array": False}, item, problems)
        return
    kind = spec.get("type")
    if kind in schema()["objects"]:
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a {kind} object")
        else:
            _check_object(path, schema()["objects"][kind], value, problems)
        return
    check = _PRIMITIVES.get(kind or "")
    if check is None:  # an object type the subset does not carry: it must be an object
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object ({kind})")
        return
    if not check(value):
        problems.append(f"{path}: {value!r} is not {kind}")
    elif "enum" in spec and value not in spec["enum"]:
        problems.append(f"{path}: {value!r} is not one of {spec['enum']}")


def _check_object(path: str, definition: dict[str, Any], obj: dict[str, Any],
                  problems: list[str]) -> None:
    attributes = definition["attributes"]
    for name, spec in attributes.items():
        if spec["requirement"] == "required" and obj.get(name) in (None, "", [], {}):
            problems.append(f"{path}.{name}: required")
    for name, value in obj.items():
        if name not in attributes:
            problems.append(f"{path}.{name}: not an attribute of this object in OCSF "
                            f"{schema()['ocsf_version']}")
        else:
            _check_value(f"{path}.{name}", attributes[name], value, problems)
    for name in (definition.get("constraints") or {}).get("at_least_one", []):
        if obj.get(name) not in (None, "", [], {}):
            break
    else:
        if definition.get("constraints", {}).get("at_least_one"):
            problems.append(f"{path}: needs one of {definition['constraints']['at_least_one']}")


def validate(event: dict[str, Any]) -> list[str]:
    """Problems of `event` against its class; [] when it conforms."""
    classes = {c["class_uid"]: (name, c) for name, c in schema()["classes"].items()}
    class_uid = event.get("class_uid")
    if class_uid not in classes:
        return [f"class_uid {class_uid!r} is none of {sorted(classes)}"]
    name, definition = classes[class_uid]
    problems: list[str] = []
    _check_object(name, definition, event, problems)
    if event.get("category_uid") != definition["category_uid"]:
        problems.append(f"category_uid must be {definition['category_uid']}")
    if _is_int(event.get("activity_id")) and event.get("type_uid") != (
            class_uid * 100 + event["activity_id"]):
        problems.append("type_uid must be class_uid * 100 + activity_id")
    return problems
