"""OCSF events for the findings secpipe itself wrote as ASFF: the run's findings.ocsf.json.

:func:`secpipe.model.ocsf.asff_to_ocsf` reads any ASFF mapping, so it checks every member's
type and builds each of about ten small dicts twice (once with every member, once without
the empty ones): at 50,000 findings that was the largest piece of writing a run's files.
A document of the shape `to_asff` writes needs neither, and :func:`asff_to_ocsf` here gives
the same event, key order included, by building each dict once with only the members that
are there. Anything else goes to the general function; tests compare the two on generated
and mutated documents.
"""

from __future__ import annotations

from typing import Any, Mapping

from secpipe.model.ocsf import (
    ACTIVITIES,
    CLASS_NAMES,
    COMPLIANCE_FINDING,
    DETECTION_FINDING,
    FINDINGS_CATEGORY,
    OCSF_VERSION,
    SEVERITY_CAPTIONS,
    SEVERITY_IDS,
    STATUS_CAPTIONS,
    VULNERABILITY_FINDING,
    WORKFLOW_STATUS,
    _MAPPED,
    _compliance,
    _drop_empty,
    _resource,
    set_confidence,
    _round_trips,
    _vulnerability,
    asff_to_ocsf as general_asff_to_ocsf,
    ms,
)


def asff_to_ocsf(asff: Mapping[str, Any]) -> dict[str, Any]:
    """`secpipe.model.ocsf.asff_to_ocsf(asff)`, by the direct path when `asff` has the shape
    `to_asff` writes (members it knows, containers of the types it writes)."""
    if own_shape(asff):
        return own_shape_event(asff)
    return general_asff_to_ocsf(asff)


def own_shape(asff: Mapping[str, Any]) -> bool:
    """Whether `asff` takes the direct path (`own_shape_event`)."""
    return (type(asff) is dict and asff.keys() <= OWN_SHAPE
            and type(asff.get("ProductFields")) is dict and type(asff.get("Severity")) is dict
            and type(asff.get("Workflow")) is dict and type(asff.get("Resources")) is list
            and type(asff.get("Types")) is list)


# the members `to_asff` and the run's writers (Workflow, Note) produce: the direct path's input
OWN_SHAPE = frozenset({
    "SchemaVersion", "Id", "ProductArn", "ProductName", "CompanyName", "GeneratorId",
    "AwsAccountId", "Types", "CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt",
    "Severity", "Title", "Description", "Resources", "ProductFields", "RecordState", "Workflow",
    "Confidence", "Remediation", "Vulnerabilities", "RelatedFindings", "Note",
})
_STAMPS = ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt")  # ProcessedAt: not here


def _kept(value: Any) -> bool:
    """What `_drop_empty` keeps."""
    return bool(value) or value is False or value == 0


def own_shape_event(asff: dict[str, Any]) -> dict[str, Any]:
    """:func:`secpipe.model.ocsf.asff_to_ocsf` for a dict whose members are those `to_asff` writes and whose
    ProductFields, Severity, Workflow, Resources and Types have the types it writes: the same
    dicts built in the same order, without building each twice to drop its empty members
    (members that are never empty are set as they are; a Compliance or ProcessedAt member,
    which this path does not know, sends the document to the general path).

    Every number of the event is an int it computes or a number of `asff` itself: it makes
    no float and no None of its own, except from Vulnerabilities' scores (`float()` of a
    score written as text). The findings writer relies on this (outputs.ocsf._encoded)."""
    get = asff.get
    fields = asff["ProductFields"]
    category = str(fields.get("secpipe/Category") or "")
    if get("Vulnerabilities") or (category == "code" and fields.get("secpipe/CWE")):
        class_uid = VULNERABILITY_FINDING
    elif category in ("misconfiguration", "compliance") or (
            not category and "Industry and Regulatory" in " ".join(
                str(t) for t in asff["Types"] if isinstance(t, str))):
        class_uid = COMPLIANCE_FINDING
    else:
        class_uid = DETECTION_FINDING
    workflow = asff["Workflow"].get("Status")
    activity = 3 if get("RecordState") == "ARCHIVED" or workflow == "RESOLVED" else 1
    severity_id = SEVERITY_IDS.get(str(asff["Severity"].get("Label") or "").upper(), 1)
    status_id = WORKFLOW_STATUS.get(str(workflow)) if workflow else None
    resources = [_resource(r) for r in asff["Resources"] if isinstance(r, dict)]
    region = next((r.get("region") for r in resources if r.get("region")), None)
    rec = (get("Remediation") or {}).get("Recommendation") or {}
    remediation = _drop_empty({"desc": rec.get("Text"),
                               "references": [rec["Url"]] if rec.get("Url") else []})
    remediation = remediation if remediation.get("desc") else None
    tool = fields.get("secpipe/Tool")
    created, updated = ms(get("CreatedAt")), ms(get("UpdatedAt"))
    class_name, activity_name = CLASS_NAMES[class_uid], ACTIVITIES[activity]
    event: dict[str, Any] = {
        "category_uid": FINDINGS_CATEGORY, "category_name": "Findings",
        "class_uid": class_uid, "class_name": class_name,
        "activity_id": activity, "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity, "type_name": f"{class_name}: {activity_name}",
    }
    stamp = updated or created
    if stamp is not None:
        event["time"] = stamp
    event["severity_id"] = severity_id
    event["severity"] = SEVERITY_CAPTIONS[severity_id]
    if status_id is not None:
        event["status_id"] = status_id
        event["status"] = STATUS_CAPTIONS[status_id]
    title = get("Title")
    if _kept(title):
        event["message"] = title
    product: dict[str, Any] = {}
    name = get("ProductName")
    if _kept(name):
        product["name"] = name
    product["vendor_name"] = get("CompanyName") or name or "unknown"
    arn = get("ProductArn")
    if _kept(arn):
        product["uid"] = arn
    if _kept(tool):
        product["feature"] = {"name": tool}
    event["metadata"] = {"version": OCSF_VERSION, "profiles": ["cloud"], "product": product}
    cloud: dict[str, Any] = {"provider": "AWS"}
    if _kept(region):
        cloud["region"] = region
    account = get("AwsAccountId")
    cloud["account"] = ({"uid": account, "type_id": 10, "type": "AWS Account"} if _kept(account)
                        else {"type_id": 10, "type": "AWS Account"})
    event["cloud"] = cloud
    info: dict[str, Any] = {}
    uid = get("Id")
    if _kept(uid):
        info["uid"] = uid
    value = title or uid
    if _kept(value):
        info["title"] = value
    value = get("Description")
    if _kept(value):
        info["desc"] = value
    types = [t for t in asff["Types"] if isinstance(t, str)]
    if types:
        info["types"] = types
    # the times are ints or None (ms), and 0 is kept: only None is dropped
    if created is not None:
        info["created_time"] = created
    if updated is not None:
        info["modified_time"] = updated
    first = get("FirstObservedAt")
    value = created if first is get("CreatedAt") else ms(first)
    if value is not None:
        info["first_seen_time"] = value
    value = ms(get("LastObservedAt"))
    if value is not None:
        info["last_seen_time"] = value
    if _kept(arn):
        info["product_uid"] = arn
    analytic: dict[str, Any] = {}
    generator, rule = get("GeneratorId"), fields.get("secpipe/RuleId")
    if _kept(generator):
        analytic["uid"] = generator
    if _kept(rule):
        analytic["name"] = rule
    analytic["type_id"] = 1
    analytic["type"] = "Rule"
    info["analytic"] = analytic
    event["finding_info"] = info
    confidence = get("Confidence")
    set_confidence(event, confidence)
    if class_uid == DETECTION_FINDING:
        if resources:
            event["resources"] = resources
        if remediation:
            event["remediation"] = remediation
    elif resources and resources[0]:
        event["resource"] = resources[0]
    if class_uid == VULNERABILITY_FINDING:
        vulns = [_vulnerability(v, remediation) for v in get("Vulnerabilities") or []
                 if isinstance(v, dict)]
        if not vulns:  # a code finding: its weakness is a CWE, not a known vulnerability
            cwes = [c for c in str(fields.get("secpipe/CWE") or "").split(",") if c]
            vulns = [_drop_empty({"cwe": {"uid": cwes[0]}, "title": title,
                                  "desc": get("Description"), "remediation": remediation})]
        event["vulnerabilities"] = vulns
    if class_uid == COMPLIANCE_FINDING:
        event["compliance"] = _compliance(asff, fields)
        if remediation:
            event["remediation"] = remediation
    unmapped = {k: v for k, v in asff.items() if k not in _MAPPED}
    for key in _STAMPS:  # a timestamp spelled otherwise than milliseconds read back
        value = get(key)
        if isinstance(value, str) and not _round_trips(value):
            unmapped[key] = value
    if len(resources) > 1 and class_uid != DETECTION_FINDING:
        unmapped["Resources"] = asff["Resources"]  # `resource` holds one
    else:
        unmapped.pop("Resources", None)
    if unmapped:
        event["unmapped"] = unmapped
    return event


__all__ = ["OWN_SHAPE", "asff_to_ocsf", "own_shape", "own_shape_event"]
