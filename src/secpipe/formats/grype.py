"""grype's JSON report (`grype IMAGE|dir:PATH|sbom:FILE -o json`).

`{matches: [{vulnerability, relatedVulnerabilities, matchDetails, artifact}], ignoredMatches,
source: {type, target}, distro, descriptor}`. Each match is one finding: one vulnerability in
one package copy. `ignoredMatches` are matches the user told grype to ignore and are not read.

* id: grype reports a GHSA, a distro advisory or a CVE and lists the others it knows as
  `relatedVulnerabilities`; all of them go through the shared CVE-first choice, so a GHSA match
  with a related CVE is titled by the CVE and keeps the GHSA as an alias.
* severity: grype's Critical/High/Medium/Low/Negligible; Unknown falls back on the best CVSS
  base score of the vulnerability, else of its related records.
* fixed version: `fix.versions` when `fix.state` is "fixed" ("not-fixed", "wont-fix",
  "unknown" mean none), recorded as the FixState property either way.
* resource: the image for image scans (`source.type` "image"); otherwise the package (purl),
  with the artifact's first location as the finding's path for directory scans.

DefectDojo's counts match one finding per match on every shared fixture: no fixture holds the
same CVE on the same package at two paths. Where a real report does, the two copies stay two
findings here, told apart by the path in the location key, since each needs its own upgrade.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import as_list, dig, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Location

TOOL = "grype"
_FIXED_STATES = frozenset({"fixed", ""})


@v.guarded("grype")
def parse(data: bytes, source: str = "<grype>") -> Sequence[Finding]:
    doc = load_json(data, source)
    if not isinstance(doc, dict):
        raise ReportFormatError(source, f"a grype report is an object, got {type(doc).__name__}")
    if "matches" not in doc:
        raise ReportFormatError(source, "not a grype report: no 'matches'")
    if not doc["matches"] and not ({"descriptor", "source"} & doc.keys()):
        raise ReportFormatError(source, "not a grype report: no matches, and no grype "
                                        "'descriptor' or 'source'")
    if doc["matches"] is None:  # grype prints `null` for no matches in some versions
        return []
    expect(doc["matches"], list, source, "matches")
    image, dir_scan = _source(doc.get("source"))
    findings = []
    for i, match in enumerate(objects(doc["matches"], source, "matches")):
        try:
            findings.append(_match(match, image, dir_scan))
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ReportFormatError(source, f"matches[{i}] is not a grype match: {exc}") from None
    return findings


def _source(src: Any) -> tuple[str, bool]:
    """(image name for image scans, whether paths are relative to a scanned directory)."""
    if not isinstance(src, Mapping):
        return "", False
    kind = text(src.get("type"))
    target = src.get("target")
    if kind == "image" and isinstance(target, Mapping):
        tags = target.get("tags") if isinstance(target.get("tags"), list) else []
        name = text(target.get("userInput")) or (text(tags[0]) if tags else "") \
            or text(target.get("manifestDigest")) or text(target.get("imageID"))
        return name or "image", False
    if kind == "image":
        return text(target) or "image", False
    return "", kind in ("directory", "dir", "file")


def _best_cvss(records: list[Mapping[str, Any]]) -> tuple[float | None, str | None]:
    """The highest-version CVSS entry's score and vector, NVD's "Primary" first."""
    candidates = []
    for rank, rec in enumerate(records):
        for entry in as_list(rec.get("cvss")):
            if not isinstance(entry, Mapping):
                continue
            vector = text(entry.get("vector")) or None
            score = v.number(dig(entry, "metrics", "baseScore"))
            if score is None:
                score = v.cvss_base_score(vector)
            if score is None:
                continue
            version = text(entry.get("version"))
            primary = text(entry.get("type")).lower() == "primary"
            candidates.append(((-rank, version.startswith("3"), primary, version), score, vector))
    if not candidates:
        return None, None
    _, score, vector = max(candidates, key=lambda c: c[0])
    return score, vector


def _match(match: Mapping[str, Any], image: str, dir_scan: bool) -> Finding:
    vuln = match.get("vulnerability")
    art = match.get("artifact")
    if not isinstance(vuln, Mapping) or not isinstance(art, Mapping):
        raise ValueError("no 'vulnerability' or 'artifact' object")
    related = [r for r in as_list(match.get("relatedVulnerabilities")) if isinstance(r, Mapping)]
    tool_id = v.clean(vuln.get("id"))
    if not tool_id:
        raise ValueError("the vulnerability has no 'id'")
    vid, aliases = v.split_ids([tool_id, *(text(r.get("id")) for r in related)])
    name, version = v.clean(art.get("name")), v.clean(art.get("version"))
    purl = v.clean(art.get("purl")) or None
    score, vector = _best_cvss([vuln, *related])
    severity, word = v.rate(vuln.get("severity"), score)
    fix = vuln.get("fix") if isinstance(vuln.get("fix"), Mapping) else {}
    state = text(fix.get("state")).lower()
    fixed = v.versions_text(fix.get("versions")) if state in _FIXED_STATES else ""
    locations = [text(loc.get("path")) for loc in as_list(art.get("locations"))
                 if isinstance(loc, Mapping) and text(loc.get("path"))]
    path = locations[0] if locations else ""
    urls = [text(vuln.get("dataSource")), *as_list(vuln.get("urls"))]
    for rec in related:
        urls.append(text(rec.get("dataSource")))
    description = v.clean(vuln.get("description")) or next(
        (v.clean(r.get("description")) for r in related if v.clean(r.get("description"))), "")
    details = {"type": text(art.get("type")), "path": path}
    if image:
        resource = v.image_resource(image, name, version, purl, details)
        location = None
    else:
        resource = v.package_resource(purl, name, version, details)
        location = Location(path=v.relative_path(path)) if dir_scan and path else None
    matchers = sorted({text(d.get("matcher")) for d in as_list(match.get("matchDetails"))
                       if isinstance(d, Mapping) and text(d.get("matcher"))})
    epss = next((e for e in as_list(vuln.get("epss")) if isinstance(e, Mapping)), {})
    props = {"FixState": state, "Namespace": text(vuln.get("namespace")),
             "ArtifactType": text(art.get("type")), "PURL": purl or "", "Path": path,
             "Matchers": ",".join(matchers), "EPSS": text(epss.get("epss")),
             "EPSSPercentile": text(epss.get("percentile"))}
    return v.vuln_finding(
        tool=TOOL, vid=vid, aliases=aliases, package=name, version=version, fixed=fixed,
        severity=severity, severity_original=word, description=description,
        cvss_score=score, cvss_vector=vector, urls=urls, resource=resource, location=location,
        key_extra=path, extra_lines=[f"Path: {p}" for p in locations[:5]], properties=props)


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict) or "matches" not in data:
        return False
    descriptor = data.get("descriptor")
    if isinstance(descriptor, dict) and text(descriptor.get("name")) == "grype":
        return True
    matches = data.get("matches")
    return isinstance(matches, list) and bool(matches) and isinstance(matches[0], dict) \
        and {"vulnerability", "artifact"} <= matches[0].keys()


FORMAT = ReportFormat(name="grype", title="grype JSON (-o json)", parse=parse, sniff=sniff)
