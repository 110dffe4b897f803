"""trufflehog JSON lines, both generations (trufflesecurity/trufflehog).

v2 (Python, `--json`): one object per commit, path and rule, `{branch, commit (the message),
commitHash, date, diff, path, printDiff, reason, stringsFound[]}`; each found string is one
secret. v3 (Go, `--json`): one object per result, `{SourceMetadata: {Data: {<Source>: {file,
line, commit, ...}}}, DetectorName, Verified, Raw, RawV2?, Redacted, ExtraData, ...}`.

Clear values are everywhere in these reports: `stringsFound`, `diff`/`printDiff`, `Raw`,
`RawV2`, and `Redacted` (which for private keys holds the first 64 characters of the key).
Only the found strings and `Raw` are read, each through :meth:`Secret.from_value`; the diffs,
`Redacted` and `ExtraData` are never copied. Early v3 releases serialised `Raw` as base64 (a
Go []byte); those are decoded so the hash is the value's, as later releases (which print the
text and add `RawV2`/`DecoderName`) give it.

Severity: HIGH; CRITICAL for v3 results trufflehog verified live. A history scan repeats
one value per commit: one finding per distinct value per file is kept.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Iterator, Mapping, Sequence

from secpipe.formats._common import as_int, iter_json_lines, text
from secpipe.formats._secrets import clean_path, merge_repeats, secret_finding, slug
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Secret, Severity

TOOL = "trufflehog"
_PATH_KEYS = ("file", "filename", "path", "link", "location", "image", "bucket", "repository")


def _is_v2(row: Mapping[str, Any]) -> bool:
    return "stringsFound" in row and "reason" in row


def _is_v3(row: Mapping[str, Any]) -> bool:
    return "DetectorName" in row or ("SourceMetadata" in row and "Raw" in row)


def _is_log(row: Mapping[str, Any]) -> bool:
    """trufflehog's own log records when stderr was captured into the report."""
    return ("msg" in row and "level" in row and ("ts" in row or "logger" in row)
            and not _is_v3(row))


def _v2(row: Mapping[str, Any], where: str, source: str) -> list[Finding]:
    found = row.get("stringsFound")
    if not isinstance(found, list):
        raise ReportFormatError(source, f"{where}: 'stringsFound' should be an array")
    reason = text(row.get("reason"), "secret")
    path = clean_path(text(row.get("path")) or "unknown")
    props = {
        "commit": text(row.get("commitHash")),
        "branch": text(row.get("branch")),
        "date": text(row.get("date")),
    }
    findings = []
    for value in found:
        value = text(value).strip()
        if not value:
            continue
        findings.append(secret_finding(
            tool=TOOL, rule_id=slug(reason), kind=reason, path=path,
            secret=Secret.from_value(value), severity=Severity.HIGH, properties=props,
        ))
    return findings


def _raw_text(row: Mapping[str, Any], key: str) -> str:
    """`Raw` as text: base64 in early v3 releases (a Go []byte), plain text later."""
    value = text(row.get(key))
    if not value or "RawV2" in row or "DecoderName" in row:
        return value
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return value
    if decoded and all(ch.isprintable() or ch in "\r\n\t" for ch in decoded):
        return decoded
    return value


def _source_data(row: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    data = row.get("SourceMetadata")
    data = data.get("Data") if isinstance(data, Mapping) else None
    if isinstance(data, Mapping):
        for name, value in data.items():
            if isinstance(value, Mapping):
                return str(name), value
    return "", {}


def _v3(row: Mapping[str, Any], where: str, source: str) -> list[Finding]:
    detector = text(row.get("DetectorName")) or text(row.get("DetectorType"))
    raw = _raw_text(row, "Raw") or _raw_text(row, "RawV2")
    if not detector or not raw:
        raise ReportFormatError(source, f"{where} has no 'DetectorName' or no 'Raw' value")
    kind_of_source, meta = _source_data(row)
    path = next((text(meta.get(k)) for k in _PATH_KEYS if text(meta.get(k))), "")
    path = clean_path(path or text(row.get("SourceName")) or "unknown")
    verified = row.get("Verified") is True
    secret = Secret.from_value(raw)
    props = {
        "commit": text(meta.get("commit")),
        "source": kind_of_source,
        "verified": "true" if verified else "false",
        "detector_type": text(row.get("DetectorType")),
        "decoder": text(row.get("DecoderName")),
    }
    raw_v2 = _raw_text(row, "RawV2")
    if raw_v2 and raw_v2 != raw:
        # Multi-part credentials (AWS id + secret): hashed too, never kept in clear.
        props["raw_v2_sha256"] = Secret.from_value(raw_v2).sha256
    line = as_int(meta.get("line")) or None
    return [secret_finding(
        tool=TOOL,
        rule_id=detector,
        kind=("verified live " if verified else "") + f"{detector} credential",
        path=path,
        line=line,
        secret=secret,
        severity=Severity.CRITICAL if verified else Severity.HIGH,
        severity_original="verified" if verified else "unverified",
        properties=props,
    )]


def parse(data: bytes, source: str = "<trufflehog>") -> Sequence[Finding]:
    return merge_repeats(_findings(data, source))


def _findings(data: bytes, source: str) -> Iterator[Finding]:
    """Line by line, folded into merge_repeats as they come: a report of any size costs
    memory per distinct secret, not per line."""
    for number, row in enumerate(iter_json_lines(data, source), 1):
        where = f"record {number}"
        if not isinstance(row, dict):
            raise ReportFormatError(source, f"{where} should be an object (trufflehog writes JSON lines)")
        if _is_v2(row):
            yield from _v2(row, where, source)
        elif _is_v3(row):
            yield from _v3(row, where, source)
        elif _is_log(row):
            continue
        else:
            raise ReportFormatError(
                source, f"{where} is neither a trufflehog v2 ('stringsFound', 'reason') "
                "nor a v3 ('SourceMetadata', 'DetectorName') result"
            )


def sniff(doc: Document) -> bool:
    if isinstance(doc.json, list):
        return False  # trufflehog3 writes one JSON array; trufflehog writes JSON lines
    rows = doc.json_lines
    if not rows or not all(isinstance(r, dict) for r in rows[:20]):
        return False
    first = next((r for r in rows[:20] if not _is_log(r)), None)
    return first is not None and (
        _is_v2(first) or ("SourceMetadata" in first and "DetectorName" in first)
    )


FORMAT = ReportFormat(
    name="trufflehog",
    title="trufflehog v2/v3 JSON lines",
    parse=parse,
    sniff=sniff,
    extensions=(".json", ".jsonl"),
)
