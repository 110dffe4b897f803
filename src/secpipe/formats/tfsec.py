"""tfsec's JSON report (`tfsec --format json`), current and legacy.

Current (tfsec >= 0.40, v1.x): `{results: [{rule_id, long_id, rule_description, rule_provider,
rule_service, impact, resolution, links[], description, severity, warning, status, resource,
location{filename, start_line, end_line}}]}`. Legacy (0.x before the rewrite): `{results:
[{rule_id, link, location, description, severity, passed?}]}` with ERROR/WARNING/INFO levels.
`results: null` is how tfsec says "no problems".

One finding per rule per code location. tfsec repeats a result for every instance of a module
(`module.A:aws_x.y` and `module.B:aws_x.y` both point at the module's line 72); the code to fix is
one place, so those collapse into one finding that lists the instances (the same grouping
DefectDojo applies: provider, rule, file, start and end line). Passed and ignored results
(`--include-passed`, `#tfsec:ignore`) are not findings: `status` is 1/2 (or "passed"/"ignored"
in 0.x), legacy marks them `passed: true`.

Identity: the finding is the code location, so no `location_key` and no per-resource ASFF
resource (the instances are listed in `properties["resources"]`); the pipeline's ordinal among
the rule's findings in the file keeps it stable when lines move, and adding a module instance
does not turn it into a new finding.

Severity: CRITICAL, HIGH, MEDIUM, LOW map one to one; the legacy ERROR is HIGH, WARNING is
MEDIUM, INFO is LOW (tfsec's own table when it renamed them); anything else MEDIUM.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Sequence

from secpipe.formats._common import as_int, dig, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Location, Severity

TOOL = "tfsec"
_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "warning": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.LOW,
}
_NOT_FAILED = frozenset({1, 2, "passed", "ignored"})
_URL = re.compile(r"https?://\S+")
_MAX_LISTED = 20


def parse(data: bytes, source: str = "<tfsec>") -> Sequence[Finding]:
    doc = load_json(data, source)
    expect(doc, dict, source, "the report")
    if "results" not in doc:
        raise ReportFormatError(source, "not a tfsec report: no 'results'")
    others = sorted(set(doc) - {"results"})
    if others:  # bandit, semgrep, osv-scanner and kubescape write `results` beside other keys
        raise ReportFormatError(source, f"not a tfsec report: tfsec writes only 'results', this "
                                        f"has {', '.join(map(repr, others[:5]))}")
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for i, item in enumerate(objects(doc.get("results"), source, "results")):
        if item.get("passed") is True or _status(item.get("status")) in _NOT_FAILED:
            continue
        rule = text(item.get("rule_id")) or text(item.get("long_id"))
        if not rule:
            raise ReportFormatError(source, f"results[{i}] has no 'rule_id'")
        location = item.get("location")
        expect(location, dict, source, f"results[{i}].location")
        key = (text(item.get("rule_provider")), rule, text(location.get("filename")),
               text(location.get("start_line")), text(location.get("end_line")))
        groups.setdefault(key, []).append(item)
    return [_finding(items) for items in groups.values()]


def _status(value: Any) -> Any:
    """A status to look up: text lower-cased, a number as is, anything else (a list, an
    object: not hashable) as None."""
    if isinstance(value, str):
        return value.lower()
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _finding(items: list[Mapping[str, Any]]) -> Finding:
    first = items[0]
    rule = text(first.get("rule_id")) or text(first.get("long_id"))
    long_id = text(first.get("long_id"))
    # tfsec writes absolute paths; only the pipeline knows the scan root to cut them against.
    path = _clean_path(text(dig(first, "location", "filename")))
    start = as_int(dig(first, "location", "start_line"))
    end = as_int(dig(first, "location", "end_line"))
    start = start if start and start > 0 else None
    end = end if end and end > 0 and start else start
    word = text(first.get("severity")) or None
    severity = _SEVERITIES.get((word or "").lower(), Severity.MEDIUM)
    summary = text(first.get("rule_description")) or text(first.get("description"), rule)
    links = _links(first)
    resources = _distinct(item.get("resource") for item in items)
    details = _distinct(item.get("description") for item in items)

    lines = [f"{rule}: {summary}"]
    if text(first.get("impact")):
        lines.append(f"Impact: {text(first.get('impact'))}")
    lines.extend(details[:_MAX_LISTED])
    if len(details) > _MAX_LISTED:
        lines.append(f"... and {len(details) - _MAX_LISTED} more")
    properties = {key: value for key, value in (
        ("rule_provider", text(first.get("rule_provider"))),
        ("rule_service", text(first.get("rule_service"))),
        ("long_id", long_id),
        ("legacy_rule_id", text(first.get("legacy_rule_id"))),
        ("occurrences", str(len(items))),
        ("resources", ", ".join(resources[:_MAX_LISTED])),
    ) if value}
    return Finding(
        tool=TOOL,
        rule_id=rule,
        title=summary,
        description="\n".join(lines),
        severity=severity,
        severity_original=word,
        category=Category.MISCONFIGURATION,
        location=Location(path=path, start_line=start, end_line=end),
        remediation=text(first.get("resolution")) or None,
        remediation_url=links[0] if links else None,
        references=tuple(links),
        properties=properties,
    )


def _distinct(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(t for t in (text(v) for v in values) if t))


def _clean_path(value: str) -> str:
    value = value.replace("\\", "/")
    while value.startswith("./"):
        value = value[2:]
    return value or "."


def _links(item: Mapping[str, Any]) -> list[str]:
    """`links` (current) is a list of URLs; `link` (legacy) a URL or "See URL for more ..."."""
    found: list[str] = []
    links = item.get("links")
    for value in links if isinstance(links, list) else []:
        found.extend(_URL.findall(text(value)))
    found.extend(_URL.findall(text(item.get("link"))))
    return list(dict.fromkeys(url.rstrip(".,)") for url in found))


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict) or "results" not in data:
        return False
    results = data["results"]
    if results is None:
        return set(data) == {"results"}
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        return False
    first = results[0]
    return "rule_id" in first and isinstance(first.get("location"), dict) and (
        "filename" in first["location"])


FORMAT = ReportFormat(name="tfsec", title="tfsec JSON (--format json)", parse=parse, sniff=sniff)
