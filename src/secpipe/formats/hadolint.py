"""hadolint's JSON report (`hadolint -f json`): a flat array of rule violations.

hadolint levels are error/warning/info/style; DL rules are hadolint's own, SC rules come from
ShellCheck on RUN lines. The rule page is the remediation, since messages already say what to do.
"""

from __future__ import annotations

from typing import Sequence

from secpipe.formats._common import as_int, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Location, Severity

_LEVELS = {
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.LOW,
    "style": Severity.INFORMATIONAL,
    "ignore": Severity.INFORMATIONAL,
}


def _rule_url(code: str) -> str:
    if code.startswith("SC"):
        return f"https://www.shellcheck.net/wiki/{code}"
    return f"https://github.com/hadolint/hadolint/wiki/{code}"


def parse(data: bytes, source: str = "<hadolint>") -> Sequence[Finding]:
    doc = expect(load_json(data, source), list, source, "a hadolint report")
    findings: list[Finding] = []
    for i, item in enumerate(objects(doc, source, "the report")):
        code = text(item.get("code"))
        if not code or "file" not in item:
            raise ReportFormatError(source, f"entry {i} is not a hadolint violation (needs "
                                            "'code' and 'file')")
        level = text(item.get("level"), "warning").lower()
        path = text(item.get("file")).replace("\\", "/") or "Dockerfile"
        line = as_int(item.get("line"))
        message = text(item.get("message"), code)
        findings.append(
            Finding(
                tool="hadolint",
                rule_id=code,
                title=f"{code}: {message}",
                description=message,
                severity=_LEVELS.get(level, Severity.MEDIUM),
                severity_original=level,
                category=Category.MISCONFIGURATION,
                location=Location(path=path, start_line=line, end_line=line),
                remediation=message,
                remediation_url=_rule_url(code),
            )
        )
    return findings


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, list) or not data:
        return False
    first = data[0]
    return (
        isinstance(first, dict)
        and {"code", "level", "line", "file"} <= first.keys()
        and str(first.get("code", ""))[:2] in ("DL", "SC")
    )


FORMAT = ReportFormat(name="hadolint", title="hadolint JSON (-f json)", parse=parse, sniff=sniff)
