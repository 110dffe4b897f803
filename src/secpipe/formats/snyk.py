"""Snyk Open Source (`snyk test --json`): the seed's SNYK report type.

`{ok, vulnerabilities: [...], dependencyCount, packageManager, projectName, displayTargetFile,
path, uniqueCount, summary, ...}`; `--all-projects` prints a JSON array of those objects. Each
vulnerability: `{id (SNYK-JS-LODASH-567746), title, severity (low|medium|high|critical),
cvssScore, CVSSv3, packageName, version, fixedIn: [..], from: [path of packages],
upgradePath, isUpgradable, isPatchable, identifiers: {CVE: [..], CWE: [..], GHSA: [..]},
references: [{title, url}], description (markdown), type ("license" for licence issues)}`.

Snyk lists a vulnerable package once per dependency path (`from`), so `vulnerabilities[]`
repeats the same issue; those are one finding (same id, package and version) with the paths
counted in its description. Licence issues become COMPLIANCE findings. An `{ok: false,
error: "..."}` object is Snyk failing, never an empty result.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Severity

TOOL = "snyk"
_PURL_TYPES = {
    "npm": "npm", "yarn": "npm", "pnpm": "npm", "pip": "pypi", "poetry": "pypi",
    "pipenv": "pypi", "maven": "maven", "gradle": "maven", "sbt": "maven", "rubygems": "gem",
    "nuget": "nuget", "paket": "nuget", "composer": "composer", "gomodules": "golang",
    "golangdep": "golang", "cocoapods": "cocoapods", "hex": "hex", "swift": "swift",
    "deb": "deb", "apk": "apk", "rpm": "rpm",
}


@v.guarded("snyk")
def parse(data: bytes, source: str = "<snyk>") -> Sequence[Finding]:
    doc = load_json(data, source)
    projects = doc if isinstance(doc, list) else [doc]
    if isinstance(doc, list) and not doc:
        raise ReportFormatError(source, "an empty array is not a snyk report (no projects)")
    findings: list[Finding] = []
    for n, project in enumerate(projects):
        where = f"[{n}]" if isinstance(doc, list) else "the report"
        if not isinstance(project, dict):
            raise ReportFormatError(source, f"{where}: a snyk report is an object, "
                                    f"got {type(project).__name__}")
        if "vulnerabilities" not in project:
            if project.get("ok") is False and project.get("error"):
                raise ReportFormatError(source, f"snyk failed: {text(project.get('error'))}")
            raise ReportFormatError(source, f"{where}: not a snyk test report: no "
                                    "'vulnerabilities'")
        if not ({"ok", "packageManager"} & project.keys()):
            raise ReportFormatError(source, f"{where}: not a snyk test report: no 'ok' or "
                                    "'packageManager'")
        findings.extend(_project(project, source, where))
    return findings


def _project(project: Mapping[str, Any], source: str, where: str) -> list[Finding]:
    manager = v.clean(project.get("packageManager")).lower()
    target = v.clean(project.get("displayTargetFile")) or v.clean(project.get("targetFile"))
    grouped: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for i, vuln in enumerate(objects(project["vulnerabilities"], source,
                                     f"{where}.vulnerabilities")):
        sid = v.clean(vuln.get("id"))
        if not sid:
            raise ReportFormatError(source, f"{where}.vulnerabilities[{i}] has no 'id'")
        key = (sid, v.clean(vuln.get("packageName")) or v.clean(vuln.get("moduleName")),
               v.clean(vuln.get("version")))
        grouped.setdefault(key, []).append(vuln)
    return [_finding(key, items, manager, target) for key, items in grouped.items()]


def _finding(key: tuple[str, str, str], items: list[Mapping[str, Any]], manager: str,
             target: str) -> Finding:
    sid, package, version = key
    first = items[0]
    ids = first.get("identifiers") if isinstance(first.get("identifiers"), Mapping) else {}
    cves = ids.get("CVE") if isinstance(ids.get("CVE"), list) else []
    ghsas = ids.get("GHSA") if isinstance(ids.get("GHSA"), list) else []
    vid, aliases = v.split_ids([*cves, *ghsas, sid])
    if sid not in (vid, *aliases):
        aliases = (*aliases, sid)
    score = v.number(first.get("cvssScore"))
    vector = v.clean(first.get("CVSSv3")) or None
    severity, word = v.rate(first.get("severity"), score, vector, unrated=Severity.MEDIUM)
    fixed_in = first.get("fixedIn") if isinstance(first.get("fixedIn"), list) else []
    fixed = v.clean(fixed_in[0]) if fixed_in else ""
    refs = [r.get("url") for r in v.maps(first.get("references"))]
    paths = [" > ".join(text(p) for p in it["from"]) for it in items
             if isinstance(it.get("from"), list) and it["from"]]
    upgrade = next((it.get("upgradePath") for it in items
                    if isinstance(it.get("upgradePath"), list)
                    and any(isinstance(u, str) for u in it["upgradePath"])), None)
    extra = [f"Introduced through {len(paths)} path(s), e.g. {paths[0]}"] if paths else []
    remediation = None
    if upgrade:
        direct = next((u for u in upgrade if isinstance(u, str)), "")
        remediation = f"Upgrade {direct} (Snyk upgrade path: {' > '.join(map(str, upgrade))})."
    ptype = _PURL_TYPES.get(manager, manager)
    purl = v.purl(ptype, package, version) if ptype else None
    finding = v.vuln_finding(
        tool=TOOL, vid=vid, aliases=aliases, package=package, version=version, fixed=fixed,
        severity=severity, severity_original=word, summary=v.clean(first.get("title")),
        description=text(first.get("description"))[:4000], cvss_score=score,
        cvss_vector=vector, urls=[f"https://security.snyk.io/vuln/{sid}", *refs],
        resource=v.package_resource(purl, package, version, {"manifest": target}),
        cwe=v.cwe_ids(ids.get("CWE")), remediation=remediation, extra_lines=extra,
        properties={"SnykId": sid, "PackageManager": manager, "Paths": str(len(paths)),
                    "FixedIn": ", ".join(map(str, fixed_in))})
    if first.get("type") == "license":
        finding = finding.with_(category=Category.COMPLIANCE, vulnerabilities=(),
                                title=f"{v.clean(first.get('title'))} {package} {version}".strip())
    return finding


def sniff(doc: Document) -> bool:
    data = doc.json
    first = data[0] if isinstance(data, list) and data else data
    if not isinstance(first, dict) or not isinstance(first.get("vulnerabilities"), list):
        return False
    if "packageManager" in first and ("dependencyCount" in first or "uniqueCount" in first):
        return True
    vulns = first["vulnerabilities"]
    return bool(vulns) and isinstance(vulns[0], dict) and str(
        vulns[0].get("id", "")).startswith("SNYK-")


FORMAT = ReportFormat(name="snyk", title="Snyk Open Source JSON (snyk test --json)",
                      parse=parse, sniff=sniff)
