"""GetFindingsV2: Security Hub's OCSF-based query, over the same store as GetFindings.

Filters name OCSF attributes (`finding_info.title`, `severity`, `resources.uid` ...) and nest:
`CompositeFilters` combined by `CompositeOperator`, each composite's leaf filters and
`NestedCompositeFilters` combined by its `Operator` (AND or OR, default AND). Each leaf is
translated to the ASFF filter it means (`secpipe.model.ocsf` is the mapping the answers use:
`finding_info.uid` is the ASFF Id, `severity` the caption of Severity.Label ...) and built
by the GetFindings filter engine (`query.where_clause`), so one comparison means the same
in both calls; AND/OR between leaves is SQL's. OCSF attributes that are enumerations of an
ASFF value (severity, severity_id, status, status_id, compliance.status[_id], activity) are
compared in Python over their few values and become an EQUALS / NOT_EQUALS set.

An OCSF attribute of the model's enumeration that the hub cannot answer (it has no ASFF
counterpart, e.g. `evidences.api.operation`) is a ValidationException naming it: never a
silently ignored filter. Findings come back as OCSF documents (`asff_to_ocsf`).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import and_, false, not_, or_, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from secpipe.hub import pages, query
from secpipe.hub.common import decode_token, encode_token, fingerprint, loads
from secpipe.hub.interface import HubError, InvalidInput
from secpipe.hub.schema import findings as F
from secpipe.model.ocsf import (COMPLIANCE_CAPTIONS, COMPLIANCE_STATUS, SEVERITY_CAPTIONS,
                                SEVERITY_IDS, STATUS_CAPTIONS, WORKFLOW_STATUS, asff_to_ocsf)


class ValidationError(HubError):
    """GetFindingsV2's InvalidInput (the newer API's error name)."""

    code, status = "ValidationException", 400


class OrganizationNotFound(HubError):
    code, status = "OrganizationNotFoundException", 400


STRINGS = {
    "metadata.uid": "Id", "finding_info.uid": "Id", "finding_info.title": "Title",
    "finding_info.desc": "Description", "finding_info.types": "Type",
    "finding_info.src_url": "SourceUrl", "metadata.product.name": "ProductName",
    "metadata.product.vendor_name": "CompanyName", "metadata.product.uid": "ProductArn",
    "cloud.account.uid": "AwsAccountId", "cloud.account.name": "AwsAccountName",
    "cloud.region": "Region", "compliance.control": "ComplianceSecurityControlId",
    "compliance.standards": "ComplianceAssociatedStandardsId",
    "remediation.desc": "RecommendationText", "resources.type": "ResourceType",
    "resources.uid": "ResourceId", "resources.region": "ResourceRegion",
    "resources.cloud_partition": "ResourcePartition",
    "resources.owner.account.uid": "ResourceOwnerAccountId",
    "resources.owner.org.uid": "ResourceOwnerOrgId", "resources.provider": "ResourceProvider",
    "comment": "NoteText", "malware.name": "MalwareName",
    "finding_info.related_events.uid": "RelatedFindingsId",
    "finding_info.related_events.product.uid": "RelatedFindingsProductArn",
}
MAP_KEYED = {"finding_info.analytic.name": ("ProductFields", "secpipe/RuleId")}
DATES = {"finding_info.created_time_dt": "CreatedAt",
         "finding_info.first_seen_time_dt": "FirstObservedAt",
         "finding_info.last_seen_time_dt": "LastObservedAt",
         "finding_info.modified_time_dt": "UpdatedAt"}
NUMBERS = {"confidence_score": "Confidence"}
MAPS = {"resources.tags": "ResourceTags"}
BOOLEANS = {"vulnerabilities.is_fix_available": "VulnerabilitiesFixAvailable",
            "vulnerabilities.is_exploit_available": "VulnerabilitiesExploitAvailable"}
IPS = {"evidences.dst_endpoint.ip": "NetworkDestinationIpV4",
       "evidences.src_endpoint.ip": "NetworkSourceIpV4"}

# enumerations: OCSF caption -> ASFF value, and OCSF id -> ASFF value
_SEVERITY = {SEVERITY_CAPTIONS[i]: label for label, i in SEVERITY_IDS.items()}
_STATUS = {STATUS_CAPTIONS[i]: status for status, i in WORKFLOW_STATUS.items()}
_COMPLIANCE = {COMPLIANCE_CAPTIONS[i]: status for status, i in COMPLIANCE_STATUS.items()}
ENUM_STRINGS = {"severity": ("SeverityLabel", _SEVERITY), "status": ("WorkflowStatus", _STATUS),
                "compliance.status": ("ComplianceStatus", _COMPLIANCE)}
ENUM_NUMBERS = {
    "severity_id": ("SeverityLabel", {i: label for label, i in SEVERITY_IDS.items()}),
    "status_id": ("WorkflowStatus", {i: s for s, i in WORKFLOW_STATUS.items()}),
    "compliance.status_id": ("ComplianceStatus", {i: s for s, i in COMPLIANCE_STATUS.items()}),
}
ACTIVITIES = {"Create": 1, "Close": 3}
CONSTANTS = {"cloud.provider": "AWS"}       # the same in every finding `asff_to_ocsf` writes     # what `asff_to_ocsf` writes (see its `_activity`)

SORTS = {
    "finding_info.title": "Title", "finding_info.uid": "Id", "metadata.uid": "Id",
    "metadata.product.name": "ProductName", "metadata.product.uid": "ProductArn",
    "metadata.product.vendor_name": "CompanyName", "severity": "SeverityLabel",
    "severity_id": "SeverityLabel", "status": "WorkflowStatus", "status_id": "WorkflowStatus",
    "compliance.status": "ComplianceStatus", "cloud.account.uid": "AwsAccountId",
    "cloud.region": "Region", "confidence_score": "Confidence", "resources.uid": "ResourceId",
    "resources.type": "ResourceType", **DATES,
}
DEFAULT_SORT = ({"Field": "finding_info.modified_time_dt", "SortOrder": "desc"},)
MAX_DEPTH = 8
POSITIVE = ("EQUALS", "PREFIX", "CONTAINS", "CONTAINS_WORD")
NEGATIVE = {"NOT_EQUALS": "EQUALS", "PREFIX_NOT_EQUALS": "PREFIX", "NOT_CONTAINS": "CONTAINS"}


def _string_holds(caption: str, comp: str, value: str) -> bool:
    """A positive string comparison on an enumeration's caption (case-insensitive, as a
    person types `high` for `High`)."""
    c, v = caption.lower(), value.lower()
    if comp == "EQUALS":
        return c == v
    if comp == "PREFIX":
        return c.startswith(v)
    if comp == "CONTAINS_WORD":
        return v in re.split(r"\W+", c)
    return v in c


def _number_holds(n: float, f: Mapping[str, Any]) -> bool:
    x = float(n)
    tests: dict[str, Callable[[float], bool]] = {
        "Eq": lambda v: x == v, "Gte": lambda v: x >= v, "Lte": lambda v: x <= v,
        "Gt": lambda v: x > v, "Lt": lambda v: x < v}
    present = [(k, f[k]) for k in tests if f.get(k) is not None]
    if not present:
        raise ValidationError("a NumberFilter needs Eq, Gt, Gte, Lt or Lte")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for _, v in present):
        raise ValidationError("NumberFilter bounds must be numbers")
    return all(tests[k](float(v)) for k, v in present)


class Builder:
    """Turns OCSF composite filters into one SQL condition over `findings`."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def asff(self, key: str, cond: Mapping[str, Any]) -> ColumnElement:
        """One ASFF filter condition through the GetFindings engine."""
        return query.where_clause({key: [dict(cond)]}, self.dialect)

    def any_of(self, key: str, values: Sequence[str]) -> ColumnElement:
        if not values:
            return false()
        return query.where_clause({key: [{"Value": v, "Comparison": "EQUALS"}
                                         for v in values]}, self.dialect)

    def none_of(self, key: str, values: Sequence[str]) -> ColumnElement:
        if not values:
            return true()
        return query.where_clause({key: [{"Value": v, "Comparison": "NOT_EQUALS"}
                                         for v in values]}, self.dialect)

    def closed(self) -> ColumnElement:
        """OCSF activity Close: archived or resolved (`asff_to_ocsf`)."""
        return or_(self.asff("RecordState", {"Value": "ARCHIVED", "Comparison": "EQUALS"}),
                   self.asff("WorkflowStatus", {"Value": "RESOLVED", "Comparison": "EQUALS"}))

    def activity(self, ids: set[int]) -> ColumnElement:
        if ids >= {1, 3}:
            return true()
        if 3 in ids:
            return self.closed()
        return not_(self.closed()) if 1 in ids else false()

    # --- leaves ---------------------------------------------------------------------------
    def string(self, name: str, f: Mapping[str, Any]) -> ColumnElement:
        comp, value = f.get("Comparison"), f.get("Value")
        if comp not in POSITIVE and comp not in NEGATIVE:
            raise ValidationError(f"{name}: Comparison must be one of "
                                  f"{', '.join([*POSITIVE, *NEGATIVE])}")
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"{name}: Value must be a non-empty string")
        positive = NEGATIVE.get(comp, comp)
        if name in CONSTANTS:
            holds = _string_holds(CONSTANTS[name], positive, value)
            return true() if holds != (comp in NEGATIVE) else false()
        if name in ENUM_STRINGS or name == "activity_name":
            key, domain = ENUM_STRINGS.get(name, ("", {k: str(v) for k, v in ACTIVITIES.items()}))
            hits = [asff for caption, asff in domain.items()
                    if _string_holds(caption, positive, value)]
            if name == "activity_name":
                ids = {int(h) for h in hits}
                return self.activity(ids if comp not in NEGATIVE
                                     else {1, 3} - ids)
            return self.none_of(key, hits) if comp in NEGATIVE else self.any_of(key, hits)
        if name in MAP_KEYED:
            key, sub = MAP_KEYED[name]
            if comp not in ("EQUALS", "NOT_EQUALS", "CONTAINS", "NOT_CONTAINS"):
                raise ValidationError(f"{name} supports EQUALS, NOT_EQUALS, CONTAINS and "
                                      "NOT_CONTAINS")
            return self.asff(key, {"Key": sub, "Value": value, "Comparison": comp})
        if name not in STRINGS:
            raise ValidationError(f"{name} is not a string field the hub can filter on")
        return self.asff(STRINGS[name], {"Value": value, "Comparison": comp})

    def number(self, name: str, f: Mapping[str, Any]) -> ColumnElement:
        if name in ENUM_NUMBERS:
            key, domain = ENUM_NUMBERS[name]
            return self.any_of(key, [v for i, v in domain.items() if _number_holds(i, f)])
        if name == "activity_id":
            return self.activity({i for i in ACTIVITIES.values() if _number_holds(i, f)})
        if name not in NUMBERS:
            raise ValidationError(f"{name} is not a number field the hub can filter on")
        return self.asff(NUMBERS[name], f)

    def simple(self, table: Mapping[str, str], kind: str, name: str,
               f: Mapping[str, Any]) -> ColumnElement:
        if name not in table:
            raise ValidationError(f"{name} is not a {kind} field the hub can filter on")
        if kind == "boolean":
            if not isinstance(f.get("Value"), bool):
                raise ValidationError(f"{name}: Value must be a boolean")
            return self.asff(table[name], {"Value": "YES" if f["Value"] else "NO",
                                           "Comparison": "EQUALS"})
        return self.asff(table[name], f)

    # --- composites -------------------------------------------------------------------------
    def composite(self, comp: Any, depth: int = 0) -> ColumnElement:
        if not isinstance(comp, Mapping):
            raise ValidationError("a CompositeFilter must be an object")
        if depth > MAX_DEPTH:
            raise ValidationError(f"composite filters nest at most {MAX_DEPTH} deep")
        op = comp.get("Operator", "AND")
        if op not in ("AND", "OR"):
            raise ValidationError("Operator must be AND or OR")
        leaves: dict[str, Callable[[str, Mapping[str, Any]], ColumnElement]] = {
            "StringFilters": self.string,
            "NumberFilters": self.number,
            "DateFilters": lambda n, f: self.simple(DATES, "date", n, f),
            "BooleanFilters": lambda n, f: self.simple(BOOLEANS, "boolean", n, f),
            "MapFilters": lambda n, f: self.simple(MAPS, "map", n, f),
            "IpFilters": lambda n, f: self.simple(IPS, "IP", n, f),
        }
        parts: list[ColumnElement] = []
        for member, leaf in leaves.items():
            for item in _list(comp, member):
                if not isinstance(item, Mapping) or not isinstance(item.get("Filter"), Mapping):
                    raise ValidationError(f"{member} entries need FieldName and Filter")
                parts.append(leaf(str(item.get("FieldName")), item["Filter"]))
        parts += [self.composite(c, depth + 1) for c in _list(comp, "NestedCompositeFilters")]
        unknown = set(comp) - {*leaves, "NestedCompositeFilters", "Operator"}
        if unknown:
            raise ValidationError(f"unknown CompositeFilter members: {', '.join(sorted(unknown))}")
        if not parts:
            return true()
        return and_(*parts) if op == "AND" else or_(*parts)

    def filters(self, filters: Any) -> ColumnElement:
        if filters is None:
            return true()
        if not isinstance(filters, Mapping):
            raise ValidationError("Filters must be an object")
        op = filters.get("CompositeOperator", "AND")
        if op not in ("AND", "OR"):
            raise ValidationError("CompositeOperator must be AND or OR")
        parts = [self.composite(c) for c in _list(filters, "CompositeFilters")]
        if not parts:
            return true()
        return and_(*parts) if op == "AND" else or_(*parts)


def _list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(f"{key} must be a list")
    return value


def _sort(criteria: Any) -> list[dict[str, str]]:
    if criteria is None:
        criteria = list(DEFAULT_SORT)
    if not isinstance(criteria, list):
        raise ValidationError("SortCriteria must be a list")
    out = []
    for c in criteria:
        field = c.get("Field") if isinstance(c, Mapping) else None
        if field not in SORTS:
            raise ValidationError(f"SortCriteria Field {field!r} is not sortable; use one of "
                                  f"{', '.join(sorted(SORTS))}")
        out.append({"Field": SORTS[field], "SortOrder": c.get("SortOrder", "asc")})
    return out


def page(conn: Connection, filters: Any, sort: Any, max_results: int,
         next_token: str | None, scopes: Any = None, partition_scope: Any = None
         ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of OCSF findings and the next page's token (`partition_scope`: a condition on
    `findings` naming the call's account and region, where the store keeps them apart)."""
    if scopes:
        raise OrganizationNotFound("Scopes name AWS Organizations; this hub has no "
                                   "organization (leave Scopes out)")
    if isinstance(max_results, bool) or not isinstance(max_results, int) \
            or not 1 <= max_results <= 100:
        raise ValidationError("MaxResults must be between 1 and 100")
    try:
        where = Builder(conn.dialect.name).filters(filters)
        keys = pages.sort_keys(_sort(sort))
        digest = fingerprint(["v2", filters or {}, sort or list(DEFAULT_SORT)])
        conds = [where] if partition_scope is None else [where, partition_scope]
        if next_token:
            token = decode_token(next_token)
            values = token.get("k")
            if token.get("q") != digest or not isinstance(values, list) \
                    or len(values) != len(keys):
                raise InvalidInput("NextToken does not belong to this request")
            pages.check_token_values(keys, values)
            conds.append(pages.after_clause(keys, values))
    except InvalidInput as exc:        # the engine's error, under this API's name
        raise ValidationError(exc.message) from None
    q = (select(F.c.doc, *(k for k, _, _ in keys)).where(*conds)
         .order_by(*(k.desc() if desc else k.asc() for k, desc, _ in keys))
         .limit(max_results + 1))
    rows = conn.execute(q).all()
    token_out = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token_out = encode_token({"q": digest, "k": list(rows[-1][1:])})
    return [asff_to_ocsf(loads(r[0])) for r in rows], token_out
