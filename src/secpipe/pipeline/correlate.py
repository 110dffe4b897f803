"""One issue per root cause: findings of several tools (or rules) about one problem.

Security Hub wants one finding per product, so every tool's finding stays; this step only
gives the findings of one root cause the same `issue_key` and lists, in each, the ASFF Ids of
the others (`related`, written as ASFF RelatedFindings). Outputs and the gate then count
issues. Three kinds of root cause are recognised:

- **a secret**: the same value (equal Secret digests: within a run equal values give equal
  digests); detect-secrets and checkov report only the SHA-1 of the value, which is matched
  against the SHA-1 of every clear value the run's SecretCollector saw from the other tools;
  or the same file and line where one tool reports only part of another's match (trufflehog3's
  `generic.secret` takes `secret = "…"` around the key git-secrets reports alone), or where a
  tool gives no value at all;
- **a vulnerability**: the same id or alias (CVE, GHSA, OSV ...) on the same package and
  version;
- **a misconfiguration**: rules the shipped equivalence table (data/equivalences.yaml) says
  test the same thing, in the same file with overlapping lines (a finding without a line covers
  its whole file).

Findings are never merged across these kinds, and a tool's two findings are joined only through
a shared root cause (never because they are both near a third).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

from secpipe.model import Category, Finding
from secpipe.model.finding import ISSUE_PREFIX, hold_in_issue_key
from secpipe.model.slots import ISSUE_KEY, RELATED, with_issue
from secpipe.pipeline.secretvalues import SecretValues

TABLE = Path(__file__).with_name("data") / "equivalences.yaml"
MAX_RELATED = 10  # ASFF RelatedFindings holds at most 10 entries
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_TRIVY_ID = re.compile(r"^(?:AVD-)?([A-Z]+)-?(\d+)$")


@dataclass(frozen=True)
class Equivalence:
    id: str
    framework: str
    title: str
    rules: Mapping[str, tuple[str, ...]]


def rule_source(finding: Finding) -> str:
    """Whose rule ids a finding carries: its format's tool (`parsed_as`, when the pipeline
    renamed the finding after the scanner that ran, as `trivy-vuln` for trivy's format)."""
    return finding.properties.get("parsed_as") or finding.tool


def canonical_rule(tool: str, rule_id: str) -> str:
    """One spelling per rule: trivy has written DS002, AVD-DS-0002 and DS-0002 for one check."""
    rule_id = rule_id.strip()
    if tool == "trivy":
        m = _TRIVY_ID.match(rule_id.upper())
        if m:
            return f"{m.group(1)}-{int(m.group(2)):04d}"
    if tool == "kics":
        return rule_id.lower()
    return rule_id


@lru_cache(maxsize=4)
def load_table(path: Path = TABLE) -> tuple[Equivalence, ...]:
    """The equivalence table; a malformed table is a bug in secpipe, raised at once."""
    # libyaml's loader where PyYAML has it: the pure-Python one costs ~0.2 s on every run
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe)
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError(f"{path}: not a version 1 equivalence table")
    out = []
    seen: dict[tuple[str, str], str] = {}
    for entry in data.get("equivalences") or []:
        rules = {str(tool): tuple(canonical_rule(str(tool), str(r)) for r in ids)
                 for tool, ids in (entry.get("rules") or {}).items()}
        if sum(1 for ids in rules.values() if ids) < 2:
            raise ValueError(f"{path}: {entry.get('id')}: an equivalence needs two tools")
        for tool, ids in rules.items():
            for rule in ids:
                if (tool, rule) in seen:
                    raise ValueError(f"{path}: {tool} {rule} in both {seen[(tool, rule)]} "
                                     f"and {entry['id']}")
                seen[(tool, rule)] = entry["id"]
        out.append(Equivalence(id=str(entry["id"]), framework=str(entry["framework"]),
                               title=str(entry.get("title") or entry["id"]), rules=rules))
    return tuple(out)


@lru_cache(maxsize=4)
def _rule_index(path: Path = TABLE) -> dict[tuple[str, str], str]:
    return {(tool, rule): eq.id for eq in load_table(path) for tool, ids in eq.rules.items()
            for rule in ids}


class _UnionFind:
    def __init__(self, n: int) -> None:
        # the same int objects as the index lists made from it (`correlate`): one each, not
        # one per list (ints past 256 are objects of their own, 28 bytes each)
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def join(self, members: Sequence[int]) -> None:
        for other in members[1:]:
            self.union(members[0], other)


def _group(groups: dict[Any, int | list[int]], key: Any, i: int) -> None:
    """Add finding `i` to `key`'s group: a lone member is held as its index, a list is made
    only for a second (most secret findings are alone on their value and their line: a list
    each was ~2.7 MB at 50,000 findings, at the run's correlation's peak). The dict keeps
    the order of each key's first member, as with a list per key."""
    held = groups.get(key)
    if held is None:
        groups[key] = i
    elif isinstance(held, list):
        held.append(i)
    else:
        groups[key] = [held, i]


def _secrets(findings: Sequence[Finding], idx: Sequence[int], uf: _UnionFind,
             values: SecretValues) -> None:
    # each finding's clear value (None: none the run saw), by its index: a list as long as
    # the findings, not a dict of (key, value) pairs (4.5 MB at 50,000 findings, at the
    # run's correlation's peak)
    clear: list[str | None] = [None] * len(findings)
    # the findings by the digest they hold, a text of their own: a finding that names its
    # value by a tool's SHA-1 (re-keyed or not) in one table, by the value's HMAC in the
    # other, as two kinds of key that never join by text alone; the values' digests are
    # looked up in them (`SecretValues.match`), not the other way round, so no table of
    # every value's digests is held
    by_digest: dict[str, int | list[int]] = {}
    by_sha1: dict[str, int | list[int]] = {}
    for i in idx:
        f = findings[i]
        if f.secret is None:
            continue
        digest = f.secret.sha256
        lower = digest.lower()
        if lower == digest:
            lower = digest   # the finding's own text, not a copy
        if f.properties.get("hash_algorithm") == "sha1" or _SHA1.match(lower):
            _group(by_sha1, lower, i)
        else:
            _group(by_digest, digest, i)
    values.match(by_digest, by_sha1, clear, uf.union)
    for table in (by_digest, by_sha1):
        for members in table.values():
            if isinstance(members, list):
                uf.join(members)
    del by_digest, by_sha1
    _same_lines(findings, idx, clear, uf)


def _same_lines(findings: Sequence[Finding], idx: Sequence[int],
                clear: Sequence[str | None], uf: _UnionFind) -> None:
    """Join the secret findings of each file and line in the working tree (history line
    numbers are another file's), as `_same_line` tells."""
    by_line: dict[tuple[str, int], int | list[int]] = {}
    for i in idx:
        f = findings[i]
        loc = f.location
        if loc is None or not loc.start_line or f.properties.get("commit"):
            continue
        _group(by_line, (loc.path, loc.start_line), i)
    for members in by_line.values():
        if isinstance(members, list):
            _same_line(members, clear, uf)


def _same_line(members: Sequence[int], clear: Sequence[str | None], uf: _UnionFind) -> None:
    """Join the secret findings of one file and line: values that contain one another, and,
    when nothing there tells two secrets apart, those that gave no value."""
    known = [i for i in members if clear[i] is not None]
    unknown = [i for i in members if clear[i] is None]
    for n, a in enumerate(known):
        for b in known[n + 1:]:
            va, vb = clear[a] or "", clear[b] or ""
            if va in vb or vb in va:
                uf.union(a, b)
    roots = {uf.find(i) for i in known}
    if len(roots) <= 1:
        # Nothing on this line tells two secrets apart: a tool that gave no value (or a
        # digest nobody else saw) is about the one that is there.
        uf.join(known[:1] + unknown)


def _norm_package(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip().lower())


def _vulnerabilities(findings: Sequence[Finding], idx: Sequence[int], uf: _UnionFind) -> None:
    by_key: dict[tuple[str, str, str], list[int]] = {}
    for i in idx:
        for v in findings[i].vulnerabilities:
            if not v.package:
                continue
            where = (_norm_package(v.package), (v.version or "").strip())
            for vid in {v.id, *v.aliases}:
                if vid:
                    by_key.setdefault((*where, vid.strip().upper()), []).append(i)
    for members in by_key.values():
        uf.join(members)


def _overlap(a: Finding, b: Finding) -> bool:
    la, lb = a.location, b.location
    if la is None or lb is None or not la.start_line or not lb.start_line:
        return True  # a finding about the whole file
    a0, a1 = la.start_line, la.end_line or la.start_line
    b0, b1 = lb.start_line, lb.end_line or lb.start_line
    return a0 <= b1 and b0 <= a1


def _misconfigurations(findings: Sequence[Finding], idx: Sequence[int], uf: _UnionFind,
                       table: Path) -> None:
    index = _rule_index(table)
    buckets: dict[tuple[str, str], list[int]] = {}
    for i in idx:
        f = findings[i]
        source = rule_source(f)
        eq = index.get((source, canonical_rule(source, f.rule_id)))
        if eq is not None and f.path:
            buckets.setdefault((eq, f.path.lstrip("/")), []).append(i)
    for members in buckets.values():
        for n, a in enumerate(members):
            for b in members[n + 1:]:
                fa, fb = findings[a], findings[b]
                if fa.tool != fb.tool and _overlap(fa, fb):
                    uf.union(a, b)


def correlate(findings: Sequence[Finding], *, id_of: Callable[[int, Finding], str],
              secret_values: Iterable[str] | SecretValues = (), table: Path = TABLE,
              in_place: bool = False) -> list[Finding]:
    """The findings with `issue_key` and `related` set (same order, same length).

    `id_of(index, finding)` gives the ASFF Id the finding will carry (the gate's), so
    RelatedFindings point at Ids that exist. A finding alone in its issue gets its own
    fingerprint as key and no related Ids.

    A finding whose key or related Ids change is a copy, unless `in_place`: the pipeline,
    which holds the only reference to its findings and replaces them by the result, has the
    two fields set on the finding itself (neither is part of its identity, its fingerprint
    or anything computed from it before), so a run does not hold a second Finding per
    finding while it correlates (at 50,000 findings most of them change). A finding listed
    twice is still copied: each place may get its own related Ids.
    """
    change = with_issue
    if in_place:
        # the set only for this test (3.5 MB at 50,000 findings, held to the end otherwise)
        once = len({id(f) for f in findings}) == len(findings)
        change = _set_issue if once else _issue_setter(findings)
    own = not isinstance(secret_values, SecretValues)
    values = SecretValues(secret_values) if own else secret_values
    uf = _UnionFind(len(findings))
    # each index is the union-find's own int, shared by every list below
    secrets = [i for i, f in zip(uf.parent, findings) if f.category is Category.SECRET]
    vulns = [i for i, f in zip(uf.parent, findings) if f.vulnerabilities]
    configs = [i for i, f in zip(uf.parent, findings)
               if f.category is Category.MISCONFIGURATION and not f.vulnerabilities]
    _secrets(findings, secrets, uf, values)
    if own:   # as the run's index records them when dropped (pipeline.issues.forget_values)
        values.record_hashes()
    _vulnerabilities(findings, vulns, uf)
    _misconfigurations(findings, configs, uf, table)
    # a finding's issue is named by its smallest index (`_UnionFind.union` keeps the smaller
    # root); only issues of several findings get a list of members: one per finding was
    # 6 MB at 50,000 findings, at the run's correlation's peak
    roots = [uf.find(i) for i in range(len(findings))]
    groups: dict[int, list[int]] = {}
    for i, root in enumerate(roots):
        if root != i:
            groups.setdefault(root, [root]).append(i)
    out: list[Finding] = list(findings)
    for first, root in enumerate(roots):
        if root != first:   # a later member of an issue, done with its first
            continue
        members = groups.get(first)
        if members is None:
            # alone in its issue (most findings): its own fingerprint as key and no related
            # Ids, so its Id is not needed
            f = findings[first]
            # held as text, not made when read (model.derived): the writers read a finding's
            # issue key about 19 times, and making it at each read cost 3% of a 5k run's CPU
            # for 4 MB at 50k
            key = ISSUE_PREFIX + f.fingerprint()
            if f.issue_key != key or f.related:   # a copy only when it changes
                f = out[first] = change(f, key, ())
            hold_in_issue_key(f, f.issue_key)   # one text for both (model.finding)
            continue
        fingerprints = {i: findings[i].fingerprint() for i in members}
        ids = {i: id_of(i, findings[i]) for i in members}
        key = "issue/" + min(fingerprints.values())
        # the group's first MAX_RELATED + 1 Ids, sorted once: a member's related Ids are these
        # without its own (linear in the group, not quadratic: one secret can be 1,000 findings)
        head = sorted(set(ids.values()))[:MAX_RELATED + 1]
        for i in members:
            related = tuple([x for x in head if x != ids[i]][:MAX_RELATED])
            f = findings[i]
            if f.issue_key != key or f.related != related:   # a copy only when it changes
                out[i] = change(f, key, related)
    return out


def _set_issue(f: Finding, key: str | None, related: tuple[str, ...]) -> Finding:
    """`with_issue` on the finding itself (through its slots: it is frozen to everyone
    else)."""
    ISSUE_KEY(f, key)
    RELATED(f, related)
    return f


def _issue_setter(findings: Sequence[Finding]
                  ) -> Callable[[Finding, str | None, tuple[str, ...]], Finding]:
    """In place for a finding listed once, a copy for one listed more than once."""
    seen: set[int] = set()
    twice = {id(f) for f in findings if id(f) in seen or seen.add(id(f))}
    return lambda f, key, related: (with_issue if id(f) in twice else _set_issue)(f, key,
                                                                                    related)


__all__ = ["Equivalence", "SecretValues", "canonical_rule", "correlate", "load_table",
           "rule_source"]
