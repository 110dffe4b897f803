"""semgrep's JSON report (`semgrep --json`): `{results: [...], errors: [...], version?}`, and
Semgrep Supply Chain's findings export `{vulns: [...]}` (read by
:mod:`secpipe.formats._semgrep_sca`).

* Severity: ERROR high, WARNING medium, INFO low (the rule author's "worth a look"), and the
  newer CRITICAL/HIGH/MEDIUM/LOW words as themselves; EXPERIMENT/INVENTORY are informational.
* Results semgrep marks ``is_ignored`` (a `nosemgrep` comment, only reported with
  `--disable-nosem`) are the author's accepted suppressions and are skipped.
* Exact repeats (same rule, path and start/end positions) are one problem reported twice (an
  old semgrep bug with some rules); they are merged, with ``properties["occurrences"]``.
* ``location_key`` is semgrep's own ``fingerprint`` (a hash of rule, path and matched code
  plus an occurrence index, so it survives line shifts), else the hash of the matched ``lines``.
  Logged-out semgrep prints "requires login" in both fields; that text is never used.
* Hard-coded credential rules (CWE-798/259/321, or ids under `secrets`) carry the matched
  line only as a :class:`Secret`, never as a snippet.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from secpipe.formats._common import as_int, dig, expect, load_json, objects, text
from secpipe.formats._semgrep_sca import supply_chain
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.formats.sarif import SECRET_CWES, cwe_ids
from secpipe.model import Category, Finding, Location, Severity
from secpipe.model.finding import snippet_hash
from secpipe.model.secret import Secret

_SEVERITIES = {
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.LOW,
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "experiment": Severity.INFORMATIONAL,
    "inventory": Severity.INFORMATIONAL,
}
_CONFIDENCE = {"high": 90, "medium": 60, "low": 30}
_LOGGED_OUT = "requires login"
_TOP_KEYS = {"paths", "skipped_rules", "interfile_languages_used", "engine_requested", "time",
             "explanations"}


def _usable(value: Any) -> str:
    value = text(value)
    return "" if value.strip().lower() in ("", _LOGGED_OUT) else value


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [text(v) for v in value if text(v)]
    return [text(value)] if text(value) else []


def _first_sentence(message: str) -> str:
    """Semgrep messages run to paragraphs; the first sentence makes a readable title."""
    flat = " ".join(message.split())
    match = re.match(r"(.+?[.!?])(\s|$)", flat)
    title = match.group(1) if match else flat
    return title if len(title) <= 200 else title[:199] + "…"


def _position(item: Mapping, key: str) -> tuple[int | None, int | None]:
    pos = item.get(key)
    if pos is None:
        return None, None
    if not isinstance(pos, dict):
        raise ReportFormatError("", f"'{key}' should be an object")
    return as_int(pos.get("line")), as_int(pos.get("col"))


def parse(data: bytes, source: str = "<semgrep>") -> Sequence[Finding]:
    doc = expect(load_json(data, source), dict, source, "a semgrep report")
    if "vulns" in doc and "results" not in doc:
        return supply_chain(doc, source)
    if "results" not in doc or "errors" not in doc:
        raise ReportFormatError(source, "not a semgrep report: no 'results' and 'errors' arrays")
    if "metrics" in doc and "generated_at" in doc:
        raise ReportFormatError(source, "this is a bandit report, not semgrep's")
    expect(doc["results"], list, source, "results")
    version = text(doc.get("version"))
    merged: dict[tuple, list] = {}
    for i, item in enumerate(objects(doc["results"], source, "results")):
        check_id = text(item.get("check_id"))
        path = text(item.get("path")).replace("\\", "/")
        if not check_id or not path:
            raise ReportFormatError(source, f"results[{i}] lacks 'check_id' or 'path'")
        extra = item.get("extra") if item.get("extra") is not None else {}
        expect(extra, dict, source, f"results[{i}].extra")
        if extra.get("is_ignored") is True:
            continue
        try:
            start, start_col = _position(item, "start")
            end, end_col = _position(item, "end")
        except ReportFormatError as exc:
            raise ReportFormatError(source, f"results[{i}]: {exc.problem}") from None
        key = (check_id, path, start, start_col, end, end_col)
        if key in merged:
            merged[key][1] += 1
            continue
        merged[key] = [(item, extra, start, end), 1]
    return [_finding(*entry[0], occurrences=entry[1], version=version)
            for entry in merged.values()]


def _finding(item: Mapping, extra: Mapping, start: int | None, end: int | None, *,
             occurrences: int, version: str) -> Finding:
    check_id = text(item["check_id"])
    path = text(item["path"]).replace("\\", "/")
    path = path[2:] if path.startswith("./") else path
    meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    word = text(extra.get("severity"), "WARNING")
    severity = _SEVERITIES.get(word.lower(), Severity.MEDIUM)
    message = text(extra.get("message")).strip()
    cwes = cwe_ids(meta.get("cwe") or [], numbers=True)
    lines = _usable(extra.get("lines"))
    secretish = bool(SECRET_CWES & set(cwes)) or ".secrets." in f".{check_id}."
    secret = Secret.from_value(lines) if secretish and lines.strip() else None
    snippet = None if secretish or not lines else lines
    fingerprint = _usable(extra.get("fingerprint"))
    if fingerprint:
        location_key = f"semgrep:{fingerprint}"
    elif snippet:
        location_key = "snippet:" + snippet_hash(snippet)
    else:
        location_key = None  # a secret's hash (identity_key) or the pipeline's ordinal
    references = tuple(dict.fromkeys(
        _strings(meta.get("references")) + _strings(meta.get("source-rule-url"))
        + _strings(meta.get("source"))))
    rule_url = (_strings(meta.get("source")) or _strings(meta.get("shortlink"))
                or _strings(meta.get("source-rule-url")) or [None])[0]
    fix = text(extra.get("fix"))
    props: dict[str, str] = {"format": "semgrep"}
    for name, value in (
        ("tool_version", version),
        ("owasp", "; ".join(_strings(meta.get("owasp")))),
        ("rule_category", text(meta.get("category"))),
        ("likelihood", text(meta.get("likelihood"))),
        ("impact", text(meta.get("impact"))),
        ("engine_kind", text(extra.get("engine_kind"))),
        ("validation_state", text(extra.get("validation_state"))),
        ("occurrences", str(occurrences) if occurrences > 1 else ""),
    ):
        if value:
            props[name] = value
    short_name = check_id.rsplit(".", 1)[-1]
    return Finding(
        tool="semgrep",
        rule_id=check_id,
        title=_first_sentence(message) if message else short_name,
        description=message or check_id,
        severity=severity,
        severity_original=word,
        category=Category.SECRET if secretish else Category.CODE,
        location=Location(path=path, start_line=start, end_line=end or start, snippet=snippet),
        remediation=f"Suggested fix: {fix}" if fix and not secretish else None,
        remediation_url=rule_url,
        references=references,
        cwe=cwes,
        secret=secret,
        location_key=location_key,
        confidence=_CONFIDENCE.get(text(meta.get("confidence")).lower()),
        properties=props,
    )


def sniff(doc: Document) -> bool:
    data = doc.json
    if isinstance(data, dict) and isinstance(data.get("vulns"), list) and "results" not in data:
        vulns = data["vulns"]
        return (not vulns and set(data) == {"vulns"}) or (
            bool(vulns) and isinstance(vulns[0], dict)
            and {"advisory", "matchedDependency"} <= vulns[0].keys())
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        return False
    if "errors" not in data or "metrics" in data or "generated_at" in data:
        return False
    results = data["results"]
    if results:
        first = results[0]
        return isinstance(first, dict) and {"check_id", "path", "extra"} <= first.keys()
    return bool(_TOP_KEYS & data.keys())


FORMAT = ReportFormat(name="semgrep", title="semgrep JSON (--json)", parse=parse, sniff=sniff)
