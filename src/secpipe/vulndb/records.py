"""One OSV record as the rows the database stores: checked, flattened, compressed.

Only what matching and the status need becomes a column; the whole record is kept compressed
beside them, since the OSV-compatible API answers with records exactly as imported.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Mapping

from secpipe.vulndb.ecosystems import base_of, normalise_name, release_of


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _severity_list(value: Any) -> list[dict[str, str]]:
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("score"), str):
            out.append({"type": text(item.get("type")), "score": item["score"]})
    return out


def validate(record: Any) -> str | None:
    """Why `record` is not an OSV record secpipe can store, or None when it is."""
    if not isinstance(record, Mapping):
        return "not a JSON object"
    if not isinstance(record.get("id"), str) or not record["id"].strip():
        return "no \"id\""
    if record.get("affected") is not None and not isinstance(record["affected"], list):
        return "\"affected\" is not an array"
    for item in record.get("affected") or []:
        if not isinstance(item, Mapping):
            return "an \"affected\" entry is not an object"
        pkg = item.get("package")
        if pkg is not None and not isinstance(pkg, Mapping):
            return "an \"affected[].package\" is not an object"
        if not isinstance(item.get("ranges", []), list) or not isinstance(
                item.get("versions", []), list):
            return "\"ranges\"/\"versions\" is not an array"
    return None


def rows(record: Mapping[str, Any], source: str) -> tuple[dict, list[dict], list[dict]]:
    rid = record["id"].strip()
    dbs = record.get("database_specific") if isinstance(record.get("database_specific"),
                                                        Mapping) else {}
    refs = [r["url"] for r in record.get("references") or []
            if isinstance(r, Mapping) and isinstance(r.get("url"), str)]
    cwes = dbs.get("cwe_ids") if isinstance(dbs.get("cwe_ids"), list) else []
    adv = {
        "id": rid, "modified": text(record.get("modified")),
        "published": text(record.get("published")), "withdrawn": text(record.get("withdrawn")),
        "summary": text(record.get("summary")), "details": text(record.get("details"))[:4000],
        "severity": json.dumps(_severity_list(record.get("severity"))),
        "db_severity": text(dbs.get("severity")),
        "cwes": json.dumps([c for c in cwes if isinstance(c, str)]),
        "refs": json.dumps(refs[:10]),
        "record": zlib.compress(json.dumps(record, separators=(",", ":")).encode(), 6),
        "source": source[:500],
    }
    alias_rows = [{"advisory_id": rid, "alias": a.strip()}
                  for a in dict.fromkeys(record.get("aliases") or [])
                  if isinstance(a, str) and a.strip() and a.strip() != rid]
    aff_rows = []
    for item in record.get("affected") or []:
        pkg = item.get("package") or {}
        ecosystem, name = text(pkg.get("ecosystem")).strip(), text(pkg.get("name")).strip()
        if not ecosystem or not name:
            continue  # e.g. GIT-only entries naming a repository, not a package
        base = base_of(ecosystem)
        eco_specific = item.get("ecosystem_specific") if isinstance(
            item.get("ecosystem_specific"), Mapping) else {}
        severity = _severity_list(item.get("severity"))
        if not severity and isinstance(eco_specific.get("severity"), str):
            severity = [{"type": "WORD", "score": eco_specific["severity"]}]
        aff_rows.append({
            "advisory_id": rid, "ecosystem": ecosystem, "base": base,
            "release": release_of(ecosystem), "name": normalise_name(base, name),
            "purl": text(pkg.get("purl")),
            "ranges": json.dumps([r for r in item.get("ranges") or [] if isinstance(r, Mapping)]),
            "versions": json.dumps([v for v in item.get("versions") or [] if isinstance(v, str)]),
            "severity": json.dumps(severity),
        })
    return adv, alias_rows, aff_rows
