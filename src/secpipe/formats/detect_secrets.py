"""detect-secrets (Yelp) 1.x baseline / `detect-secrets scan` JSON.

`{"version", "plugins_used", "filters_used", "results": {file: [{type, filename, hashed_secret,
is_verified, line_number, is_secret?}]}, "generated_at"}`. detect-secrets never writes the
value: `hashed_secret` is its SHA-1, a plain hash a dictionary reverses. It is re-keyed at once
(:meth:`Secret.from_hash`, HMAC under the run's key; labelled `properties["hash_algorithm"] =
"sha1"`), so identities stay stable across runs with one key and no output carries the SHA-1.

Audited baselines mark false positives `is_secret: false`; those entries are skipped, because
a human already decided they are not secrets (`is_secret: true` or no audit keeps the entry).
One value matched by several plugins (AWS key, high-entropy string and keyword on one line) is
one leak: entries are merged per (file, hash), keeping the most specific plugin's type.
Severity: HIGH, CRITICAL when detect-secrets verified the secret live (`is_verified`).
"""

from __future__ import annotations

from typing import Any, Sequence

from secpipe.formats._common import as_int, expect, load_json, objects, text
from secpipe.formats._secrets import clean_path, merge_repeats, secret_finding, slug
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Secret, Severity

TOOL = "detect-secrets"
# Plugins that flag anything secret-shaped; a specific plugin's type names a merged finding.
_GENERIC = {"secret-keyword", "base64-high-entropy-string", "hex-high-entropy-string"}


def _finding(entry: dict[str, Any], file_key: str, where: str, source: str) -> Finding | None:
    kind = text(entry.get("type"))
    digest = text(entry.get("hashed_secret")).strip().lower()
    if entry.get("is_secret") is False:
        if digest:
            Secret.from_hash(digest, algorithm="sha1")  # so the raw report loses it too
        return None
    if not kind or not digest:
        raise ReportFormatError(source, f"{where} needs 'type' and 'hashed_secret'")
    verified = entry.get("is_verified") is True
    secret = Secret.from_hash(digest, algorithm="sha1")
    path = clean_path(text(entry.get("filename")) or file_key)
    props = {
        "hash_algorithm": "sha1",
        "verified": "true" if verified else "",
        "audited": "true secret" if entry.get("is_secret") is True else "",
    }
    return secret_finding(
        tool=TOOL,
        rule_id=slug(kind),
        kind=kind,
        path=path,
        line=as_int(entry.get("line_number")),
        secret=secret,
        severity=Severity.CRITICAL if verified else Severity.HIGH,
        severity_original="verified" if verified else None,
        location_key=f"secret-sha1:{secret.sha256}",
        properties=props,
        share_properties=True,
    )


def parse(data: bytes, source: str = "<detect-secrets>") -> Sequence[Finding]:
    doc = expect(load_json(data, source), dict, source, "the report")
    if "results" not in doc:
        raise ReportFormatError(source, "no 'results': not a detect-secrets report")
    if not ({"plugins_used", "filters_used", "generated_at"} & doc.keys()):
        raise ReportFormatError(source, "not a detect-secrets report: no 'plugins_used', "
                                        "'filters_used' or 'generated_at'")
    results = expect(doc["results"], dict, source, "'results'")
    findings: list[Finding] = []
    for file_key, entries in results.items():
        for i, entry in enumerate(objects(entries, source, f"results[{file_key!r}]")):
            finding = _finding(dict(entry), str(file_key), f"results[{file_key!r}][{i}]", source)
            if finding is not None:
                findings.append(finding)
    return merge_repeats(findings, rank=lambda f: 1 if f.rule_id in _GENERIC else 0)


def sniff(doc: Document) -> bool:
    data = doc.json
    return (
        isinstance(data, dict)
        and isinstance(data.get("results"), dict)
        and ("plugins_used" in data or "filters_used" in data)
    )


FORMAT = ReportFormat(
    name="detect-secrets",
    title="detect-secrets baseline / scan JSON",
    parse=parse,
    sniff=sniff,
)
