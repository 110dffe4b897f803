"""Findings to and from the AWS Security Finding Format.

`to_asff` must always produce a finding Security Hub would accept, whatever a scanner wrote:
required fields present, every length limit respected (text is cut with a visible marker,
never rejected), Types drawn from the ASFF taxonomy. `validate_asff` states those rules once so
tests, the hub and sinks check the same thing.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from functools import lru_cache
from collections.abc import Mapping   # not typing's: isinstance() is 4x faster (hub import)
from typing import Any
from urllib.parse import urlsplit

from secpipe.model.asff_types import TYPE_NAMESPACES, TYPES_BY_CATEGORY as _TYPES_BY_CATEGORY
from secpipe.model.finding import (
    Category,
    Finding,
    Severity,
    SourceContext,
    Vulnerability,
)

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
LABELS = tuple(s.name for s in Severity)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")



def types_of(finding: Finding) -> list[str]:
    """The finding's own Types when it has any (at most 50), else its category's."""
    types = finding.rare.types   # its slot: see model.rarefields
    if types:
        return list(dict.fromkeys(types))[: LIMITS["Types"]]
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
    fingerprint = finding.fingerprint()   # a SHA-256 of the identity: computed once here
    rare = finding.rare   # the rarely set fields, read in their slots (model.rarefields)
    observed = rare.first_observed_at
    out: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": clip(f"{ctx.product_name}/{finding.tool}/{fingerprint}", LIMITS["Id"]),
        "ProductArn": ctx.product_arn,
        "ProductName": clip(ctx.product_name, LIMITS["ProductName"]),
        "CompanyName": clip(ctx.company_name, LIMITS["CompanyName"]),
        "GeneratorId": _generator_id(finding.tool, finding.rule_id),
        "AwsAccountId": ctx.account_id,
        "Types": types_of(finding),
        "CreatedAt": observed or stamp,
        "UpdatedAt": stamp,
        "FirstObservedAt": observed or stamp,
        "LastObservedAt": rare.last_observed_at or observed or stamp,
        "Severity": {
            "Label": finding.severity.name,
            "Normalized": finding.severity.normalized,
            "Original": clip(finding.severity_original or finding.severity.name, 64),
        },
        "Title": title,
        "Description": description,
        "Resources": [_resource(finding, ctx)],
        "ProductFields": _product_fields(finding, ctx, fingerprint),
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "NEW"},
    }
    if rare.confidence is not None:
        out["Confidence"] = max(0, min(100, int(rare.confidence)))
    url = rare.remediation_url
    if finding.remediation or url:
        rec: dict[str, str] = {
            "Text": clip(finding.remediation or "See the reference.", 512)
        }
        if web_url(url):
            rec["Url"] = clip(url.strip(), 1024)
        out["Remediation"] = {"Recommendation": rec}
    if rare.vulnerabilities:
        out["Vulnerabilities"] = [_vulnerability(v) for v in rare.vulnerabilities[:64]]
    if rare.related:
        # the other tools' (or rules') findings of the same root cause: secpipe.pipeline.correlate
        out["RelatedFindings"] = [{"ProductArn": ctx.product_arn, "Id": clip(i, LIMITS["Id"])}
                                  for i in rare.related[:10]]
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
            details.setdefault("line", line_text(finding.location.start_line))
    resource: dict[str, Any] = {
        "Type": clip(rtype, LIMITS["Resource.Type"]),
        "Id": clip(rid or "unknown", LIMITS["Resource.Id"]),
        "Partition": ctx.partition,
        "Region": ctx.region,
    }
    if details:
        resource["Details"] = {"Other": {clip(k, 128): clip(str(v), 1024) for k, v in details.items()}}
    return resource


def _product_fields(finding: Finding, ctx: SourceContext,
                    fingerprint: str | None = None) -> dict[str, str]:
    fields: dict[str, str] = {
        "secpipe/Tool": finding.tool,
        "secpipe/RuleId": finding.rule_id,
        "secpipe/Category": finding.category.value,
        "secpipe/Fingerprint": fingerprint or finding.fingerprint(),
    }
    location_key = finding.effective_location_key()
    if location_key:
        fields["secpipe/LocationKey"] = location_key
    if finding.issue_key and finding.rare.related:
        fields["secpipe/IssueKey"] = finding.issue_key
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
            fields["secpipe/StartLine"] = line_text(loc.start_line)
        if loc.end_line is not None:
            fields["secpipe/EndLine"] = line_text(loc.end_line)
    if finding.secret is not None:
        fields["secpipe/SecretSha256"] = finding.secret.sha256
        fields["secpipe/SecretMasked"] = finding.secret.masked
    if finding.cwe:
        fields["secpipe/CWE"] = _joined(",", finding.cwe)
    references = _references(finding.references)
    if references:
        fields["secpipe/References"] = references
    for key, value in finding.properties.items():
        if len(fields) >= LIMITS["ProductFields"]:
            break
        fields.setdefault(_property_key(key), str(value))
    key_max, value_max = LIMITS["ProductFields.key"], LIMITS["ProductFields.value"]
    values = fields.values()
    try:
        # no value empty or too long, no key too long (nearly every finding): nothing to
        # drop or clip, so `fields` is the answer as it is, found by three passes in C
        # instead of the ~20 steps in Python below
        if (min(map(len, values)) > 0 and max(map(len, values)) <= value_max
                and max(map(len, fields)) <= key_max):
            return fields
    except TypeError:   # a value that is no text (None, a number): the general way
        pass
    # clip() only where needed: this runs ~20 times per finding
    return {
        (k if type(k) is str and len(k) <= key_max else clip(k, key_max)):
        (v if type(v) is str and len(v) <= value_max else clip(v, value_max))
        for k, v in fields.items()
        if v != ""
    }


# Texts every document of a run would otherwise hold a copy of, made once and shared (str
# is immutable; documents are JSON-encoded or pickled in fast mode, neither of which sees
# sharing): a run's hub keeps every document of the run until it is recorded, and these
# were about 600 bytes of each secret finding's 4 KB (line numbers, the rule's GeneratorId,
# its CWE and references, the `secpipe/` names of its properties).
_LINES = tuple(str(n) for n in range(4096))


def line_text(line: int) -> str:
    """`str(line)`, one object per small line number."""
    return _LINES[line] if type(line) is int and 0 <= line < 4096 else str(line)


@lru_cache(maxsize=4096, typed=True)
def _generator_id(tool: str, rule_id: str) -> str:
    return clip(f"{tool}/{rule_id}", LIMITS["GeneratorId"])


def _joined(sep: str, parts: tuple[str, ...]) -> str:
    """`sep.join(parts)`, one object per distinct tuple of parts."""
    try:
        return _joined_cached(sep, parts)
    except TypeError:   # not hashable (a list where a tuple belongs): made each time
        return sep.join(parts)


@lru_cache(maxsize=1024, typed=True)
def _joined_cached(sep: str, parts: tuple[str, ...]) -> str:
    return sep.join(parts)


def _references(references: tuple[str, ...]) -> str:
    """The finding's web references, space-separated ("" for none)."""
    try:
        return _references_cached(references)
    except TypeError:
        return _references_of(references)


@lru_cache(maxsize=1024, typed=True)
def _references_cached(references: tuple[str, ...]) -> str:
    return _references_of(references)


def _references_of(references: tuple[str, ...]) -> str:
    return " ".join([r.strip() for r in references if web_url(r)])


def _property_key(key: str) -> str:
    """`f"secpipe/{key}"`, one object per property name."""
    try:
        return _property_key_cached(key)
    except TypeError:
        return f"secpipe/{key}"


@lru_cache(maxsize=4096, typed=True)
def _property_key_cached(key: str) -> str:
    return f"secpipe/{key}"


def _vulnerability(v: Vulnerability) -> dict:
    out: dict[str, Any] = {"Id": clip(v.id, 512)}
    if v.package:
        pkg: dict[str, str] = {"Name": v.package}
        if v.version:
            pkg["Version"] = v.version
        if v.fixed_version:
            pkg["FixedInVersion"] = v.fixed_version
        out["VulnerablePackages"] = [pkg]
    # NaN or Infinity (a report can spell them) would make the whole batch invalid JSON
    if v.cvss_score is not None and math.isfinite(v.cvss_score):
        cvss: dict[str, Any] = {"BaseScore": v.cvss_score}
        if v.cvss_vector:
            cvss["BaseVector"] = v.cvss_vector
        out["Cvss"] = [cvss]
    if v.aliases:
        out["RelatedVulnerabilities"] = list(v.aliases)[:50]
    urls = [u.strip() for u in v.urls if web_url(u)]
    if urls:
        out["ReferenceUrls"] = urls[:20]
    out["FixAvailable"] = "YES" if v.fixed_version else "NO"
    return out


def web_url(value: object) -> bool:
    """Only absolute http(s) URLs leave secpipe in ASFF: a scanner's `javascript:` or `data:`
    "remediation link" would become a live link in any console that renders the finding."""
    return isinstance(value, str) and _web_url(value)


@lru_cache(maxsize=4096)
def _web_url(value: str) -> bool:
    """Cached: the same few reference URLs (a CWE's page, a rule's doc) recur on thousands of
    findings, and urlsplit is the costliest step of building their ASFF."""
    if any(c.isspace() for c in value.strip()):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


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



__all__ = ["LIMITS", "clip", "finding_id", "from_asff", "now_iso", "to_asff", "validate_asff"]
