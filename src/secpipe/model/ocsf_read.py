"""OCSF finding events back into ASFF: secpipe's own (lossless, through `unmapped`) and any
other producer's (prowler's `json-ocsf`, Security Hub's and Security Lake's exports)."""

from __future__ import annotations

from typing import Any, Mapping

from secpipe.model.ocsf import (
    _LABEL_OF_ID, _TIMES, COMPLIANCE_FINDING, COMPLIANCE_STATUS, FINDINGS_CATEGORY,
    STATUS_CAPTIONS, VULNERABILITY_FINDING, WORKFLOW_STATUS, _drop_empty, iso, ms,
)


def is_finding_event(obj: Any) -> bool:
    """An OCSF event of the Findings category that names its finding (`finding_info.uid`)."""
    if not isinstance(obj, Mapping):
        return False
    class_uid = obj.get("class_uid")
    info = obj.get("finding_info")
    return (isinstance(class_uid, int) and not isinstance(class_uid, bool)
            and class_uid // 1000 == FINDINGS_CATEGORY and isinstance(info, Mapping)
            and isinstance(info.get("uid"), str) and bool(info.get("uid")))


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _asff_resource(r: Mapping[str, Any]) -> dict[str, Any]:
    return _drop_empty({"Type": str(r.get("type") or "Other"), "Id": str(r.get("uid")
                        or r.get("name") or "unknown"), "Region": r.get("region"),
                        "Partition": r.get("cloud_partition"),
                        "Details": r.get("data") if isinstance(r.get("data"), Mapping) else None})


def _asff_vulnerability(v: Mapping[str, Any]) -> dict[str, Any]:
    cve = v.get("cve") if isinstance(v.get("cve"), Mapping) else {}
    cwe = v.get("cwe") if isinstance(v.get("cwe"), Mapping) else {}
    cvss = [_drop_empty({"BaseScore": c.get("base_score"), "BaseVector": c.get("vector_string"),
                         "Version": c.get("version") if c.get("version") != "unknown" else None})
            for c in cve.get("cvss") or [] if isinstance(c, Mapping)
            and isinstance(c.get("base_score"), (int, float))]
    packages = [_drop_empty({"Name": p.get("name"), "Version": p.get("version"),
                             "FixedInVersion": p.get("fixed_in_version")})
                for p in v.get("affected_packages") or v.get("packages") or []
                if isinstance(p, Mapping) and p.get("name")]
    fix = v.get("is_fix_available", v.get("fix_available"))
    return _drop_empty({
        "Id": str(cve.get("uid") or cwe.get("uid") or v.get("title") or "unknown"),
        "Cvss": cvss, "VulnerablePackages": packages,
        "ReferenceUrls": [str(u) for u in v.get("references") or cve.get("references") or []],
        "RelatedVulnerabilities": [str(u) for u in v.get("related_vulnerabilities") or []],
        "FixAvailable": None if fix is None else ("YES" if fix else "NO"),
    })


def ocsf_to_asff(event: Mapping[str, Any]) -> dict[str, Any]:
    """An OCSF finding event (ours or another producer's) as an ASFF finding.

    Our own events carry the ASFF members OCSF has no attribute for in `unmapped`
    (`SchemaVersion` marks them); the mapped attributes win over `unmapped` either way, so an
    event edited in OCSF terms (a new severity_id) reads as edited.
    """
    unmapped = event.get("unmapped") if isinstance(event.get("unmapped"), Mapping) else {}
    ours = "SchemaVersion" in unmapped
    out: dict[str, Any] = dict(unmapped) if ours else {}
    info = event["finding_info"]
    product = _get(event, "metadata", "product") or {}
    account = _get(event, "cloud", "account", "uid")
    region = _get(event, "cloud", "region")
    severity_id = event.get("severity_id")
    label = _LABEL_OF_ID.get(severity_id) if isinstance(severity_id, int) else None
    if label is None:  # 99 Other: the producer's own word is in `severity`
        from secpipe.model.finding import Severity
        label = Severity.parse(event.get("severity"), Severity.INFORMATIONAL).name
    severity = dict(out.get("Severity") or {}) if ours else {}
    if severity.get("Label") != label:
        severity.pop("Normalized", None)
    severity["Label"] = label
    if not ours and event.get("severity"):
        severity["Original"] = str(event["severity"])[:64]
    created = iso(info.get("created_time")) or iso(event.get("time"))
    updated = iso(info.get("modified_time")) or iso(event.get("time")) or created
    out.update(_drop_empty({
        "Id": info["uid"],
        "Title": info.get("title") or event.get("message") or info["uid"],
        "Description": info.get("desc") or event.get("message") or info.get("title"),
        "Types": [str(t) for t in info.get("types") or []],
        "CreatedAt": created, "UpdatedAt": updated,
        "FirstObservedAt": iso(info.get("first_seen_time")),
        "LastObservedAt": iso(info.get("last_seen_time")),
        "ProcessedAt": iso(_get(event, "metadata", "processed_time")),
        "SourceUrl": info.get("src_url"),
        "ProductName": product.get("name"),
        "CompanyName": product.get("vendor_name"),
        "ProductArn": product.get("uid") or info.get("product_uid"),
        "AwsAccountId": str(account) if account else None,
        "Severity": severity,
    }))
    for key in _TIMES:  # the producer's own spelling, unless the event changed the time
        if ours and isinstance(unmapped.get(key), str) and ms(unmapped[key]) == ms(out.get(key)):
            out[key] = unmapped[key]
    out.setdefault("GeneratorId", _get(info, "analytic", "uid") or _get(info, "analytic", "name")
                   or product.get("name"))
    if not out.get("ProductArn") and account:
        out["ProductArn"] = (f"arn:aws:securityhub:{region or 'us-east-1'}:{account}:"
                             f"product/{account}/default")
    resources = event.get("resources") or ([event["resource"]] if event.get("resource") else [])
    if "Resources" not in out or not ours:
        out["Resources"] = [_asff_resource(r) for r in resources if isinstance(r, Mapping)]
    vulns = [v for v in event.get("vulnerabilities") or [] if isinstance(v, Mapping)]
    if any(isinstance(v.get("cve"), Mapping) for v in vulns):
        out["Vulnerabilities"] = [_asff_vulnerability(v) for v in vulns
                                  if isinstance(v.get("cve"), Mapping)]
    remediation = event.get("remediation") or next(
        (v["remediation"] for v in vulns if isinstance(v.get("remediation"), Mapping)), None)
    if isinstance(remediation, Mapping) and remediation.get("desc"):
        urls = [u for u in remediation.get("references") or [] if isinstance(u, str)]
        out["Remediation"] = {"Recommendation": _drop_empty(
            {"Text": str(remediation["desc"]), "Url": urls[0] if urls else None})}
    score = event.get("confidence_score")
    if isinstance(score, int) and not isinstance(score, bool):
        out["Confidence"] = score
    status_id = event.get("status_id")
    if status_id in STATUS_CAPTIONS:
        out["Workflow"] = {**(out.get("Workflow") or {}),
                           "Status": {v: k for k, v in WORKFLOW_STATUS.items()}[status_id]}
    if not ours:
        _foreign_extras(event, out)
    return out


def _foreign_extras(event: Mapping[str, Any], out: dict[str, Any]) -> None:
    """What another producer's event says that our own events keep in `unmapped`."""
    out["SchemaVersion"] = "2018-10-08"
    out["RecordState"] = ("ARCHIVED" if event.get("activity_id") == 3
                          or event.get("status_id") == 5 else "ACTIVE")
    comp = event.get("compliance")
    if isinstance(comp, Mapping):
        status = {v: k for k, v in COMPLIANCE_STATUS.items()}.get(comp.get("status_id"))
        out["Compliance"] = _drop_empty({
            "Status": status,
            "SecurityControlId": comp.get("control"),
            "AssociatedStandards": [{"StandardsId": str(s)} for s in comp.get("standards") or []],
        })
    class_uid = event.get("class_uid")
    if not out.get("Types"):
        out["Types"] = {
            VULNERABILITY_FINDING: ["Software and Configuration Checks/Vulnerabilities/CVE"],
            COMPLIANCE_FINDING: ["Software and Configuration Checks/Industry and Regulatory "
                                 "Standards"],
        }.get(class_uid, [])
