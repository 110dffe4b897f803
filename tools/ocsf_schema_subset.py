"""Extract the OCSF schema subset secpipe's OCSF test validates against.

Not run by the tests: it documents (and re-creates) tests/fixtures/ocsf/schema-subset.json.

Input: the OCSF 1.1.0 source schema as the PyPI package pydantic-ocsf 3.0.0 ships it
(`ocsf/schemas/v1_1_0.json`: events, objects and the attribute dictionary of the
ocsf/ocsf-schema tree at v1.1.0). That file lacks the two `$include` files every event pulls
in, `includes/classification.json` (activity_id, category_uid, class_uid, type_uid: required)
and `includes/occurrence.json` (time: required), and the `cloud` profile; their requirements
are stated below from ocsf/ocsf-schema's files, unchanged since 1.0.

    pip download --no-deps pydantic-ocsf==3.0.0 && unzip pydantic_ocsf-3.0.0-*.whl
    python tools/ocsf_schema_subset.py ocsf/schemas/v1_1_0.json > tests/fixtures/ocsf/schema-subset.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

CLASSES = ("vulnerability_finding", "compliance_finding", "detection_finding")
OBJECTS = ("metadata", "product", "feature", "finding_info", "analytic", "resource_details",
           "vulnerability", "cve", "cvss", "cwe", "affected_package", "compliance",
           "remediation", "cloud", "account", "related_event")
# includes/classification.json and includes/occurrence.json (ocsf/ocsf-schema), and
# profiles/cloud.json (`cloud` required once the profile is applied; `api` optional).
INCLUDED = {
    "activity_id": "required", "activity_name": "optional", "category_uid": "required",
    "category_name": "optional", "class_uid": "required", "class_name": "optional",
    "type_uid": "required", "type_name": "optional", "time": "required",
    "count": "optional", "duration": "optional", "timezone_offset": "recommended",
}
CLOUD_PROFILE = {"cloud": "required"}


def _resolve(table: dict[str, Any], name: str) -> dict[str, Any]:
    item = table[name]
    own = {k: v for k, v in item["attributes"].items() if k != "$include"}
    parent = item.get("extends")
    if parent and parent in table:
        base = _resolve(table, parent)
        merged = dict(base)
        for key, value in own.items():
            merged[key] = {**base.get(key, {}), **value}
        return merged
    return own


def _attr(dictionary: dict[str, Any], name: str, spec: dict[str, Any]) -> dict[str, Any]:
    entry = dictionary.get(name, {})
    out: dict[str, Any] = {"type": entry.get("type"),
                           "requirement": spec.get("requirement", "optional")}
    if entry.get("is_array"):
        out["is_array"] = True
    enum = spec.get("enum") or entry.get("enum")
    if enum:
        keys = list(enum)
        out["enum"] = (sorted(int(k) for k in keys) if all(k.isdigit() for k in keys)
                       else sorted(keys))
    return out


def subset(schema: dict[str, Any]) -> dict[str, Any]:
    dictionary = schema["dictionary"]["attributes"]
    categories = schema["categories_meta"]["attributes"]
    classes = {}
    for name in CLASSES:
        event = schema["events"][name]
        spec = _resolve(schema["events"], name)
        for key, req in {**INCLUDED, **CLOUD_PROFILE}.items():
            spec.setdefault(key, {})["requirement"] = req
        category_uid = categories[event.get("category", "findings")]["uid"]
        classes[name] = {
            "caption": event["caption"],
            "category_uid": category_uid,
            "class_uid": category_uid * 1000 + event["uid"],
            "attributes": {k: _attr(dictionary, k, v) for k, v in sorted(spec.items())},
        }
    objects = {}
    for name in OBJECTS:
        spec = _resolve(schema["objects"], name)
        objects[name] = {
            "attributes": {k: _attr(dictionary, k, v) for k, v in sorted(spec.items())},
            **({"constraints": schema["objects"][name]["constraints"]}
               if schema["objects"][name].get("constraints") else {}),
        }
    return {
        "ocsf_version": schema["version"],
        "source": "pydantic-ocsf 3.0.0 (PyPI), ocsf/schemas/v1_1_0.json; "
                  "ocsf/ocsf-schema includes/classification.json, includes/occurrence.json, "
                  "profiles/cloud.json",
        "categories": {"findings": categories["findings"]["uid"]},
        "classes": classes,
        "objects": objects,
    }


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        json.dump(subset(json.load(fh)), sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
