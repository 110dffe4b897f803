"""`npm audit --json`, in both shapes npm has printed.

* npm 6 (no `auditReportVersion`): `{actions, advisories: {ID: {module_name, findings:
  [{version, paths}], cves, github_advisory_id, severity, cwe, cvss, patched_versions,
  recommendation, url, ...}}, metadata}`. One finding per advisory and installed version: two
  versions of a package need two upgrades. (DefectDojo merges them into one per advisory, so its
  counts are lower where an advisory hits several versions.) `actions` (what `npm audit fix`
  would install) are kept as a hint.
* npm 7+ (`auditReportVersion: 2`): `{vulnerabilities: {NAME: {name, severity, via, range,
  nodes, fixAvailable}}}`. An entry's `via` holds advisory objects (the package itself is
  vulnerable) and names of other packages (it is affected only through them, and those are
  reported under their own entries). One finding per advisory object; npm 7 does not print the
  installed version, so the title and location key use the vulnerable range and node paths.

Severity is the advisory's (info/low/moderate/high/critical), not the package's aggregate. The
fixed version comes from a simple ">=X" patched range or "<X" vulnerable range. A report that is
npm's error object (`{"error": {"code": "ENOAUDIT", ...}}`, printed when the registry cannot
audit) is a ReportFormatError: it audited nothing.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import as_list, expect, load_json, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding

TOOL = "npm-audit"
_GHSA_URL = re.compile(r"(GHSA(?:-[0-9a-z]{4}){3})", re.IGNORECASE)
_PATCHED = re.compile(r"^>=\s*v?(\d[^\s|<>=]*)$")
_BELOW = re.compile(r"(?:^|\s)<\s*v?(\d[^\s|<>=]*)\s*$")
_MAX_PATHS = 5


@v.guarded("npm-audit")
def parse(data: bytes, source: str = "<npm-audit>") -> Sequence[Finding]:
    doc = load_json(data, source)
    if not isinstance(doc, dict):
        raise ReportFormatError(
            source, f"an npm audit report is an object, got {type(doc).__name__}")
    if isinstance(doc.get("error"), dict):
        err = doc["error"]
        raise ReportFormatError(
            source, f"npm audit reported an error instead of results: {text(err.get('code'))} "
            f"{text(err.get('summary'))}".rstrip())
    try:
        if "auditReportVersion" in doc:
            return list(_v7(doc, source))
        if "advisories" in doc and "metadata" in doc:
            return list(_v6(doc, source))
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ReportFormatError(source, f"not an npm audit report: {exc}") from None
    raise ReportFormatError(
        source, "not an npm audit report: no 'advisories' (npm 6) or 'auditReportVersion' (npm 7+)")


def _ids(*values: Any) -> list[str]:
    """Advisory ids; from a URL only a GHSA id is taken (npm's own URLs are not ids)."""
    out = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            item = text(item).strip()
            if "/" in item:
                found = _GHSA_URL.search(item)
                item = found.group(1) if found else ""
            out.append(item)
    return [i for i in out if i]


def _fixed(patched: str = "", vulnerable: str = "") -> str:
    match = _PATCHED.match(patched.strip()) if patched else None
    if match and match.group(1) != "0.0.0":
        return match.group(1)
    match = _BELOW.search(vulnerable.strip()) if vulnerable and "||" not in vulnerable else None
    return match.group(1) if match else ""


def _cvss(block: Any) -> tuple[float | None, str | None]:
    if not isinstance(block, Mapping):
        return None, None
    vector = text(block.get("vectorString")) or None
    score = v.number(block.get("score"))
    return (score if score else v.cvss_base_score(vector)), vector


def _v6(doc: Mapping[str, Any], source: str) -> Iterator[Finding]:
    advisories = expect(doc.get("advisories"), dict, source, "advisories")
    hints: dict[str, list[str]] = {}
    for action in as_list(doc.get("actions")):
        if not isinstance(action, Mapping):
            continue
        target = f"@{text(action.get('target'))}" if action.get("target") else ""
        what = f"{text(action.get('action'))} {text(action.get('module'))}{target}".strip()
        for res in as_list(action.get("resolves")):
            if isinstance(res, Mapping):
                hints.setdefault(text(res.get("id")), []).append(what)
    for key, adv in advisories.items():
        adv = expect(adv, dict, source, f"advisories[{key}]")
        module = v.clean(adv.get("module_name"))
        if not module:
            raise ReportFormatError(source, f"advisories[{key}] has no 'module_name'")
        ids = _ids(adv.get("cves"), adv.get("github_advisory_id"), adv.get("url"))
        vid, aliases = v.split_ids(ids or [f"NPM-{text(adv.get('id')) or key}"])
        score, vector = _cvss(adv.get("cvss"))
        severity, word = v.rate(adv.get("severity"), score)
        fixed = _fixed(text(adv.get("patched_versions")), text(adv.get("vulnerable_versions")))
        by_version: dict[str, list[Mapping[str, Any]]] = {}
        for item in adv.get("findings") or [{}]:
            if isinstance(item, Mapping):
                by_version.setdefault(v.clean(item.get("version")), []).append(item)
        hint = list(dict.fromkeys(hints.get(text(adv.get("id")) or key, [])))
        refs = [text(adv.get("url")),
                *re.findall(r"\((https?://[^)\s]+)\)", text(adv.get("references")))]
        for version, items in by_version.items():
            paths = list(dict.fromkeys(p for it in items for p in as_list(it.get("paths"))))
            dev = all(bool(it.get("dev")) for it in items)
            lines = [f"Vulnerable versions: {text(adv.get('vulnerable_versions'))}",
                     f"Patched versions: {text(adv.get('patched_versions'))}"]
            lines += [f"Path: {p}" for p in paths[:_MAX_PATHS]]
            lines += [f"npm audit fix: {h}" for h in hint]
            yield v.vuln_finding(
                tool=TOOL, vid=vid, aliases=aliases, package=module, version=version,
                fixed=fixed, severity=severity, severity_original=word,
                summary=text(adv.get("title")), description=text(adv.get("overview")),
                cvss_score=score, cvss_vector=vector, urls=refs,
                resource=v.package_resource(v.purl("npm", module, version), module, version),
                cwe=v.cwe_ids(adv.get("cwe")), extra_lines=lines,
                remediation=None if fixed else (text(adv.get("recommendation")) or None),
                properties={"NpmAdvisory": text(adv.get("id")) or key,
                            "Paths": " ".join(paths[:_MAX_PATHS]), "Dev": str(dev).lower(),
                            "NpmAuditFix": "; ".join(hint)})


def _v7(doc: Mapping[str, Any], source: str) -> Iterator[Finding]:
    vulns = doc.get("vulnerabilities")
    if vulns is None:
        return
    vulns = expect(vulns, dict, source, "vulnerabilities")
    seen: set[tuple[str, str]] = set()
    for key, entry in vulns.items():
        entry = expect(entry, dict, source, f"vulnerabilities[{key}]")
        via = entry.get("via")
        via = [] if via is None else expect(via, list, source, f"vulnerabilities[{key}].via")
        nodes = [text(n) for n in as_list(entry.get("nodes")) if text(n)]
        for adv in via:
            if not isinstance(adv, Mapping):
                continue  # the name of a vulnerable dependency, reported under its own entry
            package = v.clean(adv.get("name")) or v.clean(entry.get("name")) or key
            ident = (text(adv.get("source")) or text(adv.get("url")), package)
            if ident in seen:
                continue
            seen.add(ident)
            ids = _ids(adv.get("url"))
            vid, aliases = v.split_ids(ids or [f"NPM-{text(adv.get('source'))}"])
            score, vector = _cvss(adv.get("cvss"))
            severity, word = v.rate(adv.get("severity"), score)
            vulnerable = text(adv.get("range")) or text(entry.get("range"))
            fixed = _fixed(vulnerable=vulnerable)
            fix = entry.get("fixAvailable")
            advice, hint = _fix_advice(fix)
            lines = [f"Vulnerable versions: {vulnerable}"] if vulnerable else []
            lines += [f"Installed at: {n}" for n in nodes[:_MAX_PATHS]]
            if hint:
                lines.append(f"npm audit fix: {hint}")
            yield v.vuln_finding(
                tool=TOOL, vid=vid, aliases=aliases, package=package, version="",
                fixed=fixed, severity=severity, severity_original=word,
                summary=text(adv.get("title")), cvss_score=score, cvss_vector=vector,
                urls=[text(adv.get("url"))],
                resource=v.package_resource(v.purl("npm", package), package, "",
                                            {"range": vulnerable}),
                cwe=v.cwe_ids(adv.get("cwe")), key_extra=",".join(sorted(nodes)),
                remediation=advice if advice else None, extra_lines=lines,
                properties={"NpmAdvisory": text(adv.get("source")), "Range": vulnerable,
                            "Nodes": " ".join(nodes[:_MAX_PATHS]),
                            "IsDirect": text(entry.get("isDirect")).lower(),
                            "NpmAuditFix": hint})


def _fix_advice(fix: Any) -> tuple[str, str]:
    """(remediation, hint) from npm 7's fixAvailable: true, false or
    {name, version, isSemVerMajor} (the top-level package whose upgrade fixes it)."""
    if isinstance(fix, Mapping) and text(fix.get("name")):
        major = " (a semver-major change)" if fix.get("isSemVerMajor") else ""
        target = f"{text(fix.get('name'))} to {text(fix.get('version'))}"
        return f"Upgrade {target}{major}.", f"upgrade {target}{major}"
    if fix is True:
        return "Run `npm audit fix`.", "npm audit fix"
    return "", ""


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict):
        return False
    error = data.get("error")
    if set(data) == {"error"} and isinstance(error, dict):  # npm's error object: parse says why
        return text(error.get("code")).startswith("E") and "summary" in error
    if isinstance(data.get("auditReportVersion"), int):
        return isinstance(data.get("vulnerabilities"), dict)
    return isinstance(data.get("advisories"), dict) and isinstance(
        data.get("metadata"), dict) and ("actions" in data or "muted" in data)


FORMAT = ReportFormat(name="npm-audit", title="npm audit JSON (npm 6 and 7+)", parse=parse,
                      sniff=sniff)
