"""CycloneDX BOMs with vulnerabilities (VEX/VDR), JSON and XML, spec 1.0 to 1.6.

* Spec 1.4+ (JSON and XML): a top-level `vulnerabilities` list; each names the components it
  affects in `affects[].ref` (XML: `affects/target/ref`), resolved against the BOM's components
  (nested ones and `metadata.component` included) to a name, version and purl.
* Spec 1.0-1.3 XML with the vulnerability extension (`v:vulnerability`, what grype and jake
  printed): inside the affected `<component>`, or at the top with a `ref` attribute.

One finding per (vulnerability, affected component); a vulnerability affecting nothing the BOM
names is one finding about its unresolved reference. A BOM without vulnerabilities (a plain
SBOM) is a valid report with no findings.

VEX: a vulnerability whose `analysis.state` is `not_affected`, `false_positive`, `resolved` or
`resolved_with_pedigree` is a statement that there is nothing to fix, and yields no finding (an
affected entry whose versions are all `unaffected` likewise). `exploitable`, `in_triage` and no
analysis are reported, with the state kept as a property. DefectDojo reports `not_affected`
entries as findings, so its counts are higher by their number.

Severity: the CVSS ratings first (v3.x, then v4, then v2; their severity word, else their score,
else the score computed from their vector), then any other rating's word (OWASP, the tool's);
unrated vulnerabilities are MEDIUM. Ids (the vulnerability's and its `references[].id`) go
through the shared CVE-first choice. Fixed versions (JSON): the single versions an `affects`
entry marks `unaffected` beside its affected one, as secpipe's osv-match writes them.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence
from xml.etree.ElementTree import Element

from secpipe.formats import _vuln as v
from secpipe.formats._common import as_list, load_json, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Severity

TOOL = "cyclonedx"
UNRATED = Severity.MEDIUM
NOT_A_PROBLEM = frozenset({"not_affected", "false_positive", "resolved", "resolved_with_pedigree"})
Component = dict[str, str]


@v.guarded("cyclonedx")
def parse(data: bytes, source: str = "<cyclonedx>") -> Sequence[Finding]:
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        subject, vulns = _from_xml(v.parse_xml(data, source), source)
    else:
        doc = load_json(data, source)
        if not isinstance(doc, dict) or text(doc.get("bomFormat")) != "CycloneDX":
            raise ReportFormatError(source, "not a CycloneDX BOM: no \"bomFormat\": \"CycloneDX\"")
        try:
            subject, vulns = _from_json(doc)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ReportFormatError(source, f"malformed CycloneDX vulnerabilities: {exc}") from None
    findings = []
    for vuln in vulns:
        if vuln["state"] in NOT_A_PROBLEM:
            continue
        findings.extend(_findings(vuln, subject))
    return findings


# --- JSON ----------------------------------------------------------------------------------

def _json_component(comp: Mapping[str, Any]) -> Component:
    return {k: text(comp.get(k)) for k in ("name", "version", "purl", "group", "type", "bom-ref")}


def _json_index(comps: Any, index: dict[str, Component]) -> None:
    for comp in comps if isinstance(comps, list) else []:
        if isinstance(comp, Mapping):
            info = _json_component(comp)
            for key in (info["bom-ref"], info["purl"]):
                if key:
                    index.setdefault(key, info)
            _json_index(comp.get("components"), index)


def _from_json(doc: Mapping[str, Any]) -> tuple[Component, list[dict[str, Any]]]:
    index: dict[str, Component] = {}
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    subject = _json_component(meta["component"]) if isinstance(
        meta.get("component"), Mapping) else {}
    _json_index([meta["component"]] if subject else [], index)
    _json_index(doc.get("components"), index)
    vulns = doc.get("vulnerabilities")
    if vulns is not None and not isinstance(vulns, list):
        raise ValueError("'vulnerabilities' should be an array")
    out = []
    for item in vulns or []:
        if not isinstance(item, Mapping):
            raise ValueError("a vulnerability should be an object")
        analysis = item.get("analysis") if isinstance(item.get("analysis"), Mapping) else {}
        source = item.get("source") if isinstance(item.get("source"), Mapping) else {}
        affected = []
        for aff in as_list(item.get("affects")):
            statuses = [text(x.get("status")) for x in v.maps(aff.get("versions"))] \
                if isinstance(aff, Mapping) else []
            if isinstance(aff, Mapping) and text(aff.get("ref")) and not _all_unaffected(statuses):
                affected.append({**_resolve(text(aff["ref"]), index),
                                 "fixed": v.versions_text(_unaffected_versions(aff))})
        out.append({
            "id": text(item.get("id")), "source": text(source.get("name")),
            "ids": [text(r.get("id")) for r in v.maps(item.get("references"))],
            "urls": [text(source.get("url")),
                     *(text(a.get("url")) for a in v.maps(item.get("advisories"))),
                     *(text(r["source"].get("url")) for r in v.maps(item.get("references"))
                       if isinstance(r.get("source"), Mapping))],
            "ratings": [{"score": v.number(r.get("score")), "severity": text(r.get("severity")),
                         "method": text(r.get("method")), "vector": text(r.get("vector"))}
                        for r in v.maps(item.get("ratings"))],
            "cwes": item.get("cwes") or [], "description": text(item.get("description")),
            "detail": text(item.get("detail")), "recommendation": text(item.get("recommendation")),
            "state": text(analysis.get("state")).lower(),
            "justification": text(analysis.get("justification")),
            "affects": affected if item.get("affects") else None,
        })
    return subject, out


def _all_unaffected(statuses: list[str]) -> bool:
    return bool(statuses) and all(s == "unaffected" for s in statuses)


def _unaffected_versions(aff: Mapping[str, Any]) -> list[str]:
    """Single versions marked `unaffected` beside an affected one: the fixed versions (what
    secpipe's osv-match writes; ranges are left out, they are no version to upgrade to)."""
    return [text(x.get("version")) for x in v.maps(aff.get("versions"))
            if text(x.get("status")) == "unaffected" and text(x.get("version"))]


def _resolve(ref: str, index: Mapping[str, Component]) -> Component:
    if ref in index:
        return index[ref]
    if ref.startswith("pkg:") and (parts := v.purl_parts(ref)):
        return {"name": parts[0], "version": parts[1], "purl": ref, "bom-ref": ref}
    return {"name": "", "version": "", "purl": "", "bom-ref": ref}


# --- XML -----------------------------------------------------------------------------------

def _xml_component(el: Element) -> Component:
    return {"name": v.child_text(el, "name"), "version": v.child_text(el, "version"),
            "purl": v.child_text(el, "purl"), "group": v.child_text(el, "group"),
            "type": el.get("type", ""), "bom-ref": el.get("bom-ref", "")}


def _from_xml(root: Element, source: str) -> tuple[Component, list[dict[str, Any]]]:
    if v.local(root.tag) != "bom":
        raise ReportFormatError(source, f"not a CycloneDX BOM: root <{v.local(root.tag)}>")
    meta = v.child(root, "metadata", "component")
    subject = _xml_component(meta) if meta is not None else {}
    index: dict[str, Component] = {}
    owners: list[tuple[Element, Component | None]] = [(root, None)]
    for el in root.iter():
        if v.local(el.tag) == "component":
            info = _xml_component(el)
            for key in (info["bom-ref"], info["purl"]):
                if key:
                    index.setdefault(key, info)
            owners.append((el, info))
    out = []
    for owner, info in owners:
        for vul in v.children(v.child(owner, "vulnerabilities"), "vulnerability"):
            out.append(_xml_vulnerability(vul, info, index))
    return subject, out


def _xml_vulnerability(el: Element, owner: Component | None,
                       index: Mapping[str, Component]) -> dict[str, Any]:
    src = v.child(el, "source")
    ratings = []
    for rating in v.children(v.child(el, "ratings"), "rating"):
        # spec 1.4+: <score>9.8</score>; the 1.0 extension: <score><base>9.8</base>...</score>
        extension = v.child(rating, "score", "base") is not None
        score = v.number(v.child_text(rating, "score", "base") if extension
                         else v.child_text(rating, "score"))
        ratings.append({"score": score, "severity": v.child_text(rating, "severity"),
                        "method": v.child_text(rating, "method"),
                        "vector": v.child_text(rating, "vector")})
    affected = []
    for target in v.children(v.child(el, "affects"), "target"):
        statuses = [v.child_text(x, "status")
                    for x in v.children(v.child(target, "versions"), "version")]
        if v.child_text(target, "ref") and not _all_unaffected(statuses):
            affected.append(_resolve(v.child_text(target, "ref"), index))
    listed = bool(v.children(v.child(el, "affects"), "target"))
    if not listed and owner is not None:
        affected.append(owner)
    elif not listed and el.get("ref"):
        affected.append(_resolve(el.get("ref", ""), index))
    advisories = [v.child_text(a, "url") or " ".join((a.text or "").split())
                  for a in v.children(v.child(el, "advisories"), "advisory")]
    recommendation = v.child_text(el, "recommendation") or "; ".join(
        " ".join((r.text or "").split()) for r in v.children(v.child(el, "recommendations"),
                                                            "recommendation"))
    return {
        "id": v.child_text(el, "id"),
        "source": (src.get("name", "") or v.child_text(src, "name")) if src is not None else "",
        "ids": [v.child_text(r, "id") for r in v.children(v.child(el, "references"), "reference")],
        "urls": [v.child_text(src, "url"), *advisories],
        "ratings": ratings, "cwes": [c.text for c in v.children(v.child(el, "cwes"), "cwe")],
        "description": v.child_text(el, "description"), "detail": v.child_text(el, "detail"),
        "recommendation": recommendation,
        "state": v.child_text(el, "analysis", "state").lower(),
        "justification": v.child_text(el, "analysis", "justification"),
        "affects": affected if affected or listed else None,
    }


# --- findings ------------------------------------------------------------------------------

def _cvss_rank(method: str) -> int:
    m = method.upper().replace(".", "")
    return 3 if m.startswith("CVSSV3") else 2 if m.startswith("CVSSV4") else 1


def _rate(ratings: list[dict[str, Any]]) -> tuple[Severity, str, float | None, str | None]:
    """(severity, original, score, vector) from the preferred rating."""
    cvss = sorted((r for r in ratings if r["method"].upper().startswith("CVSS")),
                  key=lambda r: _cvss_rank(r["method"]), reverse=True)
    for r in cvss:
        score = r["score"] if r["score"] is not None else v.cvss_base_score(r["vector"])
        if r["severity"] or score is not None:
            severity, word = v.rate(r["severity"], score, unrated=UNRATED)
            return severity, word, score, r["vector"] or None
    rated = [v.rate(r["severity"], r["score"], r["vector"] or None, unrated=UNRATED)
             for r in ratings if r["severity"] or r["score"] is not None]
    if rated:
        severity, word = max(rated, key=lambda x: x[0])
        return severity, word, None, None
    return UNRATED, "unrated", None, None


def _findings(vuln: Mapping[str, Any], subject: Component) -> Iterator[Finding]:
    vid, aliases = v.split_ids([vuln["id"], *vuln["ids"]])
    severity, word, score, vector = _rate(vuln["ratings"])
    image = subject.get("name", "") if subject.get("type") == "container" else ""
    # None: the vulnerability names no component; []: every one it names is unaffected
    affects = vuln["affects"]
    for comp in affects if affects is not None else [
            {"name": "", "version": "", "purl": "", "bom-ref": ""}]:
        purl = comp.get("purl") or None
        parts = v.purl_parts(purl) if purl else None
        name = comp.get("name", "") if not parts else parts[0]
        version = comp.get("version", "") or (parts[1] if parts else "")
        if image:
            resource = v.image_resource(image, name, version, purl)
        elif name or purl:
            resource = v.package_resource(purl, name, version)
        else:
            ref = comp.get("bom-ref") or "unknown"
            resource = v.package_resource(None, f"bom-ref:{ref}", "")
        yield v.vuln_finding(
            tool=TOOL, vid=vid, aliases=aliases, package=name, version=version,
            fixed=comp.get("fixed", ""), severity=severity, severity_original=word,
            summary=vuln["description"],
            description=vuln["detail"] if vuln["detail"] != vuln["description"] else "",
            cvss_score=score, cvss_vector=vector, urls=vuln["urls"], resource=resource,
            cwe=v.cwe_ids(vuln["cwes"]), remediation=vuln["recommendation"] or None,
            key_extra="" if (name or purl) else comp.get("bom-ref", ""),
            properties={"Source": vuln["source"], "AnalysisState": vuln["state"],
                        "Justification": vuln["justification"], "PURL": purl or "",
                        "BomSubject": subject.get("name", "")})


def sniff(doc: Document) -> bool:
    head = doc.data[:4096]
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        return b"<bom" in head and b"cyclonedx.org/schema/bom" in head
    data = doc.json
    return isinstance(data, dict) and data.get("bomFormat") == "CycloneDX"


FORMAT = ReportFormat(name="cyclonedx", title="CycloneDX BOM with vulnerabilities (JSON/XML)",
                      parse=parse, sniff=sniff, extensions=(".json", ".xml"))
