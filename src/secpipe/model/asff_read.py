"""ASFF back into Findings: ours (lossless for identity) and any other product's."""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from secpipe.model.asff_types import TYPE_NAMESPACES, TYPES_BY_CATEGORY as _TYPES_BY_CATEGORY
from secpipe.model.finding import (
    Category,
    Finding,
    Location,
    Resource,
    Severity,
    Vulnerability,
)
from secpipe.model.secret import Secret


_OWN_FIELDS = {
    "Tool", "RuleId", "Category", "Fingerprint", "Repo", "Branch", "Commit", "RunId", "Stage",
    "ToolVersion", "Path", "StartLine", "EndLine", "SecretSha256", "SecretMasked", "CWE",
    "References", "LocationKey", "IssueKey",
}


def _opt_str(value: Any) -> str | None:
    """A text field read from someone else's ASFF: a scalar as text, anything else as absent
    (a number where a string goes would otherwise reach `clip` and the writers as an int)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _number(value: Any) -> float | None:
    """A finite number, else None: NaN and Infinity are not JSON Security Hub accepts, and
    int(Infinity) raises."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._]+", "-", name.strip().lower()).strip("-")


def _foreign_tool(obj: Mapping[str, Any], fields: Mapping[str, Any]) -> str:
    """Another product's name as a tool name: `Inspector` -> `inspector`, from the ARN if need be."""
    for name in (obj.get("ProductName"), fields.get("aws/securityhub/ProductName")):
        if name and _slug(str(name)):
            return _slug(str(name))
    arn = str(obj.get("ProductArn") or "")
    if ":product/" in arn:
        return _slug(arn.rsplit("/", 1)[-1]) or "asff"
    return "asff"


def _asff_vulnerability(v: Mapping[str, Any]) -> Vulnerability:
    pkgs = v.get("VulnerablePackages") or [{}]
    pkg = pkgs[0] if isinstance(pkgs, list) and pkgs and isinstance(pkgs[0], Mapping) else {}
    cvss = [c for c in (v.get("Cvss") if isinstance(v.get("Cvss"), list) else [])
            if isinstance(c, Mapping) and _number(c.get("BaseScore")) is not None]
    best = max(cvss, key=lambda c: str(c.get("Version") or ""), default=None)
    return Vulnerability(
        id=str(v.get("Id", "")),
        package=_opt_str(pkg.get("Name")),
        version=_opt_str(pkg.get("Version")),
        fixed_version=_opt_str(pkg.get("FixedInVersion")),
        aliases=tuple(str(a) for a in v.get("RelatedVulnerabilities") or ()),
        cvss_score=_number(best.get("BaseScore")) if best else None,
        cvss_vector=str(best["BaseVector"]) if best and best.get("BaseVector") else None,
        urls=tuple(str(u) for u in v.get("ReferenceUrls") or ()),
    )


def from_asff(obj: Mapping[str, Any]) -> Finding:
    """Read an ASFF finding (ours or any product's) back into a Finding.

    Our own findings come back whole from their `secpipe/*` ProductFields. Other products'
    keep their Id as the location key (it is their stable identity) and their workflow
    facts (compliance status, record state, workflow status) as properties, so a gate can
    tell a PASSED control or an ARCHIVED finding from an open problem.
    """
    raw_fields = obj.get("ProductFields")
    fields: Mapping[str, Any] = raw_fields if isinstance(raw_fields, Mapping) else {}
    sev = obj.get("Severity") if isinstance(obj.get("Severity"), Mapping) else {}
    provider_sev = (obj.get("FindingProviderFields") or {}).get("Severity") or {}
    label = sev.get("Label") or provider_sev.get("Label")
    score = next((n for n in (_number(sev.get("Normalized")), _number(sev.get("Product")))
                  if n is not None), None)
    if label:
        severity = Severity.parse(str(label), Severity.INFORMATIONAL)
    elif score is not None:
        severity = Severity.from_normalized(score)
    else:
        severity = Severity.INFORMATIONAL
    generator = str(obj.get("GeneratorId") or "")
    tool = str(fields.get("secpipe/Tool") or _foreign_tool(obj, fields))
    rule = str(fields.get("secpipe/RuleId") or generator)
    ours = "secpipe/Fingerprint" in fields
    resources = obj.get("Resources") or []
    resource = None
    if isinstance(resources, list) and resources and isinstance(resources[0], Mapping):
        r0 = resources[0]
        rtype, rid = str(r0.get("Type") or "Other"), str(r0.get("Id") or "")
        details_obj = r0.get("Details")
        other = details_obj.get("Other") if isinstance(details_obj, Mapping) else None
        details = {str(k): str(v) for k, v in other.items()} if isinstance(other, Mapping) else {}
        if ours:
            # to_asff adds the location to the details, and names a file by its path when
            # the finding had no resource: undo both so the identity comes back unchanged.
            details.pop("path", None)
            details.pop("line", None)
        fallback_ids = {fields.get("secpipe/Path") or fields.get("secpipe/Repo") or "unknown"}
        if not (ours and rtype == "Other" and rid in fallback_ids and not details):
            resource = Resource(type=rtype, id=rid, details=details)
    location = None
    if fields.get("secpipe/Path"):
        start = str(fields.get("secpipe/StartLine") or "")
        end = str(fields.get("secpipe/EndLine") or "")
        location = Location(path=str(fields["secpipe/Path"]),
                            start_line=int(start) if start.isdigit() else None,
                            end_line=int(end) if end.isdigit() else None)
    secret = None
    if fields.get("secpipe/SecretSha256"):
        secret = Secret.from_digest(str(fields["secpipe/SecretSha256"]),
                                  str(fields.get("secpipe/SecretMasked", "****")))
    category = _category_from(fields.get("secpipe/Category"), obj.get("Types") or [])
    raw_types = obj.get("Types") if isinstance(obj.get("Types"), list) else []
    types = tuple(str(t) for t in raw_types if _valid_type(str(t)))
    if list(types) == list(_TYPES_BY_CATEGORY[category]):
        types = ()
    rec = (obj.get("Remediation") or {}).get("Recommendation") or {}
    vulns = tuple(_asff_vulnerability(v) for v in obj.get("Vulnerabilities") or []
                  if isinstance(v, Mapping))
    properties: dict[str, str] = {"AsffId": str(obj.get("Id", ""))}
    for key, value in (
        ("ProductArn", obj.get("ProductArn")),
        ("ComplianceStatus", (obj.get("Compliance") or {}).get("Status")),
        ("RecordState", obj.get("RecordState")),
        ("WorkflowStatus", (obj.get("Workflow") or {}).get("Status")),
        ("FirstObservedAt", obj.get("FirstObservedAt")),
        ("AwsAccountId", obj.get("AwsAccountId")),
    ):
        if value:
            properties[key] = str(value)
    for key, value in fields.items():
        if str(key).startswith("secpipe/") and key[len("secpipe/"):] not in _OWN_FIELDS:
            properties[key[len("secpipe/"):]] = str(value)
    references = [r for r in str(fields.get("secpipe/References") or "").split() if r]
    if obj.get("SourceUrl"):
        references.append(str(obj["SourceUrl"]))
    confidence = _number(obj.get("Confidence"))
    if ours:
        location_key = str(fields["secpipe/LocationKey"]) if fields.get("secpipe/LocationKey") else None
    else:
        location_key = f"asff:{obj.get('Id')}"
    return Finding(
        tool=tool,
        rule_id=rule or "unknown",
        title=str(obj.get("Title") or rule or "untitled"),
        description=str(obj.get("Description") or ""),
        severity=severity,
        severity_original=str(sev.get("Original")) if sev.get("Original") else None,
        category=category,
        location=location,
        resource=resource,
        remediation=_opt_str(rec.get("Text")),
        remediation_url=_opt_str(rec.get("Url")),
        references=tuple(dict.fromkeys(references)),
        cwe=tuple(c for c in str(fields.get("secpipe/CWE") or "").split(",") if c),
        vulnerabilities=vulns,
        secret=secret,
        location_key=location_key,
        confidence=int(confidence) if confidence is not None else None,
        properties=properties,
        types=types,
        issue_key=str(fields["secpipe/IssueKey"]) if fields.get("secpipe/IssueKey") else None,
        related=tuple(str(r.get("Id")) for r in obj.get("RelatedFindings") or []
                      if isinstance(r, Mapping) and r.get("Id")),
    )


def _valid_type(value: str) -> bool:
    """A Type Security Hub accepts (another product's free-form `IAM` is not one)."""
    parts = value.split("/")
    return parts[0] in TYPE_NAMESPACES and len(parts) <= 3 and all(parts)


def _category_from(value: str | None, types: list) -> Category:
    if value:
        try:
            return Category(value)
        except ValueError:
            pass
    joined = " ".join(str(t) for t in types) if isinstance(types, list) else ""
    if "Sensitive Data" in joined:
        return Category.SECRET
    if "Vulnerabilities/CVE" in joined:
        return Category.VULNERABILITY
    if "Vulnerabilities/CWE" in joined:
        return Category.CODE
    if "TTPs" in joined or "Unusual Behaviors" in joined:
        return Category.RUNTIME
    if "Industry and Regulatory Standards" in joined and "/Misconfiguration" not in joined:
        return Category.COMPLIANCE
    return Category.MISCONFIGURATION
