"""What the secrets-scanner parsers share: one severity policy, one finding shape, one merge.

Severity policy (the same for git-secrets, detect-secrets, trufflehog, trufflehog3, gitleaks):
a secret a scanner matched is HIGH whatever its kind, because a committed credential is usable
by anyone who can read the repository and its history; CRITICAL is kept for secrets the tool
*verified* as live (trufflehog v3 `Verified`, detect-secrets `is_verified`), since those are
known to work right now. A tool that rates its own findings (trufflehog3 rules carry
LOW/MEDIUM/HIGH) keeps its rating. Grading by kind (private key vs token) was left out on
purpose: an unverified private-key header and a live API token would otherwise swap places.

Identity: `location_key` is the hash of the secret value, so the same leaked value in the same
file is one finding across runs and line shifts. History scans report that value once per
commit (and detect-secrets once per detector that matched it); :func:`merge_repeats` keeps one
finding per distinct value per file, since each is one leak to rotate, and records how often
and in which commits it was seen.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Callable, Iterable, Mapping

from secpipe.formats._common import key_sharing_dict, shared, shared_mapping
from secpipe.model import Category, Finding, Secret, Severity
from secpipe.model import slots
from secpipe.model.derived import DerivedText
from secpipe.model.finding import SecretKey

CWE = ("CWE-798",)
REMEDIATION = (
    "Revoke and rotate this credential at its issuer first (it may already be cloned), then "
    "remove it from the code and keep it in a secrets manager; purge it from git history if "
    "the repository is shared."
)
REFERENCES = ("https://cwe.mitre.org/data/definitions/798.html",)
_MAX_COMMITS = 20
_NO_LINE = 1 << 62  # sorts after every real line number


def slug(text: str) -> str:
    """A rule id from a tool's human label: `SSH (EC) private key` -> `ssh-ec-private-key`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "secret"


def clean_path(path: str) -> str:
    """Paths relative to the scan root with forward slashes (git-secrets prints `./x`)."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path or "."


def secret_finding(
    *,
    tool: str,
    rule_id: str,
    kind: str,
    path: str,
    secret: Secret | None,
    line: int | None = None,
    end_line: int | None = None,
    severity: Severity = Severity.HIGH,
    severity_original: str | None = None,
    location_key: str | None = None,
    properties: Mapping[str, str] | None = None,
    note: str = "",
    share_properties: bool = False,
    unique: frozenset[str] = frozenset(),
    key_prefix: str = "secret:",
) -> Finding:
    """One secret finding; only the masked form of the value is ever written into text.

    `secret` is None when the tool already redacted the value: then nothing identifies it but
    the caller's `location_key`. Without a `location_key`, a finding with a secret is keyed
    `key_prefix` + the secret's digest, made when read (:class:`SecretKey`).
    `share_properties`: the tool's properties repeat from finding to finding (detect-secrets'
    hash algorithm), so equal ones are one dict (`formats._common.shared_mapping`); a history
    scan's name a commit each, and looking them up would only cost time.
    `unique`: properties whose value names this finding alone (trufflehog3's keyed issue id),
    kept as they are: interned, each would only grow the interpreter's table of interned
    strings (about 2 MB at 25,000 findings) for a text no other finding holds.
    """
    # one object per distinct text (secpipe.formats._common.shared): a history scan repeats
    # its paths, rules, branches, commits and dates on every line
    if share_properties:
        props = shared_mapping({k: v if k in unique else shared(v)
                                for k, v in (properties or {}).items() if v})
    else:   # the finding's own: its keys' table shared with the tool's other findings'
        props = key_sharing_dict(tool)
        for k, v in (properties or {}).items():
            if v:
                props[k] = v if k in unique else shared(v)
    path, rule_id = shared(path), shared(rule_id)
    if severity_original is not None:
        severity_original = shared(severity_original)
    # the title and description, made from the finding when read (model.derived)
    text = _secret_text(tool, kind, note)
    # made through the slots (model.slots.finding): the objects Finding(...) and Location(...)
    # made, at less than half the CPU: a history scan makes one per line of its report
    return slots.finding(
        tool=tool,
        rule_id=rule_id,
        title=text,          # a SecretText reads as its text
        description=text,
        severity=severity,
        severity_original=severity_original,
        category=Category.SECRET,
        location=slots.location(path, line, end_line or line),
        remediation=REMEDIATION,
        references=REFERENCES,
        cwe=CWE,
        secret=secret,
        location_key=location_key or (  # a SecretKey reads as its text
            _secret_key(key_prefix) if secret is not None else None),
        properties=props,
    )


# SecretKey by prefix: the parsers' few constants, known before any parse (a scan cache hit
# finds its findings' keys here)
_KEYS: dict[str, SecretKey] = {prefix: SecretKey(prefix) for prefix in ("secret:", "secret-sha1:")}


def _secret_key(prefix: str) -> SecretKey:
    found = _KEYS.get(prefix)
    if found is None:
        found = _KEYS[prefix] = SecretKey(prefix)
    return found


def secret_key(finding: Finding) -> SecretKey | None:
    """The shared :class:`SecretKey` that stands for `finding`'s held location key text, when
    its text is one (a scan cache hit reads the text back: `scancache.lines`)."""
    key, secret = finding.location_key, finding.secret
    if key is None or secret is None or not key.endswith(secret.sha256):
        return None
    return _KEYS.get(key[:len(key) - len(secret.sha256)])


_REDACTED = "value redacted by the tool"


class SecretText(DerivedText):
    """A secret finding's title and description, made from the finding's path, line, commit
    and masked value, plus its tool, kind and note: one object shared by every finding of a
    kind (`_secret_text`) stands for about 580 bytes of text in each (`model.derived`). The
    parts that depend on the kind alone are made once, here: a title is read about six times
    in a run and a description three."""

    __slots__ = ("kind", "lead", "tail", "tail_hashed")

    def __init__(self, tool: str, kind: str, note: str) -> None:
        self.kind = kind
        self.lead = f"{tool} found a secret ({kind}) in "
        note = " " + note if note else ""
        self.tail = "." + note
        self.tail_hashed = ". The value is kept only as a hash and this masked form." + note

    def render(self, finding: Finding, field: str) -> str:
        # one call, no helpers: this runs on every read of either field
        secret = finding.secret
        shown = secret.masked if secret is not None else _REDACTED
        location = finding.location
        assert location is not None   # secret_finding gives every finding one
        if field == "title":
            return f"{self.kind} in {location.path}: {shown}"
        line, commit = location.start_line, finding.properties.get("commit")
        return (f"{self.lead}{location.path}{f' line {line}' if line else ''}"
                f"{f' (commit {commit[:12]})' if commit else ''}: {shown}"
                f"{self.tail if secret is None else self.tail_hashed}")


# SecretText by (tool, kind, note); emptied past _TEXTS_MAX (a report of ever new kinds)
_TEXTS: dict[tuple[str, str, str], SecretText] = {}
_TEXTS_MAX = 4096


def _secret_text(tool: str, kind: str, note: str) -> SecretText:
    found = _TEXTS.get((tool, kind, note))
    if found is None:
        if len(_TEXTS) >= _TEXTS_MAX:
            _TEXTS.clear()
        found = _TEXTS[tool, kind, note] = SecretText(tool, kind, note)
    return found


def merge_repeats(
    findings: Iterable[Finding], rank: Callable[[Finding], int] | None = None
) -> list[Finding]:
    """One finding per (file, leaked value); see the module docstring for why.

    The kept finding is the best by `rank` (lower first), then one from the working tree
    (no commit) over one from history, then the one on the first line, then the newest commit
    (by the tool's date, then commit id; git-secrets gives no date but lists newest first):
    never the order of trufflehog3's report, which its parallel workers change from run to
    run, so a merged finding shows the same line every time. It takes the highest severity of
    its group.

    Groups are folded as findings arrive (a generator is consumed once, never held): a
    history of any length costs memory per distinct leak, not per line (a key made from the value,
    `SecretKey`, is grouped by its prefix and digest, not by its text made for each finding:
    120 bytes a group while the report is parsed).
    """
    groups: dict[tuple[str, str], _Group] = {}
    for index, finding in enumerate(findings):
        held = slots.HELD_LOCATION_KEY(finding)
        if held.__class__ is str and finding.secret is not None:
            held = secret_key(finding) or held   # a cached finding's text of one (kingfisher)
        if held.__class__ is SecretKey:   # its prefix and digest: the key without making it
            key: tuple[str, ...] = (finding.path or "", held.prefix, finding.secret.sha256)
        else:
            key = (finding.path or "", finding.location_key or f"#{index}")
        commit = finding.properties.get("commit") or ""
        line = finding.location.start_line if finding.location else None
        order = (rank(finding) if rank else 0, bool(commit), line or _NO_LINE,
                 -_epoch(finding.properties.get("date")), commit if
                 finding.properties.get("date") else "", index)
        group = groups.get(key)
        if group is None:
            groups[key] = _Group(order, finding)
        else:
            group.add(order, finding)
    return [group.merged() for group in groups.values()]


@lru_cache(maxsize=4096)
def _epoch(date: str | None) -> float:
    """A commit date as seconds (0 when absent or unreadable), for ordering only. Cached: a
    history scan gives each of a commit's findings its date."""
    if not date:
        return 0.0
    try:
        return datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return 0.0


_NONE_YET: dict[str, None] = {}   # never written: a group's records before its second finding


class _Group:
    __slots__ = ("order", "best", "top", "count", "commits", "rules")

    def __init__(self, order: tuple[int, bool, int, float, str, int], finding: Finding) -> None:
        self.order, self.best, self.top, self.count = order, finding, finding, 1
        # the commits and rules seen, in order: made when a second finding joins (most
        # groups have one, and merged() reads them only for more)
        self.commits: dict[str, None] = _NONE_YET
        self.rules: dict[str, None] = _NONE_YET

    def _note(self, finding: Finding) -> None:
        commit = finding.properties.get("commit")
        if commit:
            self.commits[commit] = None

    def add(self, order: tuple[int, bool, int, float, str, int], finding: Finding) -> None:
        if self.count == 1:   # best is still the group's first finding
            self.commits, self.rules = {}, {self.best.rule_id: None}
            self._note(self.best)
        self.count += 1
        if order < self.order:
            self.order, self.best = order, finding
        if finding.severity > self.top.severity:
            self.top = finding
        self.rules[finding.rule_id] = None
        self._note(finding)

    def merged(self) -> Finding:
        best = self.best
        if self.count == 1:
            return best
        commits, rules = list(self.commits), list(self.rules)
        props = dict(best.properties)
        props["occurrences"] = str(self.count)
        if commits:
            props["commits"] = " ".join(commits[:_MAX_COMMITS]) + (
                f" (+{len(commits) - _MAX_COMMITS} more)" if len(commits) > _MAX_COMMITS else ""
            )
        if len(rules) > 1:
            props["rules"] = ",".join(rules)
        seen = f"Reported {self.count} times in this report"
        if commits:
            seen += f" across {len(commits)} commit{'s' if len(commits) != 1 else ''}"
        if len(rules) > 1:
            seen += f" by {len(rules)} rules ({', '.join(rules)})"
        if self.top.severity > best.severity:
            best = best.with_(severity=self.top.severity,
                              severity_original=self.top.severity_original)
        out = best.with_(description=f"{best.description} {seen}.", properties=props)
        title = slots.HELD_TITLE(self.best)
        if isinstance(title, DerivedText):   # made from the kind, path and value: unchanged
            slots.TITLE(out, title)
        key = slots.HELD_LOCATION_KEY(self.best)
        if isinstance(key, DerivedText):     # made from the value: unchanged
            slots.LOCATION_KEY(out, key)
        return out
