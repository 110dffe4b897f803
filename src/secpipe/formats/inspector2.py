"""Amazon Inspector (v2) findings: `aws inspector2 list-findings` output, `{findings: [...]}`.

One Inspector finding is one secpipe finding, whatever its type:

* PACKAGE_VULNERABILITY -> VULNERABILITY. `packageVulnerabilityDetails` names the vulnerability
  and the vulnerable packages; each package becomes one entry of the ASFF `Vulnerabilities`
  list (with its `fixedInVersion`), and the finding is titled by the first one.
* CODE_VULNERABILITY -> CODE (Lambda code scanning): the detector, the file and lines, CWEs.
* NETWORK_REACHABILITY -> MISCONFIGURATION: the open port range, protocol and network path.

The resource is the AWS resource Inspector names first (ECR image, Lambda function, EC2
instance), with its ARN/id. Severity is Inspector's label; UNTRIAGED falls back on the adjusted
CVSS score. Findings whose `status` is CLOSED (fixed) or SUPPRESSED (a suppression rule matched)
are not reported: secpipe has no inactive findings, and a gate would fail on them. DefectDojo
keeps CLOSED ones as mitigated findings, so counts differ by the number of those.

ECR's enhanced scanning returns the same objects (with `score`/`scoreDetails` instead of
`inspectorScore`/`inspectorScoreDetails`); :mod:`secpipe.formats.ecr` reads them through
:func:`findings_from`.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from secpipe.formats import _vuln as v
from secpipe.formats._common import as_int, as_list, dig, expect, load_json, objects, text
from secpipe.formats.interface import Document, ReportFormat, ReportFormatError
from secpipe.model import Category, Finding, Location, Resource, Vulnerability

TOOL = "inspector2"
INACTIVE = frozenset({"CLOSED", "SUPPRESSED"})
_RESOURCE_TYPES = {
    "AWS_EC2_INSTANCE": "AwsEc2Instance",
    "AWS_ECR_CONTAINER_IMAGE": "AwsEcrContainerImage",
    "AWS_ECR_REPOSITORY": "AwsEcrRepository",
    "AWS_LAMBDA_FUNCTION": "AwsLambdaFunction",
}
_NO_TEXT = frozenset({"", "none provided"})
_TYPES = ("PACKAGE_VULNERABILITY", "CODE_VULNERABILITY", "NETWORK_REACHABILITY")


@v.guarded("inspector2")
def parse(data: bytes, source: str = "<inspector2>") -> Sequence[Finding]:
    doc = load_json(data, source)
    if not isinstance(doc, dict):
        raise ReportFormatError(
            source, f"an Inspector2 report is an object, got {type(doc).__name__}")
    if "findings" not in doc:
        raise ReportFormatError(source, "not an Inspector2 list-findings report: no 'findings'")
    expect(doc["findings"], list, source, "findings")
    return list(findings_from(doc["findings"], source, "findings", TOOL))


def findings_from(items: Any, source: str, what: str, tool: str,
                  fallback: Resource | None = None) -> Iterator[Finding]:
    """Inspector finding objects (also ECR's enhancedFindings) as Findings."""
    for i, item in enumerate(objects(items, source, what)):
        if text(item.get("status")).upper() in INACTIVE:
            continue
        kind = text(item.get("type")).upper()
        try:
            if kind == "CODE_VULNERABILITY":
                yield _code(item, tool, fallback)
            elif kind == "NETWORK_REACHABILITY":
                yield _network(item, tool, fallback)
            elif kind == "PACKAGE_VULNERABILITY" or "packageVulnerabilityDetails" in item:
                yield _package(item, tool, fallback)
            else:
                raise ValueError(f"unknown finding type {kind or '(none)'!r}")
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ReportFormatError(source, f"{what}[{i}] is not an Inspector finding: {exc}") \
                from None


def resource(item: Mapping[str, Any], fallback: Resource | None) -> Resource | None:
    """The first AWS resource Inspector names, as an ASFF resource with flat details."""
    for res in as_list(item.get("resources")):
        if not isinstance(res, Mapping) or not text(res.get("id")):
            continue
        rtype = text(res.get("type"))
        details: dict[str, str] = {"inspector_type": rtype}
        for block in (res.get("details") or {}).values():
            if isinstance(block, Mapping):
                for key, value in block.items():
                    if isinstance(value, list):
                        value = ",".join(text(x) for x in value if text(x))
                    if text(value):
                        details[key] = text(value)
        return Resource(type=_RESOURCE_TYPES.get(rtype, "Other"), id=text(res["id"]),
                        details=details)
    return fallback


def _remediation(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    rec = dig(item, "remediation", "recommendation", default={})
    words = text(rec.get("text")).strip() if isinstance(rec, Mapping) else ""
    url = (text(rec.get("Url")) or text(rec.get("url"))) if isinstance(rec, Mapping) else ""
    return (None if words.lower() in _NO_TEXT else words), url or None


def _score(item: Mapping[str, Any], details: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """Inspector's adjusted CVSS (ECR: scoreDetails.cvss), else the best listed CVSS."""
    for adjusted in (dig(item, "inspectorScoreDetails", "adjustedCvss"),
                     dig(item, "scoreDetails", "cvss")):
        if isinstance(adjusted, Mapping) and v.number(adjusted.get("score")) is not None:
            return v.number(adjusted.get("score")), text(adjusted.get("scoringVector")) or None
    best: tuple[tuple[bool, str], float, str | None] | None = None
    for entry in as_list(details.get("cvss")):
        if not isinstance(entry, Mapping) or v.number(entry.get("baseScore")) is None:
            continue
        version = text(entry.get("version"))
        key = (version.startswith("3"), version)
        if best is None or key > best[0]:
            best = (key, v.number(entry["baseScore"]) or 0.0,
                    text(entry.get("scoringVector")) or None)
    if best is not None:
        return best[1], best[2]
    return v.number(item.get("inspectorScore", item.get("score"))), None


def _package(item: Mapping[str, Any], tool: str, fallback: Resource | None) -> Finding:
    details = item.get("packageVulnerabilityDetails")
    if not isinstance(details, Mapping):
        raise ValueError("no 'packageVulnerabilityDetails'")
    tool_id = v.clean(details.get("vulnerabilityId"))
    if not tool_id:
        raise ValueError("no 'vulnerabilityId'")
    vid, aliases = v.split_ids([tool_id, *as_list(details.get("relatedVulnerabilities"))])
    score, vector = _score(item, details)
    severity, word = v.rate(item.get("severity"), score)
    urls = list(dict.fromkeys(u for u in (v.clean(x) for x in [
        details.get("sourceUrl"), *as_list(details.get("referenceUrls"))]) if u))
    packages = [p for p in as_list(details.get("vulnerablePackages")) if isinstance(p, Mapping)]
    vulns: dict[tuple[str, str, str], Vulnerability] = {}
    paths, lines = [], []
    for pkg in packages:
        name, version = v.clean(pkg.get("name")), v.clean(pkg.get("version"))
        fixed = v.clean(pkg.get("fixedInVersion"))
        path = v.clean(pkg.get("filePath"))
        vulns.setdefault((name, version, fixed), Vulnerability(
            id=vid, package=name or None, version=version or None, fixed_version=fixed or None,
            aliases=aliases, cvss_score=score, cvss_vector=vector, urls=tuple(urls[:5])))
        if path:
            paths.append(path)
        lines.append(f"Package: {name} {version}".rstrip() + (f" ({path})" if path else "")
                     + f", fixed in {fixed or 'no known version'}")
    upgrades = [f"{x.package} to {x.fixed_version}" for x in vulns.values()
                if x.package and x.fixed_version]
    first = packages[0] if packages else {}
    name, version = v.clean(first.get("name")), v.clean(first.get("version"))
    advice, url = _remediation(item)
    remediation = f"Upgrade {'; '.join(upgrades)}." if upgrades else advice
    props = _props(item) | {
        "Source": text(details.get("source")),
        "VendorSeverity": text(details.get("vendorSeverity")),
        "PackageManager": text(first.get("packageManager")), "FilePath": ",".join(paths)}
    finding = v.vuln_finding(
        tool=tool, vid=vid, aliases=aliases, package=name, version=version,
        fixed=v.clean(first.get("fixedInVersion")), severity=severity, severity_original=word,
        description=v.clean(item.get("description")), cvss_score=score, cvss_vector=vector,
        urls=urls, resource=resource(item, fallback), key_extra=",".join(paths),
        remediation=remediation, extra_lines=lines if len(lines) > 1 or paths else [],
        vulnerabilities=tuple(vulns.values()) or None, properties=props)
    if len(vulns) > 1:
        finding = finding.with_(title=f"{finding.title} (+{len(vulns) - 1} more packages)")
    return finding.with_(remediation_url=url or finding.remediation_url)


def _props(item: Mapping[str, Any]) -> dict[str, str]:
    return {"FindingArn": text(item.get("findingArn")), "Status": text(item.get("status")),
            "InspectorType": text(item.get("type")), "FixAvailable": text(item.get("fixAvailable")),
            "ExploitAvailable": text(item.get("exploitAvailable")),
            "EPSS": text(dig(item, "epss", "score")),
            "InspectorScore": text(item.get("inspectorScore", item.get("score")))}


def _code(item: Mapping[str, Any], tool: str, fallback: Resource | None) -> Finding:
    details = item.get("codeVulnerabilityDetails")
    if not isinstance(details, Mapping):
        raise ValueError("no 'codeVulnerabilityDetails'")
    rule = text(details.get("detectorId")) or text(details.get("ruleId")) or "code-vulnerability"
    file_path = details.get("filePath") if isinstance(details.get("filePath"), Mapping) else {}
    path = v.relative_path(text(file_path.get("filePath")) or text(file_path.get("fileName")))
    start, end = as_int(file_path.get("startLine")), as_int(file_path.get("endLine"))
    start = start if start and start > 0 else None
    title = text(item.get("title")) or text(details.get("detectorName")) or rule
    severity, word = v.rate(item.get("severity"), v.number(item.get("inspectorScore")))
    advice, url = _remediation(item)
    refs = tuple(text(u) for u in as_list(details.get("referenceUrls")) if text(u))
    props = _props(item) | {"RuleId": text(details.get("ruleId")),
                            "DetectorName": text(details.get("detectorName")),
                            "DetectorTags": ",".join(
                                text(t) for t in as_list(details.get("detectorTags")))}
    return Finding(
        tool=tool, rule_id=rule, title=title, description=text(item.get("description")),
        severity=severity, severity_original=word, category=Category.CODE,
        location=Location(path=path, start_line=start, end_line=end if start else None)
        if path else None,
        resource=resource(item, fallback), remediation=advice, remediation_url=url or (
            refs[0] if refs else None), references=refs, cwe=v.cwe_ids(details.get("cwes")),
        location_key=text(item.get("findingArn")) or f"{rule}|{path}|{start}",
        properties={k: val for k, val in props.items() if val})


def _network(item: Mapping[str, Any], tool: str, fallback: Resource | None) -> Finding:
    details = item.get("networkReachabilityDetails")
    if not isinstance(details, Mapping):
        raise ValueError("no 'networkReachabilityDetails'")
    ports = details.get("openPortRange")
    ports = ports if isinstance(ports, Mapping) else {}
    begin, end = text(ports.get("begin")), text(ports.get("end"))
    port_text = begin if begin == end else f"{begin}-{end}"
    protocol = text(details.get("protocol"))
    steps = [s for s in as_list(dig(details, "networkPath", "steps"))
             if isinstance(s, Mapping)]
    hops = [text(s.get("componentId")) + (f" ({text(s.get('componentType'))})"
                                          if text(s.get("componentType")) else "") for s in steps]
    title = text(item.get("title")) or f"Port {port_text}/{protocol} is reachable"
    severity, word = v.rate(item.get("severity"), None)
    advice, url = _remediation(item)
    lines = [text(item.get("description")), f"Open ports: {port_text} ({protocol})"]
    if hops:
        lines.append("Network path: " + " -> ".join(hops))
    return Finding(
        tool=tool, rule_id="NETWORK_REACHABILITY", title=title,
        description="\n".join(p for p in lines if p), severity=severity, severity_original=word,
        category=Category.MISCONFIGURATION, resource=resource(item, fallback),
        remediation=advice, remediation_url=url,
        location_key=f"{protocol}:{port_text}|"
        + ">".join(text(s.get("componentId")) for s in steps),
        properties={k: val for k, val in (_props(item) | {"Ports": port_text,
                                                          "Protocol": protocol}).items() if val})


def sniff(doc: Document) -> bool:
    data = doc.json
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        return False
    findings = data["findings"]
    if not findings:
        return set(data) <= {"findings", "nextToken"}
    first = findings[0]
    if not isinstance(first, dict):
        return False
    return text(first.get("findingArn")).startswith("arn:aws:inspector2:") or (
        {"type", "awsAccountId"} <= first.keys() and text(first.get("type")) in _TYPES)


FORMAT = ReportFormat(
    name="inspector2", title="Amazon Inspector list-findings JSON", parse=parse, sniff=sniff)
