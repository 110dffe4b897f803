"""Matches as Findings and as a CycloneDX 1.5 JSON report with vulnerabilities.

The report is the SBOM (its subject and components, untouched) plus one `vulnerabilities[]`
entry per (advisory, component): the id chosen CVE-first (secpipe's rule for every SCA tool),
the OSV id and the other aliases as `references`, CVSS ratings with their computed base
scores and the database's own rating, CWEs, the fix in `recommendation`, and in `affects` the
component's version as `affected` and each fixed version as `unaffected` — which is where
secpipe's `cyclonedx` parser reads the fixed version back from. :func:`findings` builds the
very Findings that parsing the report gives (only the tool name differs), which a test checks.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Mapping, Sequence

from secpipe import __version__
from secpipe.formats import _vuln as v
from secpipe.model import Finding
from secpipe.vulndb.matcher import Match, MatchResult, Rating, ratings_of, severity_of

TOOL = "osv-match"
_purl_parts = lru_cache(maxsize=65536)(v.purl_parts)  # the parser's own display rule, cached
DETAIL_MAX = 2000
_GHSA_URL = "https://github.com/advisories/{}"
_NVD_URL = "https://nvd.nist.gov/vuln/detail/{}"
_OSV_URL = "https://osv.dev/vulnerability/{}"


def _source_of(ident: str) -> dict[str, str]:
    upper = ident.upper()
    if upper.startswith("CVE-"):
        return {"name": "NVD", "url": _NVD_URL.format(ident)}
    if upper.startswith("GHSA-"):
        return {"name": "GitHub Advisories", "url": _GHSA_URL.format(ident)}
    return {"name": "OSV", "url": _OSV_URL.format(ident)}


def _recommendation(match: Match) -> str:
    name = match.package.name
    if match.fixed:
        if len(match.fixed) == 1:
            return f"Upgrade {name} to {match.fixed[0]}."
        return f"Upgrade {name} to one of: {', '.join(match.fixed)}."
    if match.last_affected:
        return (f"No fixed version is known; {name} {match.last_affected} is the last affected "
                "version: upgrade past it or replace the package.")
    return f"No fixed version of {name} is known yet: mitigate or replace the package."


def _ref(match: Match) -> str:
    return str(match.component.get("bom-ref") or match.package.purl)


def _ids(match: Match) -> tuple[str, tuple[str, ...]]:
    return v.split_ids([match.advisory["id"], *match.advisory.get("aliases", [])])


def _urls(match: Match, primary: str, others: Sequence[str]) -> list[str]:
    """The URLs in the order the parser collects them: source, advisories, references."""
    return [_OSV_URL.format(match.advisory["id"]), *match.advisory.get("refs", [])[:5],
            *(_source_of(i)["url"] for i in others)]


def _cwes(match: Match) -> list[int]:
    out = []
    for cwe in v.cwe_ids(match.advisory.get("cwes") or []):
        out.append(int(cwe.split("-")[1]))
    return out


def _texts(match: Match) -> tuple[str, str]:
    adv = match.advisory
    details = " ".join(str(adv.get("details") or "").split())[:DETAIL_MAX]
    summary = str(adv.get("summary") or "").strip() or details.split(". ")[0][:200]
    return summary, details


def _ratings(match: Match) -> list[Rating]:
    return ratings_of(match.advisory, match.affected_severity)


def vulnerability_entry(match: Match) -> dict[str, Any]:
    primary, others = _ids(match)
    summary, details = _texts(match)
    ratings = []
    for r in _ratings(match):
        item: dict[str, Any] = {"method": r.method}
        if r.source:
            item["source"] = {"name": r.source}
        if r.score is not None:
            item["score"] = r.score
        if r.severity:
            item["severity"] = r.severity
        if r.vector:
            item["vector"] = r.vector
        ratings.append(item)
    versions = [{"version": match.component.get("version") or match.package.version,
                 "status": "affected"}]
    versions += [{"version": f, "status": "unaffected"} for f in match.fixed]
    entry: dict[str, Any] = {
        "id": primary,
        "source": {"name": "OSV", "url": _OSV_URL.format(match.advisory["id"])},
        "references": [{"id": i, "source": _source_of(i)} for i in others],
        "ratings": ratings,
        "cwes": _cwes(match),
        "description": summary,
        "detail": details if details != summary else "",
        "recommendation": _recommendation(match),
        "advisories": [{"url": u} for u in match.advisory.get("refs", [])[:5]],
        "published": match.advisory.get("published") or None,
        "updated": match.advisory.get("modified") or None,
        "affects": [{"ref": _ref(match), "versions": versions}],
        "properties": [{"name": "secpipe:osv:id", "value": match.advisory["id"]},
                       {"name": "secpipe:osv:matched-by", "value": match.how}],
    }
    if match.last_affected:
        entry["properties"].append({"name": "secpipe:osv:last-affected",
                                    "value": match.last_affected})
    return {k: val for k, val in entry.items() if val not in (None, "", [])}


def cyclonedx_report(sbom: Mapping[str, Any], result: MatchResult,
                     db_info: Mapping[str, str] | None = None) -> bytes:
    """The SBOM with the matches as CycloneDX 1.5 `vulnerabilities` (JSON bytes)."""
    meta_in = sbom.get("metadata") if isinstance(sbom.get("metadata"), Mapping) else {}
    properties = [{"name": f"secpipe:vulndb:{k}", "value": str(val)}
                  for k, val in (db_info or {}).items()]
    properties += [{"name": "secpipe:osv-match:skipped", "value": f"{what}: {why}"}
                   for what, why in result.skipped[:200]]
    properties += [{"name": "secpipe:osv-match:note", "value": n} for n in result.notes[:200]]
    metadata: dict[str, Any] = {
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tools": {"components": [{"type": "application", "name": "secpipe-osv-match",
                                  "version": __version__}]},
    }
    if isinstance(meta_in.get("component"), Mapping):
        metadata["component"] = meta_in["component"]
    if properties:
        metadata["properties"] = properties
    doc = {
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}", "version": 1, "metadata": metadata,
        "components": list(sbom.get("components") or []),
        "vulnerabilities": [vulnerability_entry(m) for m in result.matches],
    }
    return json.dumps(doc, separators=(",", ":")).encode()  # the C encoder: no indent


def findings(result: MatchResult, sbom: Mapping[str, Any] | None = None,
             tool: str = TOOL) -> list[Finding]:
    """One Finding per match, identical to what parsing :func:`cyclonedx_report` gives."""
    meta_in = (sbom or {}).get("metadata") if isinstance((sbom or {}).get("metadata"),
                                                         Mapping) else {}
    subject = meta_in.get("component") if isinstance(meta_in.get("component"), Mapping) else {}
    image = str(subject.get("name") or "") if subject.get("type") == "container" else ""
    out = []
    for match in result.matches:
        primary, others = _ids(match)
        summary, details = _texts(match)
        severity, word, score, vector = severity_of(_ratings(match))
        purl = str(match.component.get("purl") or match.package.purl)
        parts = _purl_parts(purl)
        name = parts[0] if parts else str(match.component.get("name") or "")
        version = str(match.component.get("version") or "") or (parts[1] if parts else "")
        resource = (v.image_resource(image, name, version, purl) if image
                    else v.package_resource(purl, name, version))
        out.append(v.vuln_finding(
            tool=tool, vid=primary, aliases=others, package=name, version=version,
            fixed=v.versions_text(list(match.fixed)), severity=severity,
            severity_original=word, summary=summary,
            description=details if details != summary else "", cvss_score=score,
            cvss_vector=vector, urls=_urls(match, primary, others), resource=resource,
            cwe=v.cwe_ids(_cwes(match)), remediation=_recommendation(match),
            properties={"Source": "OSV", "PURL": purl,
                        "BomSubject": str(subject.get("name") or "")}))
    return out
