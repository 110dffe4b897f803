"""gitleaks JSON reports (`--report-format json`): an array of leaks, in two generations.

v7: `{line, lineNumber, offender, commit, repo, rule, commitMessage, author, email, file, date,
tags, leakURL?}`. v8: `{Description, StartLine, EndLine, StartColumn, EndColumn, Match, Secret,
File, Commit, Entropy, Author, Email, Date, Message, Tags, RuleID, Fingerprint, Link?}`.

`line`, `offender`, `Match` and `Secret` hold the clear value: the secret (v8 `Secret`, else
`Match`; v7 `offender`) goes through :meth:`Secret.from_value`, and none of the four is copied
anywhere. With `--redact` gitleaks writes `REDACTED` instead of the value; there is nothing to
hash then, so the location key is the line (`redacted:L<n>`): the finding keeps its identity
across runs, though not across line shifts.

A clean scan is `[]` (gitleaks 7, and 8 since 8.x with an empty slice) or `null` (gitleaks 8
marshalling a nil slice): both are zero findings.

gitleaks has no severities: every leak is HIGH (the shared secrets policy). History scans
repeat a value per commit; one finding per distinct value per file is kept.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import as_int, expect, load_json, text
from secpipe.formats._secrets import clean_path, merge_repeats, secret_finding, slug
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Secret, Severity, snippet_hash

TOOL = "gitleaks"
REDACTED = "REDACTED"


def _is_v8(item: Mapping[str, Any]) -> bool:
    return "RuleID" in item and ("Secret" in item or "Match" in item)


def _is_v7(item: Mapping[str, Any]) -> bool:
    return "rule" in item and "offender" in item


def _tags(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(text(v) for v in value if text(v))
    return ",".join(t.strip() for t in text(value).split(",") if t.strip())


def _redacted_key(line: int | None, redacted_text: str) -> str | None:
    if line:
        return f"redacted:L{line}"
    if redacted_text:
        return "redacted:" + snippet_hash(redacted_text)
    return None


def _leak(item: Mapping[str, Any], where: str, source: str) -> Finding:
    if _is_v8(item):
        rule_id = text(item.get("RuleID"))
        kind = text(item.get("Description")) or rule_id
        value = text(item.get("Secret")) or text(item.get("Match"))
        context = text(item.get("Match"))
        path = text(item.get("File")) or text(item.get("SymlinkFile"))
        line = as_int(item.get("StartLine"))
        end = as_int(item.get("EndLine"))
        props = {
            "commit": text(item.get("Commit")),
            "date": text(item.get("Date")),
            "tags": _tags(item.get("Tags")),
            "entropy": text(item.get("Entropy")) if item.get("Entropy") else "",
            "gitleaks_fingerprint": text(item.get("Fingerprint")),
            "version": "8",
        }
    else:
        kind = text(item.get("rule"))
        rule_id = slug(kind) if kind else ""
        value = text(item.get("offender"))
        context = text(item.get("line"))
        path = text(item.get("file"))
        line = as_int(item.get("lineNumber"))
        end = line
        props = {
            "commit": text(item.get("commit")),
            "date": text(item.get("date")) if not text(item.get("date")).startswith("0001-") else "",
            "tags": _tags(item.get("tags")),
            "version": "7",
        }
    if not rule_id:
        raise ReportFormatError(source, f"{where} has no rule ('RuleID' or 'rule')")
    if not path:
        raise ReportFormatError(source, f"{where} has no file ('File' or 'file')")
    line = line if line and line > 0 else None
    value = value.strip()
    redacted = not value or value == REDACTED
    secret: Secret | None = None
    key: str | None = None
    if redacted:
        # The (already redacted) context is only hashed, as a fallback key; never stored.
        key = _redacted_key(line, context.strip())
        props["redacted"] = "true"
    else:
        secret = Secret.from_value(value)
    return secret_finding(
        tool=TOOL,
        rule_id=rule_id,
        kind=kind,
        path=clean_path(path),
        line=line,
        end_line=end if end and end > 0 else None,
        secret=secret,
        severity=Severity.HIGH,
        location_key=key,
        properties=props,
        note="gitleaks redacted the value itself." if redacted else "",
    )


def parse(data: bytes, source: str = "<gitleaks>") -> Sequence[Finding]:
    doc = load_json(data, source)
    if doc is None:
        return []  # gitleaks 8 writes `null` when a scan finds no leak (its nil slice)
    expect(doc, list, source, "the report")
    findings: list[Finding] = []
    for index, item in enumerate(doc):
        where = f"leak {index}"
        expect(item, dict, source, where)
        if not (_is_v8(item) or _is_v7(item)):
            raise ReportFormatError(
                source, f"{where} is neither a gitleaks 8 leak ('RuleID', 'Secret') nor a "
                "gitleaks 7 one ('rule', 'offender')"
            )
        findings.append(_leak(item, where, source))
    return merge_repeats(findings)


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return False
    first = data[0]
    return (_is_v8(first) and "StartLine" in first) or (
        _is_v7(first) and ("lineNumber" in first or "commitMessage" in first)
    )


FORMAT = ReportFormat(name="gitleaks", title="gitleaks JSON (v7 and v8)", parse=parse, sniff=sniff)
