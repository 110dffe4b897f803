"""Findings in OCSF 1.1.0, the schema Security Hub's current generation and Security Lake speak.

The mapping goes through ASFF on purpose: an ASFF finding is what the hub stores and every
writer already produces, so `asff_to_ocsf(to_asff(f))` is the OCSF of a finding and
`ocsf_to_asff` + `from_asff` reads OCSF back. Identity survives the round trip:
`finding_info.uid` is the ASFF Id, and whatever ASFF carries that OCSF has no attribute for
(ProductFields with secpipe's fingerprint, GeneratorId, RecordState, Note ...) rides in the
event's `unmapped` object under its ASFF name.

Classes (category Findings, uid 2): a finding with known vulnerabilities (or a code finding
with a CWE) is a Vulnerability Finding (2002), a misconfiguration or compliance check a
Compliance Finding (2003), everything else (secrets, runtime alerts) a Detection Finding
(2004). type_uid = class_uid * 100 + activity_id, as OCSF defines it.

Reading OCSF back (`ocsf_to_asff`) lives in :mod:`secpipe.model.ocsf_read`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Mapping

OCSF_VERSION = "1.1.0"
FINDINGS_CATEGORY = 2
VULNERABILITY_FINDING, COMPLIANCE_FINDING, DETECTION_FINDING = 2002, 2003, 2004
CLASS_NAMES = {2001: "Security Finding", VULNERABILITY_FINDING: "Vulnerability Finding",
               COMPLIANCE_FINDING: "Compliance Finding", DETECTION_FINDING: "Detection Finding"}
ACTIVITIES = {1: "Create", 2: "Update", 3: "Close"}
SEVERITY_IDS = {"INFORMATIONAL": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4, "CRITICAL": 5}
SEVERITY_CAPTIONS = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High",
                     5: "Critical", 6: "Fatal", 99: "Other"}
_LABEL_OF_ID = {0: "INFORMATIONAL", 1: "INFORMATIONAL", 2: "LOW", 3: "MEDIUM", 4: "HIGH",
                5: "CRITICAL", 6: "CRITICAL"}
WORKFLOW_STATUS = {"NEW": 1, "NOTIFIED": 2, "SUPPRESSED": 3, "RESOLVED": 4}
STATUS_CAPTIONS = {1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved"}
COMPLIANCE_STATUS = {"PASSED": 1, "WARNING": 2, "FAILED": 3}
COMPLIANCE_CAPTIONS = {1: "Pass", 2: "Warning", 3: "Fail"}

# ASFF members the OCSF attributes below carry; every other member goes to `unmapped`.
_MAPPED = frozenset({
    "Id", "Title", "Description", "Types", "CreatedAt", "UpdatedAt", "FirstObservedAt",
    "LastObservedAt", "AwsAccountId", "ProductName", "CompanyName", "ProductArn", "Remediation",
    "Vulnerabilities", "Confidence", "SourceUrl", "ProcessedAt", "Region",
})
_TIMES = ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt", "ProcessedAt")
_CVSS_VERSION = re.compile(r"^CVSS:(\d+(?:\.\d+)?)/")


def ms(value: Any) -> int | None:
    """An ASFF timestamp (ISO 8601) as OCSF's timestamp_t: milliseconds since the epoch."""
    if not isinstance(value, str) or not value:
        return None
    return _ms(value)


@lru_cache(maxsize=4096)
def _ms(value: str) -> int | None:
    """Cached: a run's findings share a handful of timestamps, each read ten times per event."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(round(parsed.timestamp() * 1000))


def iso(value: Any) -> str | None:
    """OCSF's milliseconds (or an ISO string some producers write) as an ASFF timestamp."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            stamp = datetime.fromtimestamp(value / 1000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):  # year 300000, NaN: not a time
            return None
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, str) and ms(value) is not None:
        return value
    return None


@lru_cache(maxsize=4096)
def _round_trips(value: str) -> bool:
    return iso(ms(value)) == value


def _drop_empty(obj: dict[str, Any]) -> dict[str, Any]:
    """Without None, "" and empty containers (0 and False stay: they are values)."""
    return {k: v for k, v in obj.items() if v or v is False or v == 0}


def class_of(asff: Mapping[str, Any]) -> int:
    """Which OCSF class an ASFF finding is (see the module docstring)."""
    fields = asff.get("ProductFields") if isinstance(asff.get("ProductFields"), dict) else {}
    category = str(fields.get("secpipe/Category") or "")
    types = " ".join(str(t) for t in asff.get("Types") or [] if isinstance(t, str))
    if asff.get("Vulnerabilities") or (category == "code" and fields.get("secpipe/CWE")):
        return VULNERABILITY_FINDING
    if category in ("misconfiguration", "compliance") or (
            not category and (asff.get("Compliance") or "Industry and Regulatory" in types)):
        return COMPLIANCE_FINDING
    return DETECTION_FINDING


def _activity(asff: Mapping[str, Any]) -> int:
    """Close (3) for an archived or resolved finding, else Create (1). Update (2) is not
    guessed from UpdatedAt != CreatedAt: a Falco alert's CreatedAt is when it happened and
    its UpdatedAt when it was reported, on its first and only report."""
    workflow = (asff.get("Workflow") or {}).get("Status")
    if asff.get("RecordState") == "ARCHIVED" or workflow == "RESOLVED":
        return 3
    return 1


def _resource(r: Mapping[str, Any]) -> dict[str, Any]:
    return _drop_empty({"type": r.get("Type"), "uid": r.get("Id"), "region": r.get("Region"),
                        "cloud_partition": r.get("Partition"), "data": r.get("Details")})


def _score(value: Any) -> float | None:
    """A CVSS score, also when a producer wrote it as text ("7.5"); NaN and Infinity: none."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _cvss(c: Mapping[str, Any]) -> dict[str, Any] | None:
    score = _score(c.get("BaseScore"))
    if score is None:
        return None
    vector = c.get("BaseVector")
    version = c.get("Version")
    if not version and isinstance(vector, str):
        found = _CVSS_VERSION.match(vector)
        version = found.group(1) if found else ("2.0" if vector.startswith("AV:") else None)
    return _drop_empty({"base_score": score, "vector_string": vector,
                        "version": version or "unknown"})


def _vulnerability(v: Mapping[str, Any], remediation: dict | None) -> dict[str, Any]:
    cvss = [x for x in (_cvss(c) for c in v.get("Cvss") or [] if isinstance(c, dict)) if x]
    packages = [_drop_empty({"name": p.get("Name"), "version": p.get("Version"),
                             "fixed_in_version": p.get("FixedInVersion")})
                for p in v.get("VulnerablePackages") or []
                if isinstance(p, dict) and p.get("Name") and p.get("Version")]
    fix = v.get("FixAvailable")
    return _drop_empty({
        "cve": _drop_empty({"uid": str(v.get("Id") or "unknown"), "cvss": cvss}),
        "title": v.get("Id"),
        "affected_packages": packages,
        "references": list(v.get("ReferenceUrls") or []),
        "related_vulnerabilities": list(v.get("RelatedVulnerabilities") or []),
        "is_fix_available": {"YES": True, "NO": False}.get(str(fix)) if fix else None,
        "vendor_name": v.get("Vendor", {}).get("Name") if isinstance(v.get("Vendor"), dict)
        else None,
        "remediation": remediation,
    })


def asff_to_ocsf(asff: Mapping[str, Any]) -> dict[str, Any]:
    """One ASFF finding as one OCSF 1.1.0 finding event."""
    class_uid = class_of(asff)
    activity = _activity(asff)
    fields = asff.get("ProductFields") if isinstance(asff.get("ProductFields"), dict) else {}
    sev = asff.get("Severity") if isinstance(asff.get("Severity"), dict) else {}
    severity_id = SEVERITY_IDS.get(str(sev.get("Label") or "").upper(), 1)
    workflow = (asff.get("Workflow") or {}).get("Status")  # none: not said, not NEW
    status_id = WORKFLOW_STATUS.get(str(workflow)) if workflow else None
    resources = [_resource(r) for r in asff.get("Resources") or [] if isinstance(r, dict)]
    region = next((r.get("region") for r in resources if r.get("region")), None)
    rec = (asff.get("Remediation") or {}).get("Recommendation") or {}
    remediation = _drop_empty({"desc": rec.get("Text"),
                               "references": [rec["Url"]] if rec.get("Url") else []})
    remediation = remediation if remediation.get("desc") else None
    tool = fields.get("secpipe/Tool")
    event: dict[str, Any] = {
        "category_uid": FINDINGS_CATEGORY,
        "category_name": "Findings",
        "class_uid": class_uid,
        "class_name": CLASS_NAMES[class_uid],
        "activity_id": activity,
        "activity_name": ACTIVITIES[activity],
        "type_uid": class_uid * 100 + activity,
        "type_name": f"{CLASS_NAMES[class_uid]}: {ACTIVITIES[activity]}",
        "time": ms(asff.get("UpdatedAt")) or ms(asff.get("CreatedAt")),
        "severity_id": severity_id,
        "severity": SEVERITY_CAPTIONS[severity_id],
        "status_id": status_id,
        "status": STATUS_CAPTIONS.get(status_id) if status_id else None,
        "message": asff.get("Title"),
        "metadata": _drop_empty({
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "product": _drop_empty({
                "name": asff.get("ProductName"),
                "vendor_name": asff.get("CompanyName") or asff.get("ProductName") or "unknown",
                "uid": asff.get("ProductArn"),
                "feature": _drop_empty({"name": tool}) or None,
            }),
            "processed_time": ms(asff.get("ProcessedAt")),
        }),
        "cloud": _drop_empty({"provider": "AWS", "region": region,
                              "account": _drop_empty({"uid": asff.get("AwsAccountId"),
                                                      "type_id": 10, "type": "AWS Account"})}),
        "finding_info": _drop_empty({
            "uid": asff.get("Id"),
            "title": asff.get("Title") or asff.get("Id"),
            "desc": asff.get("Description"),
            "types": [t for t in asff.get("Types") or [] if isinstance(t, str)],
            "created_time": ms(asff.get("CreatedAt")),
            "modified_time": ms(asff.get("UpdatedAt")),
            "first_seen_time": ms(asff.get("FirstObservedAt")),
            "last_seen_time": ms(asff.get("LastObservedAt")),
            "src_url": asff.get("SourceUrl"),
            "product_uid": asff.get("ProductArn"),
            "analytic": _drop_empty({"uid": asff.get("GeneratorId"),
                                     "name": fields.get("secpipe/RuleId"),
                                     "type_id": 1, "type": "Rule"}),
        }),
    }
    confidence = asff.get("Confidence")
    set_confidence(event, confidence)
    if class_uid == DETECTION_FINDING:
        event["resources"] = resources
        if remediation:
            event["remediation"] = remediation
    elif resources:
        event["resource"] = resources[0]
    if class_uid == VULNERABILITY_FINDING:
        vulns = [_vulnerability(v, remediation) for v in asff.get("Vulnerabilities") or []
                 if isinstance(v, dict)]
        cwes = [c for c in str(fields.get("secpipe/CWE") or "").split(",") if c]
        if not vulns:  # a code finding: its weakness is a CWE, not a known vulnerability
            vulns = [_drop_empty({"cwe": {"uid": cwes[0]}, "title": asff.get("Title"),
                                  "desc": asff.get("Description"),
                                  "remediation": remediation})]
        event["vulnerabilities"] = vulns
    if class_uid == COMPLIANCE_FINDING:
        event["compliance"] = _compliance(asff, fields)
        if remediation:
            event["remediation"] = remediation
    unmapped = {k: v for k, v in asff.items() if k not in _MAPPED}
    for key in _TIMES:  # a timestamp spelled otherwise than milliseconds read back
        if isinstance(asff.get(key), str) and not _round_trips(asff[key]):
            unmapped[key] = asff[key]
    if len(resources) > 1 and class_uid != DETECTION_FINDING:
        unmapped["Resources"] = asff["Resources"]  # `resource` holds one
    else:
        unmapped.pop("Resources", None)
    if unmapped:
        event["unmapped"] = unmapped
    return _drop_empty(event)


def _compliance(asff: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    comp = asff.get("Compliance") if isinstance(asff.get("Compliance"), dict) else {}
    standards = [s.get("StandardsId") for s in comp.get("AssociatedStandards") or []
                 if isinstance(s, dict) and s.get("StandardsId")]
    if not standards:
        standards = [str(fields.get("secpipe/Tool") or asff.get("ProductName") or "unknown")]
    status_id = COMPLIANCE_STATUS.get(str(comp.get("Status") or "FAILED"))
    return _drop_empty({
        "standards": standards,
        "control": comp.get("SecurityControlId") or fields.get("secpipe/RuleId")
        or asff.get("GeneratorId"),
        "status_id": status_id,
        "status": COMPLIANCE_CAPTIONS.get(status_id) if status_id else comp.get("Status"),
        "status_detail": "; ".join(str(r) for r in comp.get("StatusReasons") or []) or None,
    })


def set_confidence(event: dict[str, Any], confidence: Any) -> None:
    """OCSF's confidence trio from ASFF's Confidence (0-100), only for a finite number:
    shared by the general mapping and `ocsf_own`'s direct path, which must agree."""
    if isinstance(confidence, (int, float)) and not isinstance(confidence, bool) \
            and math.isfinite(confidence):
        score = int(confidence)
        event["confidence_score"] = score
        event["confidence_id"] = 1 if score < 34 else 2 if score < 67 else 3
        event["confidence"] = {1: "Low", 2: "Medium", 3: "High"}[event["confidence_id"]]
