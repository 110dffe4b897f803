"""Anchore Engine / inline-scan vulnerability JSON: the report the seed's Anchore stage produced.

Two shapes are read:

* The Engine v1 API (`anchore-cli image vuln IMG all --json`, `inline_scan ... -r`):
  `{imageDigest, vulnerability_type, vulnerabilities: [{vuln, severity, package, package_name,
  package_version, package_type, package_path, fix, url, feed, feed_group, nvd_data,
  vendor_data}]}`. Anchore writes the string "None" for an absent fix or path.
* Anchore Enterprise's security evaluation export: `{metadata: {registry, repository, tag,
  imageDigest}, securityEvaluation: [{vulnerabilityId, cves, severity, package ("name-version"),
  packageType, path, fixAvailable, link, nvdCvssBaseScore}]}`.

Every entry is one finding (one package copy in the image: the same package at two paths is two
entries, told apart by the path in the location key). The resource is the image. Anchore's
severities are Critical/High/Medium/Low/Negligible/Unknown; Unknown falls back on the NVD or
vendor CVSS score (anchore writes -1.0 for "no score").

:mod:`secpipe.formats.anchorectl` reads the camelCase Enterprise v2 API through :func:`entry`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Finding, Resource

TOOL = "anchore-engine"
# DOTALL: without it a newline makes `.*$` backtrack at every "-", quadratic (ReDoS).
_NAME_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d.*)$", re.DOTALL)


@v.guarded("anchore-engine")
def parse(data: bytes, source: str = "<anchore-engine>") -> Sequence[Finding]:
    doc = load_json(data, source)
    if isinstance(doc, dict) and "securityEvaluation" in doc:
        return list(_security_evaluation(doc, source))
    entries, image = vulnerability_list(doc, source, SNAKE)
    return [entry(item, image, TOOL, source, f"vulnerabilities[{i}]")
            for i, item in enumerate(entries)]


@dataclass(frozen=True)
class KeyStyle:
    """How one Anchore API spells its keys: Engine's v1 API snake_case, anchorectl's (Enterprise
    v2) camelCase. The same entries in the other spelling are the other format's report."""

    name: str
    type_key: str                 # the wrapper's vulnerability type
    entry_keys: frozenset[str]    # an entry has at least one of these
    bare_list: bool               # whether the bare entry array (`jq .vulnerabilities`) is read


SNAKE = KeyStyle("anchore-engine (snake_case keys)", "vulnerability_type",
                 frozenset({"package_name", "feed_group", "package_version"}), bare_list=False)
CAMEL = KeyStyle("anchorectl (camelCase keys)", "vulnerabilityType",
                 frozenset({"packageName", "feedGroup", "packageVersion"}), bare_list=True)


def vulnerability_list(doc: Any, source: str, style: KeyStyle
                       ) -> tuple[list[Mapping[str, Any]], str]:
    """The entries and the image they belong to, from `{imageDigest, vulnerabilities}` (or a
    bare list, which anchorectl users get from `jq .vulnerabilities`), each entry checked to be
    `style`'s spelling."""
    if isinstance(doc, list) and style.bare_list:
        entries, image, what = list(objects(doc, source, "the report")), "", "the report"
    elif isinstance(doc, dict):
        if "vulnerabilities" not in doc:
            raise ReportFormatError(source, "not an Anchore vulnerability report: no "
                                            "'vulnerabilities'")
        expect(doc["vulnerabilities"], list, source, "vulnerabilities")
        image = text(doc.get("imageDigest")) or text(doc.get("image_digest"))
        entries, what = list(objects(doc["vulnerabilities"], source, "vulnerabilities")), \
            "vulnerabilities"
        if not entries and style.type_key not in doc:
            raise ReportFormatError(source, f"not an {style.name} report: no "
                                            f"'{style.type_key}' beside the empty list")
    else:
        shape = "an object" if style.bare_list is False else "an object or an array"
        raise ReportFormatError(source, f"an {style.name} report is {shape}, got "
                                        f"{type(doc).__name__}")
    for i, item in enumerate(entries):
        if "vuln" not in item or not (style.entry_keys & item.keys()):
            raise ReportFormatError(
                source, f"{what}[{i}] is not an {style.name} entry (needs 'vuln' and one of "
                        f"{', '.join(sorted(style.entry_keys))})")
    return entries, image


def _scores(records: Any) -> tuple[list[str], float | None]:
    """Ids and the best base score (highest v3, else highest v2) of nvd_data/vendor_data."""
    ids: list[str] = []
    found: dict[str, list[float]] = {"cvss_v3": [], "cvss_v2": []}
    for rec in records if isinstance(records, list) else []:
        if not isinstance(rec, Mapping):
            continue
        ids.append(text(rec.get("id")))
        for key, scores in found.items():
            block = rec.get(key)
            score = v.number(block.get("base_score")) if isinstance(block, Mapping) else None
            if score is not None:
                scores.append(score)
    best = found["cvss_v3"] or found["cvss_v2"]
    return ids, max(best) if best else None


def entry(item: Mapping[str, Any], image: str, tool: str, source: str, what: str) -> Finding:
    """One snake_case Anchore vulnerability entry as a Finding."""
    tool_id = v.clean(item.get("vuln"))
    if not tool_id:
        raise ReportFormatError(source, f"{what} has no 'vuln'")
    name = v.clean(item.get("package_name"))
    version = v.clean(item.get("package_version"))
    if not name:
        name, version = _split(v.clean(item.get("package")))
    nvd_ids, nvd_score = _scores(item.get("nvd_data"))
    vendor_ids, vendor_score = _scores(item.get("vendor_data"))
    vid, aliases = v.split_ids([tool_id, *nvd_ids, *vendor_ids])
    score = nvd_score if nvd_score is not None else vendor_score
    severity, word = v.rate(item.get("severity"), score)
    path = v.clean(item.get("package_path"))
    ptype = v.clean(item.get("package_type"))
    fixed = v.versions_text(item.get("fix"))
    details = {"package_type": ptype, "package_path": path,
               "feed_group": v.clean(item.get("feed_group")),
               "cpe": v.clean(item.get("package_cpe23")) or v.clean(item.get("package_cpe"))}
    resource = (v.image_resource(image, name, version, details=details) if image
                else v.package_resource(None, name, version, details))
    props = {"FeedGroup": details["feed_group"], "PackageType": ptype, "PackagePath": path,
             "WillNotFix": text(item.get("will_not_fix")),
             "InheritedFromBase": text(item.get("inherited_from_base"))}
    return v.vuln_finding(
        tool=tool, vid=vid, aliases=aliases, package=name, version=version, fixed=fixed,
        severity=severity, severity_original=word, description=v.clean(item.get("description")),
        cvss_score=score, urls=[text(item.get("url"))], resource=resource, key_extra=path,
        extra_lines=[f"Path: {path}"] if path else [], properties=props)


def _split(package: str) -> tuple[str, str]:
    """"openssl-libs-1:1.1.1k-14.el8_6" -> ("openssl-libs", "1:1.1.1k-14.el8_6"): the version
    starts at the first dash followed by a digit, as Anchore joins them."""
    match = _NAME_VERSION.match(package)
    return (match.group("name"), match.group("version")) if match else (package, "")


def _security_evaluation(doc: Mapping[str, Any], source: str) -> Iterator[Finding]:
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    image = _image_name(meta)
    for i, item in enumerate(objects(doc.get("securityEvaluation"), source, "securityEvaluation")):
        tool_id = v.clean(item.get("vulnerabilityId"))
        if not tool_id:
            raise ReportFormatError(source, f"securityEvaluation[{i}] has no 'vulnerabilityId'")
        cves = [c.strip() for c in text(item.get("cves")).split(",")]
        vid, aliases = v.split_ids([tool_id, *cves])
        name, version = _split(v.clean(item.get("package")))
        score = v.number(item.get("nvdCvssBaseScore"))
        severity, word = v.rate(item.get("severity"), score)
        path = v.clean(item.get("path"))
        ptype = v.clean(item.get("packageType"))
        details = {"package_type": ptype, "package_path": path}
        resource: Resource = (v.image_resource(image, name, version, details=details) if image
                              else v.package_resource(None, name, version, details))
        yield v.vuln_finding(
            tool=TOOL, vid=vid, aliases=aliases, package=name, version=version,
            fixed=v.versions_text(item.get("fixAvailable")), severity=severity,
            severity_original=word,
            cvss_score=score, urls=[text(item.get("link"))], resource=resource,
            key_extra=path, extra_lines=[f"Path: {path}"] if path else [],
            properties={"PackageType": ptype, "PackagePath": path,
                        "DetectedAt": text(item.get("detectedAt"))})


def _image_name(meta: Mapping[str, Any]) -> str:
    repo = "/".join(p for p in (text(meta.get("registry")), text(meta.get("repository"))) if p)
    tag = text(meta.get("tag"))
    digest = text(meta.get("imageDigest"))
    if repo:
        return f"{repo}:{tag}" if tag else (f"{repo}@{digest}" if digest else repo)
    return digest


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict):
        return False
    if isinstance(data.get("securityEvaluation"), list) and isinstance(data.get("metadata"), dict):
        return True
    vulns = data.get("vulnerabilities")
    if not isinstance(vulns, list):
        return False
    if not vulns:
        return "vulnerability_type" in data and "imageDigest" in data
    first = vulns[0]
    return isinstance(first, dict) and "vuln" in first and (
        "package_name" in first or "feed_group" in first)


FORMAT = ReportFormat(
    name="anchore-engine", title="Anchore Engine / inline-scan vulnerability JSON",
    parse=parse, sniff=sniff)
