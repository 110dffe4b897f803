"""Vulnerabilities grouped into fixes: one upgrade per package that fixes all it can.

For each installed package (ecosystem, name, version) the fix is the lowest version that fixes
every known vulnerability of it: per vulnerability, the lowest of its fixed versions above the
installed one; over the package, the highest of those (compared with the ecosystem's own
version rules, as the matcher compares them). "upgrade flask to 1.0 fixes 3 issues" counts
issues (secpipe.pipeline.correlate), so a CVE two tools report, or reported under its GHSA
alias, counts once. Vulnerabilities with no fixed version are counted apart: no upgrade fixes
them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from secpipe.model import Finding, Severity

_PURL = re.compile(r"^pkg:([^/]+)/")
_SPLIT = re.compile(r"[,|;\s]+")
_ECOSYSTEMS = {"pypi": "pypi", "npm": "npm", "golang": "go", "go": "go", "maven": "maven",
               "deb": "debian", "debian": "debian", "ubuntu": "ubuntu", "apk": "alpine",
               "alpine": "alpine", "cargo": "crates.io", "crates.io": "crates.io",
               "gem": "rubygems", "rubygems": "rubygems", "nuget": "nuget",
               "composer": "packagist", "packagist": "packagist", "hex": "hex", "pub": "pub"}


@dataclass
class Fix:
    ecosystem: str
    package: str
    version: str
    fixed_in: str | None = None              # None: no version fixes all of them
    issues: set[str] = field(default_factory=set)
    unfixed: set[str] = field(default_factory=set)  # issues with no fixed version known
    vulnerabilities: set[str] = field(default_factory=set)
    severity: Severity = Severity.INFORMATIONAL

    @property
    def sentence(self) -> str:
        fixed = len(self.issues - self.unfixed)
        noun = "issue" if fixed == 1 else "issues"
        if self.fixed_in is None:
            n = len(self.unfixed)
            return (f"{self.package} {self.version}: no fixed version for "
                    f"{n} issue{'s' * (n != 1)}")
        text = f"upgrade {self.package} to {self.fixed_in} fixes {fixed} {noun}"
        if self.unfixed:
            text += f" ({len(self.unfixed)} more without a fix)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "ecosystem": self.ecosystem,
            "package": self.package,
            "version": self.version,
            "fixed_in": self.fixed_in,
            "issues": len(self.issues),
            "issues_fixed": len(self.issues - self.unfixed),
            "issues_without_fix": len(self.unfixed),
            "severity": self.severity.name,
            "vulnerabilities": sorted(self.vulnerabilities),
            "text": self.sentence,
        }


def ecosystem_of(finding: Finding) -> str:
    for text in (finding.properties.get("PURL"), finding.properties.get("purl"),
                 finding.resource.id if finding.resource else None):
        m = _PURL.match(text or "")
        if m:
            return _ECOSYSTEMS.get(m.group(1).lower(), m.group(1).lower())
    return ""


def _natural(text: str) -> tuple:
    """An order for versions of an unknown ecosystem: numbers as numbers, then text."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in re.findall(r"\d+|[A-Za-z]+", text))


def _key(ecosystem: str, version: str) -> tuple[int, Any]:
    # imported here: secpipe.vulndb (univers, the DB) costs 0.4 s of start-up, and only runs
    # with vulnerabilities get this far (summary.json imports this module on every run)
    from secpipe.vulndb import versions as vv

    rules = vv.rules_for(ecosystem, "ECOSYSTEM")
    parsed = vv.parse(rules, version) if rules is not None else None
    if parsed is not None:
        return (1, parsed)
    return (0, _natural(version))


def _lowest_above(ecosystem: str, installed: str, candidates: Iterable[str]) -> str | None:
    floor = _key(ecosystem, installed)
    above = []
    for c in candidates:
        k = _key(ecosystem, c)
        try:
            if k[0] != floor[0] or k > floor:
                above.append((k, c))
        except TypeError:  # versions the rules order differently: keep the candidate
            above.append((k, c))
    if not above:
        return None
    try:
        return min(above)[1]
    except TypeError:
        return above[0][1]


def _highest(ecosystem: str, versions: list[str]) -> str:
    try:
        return max(versions, key=lambda v: _key(ecosystem, v))
    except TypeError:
        return versions[-1]


def group_fixes(findings: Iterable[Finding]) -> list[Fix]:
    """One Fix per installed package with a vulnerability, most severe first."""
    fixes: dict[tuple[str, str, str], Fix] = {}
    needed: dict[tuple[str, str, str], dict[str, str | None]] = {}
    for f in findings:
        # most findings: no identity or ecosystem to work out (the holder's slot: a read of
        # the field's property costs more, model.rarefields)
        vulnerabilities = f.rare.vulnerabilities
        if not vulnerabilities:
            continue
        issue = f.issue_key or f.fingerprint()
        ecosystem = ecosystem_of(f)
        for v in vulnerabilities:
            if not v.package or not v.version:
                continue
            key = (ecosystem, v.package, v.version)
            fix = fixes.setdefault(key, Fix(ecosystem, v.package, v.version))
            fix.issues.add(issue)
            fix.vulnerabilities.add(v.id)
            fix.severity = max(fix.severity, f.severity)
            candidates = [c for c in _SPLIT.split(v.fixed_version or "") if c]
            lowest = _lowest_above(ecosystem, v.version, candidates) if candidates else None
            per_issue = needed.setdefault(key, {})
            if lowest is None:
                per_issue.setdefault(issue, None)
            elif per_issue.get(issue) is None:
                per_issue[issue] = lowest
            else:
                per_issue[issue] = _highest(ecosystem, [per_issue[issue] or lowest, lowest])
    for key, fix in fixes.items():
        targets = [t for t in needed[key].values() if t is not None]
        fix.unfixed = {i for i, t in needed[key].items() if t is None}
        fix.fixed_in = _highest(fix.ecosystem, targets) if targets else None
    return sorted(fixes.values(), key=lambda x: (-int(x.severity), -len(x.issues), x.package))
