"""terrascan's JSON report (`terrascan scan -o json`).

`{results: {violations: [{rule_name, description, rule_id, severity, category, resource_name,
resource_type, file, line, module_name?, plan_root?, ...}], skipped_violations, scan_errors,
scan_summary{...}}}`. `violations: null` means nothing failed. Skipped violations (suppressed in
the code with `#ts:skip`) are not findings; scan errors are not findings either (they are the
scanner's trouble, not the code's) but are counted into each finding's properties so a reader
knows the scan was partial.

The violated resource (`resource_type.resource_name` in `file`) is terrascan's stable identity
for a result, independent of line numbers, and becomes `location_key`. Exact repeats (same rule,
resource, file and line, which terrascan prints when one file is reached through several plan
roots) are one finding.

Severity: HIGH, MEDIUM, LOW map one to one (terrascan has no other levels); anything else,
including a missing severity, is MEDIUM, so a result is never waved through as informational.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import as_int, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Location, Resource, Severity

TOOL = "terrascan"
_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFORMATIONAL,
}


def parse(data: bytes, source: str = "<terrascan>") -> Sequence[Finding]:
    doc = load_json(data, source)
    expect(doc, dict, source, "the report")
    results = doc.get("results")
    if not isinstance(results, dict):
        raise ReportFormatError(source, "not a terrascan report: 'results' should be an object "
                                "holding 'violations'")
    if "violations" not in results and "scan_summary" not in results:
        raise ReportFormatError(source, "not a terrascan report: no 'violations' in 'results'")
    errors = results.get("scan_errors")
    error_count = len(errors) if isinstance(errors, list) else 0
    seen: dict[tuple[str, ...], Finding] = {}
    for i, item in enumerate(objects(results.get("violations"), source, "results.violations")):
        finding = _finding(item, source, f"results.violations[{i}]", error_count)
        key = (finding.rule_id, finding.location_key or "", str(finding.location.start_line
                                                              if finding.location else ""))
        seen.setdefault(key, finding)
    return list(seen.values())


def _finding(item: Mapping[str, Any], source: str, what: str, error_count: int) -> Finding:
    rule_id = text(item.get("rule_id"))
    rule_name = text(item.get("rule_name"))
    if not rule_id and not rule_name:
        raise ReportFormatError(source, f"{what} has neither 'rule_id' nor 'rule_name'")
    rule_id = rule_id or rule_name
    category = text(item.get("category"))
    word = text(item.get("severity")) or None
    severity = _SEVERITIES.get((word or "").lower(), Severity.MEDIUM)
    path = text(item.get("file")).replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    path = path or "."
    line = as_int(item.get("line"))
    line = line if line and line > 0 else None
    rtype, rname = text(item.get("resource_type")), text(item.get("resource_name"))
    resource_id = f"{rtype}.{rname}" if rtype and rname else (rname or rtype)
    description = text(item.get("description"), rule_name or rule_id)
    lines = [description]
    if resource_id:
        lines.append(f"Resource: {resource_id}")
    if text(item.get("module_name")):
        lines.append(f"Module: {text(item.get('module_name'))}")
    properties = {key: value for key, value in (
        ("rule_name", rule_name),
        ("category", category),
        ("resource_type", rtype),
        ("module_name", text(item.get("module_name"))),
        ("plan_root", text(item.get("plan_root"))),
        ("scan_errors", str(error_count) if error_count else ""),
    ) if value}
    name = rule_name or description
    return Finding(
        tool=TOOL,
        rule_id=rule_id,
        title=f"{category}: {name}" if category else name,
        description="\n".join(lines),
        severity=severity,
        severity_original=word,
        category=Category.MISCONFIGURATION,
        location=Location(path=path, start_line=line, end_line=line),
        resource=(Resource(type="Other", id=resource_id, details={"file": path})
                  if resource_id else None),
        location_key=f"{resource_id}|{path}" if resource_id else None,
        properties=properties,
    )


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        return False
    results = data["results"]
    if "scan_summary" in results and "violations" in results:
        return True
    violations = results.get("violations")
    return (isinstance(violations, list) and bool(violations) and isinstance(violations[0], dict)
            and {"rule_name", "rule_id", "resource_type"} <= violations[0].keys())


FORMAT = ReportFormat(name="terrascan", title="terrascan JSON (-o json)", parse=parse,
                      sniff=sniff)
