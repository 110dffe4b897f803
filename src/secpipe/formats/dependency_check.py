"""OWASP dependency-check reports: XML (`-f XML`, schemas 1.x-4.x) and JSON (`-f JSON`).

Both list `dependencies`, each a scanned file with its package identifiers (a purl in current
versions, `<identifier type="maven"><name>g:a:v` in old ones) and its `vulnerabilities`. One
finding per (dependency, vulnerability). `relatedDependencies` (copies of the same file
elsewhere) share their dependency's findings and are not counted again.

Suppressed vulnerabilities (`suppressedVulnerability` / `suppressedVulnerabilities`, matched by
the user's suppression file) are not reported: secpipe has no inactive findings and a gate would
fail on them. DefectDojo keeps them as inactive findings, so its counts are higher by their
number.

Severity is dependency-check's own word (it writes NVD's: LOW/MEDIUM/HIGH/CRITICAL, and
"Moderate" in old reports), else the CVSS v3/v2 base severity, else the score. The fixed version
is `versionEndExcluding` of the vulnerable-software entry that matched, when there is one.

XML is parsed with the standard library only after refusing any DTD or entity declaration
(defusedxml is not a dependency): a scanner report never needs one, and refusing them rules out
entity expansion and external entity attacks.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence
from xml.etree.ElementTree import Element

from secpipe.formats import _vuln as v
from secpipe.formats._common import as_list, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding

TOOL = "dependency-check"
_V3_KEYS = ("attackVector", "attackComplexity", "privilegesRequired", "userInteraction", "scope",
            "confidentialityImpact", "integrityImpact", "availabilityImpact")
_V3_ABBR = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")
_V2_KEYS = ("accessVector", "accessComplexity", "authenticationr", "confidentialityImpact",
            "integrityImpact", "availabilityImpact")
_V2_ABBR = ("AV", "AC", "Au", "C", "I", "A")
# Schema 1.x wrote CVSS v2 as flat elements of the vulnerability.
_OLD_V2 = {"cvssScore": "score", "cvssAccessVector": "accessVector",
           "cvssAccessComplexity": "accessComplexity", "cvssAuthenticationr": "authenticationr",
           "cvssConfidentialImpact": "confidentialityImpact",
           "cvssIntegrityImpact": "integrityImpact", "cvssAvailabilityImpact": "availabilityImpact"}


@v.guarded("dependency-check")
def parse(data: bytes, source: str = "<dependency-check>") -> Sequence[Finding]:
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        return list(_findings(_xml_dependencies(data, source)))
    doc = load_json(data, source)
    if not isinstance(doc, dict) or "dependencies" not in doc:
        raise ReportFormatError(source, "not a dependency-check report: no 'dependencies'")
    if not ({"reportSchema", "scanInfo"} & doc.keys()):
        raise ReportFormatError(source, "not a dependency-check report: no 'reportSchema' or "
                                        "'scanInfo'")
    deps = doc["dependencies"]
    deps = [] if deps is None else expect(deps, list, source, "dependencies")
    return list(_findings(_json_dependencies(deps, source)))


# --- reading both encodings into one shape ---------------------------------------------------

def _xml_dependencies(data: bytes, source: str) -> Iterator[dict[str, Any]]:
    root = v.parse_xml(data, source)
    if v.local(root.tag) != "analysis":
        raise ReportFormatError(
            source, f"not a dependency-check report: root <{v.local(root.tag)}>")
    for dep in v.children(v.child(root, "dependencies"), "dependency"):
        ids = v.child(dep, "identifiers")
        packages = [v.child_text(p, "id") for p in v.children(ids, "package")]
        for ident in v.children(ids, "identifier"):  # schema 1.x
            if ident.get("type") in ("maven", "npm", "nuget") and v.child_text(ident, "name"):
                packages.append(f"{ident.get('type')}:{v.child_text(ident, 'name')}")
        yield {"fileName": v.child_text(dep, "fileName"), "filePath": v.child_text(dep, "filePath"),
               "packages": packages,
               "vulnerabilities": [_xml_vulnerability(x) for x in v.children(
                   v.child(dep, "vulnerabilities"), "vulnerability")]}


def _fields(elem: Element | None) -> dict[str, str]:
    if elem is None:
        return {}
    return {v.local(c.tag): " ".join((c.text or "").split()) for c in elem}


def _xml_vulnerability(el: Element) -> dict[str, Any]:
    flat = _fields(el)
    v2 = _fields(v.child(el, "cvssV2")) or {new: flat[old] for old, new in _OLD_V2.items()
                                             if old in flat}
    v2.setdefault("confidentialityImpact", v2.get("confidentialImpact", ""))
    cwes = [c.text or "" for c in v.children(v.child(el, "cwes"), "cwe")] + [flat.get("cwe", "")]
    return {
        "source": el.get("source", ""), "name": flat.get("name", ""),
        "severity": flat.get("severity", ""), "description": flat.get("description", ""),
        "notes": flat.get("notes", ""), "cvssv2": v2, "cvssv3": _fields(v.child(el, "cvssV3")),
        "cvssv4": _fields(v.child(el, "cvssV4")), "cwes": [c for c in cwes if c],
        "urls": [v.child_text(r, "url")
                 for r in v.children(v.child(el, "references"), "reference")],
        "software": [dict(s.attrib, id=" ".join((s.text or "").split()))
                     for s in v.children(v.child(el, "vulnerableSoftware"), "software")],
    }


def _json_dependencies(deps: list[Any], source: str) -> Iterator[dict[str, Any]]:
    for i, dep in enumerate(objects(deps, source, "dependencies")):
        packages = [text(p.get("id")) for p in v.maps(dep.get("packages"))]
        vulns = []
        where = f"dependencies[{i}].vulnerabilities"
        for vul in objects(dep.get("vulnerabilities"), source, where):
            vulns.append({
                "source": text(vul.get("source")), "name": text(vul.get("name")),
                "severity": text(vul.get("severity")), "description": text(vul.get("description")),
                "notes": text(vul.get("notes")),
                **{k: {kk: text(vv) for kk, vv in vul[k].items()}
                   for k in ("cvssv2", "cvssv3", "cvssv4") if isinstance(vul.get(k), Mapping)},
                "cwes": list(as_list(vul.get("cwes"))),
                "urls": [text(r.get("url")) for r in v.maps(vul.get("references"))],
                "software": [s["software"] for s in v.maps(vul.get("vulnerableSoftware"))
                             if isinstance(s.get("software"), Mapping)],
            })
        yield {"fileName": text(dep.get("fileName")), "filePath": text(dep.get("filePath")),
               "packages": packages, "vulnerabilities": vulns}


# --- findings ------------------------------------------------------------------------------

def _package(dep: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(name, version, purl) of a dependency, from its purl, an old identifier, or its file."""
    for ident in dep["packages"]:
        if ident.startswith("pkg:") and (parts := v.purl_parts(ident)):
            return parts[0], parts[1], ident
    for ident in dep["packages"]:
        kind, _, coords = ident.partition(":")
        name, _, version = coords.rpartition(":") if kind == "maven" else coords.rpartition("@")
        if name:
            return name, version, v.purl(kind, name, version)
    return dep["fileName"] or "unknown-dependency", "", None


def _vector(block: Mapping[str, str], keys: tuple[str, ...], abbr: tuple[str, ...],
            prefix: str) -> str | None:
    values = [text(block.get(k)).strip() for k in keys]  # not clean(): NONE is a value here
    if not all(values):
        return None
    return prefix + "/".join(f"{a}:{val[0].upper()}" for a, val in zip(abbr, values))


def _cvss(vul: Mapping[str, Any]) -> tuple[float | None, str | None, str]:
    """(score, vector, CVSS severity word): v3 first, then v4, then v2."""
    v3, v4, v2 = vul.get("cvssv3") or {}, vul.get("cvssv4") or {}, vul.get("cvssv2") or {}
    if v.number(v3.get("baseScore")) is not None:
        version = v.clean(v3.get("version")) or "3.1"
        return (v.number(v3["baseScore"]), _vector(v3, _V3_KEYS, _V3_ABBR, f"CVSS:{version}/"),
                v.clean(v3.get("baseSeverity")))
    if v.number(v4.get("baseScore")) is not None:
        return v.number(v4["baseScore"]), v.clean(v4.get("vectorString")) or None, \
            v.clean(v4.get("baseSeverity"))
    if v.number(v2.get("score")) is not None:
        return v.number(v2["score"]), _vector(v2, _V2_KEYS, _V2_ABBR, ""), \
            v.clean(v2.get("severity"))
    return None, None, ""


def _fixed(software: list[Mapping[str, Any]]) -> str:
    for sw in software:
        matched = text(sw.get("vulnerabilityIdMatched") or sw.get("matched")).lower() == "true"
        if matched and v.clean(sw.get("versionEndExcluding")):
            return v.clean(sw.get("versionEndExcluding"))
    return ""


def _findings(deps: Iterator[dict[str, Any]]) -> Iterator[Finding]:
    for dep in deps:
        name, version, purl = _package(dep)
        for vul in dep["vulnerabilities"]:
            tool_id = v.clean(vul.get("name"))
            if not tool_id:
                continue
            vid, aliases = v.split_ids([tool_id])
            score, vector, cvss_word = _cvss(vul)
            word = v.clean(vul.get("severity"))
            if v.number(word) is not None:  # "unscored" entries carry a number here
                score, word = score if score is not None else v.number(word), ""
            severity, original = v.rate(word or cvss_word, score, vector)
            fixed = _fixed(as_list(vul.get("software")))
            notes = v.clean(vul.get("notes"))
            yield v.vuln_finding(
                tool=TOOL, vid=vid, aliases=aliases, package=name, version=version, fixed=fixed,
                severity=severity, severity_original=original,
                description=v.clean(vul.get("description")), cvss_score=score,
                cvss_vector=vector, urls=vul.get("urls") or [],
                resource=v.package_resource(purl, name, version, {
                    "file": dep["fileName"], "path": dep["filePath"]}),
                cwe=v.cwe_ids(vul.get("cwes")), key_extra="" if purl else dep["fileName"],
                extra_lines=[f"File: {dep['filePath'] or dep['fileName']}"]
                + ([f"Notes: {notes}"] if notes else []),
                properties={"Source": v.clean(vul.get("source")), "FileName": dep["fileName"]})


def sniff(doc: Document) -> bool:
    head = doc.data[:4096]
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        return b"<analysis" in head and b"DependencyCheck" in head
    data = doc.json
    return isinstance(data, dict) and "reportSchema" in data and "scanInfo" in data \
        and isinstance(data.get("dependencies"), list)


FORMAT = ReportFormat(name="dependency-check", title="OWASP dependency-check XML/JSON report",
                      parse=parse, sniff=sniff, extensions=(".xml", ".json"))
