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
    COMPLIANCE_CAPTIONS,
    COMPLIANCE_STATUS,
    _drop_empty,
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
    score written as text). The findings writer relies on this (outputs.ocsf._encoded).

    `x or _kept(x)` below is `_kept(x)` without a call for the usual non-empty string."""
    get = asff.get
    fields = asff["ProductFields"]
    fget = fields.get
    category = fget("secpipe/Category")
    if type(category) is not str:
        category = str(category or "")
    if get("Vulnerabilities") or (category == "code" and fget("secpipe/CWE")):
        class_uid = VULNERABILITY_FINDING
    elif category in ("misconfiguration", "compliance") or (
            not category and "Industry and Regulatory" in " ".join(
                str(t) for t in asff["Types"] if isinstance(t, str))):
        class_uid = COMPLIANCE_FINDING
    else:
        class_uid = DETECTION_FINDING
    workflow = asff["Workflow"].get("Status")
    activity = 3 if get("RecordState") == "ARCHIVED" or workflow == "RESOLVED" else 1
    label = asff["Severity"].get("Label")
    severity_id = SEVERITY_IDS.get(label) if type(label) is str else None
    if severity_id is None:
        severity_id = SEVERITY_IDS.get(str(label or "").upper(), 1)
    status_id = WORKFLOW_STATUS.get(str(workflow)) if workflow else None
    resources = [_own_resource(r) for r in asff["Resources"] if isinstance(r, dict)]
    region = None
    for resource in resources:
        region = resource.get("region")
        if region:
            break
    else:
        region = None
    remediation = _remediation(get("Remediation"))
    tool = fget("secpipe/Tool")
    created, updated = ms(get("CreatedAt")), ms(get("UpdatedAt"))
    event: dict[str, Any] = _HEADS[class_uid, activity].copy()
    stamp = updated or created
    if stamp is not None:
        event["time"] = stamp
    event["severity_id"] = severity_id
    event["severity"] = SEVERITY_CAPTIONS[severity_id]
    if status_id is not None:
        event["status_id"] = status_id
        event["status"] = STATUS_CAPTIONS[status_id]
    title = get("Title")
    if title or _kept(title):
        event["message"] = title
    product: dict[str, Any] = {}
    name = get("ProductName")
    if name or _kept(name):
        product["name"] = name
    product["vendor_name"] = get("CompanyName") or name or "unknown"
    arn = get("ProductArn")
    arn_kept = bool(arn) or _kept(arn)
    if arn_kept:
        product["uid"] = arn
    if tool or _kept(tool):
        product["feature"] = {"name": tool}
    event["metadata"] = {"version": OCSF_VERSION, "profiles": ["cloud"], "product": product}
    cloud: dict[str, Any] = {"provider": "AWS"}
    if region or _kept(region):
        cloud["region"] = region
    account = get("AwsAccountId")
    cloud["account"] = ({"uid": account, "type_id": 10, "type": "AWS Account"}
                        if account or _kept(account) else {"type_id": 10, "type": "AWS Account"})
    event["cloud"] = cloud
    info: dict[str, Any] = {}
    uid = get("Id")
    if uid or _kept(uid):
        info["uid"] = uid
    value = title or uid
    if value or _kept(value):
        info["title"] = value
    value = get("Description")
    if value or _kept(value):
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
    if arn_kept:
        info["product_uid"] = arn
    analytic: dict[str, Any] = {}
    generator, rule = get("GeneratorId"), fget("secpipe/RuleId")
    if generator or _kept(generator):
        analytic["uid"] = generator
    if rule or _kept(rule):
        analytic["name"] = rule
    analytic["type_id"] = 1
    analytic["type"] = "Rule"
    info["analytic"] = analytic
    event["finding_info"] = info
    confidence = get("Confidence")
    if confidence is not None:
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
            cwes = [c for c in str(fget("secpipe/CWE") or "").split(",") if c]
            vulns = [_drop_empty({"cwe": {"uid": cwes[0]}, "title": title,
                                  "desc": get("Description"), "remediation": remediation})]
        event["vulnerabilities"] = vulns
    if class_uid == COMPLIANCE_FINDING:
        # `_compliance` of a document without Compliance (this path has none): the tool as
        # the standard, the rule as the control, status Fail, no status detail
        compliance: dict[str, Any] = {
            "standards": [str(tool or get("ProductName") or "unknown")]}
        control = rule or generator
        if control or _kept(control):
            compliance["control"] = control
        compliance["status_id"] = _FAILED
        compliance["status"] = COMPLIANCE_CAPTIONS[_FAILED]
        event["compliance"] = compliance
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


# each class and activity's first eight members, copied into each event
_HEADS = {
    (class_uid, activity): {
        "category_uid": FINDINGS_CATEGORY, "category_name": "Findings",
        "class_uid": class_uid, "class_name": CLASS_NAMES[class_uid],
        "activity_id": activity, "activity_name": ACTIVITIES[activity],
        "type_uid": class_uid * 100 + activity,
        "type_name": f"{CLASS_NAMES[class_uid]}: {ACTIVITIES[activity]}",
    }
    for class_uid in (VULNERABILITY_FINDING, COMPLIANCE_FINDING, DETECTION_FINDING)
    for activity in (1, 3)
}
_FAILED = COMPLIANCE_STATUS["FAILED"]


def _own_resource(r: dict[str, Any]) -> dict[str, Any]:
    """`ocsf._resource(r)`, each member set only when kept rather than dropped afterwards."""
    out: dict[str, Any] = {}
    for member, key in _RESOURCE_KEYS:
        value = r.get(member)
        if value or (value is not None and _kept(value)):
            out[key] = value
    return out


_RESOURCE_KEYS = (("Type", "type"), ("Id", "uid"), ("Region", "region"),
                  ("Partition", "cloud_partition"), ("Details", "data"))


def _remediation(given: Any) -> dict[str, Any] | None:
    """OCSF's remediation of ASFF's Remediation: its recommendation's text, and its URL as
    the one reference; None without a text."""
    rec = (given or {}).get("Recommendation") or {}
    text = rec.get("Text")
    if not text:
        return None
    out: dict[str, Any] = {"desc": text}
    if rec.get("Url"):
        out["references"] = [rec["Url"]]
    return out


__all__ = ["OWN_SHAPE", "asff_to_ocsf", "own_shape", "own_shape_event"]
