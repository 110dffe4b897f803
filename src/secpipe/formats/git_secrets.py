"""git-secrets (awslabs, 1.3.0) text output of `--scan [-r]` and `--scan-history`.

git-secrets is a wrapper around `git grep -nwHEI`: every match is one line,
`path:LINE:matched line` for the working tree and `COMMIT:path:LINE:matched line` for history,
followed (all on stderr) by an `[ERROR] Matched one or more prohibited patterns` footer and a
"Possible mitigations:" list of `- ` lines. There is no rule name in the output, so the rule
id is inferred from the matched line for the patterns `--register-aws` and the usual
private-key pattern install, else `prohibited-pattern`.

The secret is the whole matched line (git grep does not say which part matched): it is hashed
and masked at once, and error messages never quote report lines, since they hold secrets.
Severity follows the shared secrets policy (:mod:`secpipe.formats._secrets`): HIGH for every
match, as git-secrets verifies nothing.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator, Sequence

from secpipe.formats._common import as_int, is_json_lines, iter_lines
from secpipe.formats._secrets import clean_path, merge_repeats, secret_finding
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Secret, Severity

TOOL = "git-secrets"
_SNIFF_BYTES = 64 * 1024  # sniffing reads the head of a report, never all of it

_HISTORY = re.compile(r"^(?P<commit>[0-9a-f]{40}|[0-9a-f]{64}):(?P<path>.+?):(?P<line>\d+):(?P<text>.*)$")
_TREE = re.compile(r"^(?P<path>[^:].*?):(?P<line>\d+):(?P<text>.*)$")
_FOOTER = ("[ERROR]", "[WARNING]", "Possible mitigations:", "- ")
# Compiler/linter text (`file.c:12:5: warning: ...`) has the same shape; git-secrets lines
# rarely start their content with a column number, so such documents are not claimed.
_COLUMN = re.compile(r"^\d+:\s")

# (rule id, kind, pattern) in order of precedence; the AWS ones are `--register-aws`'s.
_RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("private-key", "private key", re.compile(r"-----(BEGIN|END)[ A-Z0-9]*PRIVATE KEY")),
    ("aws-access-key-id", "AWS access key id", re.compile(
        r"(?<![A-Z0-9])(A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("aws-secret-access-key", "AWS secret access key", re.compile(
        r"(AWS|aws|Aws)?_?(SECRET|secret|Secret)?_?(ACCESS|access|Access)?_?(KEY|key|Key)"
        r"[\"']?\s*(:|=>|=)\s*[\"']?(?P<value>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])")),
    ("aws-account-id", "AWS account id", re.compile(
        r"(AWS|aws|Aws)?_?(ACCOUNT|account|Account)_?(ID|id|Id)?[\"']?\s*(:|=>|=)\s*[\"']?"
        r"(?P<value>[0-9]{4}-?[0-9]{4}-?[0-9]{4})(?![0-9])")),
)


def _is_footer(line: str) -> bool:
    return line.startswith(_FOOTER)


def _match(line: str) -> re.Match[str] | None:
    return _HISTORY.match(line) or _TREE.match(line)


def classify(text: str) -> tuple[str, str]:
    """(rule id, kind) for a matched line; the pattern that matched is not in the output."""
    rule_id, kind, _ = _classify(text)
    return rule_id, kind


def _classify(text: str) -> tuple[str, str, str]:
    """(rule id, kind, the secret itself): the token a known pattern matched, so the masked form
    reads `AKIA…DALO`; for a private key or a custom pattern, the whole matched line."""
    for rule_id, kind, pattern in _RULES:
        m = pattern.search(text)
        if m:
            if rule_id == "private-key":
                return rule_id, kind, text
            value = m.groupdict().get("value") or m.group(0)
            return rule_id, kind, value
    return "prohibited-pattern", "prohibited pattern (possible secret)", text


def parse(data: bytes, source: str = "<git-secrets>") -> Sequence[Finding]:
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        doc = Document(data, source)
        if doc.json is not None or is_json_lines(data):
            raise ReportFormatError(source, "this is JSON, not git-secrets' text output")
    return merge_repeats(_findings(data, source))


def occurrences(data: bytes, source: str = "<git-secrets>") -> list[Finding]:
    """One finding per matched line, before repeats are merged: the scan cache keeps these
    per commit, and `combine` of their concatenation in report order equals `parse`."""
    return list(_findings(data, source))


def combine(findings: Iterable[Finding]) -> list[Finding]:
    return merge_repeats(findings)


def _findings(data: bytes, source: str) -> Iterator[Finding]:
    """Line by line, folded into merge_repeats as they come: memory per distinct secret."""
    for number, raw_bytes in iter_lines(data):  # one line at a time: a history of any size
        try:
            raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReportFormatError(source, f"not UTF-8 text (line {number}: {exc.reason} at "
                                            f"byte {exc.start})") from None
        line = raw.rstrip("\r")
        if not line.strip() or _is_footer(line):
            continue
        m = _match(line)
        if m is None:
            # Never quote the line: it may hold the very secret we must not leak.
            raise ReportFormatError(
                source, f"line {number} is neither a 'path:line:content' match nor git-secrets' footer"
            )
        content = m.group("text").strip()
        if not content:
            continue
        commit = m.groupdict().get("commit") or ""
        rule_id, kind, value = _classify(content)
        yield secret_finding(
            tool=TOOL,
            rule_id=rule_id,
            kind=kind,
            path=clean_path(m.group("path")),
            line=as_int(m.group("line")),  # None for a number of thousands of digits
            secret=Secret.from_value(value),
            severity=Severity.HIGH,
            properties={"commit": commit, "scan": "history" if commit else "tree"},
        )


def sniff(doc: Document) -> bool:
    if doc.json is not None or doc.json_lines is not None:
        return False
    matches = 0
    head = doc.data[:_SNIFF_BYTES].decode("utf-8", "replace")
    lines = head.split("\n")
    if len(doc.data) > _SNIFF_BYTES:
        lines = lines[:-1]  # cut mid-line
    for raw in lines:
        line = raw.rstrip("\r")
        if not line.strip() or _is_footer(line):
            continue
        m = _match(line)
        if m is None or _COLUMN.match(m.group("text")):
            return False
        matches += 1
    return matches > 0


FORMAT = ReportFormat(
    name="git-secrets",
    title="git-secrets text output (--scan, --scan-history)",
    parse=parse,
    sniff=sniff,
    extensions=(".txt", ".log"),
)
