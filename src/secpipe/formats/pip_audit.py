"""pip-audit's JSON report (`pip-audit -f json`), in both shapes it has printed.

* pip-audit 2.x: `{dependencies: [{name, version, vulns: [{id, fix_versions, aliases,
  description}]}], fixes: [...]}`.
* pip-audit 1.x: the bare list of those dependency objects (no `aliases`).

One finding per (dependency, vulnerability). Ids go through the shared CVE-first choice, so a
PYSEC record with a CVE alias is titled by the CVE. The fix is the lowest of `fix_versions`
(pip-audit lists them in ascending order).

pip-audit reports no severity. Its findings are rated MEDIUM with the original "unrated", the
rating DefectDojo gives them too: a known vulnerability is never shown as informational just
because the tool did not score it; a database-backed enrichment can refine it.

Dependencies pip-audit could not audit (`skip_reason`, e.g. not on PyPI) are not findings; they
are listed in nothing else either, so the stage that runs pip-audit must surface them itself.
"""

from __future__ import annotations

from typing import Any, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Severity

TOOL = "pip-audit"
UNRATED = Severity.MEDIUM


@v.guarded("pip-audit")
def parse(data: bytes, source: str = "<pip-audit>") -> Sequence[Finding]:
    doc = load_json(data, source)
    if isinstance(doc, dict):
        if "dependencies" not in doc:
            raise ReportFormatError(source, "not a pip-audit report: no 'dependencies'")
        deps: Any = expect(doc["dependencies"], list, source, "dependencies")
        where = "dependencies"
    elif isinstance(doc, list):
        deps, where = doc, "the report"
    else:
        raise ReportFormatError(
            source, f"a pip-audit report is an object or an array, got {type(doc).__name__}")
    findings: list[Finding] = []
    for i, dep in enumerate(objects(deps, source, where)):
        name, version = v.clean(dep.get("name")), v.clean(dep.get("version"))
        if not name:
            raise ReportFormatError(source, f"{where}[{i}] has no 'name'")
        if "vulns" not in dep and "skip_reason" not in dep:
            raise ReportFormatError(source, f"{where}[{i}] has neither 'vulns' nor 'skip_reason'")
        for j, vuln in enumerate(objects(dep.get("vulns"), source, f"{where}[{i}].vulns")):
            tool_id = v.clean(vuln.get("id"))
            if not tool_id:
                raise ReportFormatError(source, f"{where}[{i}].vulns[{j}] has no 'id'")
            aliases_in = vuln.get("aliases") if isinstance(vuln.get("aliases"), list) else []
            vid, aliases = v.split_ids([tool_id, *aliases_in])
            listed = vuln.get("fix_versions")
            fixes = [v.clean(f) for f in listed if v.clean(f)] if isinstance(listed, list) else []
            fixed = fixes[0] if fixes else ""
            severity, word = v.rate(None, unrated=UNRATED)
            findings.append(v.vuln_finding(
                tool=TOOL, vid=vid, aliases=aliases, package=name, version=version,
                fixed=fixed, severity=severity, severity_original=word,
                description=text(vuln.get("description")), urls=[_advisory_url(tool_id)],
                resource=v.package_resource(v.purl("pypi", name, version), name, version),
                extra_lines=[f"All fixed versions: {', '.join(fixes)}"] if len(fixes) > 1 else [],
                properties={"ToolId": tool_id, "FixVersions": ", ".join(fixes)}))
    return findings


def _advisory_url(vid: str) -> str:
    if vid.startswith(("PYSEC-", "GHSA-", "OSV-")):
        return f"https://osv.dev/vulnerability/{vid}"
    if vid.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vid}"
    return ""


def _is_dep(item: Any) -> bool:
    return isinstance(item, dict) and "name" in item and (
        isinstance(item.get("vulns"), list) or "skip_reason" in item)


def sniff(doc: Document) -> bool:
    data = doc.json
    if isinstance(data, dict):
        deps = data.get("dependencies")
        if not isinstance(deps, list):
            return False
        return (bool(deps) and _is_dep(deps[0])) or (not deps and set(data) <= {
            "dependencies", "fixes"} and "fixes" in data)
    return isinstance(data, list) and bool(data) and _is_dep(data[0])


FORMAT = ReportFormat(name="pip-audit", title="pip-audit JSON (-f json)", parse=parse, sniff=sniff)
