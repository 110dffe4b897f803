"""One OSV record as the rows the database stores: checked, flattened, compressed.

Only what matching and the status need becomes a column; the whole record is kept compressed
beside them, since the OSV-compatible API answers with records exactly as imported.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Mapping

from secpipe.vulndb.ecosystems import base_of, normalise_name, release_of


# Records come from JSON, so objects are dicts: plain isinstance(dict) checks keep the import
# of a few hundred thousand records fast (typing.Mapping checks cost seconds there).
_EMPTY = "[]"


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json_list(items: list[Any]) -> str:
    return json.dumps(items) if items else _EMPTY


def _severity_list(value: Any) -> list[dict[str, str]]:
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("score"), str):
            out.append({"type": text(item.get("type")), "score": item["score"]})
    return out


def validate(record: Any) -> str | None:
    """Why `record` is not an OSV record secpipe can store, or None when it is."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if not isinstance(record.get("id"), str) or not record["id"].strip():
        return "no \"id\""
    for key in ("affected", "aliases", "severity", "references"):
        if record.get(key) is not None and not isinstance(record[key], list):
            return f"\"{key}\" is not an array"
    for item in record.get("affected") or []:
        if not isinstance(item, dict):
            return "an \"affected\" entry is not an object"
        pkg = item.get("package")
        if pkg is not None and not isinstance(pkg, dict):
            return "an \"affected[].package\" is not an object"
        if not isinstance(item.get("ranges", []), list) or not isinstance(
                item.get("versions", []), list):
            return "\"ranges\"/\"versions\" is not an array"
    return None


def rows(record: Mapping[str, Any], source: str, raw: bytes | None = None
         ) -> tuple[dict, list[dict], list[dict]]:
    """(advisory row, alias rows, affected rows) of a validated record. `raw` is the record's
    JSON exactly as read, when the file held just this record: stored as is, not re-encoded."""
    rid = record["id"].strip()
    dbs = record.get("database_specific")
    dbs = dbs if isinstance(dbs, dict) else {}
    refs = [r["url"] for r in record.get("references") or []
            if isinstance(r, dict) and isinstance(r.get("url"), str)]
    cwes = dbs.get("cwe_ids") if isinstance(dbs.get("cwe_ids"), list) else []
    blob = raw if raw is not None else json.dumps(record, separators=(",", ":")).encode()
    adv = {
        "id": rid, "modified": text(record.get("modified")),
        "published": text(record.get("published")), "withdrawn": text(record.get("withdrawn")),
        "summary": text(record.get("summary")), "details": text(record.get("details"))[:4000],
        "severity": _json_list(_severity_list(record.get("severity"))),
        "db_severity": text(dbs.get("severity")),
        "cwes": _json_list([c for c in cwes if isinstance(c, str)]),
        "refs": _json_list(refs[:10]),
        "record": zlib.compress(blob, 6),
        "source": source[:500],
    }
    alias_rows = [{"advisory_id": rid, "alias": a}
                  for a in dict.fromkeys(a.strip() for a in record.get("aliases") or []
                                         if isinstance(a, str))
                  if a and a != rid]
    aff_rows = []
    for item in record.get("affected") or []:
        pkg = item.get("package") or {}
        ecosystem, name = text(pkg.get("ecosystem")).strip(), text(pkg.get("name")).strip()
        if not ecosystem or not name:
            continue  # e.g. GIT-only entries naming a repository, not a package
        base = base_of(ecosystem)
        eco_specific = item.get("ecosystem_specific")
        eco_specific = eco_specific if isinstance(eco_specific, dict) else {}
        severity = _severity_list(item.get("severity"))
        if not severity and isinstance(eco_specific.get("severity"), str):
            severity = [{"type": "WORD", "score": eco_specific["severity"]}]
        aff_rows.append({
            "advisory_id": rid, "ecosystem": ecosystem, "base": base,
            "release": release_of(ecosystem), "name": normalise_name(base, name),
            "purl": text(pkg.get("purl")),
            "ranges": _json_list([r for r in item.get("ranges") or [] if isinstance(r, dict)]),
            "versions": _json_list([v for v in item.get("versions") or []
                                    if isinstance(v, str)]),
            "severity": _json_list(severity),
        })
    return adv, alias_rows, aff_rows
