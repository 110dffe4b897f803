"""bandit's JSON report (`bandit -f json`): `{results: [...], metrics, errors, generated_at}`.

* Severity is bandit's own HIGH/MEDIUM/LOW (UNDEFINED -> informational); its confidence
  becomes ASFF Confidence (HIGH 90, MEDIUM 60, LOW 30).
* ``code`` is a few numbered context lines around the issue; only the flagged lines
  (``line_range``), with their numbers removed, are kept as the snippet, so the snippet hash
  (the ``location_key``) survives both line shifts and edits to neighbouring lines.
* Hard-coded password tests (B105-B107, CWE-259/798/321) print the password inside
  ``issue_text`` and ``code``; it is kept only as a :class:`Secret` and masked in the text.
* Windows paths (`dojo\\views.py`) are normalised to forward slashes.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from secpipe.formats._common import as_int, dig, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.formats.sarif import SECRET_CWES, cwe_ids
from secpipe.model import Category, Finding, Location, Severity
from secpipe.model.finding import snippet_hash
from secpipe.model.secret import Secret

_SEVERITIES = {"high": Severity.HIGH, "medium": Severity.MEDIUM, "low": Severity.LOW,
               "undefined": Severity.INFORMATIONAL}
_CONFIDENCE = {"high": 90, "medium": 60, "low": 30}
_PASSWORD_TESTS = {"B105", "B106", "B107"}
_NUMBERED = re.compile(r"^(\d+)(?: |\t|$)(.*)$")
_OPEN_QUOTE = re.compile(r":\s*'")


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _quoted_value(issue: str) -> str | None:
    """The value in `Possible hardcoded password: 'hunter2'`: from the first `: '` to the
    final quote. (The regex `:\\s*'(.*)'\\s*$` said the same, in quadratic time on text
    with many colons: ReDoS on a hostile report.)"""
    body = issue.rstrip()
    if not body.endswith("'"):
        return None
    end = len(body) - 1
    opening = _OPEN_QUOTE.search(body, 0, end)
    return body[opening.end():end] if opening else None


def _flagged_lines(code: str, line_range: list[int]) -> str:
    """The lines of bandit's numbered `code` excerpt that lie in `line_range`, unnumbered."""
    wanted = set(line_range)
    kept: list[str] = []
    for raw in code.splitlines():
        match = _NUMBERED.match(raw)
        if match is None:
            continue
        if not wanted or as_int(match.group(1)) in wanted:  # as_int: 5,000 digits -> None
            kept.append(match.group(2))
    return "\n".join(kept).strip("\n")


def parse(data: bytes, source: str = "<bandit>") -> Sequence[Finding]:
    doc = expect(load_json(data, source), dict, source, "a bandit report")
    if "results" not in doc or not ({"metrics", "generated_at"} & doc.keys()):
        raise ReportFormatError(source, "not a bandit report: no 'results' with bandit's "
                                        "'metrics' or 'generated_at'")
    expect(doc["results"], list, source, "results")
    generated = text(doc.get("generated_at"))
    findings: list[Finding] = []
    for i, item in enumerate(objects(doc["results"], source, "results")):
        test_id = text(item.get("test_id"))
        filename = text(item.get("filename")).replace("\\", "/")
        if not test_id or not filename:
            raise ReportFormatError(source, f"results[{i}] lacks 'test_id' or 'filename'")
        findings.append(_finding(item, test_id, filename, generated))
    return findings


def _finding(item: Mapping[str, Any], test_id: str, filename: str, generated: str) -> Finding:
    filename = filename[2:] if filename.startswith("./") else filename
    line = as_int(item.get("line_number"))
    line_range = [n for n in (as_int(v) for v in _as_list(item.get("line_range"))) if n is not None]
    end = max(line_range) if line_range else line
    word = text(item.get("issue_severity"), "UNDEFINED")
    issue = text(item.get("issue_text"), test_id).strip()
    cwe_field = item.get("issue_cwe")
    cwes = cwe_ids(dig(cwe_field, "id") if isinstance(cwe_field, dict) else cwe_field or [],
                   numbers=True)
    snippet = _flagged_lines(text(item.get("code")), line_range or ([line] if line else []))
    secretish = test_id in _PASSWORD_TESTS or bool(SECRET_CWES & set(cwes))
    secret = None
    if secretish:
        quoted = _quoted_value(issue)
        value = quoted if quoted and quoted.strip() else snippet
        if value.strip():
            secret = Secret.from_value(value)
            issue = issue.replace(value, secret.masked)
        snippet = ""
    more_info = text(item.get("more_info")) or None
    props: dict[str, str] = {"format": "bandit", "test_name": text(item.get("test_name"))}
    if generated:
        props["generated_at"] = generated
    if as_int(item.get("col_offset")) is not None:
        props["column"] = str(as_int(item.get("col_offset")))
    props = {k: v for k, v in props.items() if v}
    return Finding(
        tool="bandit",
        rule_id=test_id,
        title=issue,
        description=f"{issue} ({test_id} {text(item.get('test_name'))})".strip(),
        severity=_SEVERITIES.get(word.lower(), Severity.MEDIUM),
        severity_original=word,
        category=Category.SECRET if secretish else Category.CODE,
        location=Location(path=filename, start_line=line, end_line=end, snippet=snippet or None),
        remediation_url=more_info,
        references=(more_info,) if more_info else (),
        cwe=cwes,
        secret=secret,
        location_key=("snippet:" + snippet_hash(snippet)) if snippet else None,
        confidence=_CONFIDENCE.get(text(item.get("issue_confidence")).lower()),
        properties=props,
    )


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        return False
    results = data["results"]
    if results:
        first = results[0]
        return isinstance(first, dict) and {"test_id", "issue_severity", "filename"} <= first.keys()
    return "metrics" in data and "generated_at" in data and "errors" in data


FORMAT = ReportFormat(name="bandit", title="bandit JSON (-f json)", parse=parse, sniff=sniff)
