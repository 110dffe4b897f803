"""Kingfisher (MongoDB's Rust secret scanner) JSON reports: `kingfisher scan --format json`.

`{findings: [{rule: {id, name, title, description}, finding: {snippet, path, line,
column_start, column_end, confidence, entropy, fingerprint, validation: {outcome, status},
dependent_captures?, git_metadata?: {commit: {id, date, ...}, file: {path}}, validate_command?,
blast_radius_command?}}], audit, metadata: {kingfisher_version, ...}}`. A finding without
`git_metadata` was found in the working tree; one with it, in a commit of the history.

Clear values: `snippet` is the matched secret, `dependent_captures` are the secrets it pairs
with (an AWS key id's secret key), and `validate_command` / `blast_radius_command` repeat both.
Each captured value goes through :meth:`Secret.from_value` (so the pipeline scrubs it from the
raw report); only the snippet's digest and masked form are kept, the commands are never read.

secpipe runs it with `--no-dedup`: kingfisher's own de-duplication keeps whichever occurrence
its threads met first (the working-tree copy or one of the commits), which changes from run to
run; every occurrence is read and :func:`merge_repeats` keeps one per value per file.

Severity: the shared secrets policy, HIGH for every match; CRITICAL when kingfisher validated
the credential as live (validation is off unless `validate: true`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats._common import as_int, expect, load_json, text
from secpipe.formats._secrets import clean_path, merge_repeats, secret_finding
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Secret, Severity

TOOL = "kingfisher"
_LIVE = {"active", "valid", "verified", "active_credential"}


def _finding(item: Mapping[str, Any], where: str, source: str) -> Finding:
    rule = expect(item.get("rule"), dict, source, f"{where}.rule")
    hit = expect(item.get("finding"), dict, source, f"{where}.finding")
    rule_id = text(rule.get("id"))
    value = text(hit.get("snippet")).strip()
    if not rule_id or not value:
        raise ReportFormatError(source, f"{where} needs 'rule.id' and 'finding.snippet'")
    captures = hit.get("dependent_captures") or {}
    if isinstance(captures, dict):
        for captured in captures.values():  # collected for scrubbing, never kept
            if text(captured).strip():
                Secret.from_value(text(captured))
    git = hit.get("git_metadata") if isinstance(hit.get("git_metadata"), dict) else {}
    commit = git.get("commit") if isinstance(git.get("commit"), dict) else {}
    validation = hit.get("validation") if isinstance(hit.get("validation"), dict) else {}
    outcome = text(validation.get("outcome")).lower()
    line = as_int(hit.get("line"))
    kind = text(rule.get("name")) or rule_id
    return secret_finding(
        tool=TOOL,
        rule_id=rule_id,
        kind=kind,
        path=clean_path(text(hit.get("path")) or "unknown"),
        line=line if line and line > 0 else None,
        secret=Secret.from_value(value),
        severity=Severity.CRITICAL if outcome in _LIVE else Severity.HIGH,
        severity_original=text(hit.get("confidence")) or None,
        properties={
            "commit": text(commit.get("id")),
            "date": text(commit.get("date")),
            "confidence": text(hit.get("confidence")),
            "validation": outcome,
            "kingfisher_fingerprint": text(hit.get("fingerprint")),
        },
        note="Kingfisher validated it as live." if outcome in _LIVE else "",
    )


def parse(data: bytes, source: str = "<kingfisher>") -> Sequence[Finding]:
    return combine(occurrences(data, source))


def occurrences(data: bytes, source: str = "<kingfisher>") -> list[Finding]:
    """Every occurrence the report lists, not yet merged: the scan cache keeps these, so the
    working tree's and each commit range's occurrences can be combined as one report's."""
    doc = expect(load_json(data, source), dict, source, "the report")
    items = expect(doc.get("findings"), list, source, "'findings'")
    meta = doc.get("metadata")
    if not (isinstance(meta, dict) and "kingfisher_version" in meta) and not items:
        # `{"findings": []}` alone is also Inspector2's and Security Hub's empty answer: a
        # kingfisher report says it is one (metadata.kingfisher_version), or shows its items
        raise ReportFormatError(source, "not a kingfisher report: no metadata.kingfisher_version "
                                        "and no finding to recognise it by")
    return [_finding(expect(item, dict, source, f"finding {index}"), f"finding {index}", source)
            for index, item in enumerate(items)]


def combine(found: Sequence[Finding]) -> list[Finding]:
    """One finding per value per file. kingfisher's threads report in no fixed order, so the
    occurrences are ordered first (the working tree, then history newest commit first): the
    kept occurrence and the commit list are the same in every run."""
    ordered = sorted(found, key=_order)
    ordered.sort(key=lambda f: f.properties.get("date", ""), reverse=True)
    ordered.sort(key=lambda f: bool(f.properties.get("commit")))
    return merge_repeats(ordered)


def _order(f: Finding) -> tuple:
    return (f.path or "", f.location.start_line or 0 if f.location else 0, f.rule_id,
            f.properties.get("commit", ""), f.secret.sha256 if f.secret else "")


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        return False
    meta = data.get("metadata")
    if isinstance(meta, dict) and "kingfisher_version" in meta:
        return True
    first = data["findings"][0] if data["findings"] else None
    return isinstance(first, dict) and "rule" in first and "finding" in first


FORMAT = ReportFormat(name="kingfisher", title="Kingfisher JSON (`scan --format json`)",
                      parse=parse, sniff=sniff)
