"""trufflehog3 (feeltheajf/truffleHog3) JSON: one array, in two shapes.

3.x: `[{rule: {id, message, severity, pattern?}, path, line, secret, context, id, branch,
message, author, commit, date}]`, commit fields null for working-tree matches. Legacy
(trufflehog3 < 3, the truffleHog 2 layout in an array): `[{date, path, branch, commit (the
message), commitHash, reason, stringsFound[]}]`, where each found string is a whole diff line
with its `+`/`-` marker.

`secret`, `context` (the lines around the match) and `stringsFound` hold clear values: only
`secret` and the found strings are read, through :meth:`Secret.from_value`; `context` is never
copied. Legacy diff markers are dropped before hashing so a value added in one commit and
removed in another is one value.

Counting: trufflehog3 reports a value once per commit it appears in. secpipe keeps one finding
per distinct value per file (each is one leak to rotate) and records the commits; DefectDojo
instead merges per file and rule, so legacy reports count differently (see the tests).
Severity: the rule's own LOW/MEDIUM/HIGH; legacy entries carry none and are HIGH, as every
unverified secret in secpipe.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import as_int, expect, json_array_items, text
from secpipe.formats._secrets import clean_path, merge_repeats, secret_finding, slug
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Secret, Severity, keyed_tool_hash

TOOL = "trufflehog3"
_UNIQUE = frozenset({"trufflehog3_id"})   # one per (path, value): not worth interning


def _is_current(item: Mapping[str, Any]) -> bool:
    return isinstance(item.get("rule"), dict) and "secret" in item


def _is_legacy(item: Mapping[str, Any]) -> bool:
    return "stringsFound" in item and "reason" in item


def strip_diff_marker(value: str) -> str:
    """`+  "password": "x"` -> `"password": "x"`; PEM armour (`-----BEGIN`) keeps its dashes."""
    value = value.strip()
    if value[:1] in "+-" and not value.startswith("-----"):
        value = value[1:]
    return value.strip()


def _current(item: Mapping[str, Any], where: str, source: str) -> list[Finding]:
    rule = item["rule"]
    rule_id = text(rule.get("id"))
    value = text(item.get("secret")).strip()
    if not rule_id or not value:
        raise ReportFormatError(source, f"{where} needs 'rule.id' and a 'secret'")
    level = text(rule.get("severity"))
    line = as_int(item.get("line"))
    return [secret_finding(
        tool=TOOL,
        rule_id=rule_id,
        kind=text(rule.get("message")) or rule_id,
        path=clean_path(text(item.get("path")) or "unknown"),
        line=line if line and line > 0 else None,
        secret=Secret.from_value(value),
        severity=Severity.parse(level, Severity.HIGH) if level else Severity.HIGH,
        severity_original=level or None,
        properties={
            "commit": text(item.get("commit")),
            "branch": text(item.get("branch")),
            "date": text(item.get("date")),
            # uuid3 of `path:secret`: a dictionary oracle unless re-keyed
            "trufflehog3_id": keyed_tool_hash("uuid3", text(item.get("id")))[:32],
        },
        unique=_UNIQUE,
    )]


def _legacy(item: Mapping[str, Any], where: str, source: str) -> list[Finding]:
    found = item.get("stringsFound")
    if not isinstance(found, list):
        raise ReportFormatError(source, f"{where}: 'stringsFound' should be an array")
    reason = text(item.get("reason"), "secret") or "secret"
    path = clean_path(text(item.get("path")) or "unknown")
    props = {
        "commit": text(item.get("commitHash")),
        "branch": text(item.get("branch")),
        "date": text(item.get("date")),
    }
    findings = []
    for raw in found:
        value = strip_diff_marker(text(raw))
        if not value:
            continue
        findings.append(secret_finding(
            tool=TOOL, rule_id=slug(reason), kind=reason, path=path,
            secret=Secret.from_value(value), severity=Severity.HIGH, properties=props,
        ))
    return findings


def parse(data: bytes, source: str = "<trufflehog3>") -> Sequence[Finding]:
    findings: list[Finding] = []
    # item by item: the decoded report is never whole (about 4x its bytes)
    for index, item in enumerate(json_array_items(data, source)):
        where = f"entry {index}"
        expect(item, dict, source, where)
        if _is_current(item):
            findings.extend(_current(item, where, source))
        elif _is_legacy(item):
            findings.extend(_legacy(item, where, source))
        else:
            raise ReportFormatError(
                source, f"{where} is neither a trufflehog3 3.x issue ('rule', 'secret') nor a "
                "legacy one ('reason', 'stringsFound')"
            )
    return merge_repeats(findings)


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return False
    first = data[0]
    return (_is_current(first) and "path" in first) or (_is_legacy(first) and "path" in first)


FORMAT = ReportFormat(
    name="trufflehog3", title="trufflehog3 JSON (3.x and legacy)", parse=parse, sniff=sniff
)
