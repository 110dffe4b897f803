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

from typing import Any, Iterator, Sequence

from secpipe.formats._common import as_int, expect, objects, read_walking, text
from secpipe.formats._jsonwalk import JsonCursor, Unwalkable
from secpipe.formats._secrets import clean_path, merge_repeats, secret_finding, slug
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Secret, Severity

TOOL = "detect-secrets"
# Plugins that flag anything secret-shaped; a specific plugin's type names a merged finding.
_GENERIC = {"secret-keyword", "base64-high-entropy-string", "hex-high-entropy-string"}
# the keys besides `results` that say a document is detect-secrets' (one is enough)
_MARKS = frozenset({"plugins_used", "filters_used", "generated_at"})


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
        key_prefix="secret-sha1:",
        properties=props,
        share_properties=True,
    )


def parse(data: bytes, source: str = "<detect-secrets>") -> Sequence[Finding]:
    """The findings of a report read entry by entry (:func:`_walk`: a 2.7 MB report is never
    ~15 MB of decoded objects at once); a document that reading refuses is read whole by
    :func:`parse_document`, as every report was before."""
    return read_walking(data, source, lambda cursor: _walk(cursor, source),
                        lambda doc: parse_document(doc, source))


def parse_document(doc: Any, source: str) -> Sequence[Finding]:
    """The findings of a whole decoded report: the reading every report had before
    :func:`_walk`, and still the one that names what is wrong with a report."""
    doc = expect(doc, dict, source, "the report")
    if "results" not in doc:
        raise ReportFormatError(source, "no 'results': not a detect-secrets report")
    if not (_MARKS & doc.keys()):
        raise ReportFormatError(source, "not a detect-secrets report: no 'plugins_used', "
                                        "'filters_used' or 'generated_at'")
    results = expect(doc["results"], dict, source, "'results'")
    findings: list[Finding] = []
    for file_key, entries in results.items():
        for i, entry in enumerate(objects(entries, source, f"results[{file_key!r}]")):
            finding = _finding(dict(entry), str(file_key), f"results[{file_key!r}][{i}]", source)
            if finding is not None:
                findings.append(finding)
    return _merged(findings)


def _merged(findings: list[Finding]) -> Sequence[Finding]:
    return merge_repeats(findings, rank=lambda f: 1 if f.rule_id in _GENERIC else 0)


def _walk(cursor: JsonCursor, source: str) -> Sequence[Finding]:
    """`parse_document`'s findings, each entry decoded on its own, in any order of the
    report's keys (entries read before a key that marks the report as detect-secrets' wait,
    decoded, for the report's end). Raises (and `parse` then reads the document whole)
    wherever `parse_document` would raise, and on a repeated `results` or file key (json.loads
    keeps the last one)."""
    keys: set[str] = set()
    findings: list[Finding] = []
    waiting: list[tuple[dict[str, Any], str, str]] = []
    for key in cursor.members():
        if key != "results":
            keys.add(key)
            cursor.skip()
            continue
        if key in keys:
            raise Unwalkable("a repeated 'results'")
        keys.add(key)
        marked = bool(_MARKS & keys)
        for entry, file_key, where in _entries(cursor):
            if marked:
                finding = _finding(entry, file_key, where, source)
                if finding is not None:
                    findings.append(finding)
            else:
                waiting.append((entry, file_key, where))
    cursor.end()
    if "results" not in keys or not (_MARKS & keys):
        raise Unwalkable("not a detect-secrets report")   # parse_document says why
    for entry, file_key, where in waiting:
        finding = _finding(entry, file_key, where, source)
        if finding is not None:
            findings.append(finding)
    return _merged(findings)


def _entries(cursor: JsonCursor) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(entry, file key, where) of a `results` object, one entry decoded at a time."""
    if cursor.peek() != "{":
        raise Unwalkable("'results' is no object")
    files: set[str] = set()
    for file_key in cursor.members():
        if file_key in files:
            raise Unwalkable("a repeated file key")
        files.add(file_key)
        for i, entry in cursor.objects():
            yield entry, file_key, f"results[{file_key!r}][{i}]"


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
