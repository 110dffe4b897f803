"""Findings to and from the AWS Security Finding Format.

`to_asff` must always produce a finding Security Hub would accept, whatever a scanner wrote:
required fields present, every length limit respected (text is cut with a visible marker,
never rejected), Types drawn from the ASFF taxonomy. `validate_asff` states those rules once so
tests, the hub and sinks check the same thing.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Mapping

from secpipe.model.finding import (
    Category,
    Finding,
    Location,
    Resource,
    Severity,
    SourceContext,
    Vulnerability,
)
from secpipe.model.secret import Secret

SCHEMA_VERSION = "2018-10-08"
TRUNCATION_MARKER = "…[truncated]"

LIMITS = {
    "Id": 512,
    "GeneratorId": 512,
    "Title": 256,
    "Description": 1024,
    "ProductName": 128,
    "CompanyName": 128,
    "Severity.Original": 64,
    "Remediation.Recommendation.Text": 512,
    "Remediation.Recommendation.Url": 1024,
    "Note.Text": 512,
    "Resource.Type": 256,
    "Resource.Id": 512,
    "ProductFields.key": 128,
    "ProductFields.value": 2048,
    "Types": 50,
    "Resources": 32,
    "ProductFields": 50,
}
TYPE_NAMESPACES = (
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
)
LABELS = tuple(s.name for s in Severity)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")

_TYPES_BY_CATEGORY: dict[Category, tuple[str, ...]] = {
    Category.SECRET: (
        "Sensitive Data Identifications/Security/Credentials",
        "Effects/Data Exposure",
    ),
    Category.MISCONFIGURATION: (
        "Software and Configuration Checks/Industry and Regulatory Standards/Misconfiguration",
    ),
    Category.COMPLIANCE: (
        "Software and Configuration Checks/Industry and Regulatory Standards",
    ),
    Category.VULNERABILITY: ("Software and Configuration Checks/Vulnerabilities/CVE",),
    Category.CODE: ("Software and Configuration Checks/Vulnerabilities/CWE",),
    Category.RUNTIME: ("Unusual Behaviors/Process",),
}


def types_of(finding: Finding) -> list[str]:
    """The finding's own Types when it has any (at most 50), else its category's."""
    if finding.types:
        return list(dict.fromkeys(finding.types))[: LIMITS["Types"]]
    return list(_TYPES_BY_CATEGORY[finding.category])


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def clip(text: str | None, limit: int) -> str:
    """Cut text to `limit` characters, ending with a marker a reader can see."""
    text = text or ""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def finding_id(finding: Finding, ctx: SourceContext) -> str:
    return f"{ctx.product_name}/{finding.tool}/{finding.fingerprint()}"


def to_asff(finding: Finding, ctx: SourceContext, *, updated_at: str | None = None) -> dict:
    """Serialise a finding into one ASFF object, ready for BatchImportFindings."""
    stamp = updated_at or ctx.observed_at or now_iso()
    title = clip(finding.title.strip() or finding.rule_id, LIMITS["Title"])
    description = clip(
        finding.description.strip() or finding.title.strip() or finding.rule_id,
        LIMITS["Description"],
    )
    out: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": clip(finding_id(finding, ctx), LIMITS["Id"]),
        "ProductArn": ctx.product_arn,
        "ProductName": clip(ctx.product_name, LIMITS["ProductName"]),
        "CompanyName": clip(ctx.company_name, LIMITS["CompanyName"]),
        "GeneratorId": clip(f"{finding.tool}/{finding.rule_id}", LIMITS["GeneratorId"]),
        "AwsAccountId": ctx.account_id,
        "Types": types_of(finding),
        "CreatedAt": stamp,
        "UpdatedAt": stamp,
        "FirstObservedAt": stamp,
        "LastObservedAt": stamp,
        "Severity": {
            "Label": finding.severity.name,
            "Normalized": finding.severity.normalized,
            "Original": clip(finding.severity_original or finding.severity.name, 64),
        },
        "Title": title,
        "Description": description,
        "Resources": [_resource(finding, ctx)],
        "ProductFields": _product_fields(finding, ctx),
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "NEW"},
    }
    if finding.confidence is not None:
        out["Confidence"] = max(0, min(100, int(finding.confidence)))
    if finding.remediation or finding.remediation_url:
        rec: dict[str, str] = {
            "Text": clip(finding.remediation or "See the reference.", 512)
        }
        if finding.remediation_url:
            rec["Url"] = clip(finding.remediation_url, 1024)
        out["Remediation"] = {"Recommendation": rec}
    if finding.vulnerabilities:
        out["Vulnerabilities"] = [_vulnerability(v) for v in finding.vulnerabilities[:64]]
    return out


def _resource(finding: Finding, ctx: SourceContext) -> dict:
    if finding.resource is not None:
        res = finding.resource
        rtype, rid, details = res.type, res.id, dict(res.details)
    elif finding.location is not None:
        rtype, rid, details = "Other", finding.location.path, {}
    else:
        rtype, rid, details = "Other", ctx.repo or "unknown", {}
    if finding.location is not None:
        details.setdefault("path", finding.location.path)
        if finding.location.start_line is not None:
            details.setdefault("line", str(finding.location.start_line))
    resource: dict[str, Any] = {
        "Type": clip(rtype, LIMITS["Resource.Type"]),
        "Id": clip(rid or "unknown", LIMITS["Resource.Id"]),
        "Partition": ctx.partition,
        "Region": ctx.region,
    }
    if details:
        resource["Details"] = {"Other": {clip(k, 128): clip(str(v), 1024) for k, v in details.items()}}
    return resource


def _product_fields(finding: Finding, ctx: SourceContext) -> dict[str, str]:
    fields: dict[str, str] = {
        "secpipe/Tool": finding.tool,
        "secpipe/RuleId": finding.rule_id,
        "secpipe/Category": finding.category.value,
        "secpipe/Fingerprint": finding.fingerprint(),
    }
    location_key = finding.effective_location_key()
    if location_key:
        fields["secpipe/LocationKey"] = location_key
    for key, value in (
        ("secpipe/Repo", ctx.repo),
        ("secpipe/Branch", ctx.branch),
        ("secpipe/Commit", ctx.commit),
        ("secpipe/RunId", ctx.run_id),
        ("secpipe/Stage", ctx.stage),
        ("secpipe/ToolVersion", ctx.tool_version),
    ):
        if value:
            fields[key] = value
    loc = finding.location
    if loc is not None:
        fields["secpipe/Path"] = loc.path
        if loc.start_line is not None:
            fields["secpipe/StartLine"] = str(loc.start_line)
        if loc.end_line is not None:
            fields["secpipe/EndLine"] = str(loc.end_line)
    if finding.secret is not None:
        fields["secpipe/SecretSha256"] = finding.secret.sha256
        fields["secpipe/SecretMasked"] = finding.secret.masked
    if finding.cwe:
        fields["secpipe/CWE"] = ",".join(finding.cwe)
    if finding.references:
        fields["secpipe/References"] = " ".join(finding.references)
    for key, value in finding.properties.items():
        if len(fields) >= LIMITS["ProductFields"]:
            break
        fields.setdefault(f"secpipe/{key}", str(value))
    return {
        clip(k, LIMITS["ProductFields.key"]): clip(v, LIMITS["ProductFields.value"])
        for k, v in fields.items()
        if v != ""
    }


def _vulnerability(v: Vulnerability) -> dict:
    out: dict[str, Any] = {"Id": clip(v.id, 512)}
    if v.package:
        pkg: dict[str, str] = {"Name": v.package}
        if v.version:
            pkg["Version"] = v.version
        if v.fixed_version:
            pkg["FixedInVersion"] = v.fixed_version
        out["VulnerablePackages"] = [pkg]
    if v.cvss_score is not None:
        cvss: dict[str, Any] = {"BaseScore": v.cvss_score}
        if v.cvss_vector:
            cvss["BaseVector"] = v.cvss_vector
        out["Cvss"] = [cvss]
    if v.aliases:
        out["RelatedVulnerabilities"] = list(v.aliases)[:50]
    if v.urls:
        out["ReferenceUrls"] = list(v.urls)[:20]
    out["FixAvailable"] = "YES" if v.fixed_version else "NO"
    return out


def validate_asff(obj: Mapping[str, Any]) -> list[str]:
    """Problems that would make Security Hub reject the finding (empty list: acceptable)."""
    problems: list[str] = []
    required = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId",
                "CreatedAt", "UpdatedAt", "Title", "Description", "Resources")
    for key in required:
        if key not in obj or obj[key] in (None, "", []):
            problems.append(f"missing required field {key}")
    if problems:
        return problems
    for key in ("Id", "GeneratorId", "Title", "Description"):
        value = obj[key]
        if not isinstance(value, str) or not 1 <= len(value) <= LIMITS[key]:
            problems.append(f"{key} must be a string of 1-{LIMITS[key]} characters")
    if not re.fullmatch(r"\d{12}", str(obj["AwsAccountId"])):
        problems.append("AwsAccountId must be 12 digits")
    for key in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
        if key in obj and not _ISO.match(str(obj[key])):
            problems.append(f"{key} is not an ISO 8601 timestamp")
    sev = obj.get("Severity")
    if not isinstance(sev, Mapping) or sev.get("Label") not in LABELS:
        problems.append("Severity.Label must be one of " + ", ".join(LABELS))
    elif len(str(sev.get("Original", ""))) > LIMITS["Severity.Original"]:
        problems.append("Severity.Original longer than 64")
    types = obj.get("Types", [])
    if not isinstance(types, list) or len(types) > LIMITS["Types"]:
        problems.append("Types must be a list of at most 50")
    else:
        for t in types:
            parts = str(t).split("/")
            if parts[0] not in TYPE_NAMESPACES or len(parts) > 3:
                problems.append(f"Type {t!r} is not namespace/category/classifier of ASFF")
    resources = obj["Resources"]
    if not isinstance(resources, list) or not 1 <= len(resources) <= LIMITS["Resources"]:
        problems.append("Resources must hold 1-32 resources")
    else:
        for r in resources:
            if not isinstance(r, Mapping) or not r.get("Type") or not r.get("Id"):
                problems.append("each Resource needs Type and Id")
            elif len(r["Type"]) > LIMITS["Resource.Type"]:
                problems.append("Resource.Type longer than 256")
    rec = (obj.get("Remediation") or {}).get("Recommendation") or {}
    if len(rec.get("Text", "")) > LIMITS["Remediation.Recommendation.Text"]:
        problems.append("Remediation.Recommendation.Text longer than 512")
    note = obj.get("Note") or {}
    if len(note.get("Text", "")) > LIMITS["Note.Text"]:
        problems.append("Note.Text longer than 512")
    fields = obj.get("ProductFields") or {}
    if len(fields) > LIMITS["ProductFields"]:
        problems.append("ProductFields holds more than 50 keys")
    return problems


# ProductFields that from_asff maps onto Finding fields; other `secpipe/*` keys are properties.
_OWN_FIELDS = {
    "Tool", "RuleId", "Category", "Fingerprint", "Repo", "Branch", "Commit", "RunId", "Stage",
    "ToolVersion", "Path", "StartLine", "EndLine", "SecretSha256", "SecretMasked", "CWE",
    "References", "LocationKey",
}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


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
        package=pkg.get("Name"),
        version=pkg.get("Version"),
        fixed_version=pkg.get("FixedInVersion"),
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
        secret = Secret.from_hash(str(fields["secpipe/SecretSha256"]),
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
        remediation=rec.get("Text"),
        remediation_url=rec.get("Url"),
        references=tuple(dict.fromkeys(references)),
        cwe=tuple(c for c in str(fields.get("secpipe/CWE") or "").split(",") if c),
        vulnerabilities=vulns,
        secret=secret,
        location_key=location_key,
        confidence=int(confidence) if confidence is not None else None,
        properties=properties,
        types=types,
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
