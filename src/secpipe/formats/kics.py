"""KICS's JSON report (`kics scan --report-formats json`, the `results.json` it writes).

`{kics_version, files_scanned, queries: [{query_name, query_id, query_url, severity, platform,
category, description, cwe?, files: [{file_name, similarity_id, line, issue_type, search_key,
expected_value, actual_value, resource_type?, resource_name?, ...}]}], severity_counters, ...}`.
One finding per file entry: each is one place where a query matched.

`similarity_id` is KICS's own hash of the query, file and search key (not the line), made for
exactly what `location_key` is for: recognising the same result after the file moved around
(with the expected value added, see :func:`_location_key`).

Severity: CRITICAL, HIGH, MEDIUM and LOW map one to one; INFO and TRACE become INFORMATIONAL;
anything else MEDIUM (KICS has added levels before; an unknown word must not hide a result).

Secrets: results of the "Secret Management" category (KICS's password and secret queries) are
SECRET findings. KICS does not report the value itself in a usable form, so such findings carry
no Secret, and their `actual_value`/`search_value` are not copied in case a version puts the
matched text there.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import as_int, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Location, Resource, Severity, snippet_hash

TOOL = "kics"
_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFORMATIONAL,
    "trace": Severity.INFORMATIONAL,
}
_SECRET_CATEGORIES = frozenset({"secret management"})


def parse(data: bytes, source: str = "<kics>") -> Sequence[Finding]:
    doc = load_json(data, source)
    expect(doc, dict, source, "the report")
    if "queries" not in doc or not (
            {"kics_version", "total_counter", "scan_id", "files_scanned"} & doc.keys()):
        raise ReportFormatError(source, "not a KICS report: no 'queries' with KICS's "
                                        "'kics_version', 'scan_id' or counters")
    findings: list[Finding] = []
    for qi, query in enumerate(objects(doc.get("queries"), source, "queries")):
        what = f"queries[{qi}]"
        for fi, entry in enumerate(objects(query.get("files"), source, f"{what}.files")):
            findings.append(_finding(query, entry, source, f"{what}.files[{fi}]"))
    return findings


def _finding(query: Mapping[str, Any], entry: Mapping[str, Any], source: str,
             what: str) -> Finding:
    name = text(query.get("query_name"))
    query_id = text(query.get("query_id")) or name
    if not query_id:
        raise ReportFormatError(
            source, f"{what}: its query has neither 'query_id' nor 'query_name'")
    category = text(query.get("category"))
    word = text(query.get("severity")) or None
    severity = _SEVERITIES.get((word or "").lower(), Severity.MEDIUM)
    is_secret = category.lower() in _SECRET_CATEGORIES
    path = text(entry.get("file_name")).replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    if not path:
        raise ReportFormatError(source, f"{what} has no 'file_name'")
    line = as_int(entry.get("line"))
    line = line if line and line > 0 else None
    issue_type = text(entry.get("issue_type"))
    expected = text(entry.get("expected_value"))
    actual = text(entry.get("actual_value"))
    search_key = text(entry.get("search_key"))
    rtype, rname = text(entry.get("resource_type")), text(entry.get("resource_name"))

    lines = [text(query.get("description")) or name or query_id]
    if issue_type:
        lines.append(f"Issue type: {issue_type}")
    if search_key and not is_secret:
        lines.append(f"Where: {search_key}")
    if expected:
        lines.append(f"Expected: {expected}")
    if actual and not is_secret:
        lines.append(f"Actual: {actual}")

    properties = {key: value for key, value in (
        ("platform", text(query.get("platform"))),
        ("category", category),
        ("issue_type", issue_type),
        ("search_key", search_key),
        ("cloud_provider", text(query.get("cloud_provider"))),
        ("kics_query_id", query_id),
    ) if value}
    similarity = text(entry.get("similarity_id"))
    cwe = text(query.get("cwe"))
    url = text(query.get("query_url"))
    return Finding(
        tool=TOOL,
        rule_id=query_id,
        title=f"{category}: {name}" if category and name else (name or query_id),
        description="\n".join(lines),
        severity=severity,
        severity_original=word,
        category=Category.SECRET if is_secret else Category.MISCONFIGURATION,
        location=Location(path=path, start_line=line, end_line=line),
        resource=(Resource(type="Other", id=f"{rtype}.{rname}" if rtype else rname,
                           details={"file": path})
                  if rname else None),
        remediation=expected or None,
        remediation_url=url or None,
        cwe=(f"CWE-{cwe}" if cwe.isdigit() else cwe,) if cwe else (),
        location_key=_location_key(similarity, expected),
        properties=properties,
    )


def _location_key(similarity: str, expected: str) -> str | None:
    """KICS gives one similarity_id to several results of one query at one search key (RBAC
    wildcards in apiGroups, resources and verbs of one rule); the expected value, which names the
    attribute and never a line, tells those apart."""
    if not similarity:
        return None
    return f"kics:{similarity}:{snippet_hash(expected)}" if expected else f"kics:{similarity}"


def sniff(doc: Document) -> bool:
    data = doc.json
    return (
        isinstance(data, dict)
        and isinstance(data.get("queries"), list)
        and ("kics_version" in data or "queries_total" in data or "severity_counters" in data)
    )


FORMAT = ReportFormat(name="kics", title="KICS JSON (results.json)", parse=parse, sniff=sniff)
