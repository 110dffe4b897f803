"""Semgrep Supply Chain's findings export: `{"vulns": [...]}` (Semgrep AppSec Platform API,
the Supply Chain page's JSON export).

Each entry is one vulnerable dependency in one repository:
`{title, advisory: {ruleId, title, description, ecosystem, severity, references: {cveIds,
cweIds, urls}, reachability, ...}, exposureType (REACHABLE, UNREACHABLE, ...), repositoryName,
matchedDependency: {name, versionSpecifier}, closestSafeDependency: {name, versionSpecifier},
dependencyFileLocation: {path, startLine, ...}, triage: {status}, transitivity}`.

It becomes a VULNERABILITY finding like every SCA tool's: the CVE (else Semgrep's rule id) as
id, the package and installed version, the closest safe version as the fix, the lockfile line
as location. The export spans repositories, so the repository is part of the identity. Entries
triaged FIXED or IGNORED in Semgrep are not open problems and are left out, as semgrep's own
`is_ignored` code results are.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import as_int, as_list, dig, expect, objects, text
from secpipe.formats.interface import ReportFormatError
from secpipe.model import Finding, Location, Severity

TOOL = "semgrep"
_CLOSED = {"FIXED", "IGNORED"}
_PURL_TYPES = {"gomod": "golang", "go": "golang", "cargo": "cargo", "pypi": "pypi",
               "npm": "npm", "gem": "gem", "maven": "maven", "nuget": "nuget",
               "composer": "composer", "hex": "hex", "pub": "pub", "swiftpm": "swift"}


def supply_chain(doc: Mapping[str, Any], source: str) -> Sequence[Finding]:
    """The findings of a `{"vulns": [...]}` export; ReportFormatError names a bad entry."""
    vulns = expect(doc["vulns"], list, source, "vulns")
    found: dict[str, Finding] = {}
    for i, item in enumerate(objects(vulns, source, "vulns")):
        where = f"vulns[{i}]"
        advisory = item.get("advisory")
        matched = item.get("matchedDependency")
        if not isinstance(advisory, Mapping) or not isinstance(matched, Mapping):
            raise ReportFormatError(source, f"{where} is not a Semgrep Supply Chain finding "
                                            "(needs 'advisory' and 'matchedDependency' objects)")
        if text(dig(item, "triage", "status")).upper() in _CLOSED:
            continue
        finding = _finding(item, advisory, matched, source, where)
        found.setdefault(finding.identity_key(), finding)
    return list(found.values())


def _finding(item: Mapping[str, Any], advisory: Mapping[str, Any],
             matched: Mapping[str, Any], source: str, where: str) -> Finding:
    rule = v.clean(advisory.get("ruleId"))
    package = v.clean(matched.get("name"))
    version = v.clean(matched.get("versionSpecifier"))
    refs = advisory.get("references") if isinstance(advisory.get("references"), Mapping) else {}
    cves = [v.clean(c) for c in as_list(refs.get("cveIds")) if v.clean(c)]
    if not (rule or cves) or not package:
        raise ReportFormatError(source, f"{where} has no vulnerability id (advisory.ruleId or "
                                        "cveIds) or no matchedDependency.name")
    vid, aliases = v.split_ids([*cves, *([rule] if rule else [])])
    if rule and rule not in (vid, *aliases):
        aliases = (*aliases, rule)
    safe = item.get("closestSafeDependency")
    fixed = v.clean(safe.get("versionSpecifier")) if isinstance(safe, Mapping) else ""
    severity, word = v.rate(advisory.get("severity"), unrated=Severity.MEDIUM)
    ecosystem = v.clean(advisory.get("ecosystem")).lower()
    ptype = _PURL_TYPES.get(ecosystem, ecosystem)
    purl = v.purl(ptype, package, version) if ptype and version else None
    path = v.relative_path(text(dig(item, "dependencyFileLocation", "path")))
    line = as_int(dig(item, "dependencyFileLocation", "startLine"))
    repo = v.clean(item.get("repositoryName"))
    reach = v.clean(item.get("exposureType")) or v.clean(advisory.get("reachability"))
    extra = [f"Reachability: {reach}"] if reach else []
    if repo:
        extra.append(f"Repository: {repo}")
    return v.vuln_finding(
        tool=TOOL, vid=vid, aliases=aliases, package=package, version=version, fixed=fixed,
        severity=severity, severity_original=word,
        summary=v.clean(advisory.get("title")) or v.clean(item.get("title")),
        description=text(advisory.get("description")).strip()[:4000],
        urls=[u for u in as_list(refs.get("urls")) if isinstance(u, str)],
        resource=v.package_resource(purl, package, version, {"ecosystem": ecosystem}),
        location=Location(path=path, start_line=line if line and line > 0 else None)
        if path else None,
        cwe=v.cwe_ids(refs.get("cweIds")), key_extra="|".join(p for p in (repo, path) if p),
        extra_lines=extra,
        properties={"SemgrepRule": rule, "Reachability": reach, "Repository": repo,
                    "Transitivity": v.clean(item.get("transitivity")),
                    "Triage": text(dig(item, "triage", "status"))})
