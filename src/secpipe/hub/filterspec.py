"""Every AwsSecurityFindingFilters key: its filter kind and where its values sit in ASFF.

One table (`KEYS`) drives the three consumers of a filter: the SQL of GetFindings
(`hub.query` for the keys with columns or side tables of their own, `hub.query_json` for the
rest, read from the stored document), the Python matcher (`hub.filtermatch`, used by
automation rules before a finding is stored), and sorting. `tests/hub/test_filtermatch.py`
compares the table with botocore's model, so a key AWS adds fails a test until it is here.

A path is a tuple of member names; a name ending in "[]" is a list whose every element is
visited (Security Hub: a key on a nested list matches when any element matches). A key whose
path holds no list is single-valued ("scalar") and sortable.

`parse` checks one key's filter objects the same way for SQL and Python and returns them in
a normal form, so both evaluators see exactly the same criteria.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any, Mapping

from secpipe.hub.common import canon_time, days_ago
from secpipe.hub.interface import InvalidInput

STRING, NUMBER, DATE, MAP, BOOLEAN, IP, KEYWORD = (
    "StringFilter", "NumberFilter", "DateFilter", "MapFilter", "BooleanFilter", "IpFilter",
    "KeywordFilter")
POSITIVE = ("EQUALS", "PREFIX", "CONTAINS", "CONTAINS_WORD")
NEGATIVE = ("NOT_EQUALS", "PREFIX_NOT_EQUALS", "NOT_CONTAINS")
MAP_COMPARISONS = ("EQUALS", "NOT_EQUALS", "CONTAINS", "NOT_CONTAINS")
NUMBER_OPS = ("Gte", "Lte", "Eq", "Gt", "Lt")
MAX_VALUES = 20
MAX_ATTRIBUTES = 10
MAX_WORD = 256         # a CONTAINS_WORD value becomes a regular expression on PostgreSQL


@dataclass(frozen=True)
class Key:
    kind: str
    path: tuple[str, ...]

    @property
    def scalar(self) -> bool:
        return not any(p.endswith("[]") for p in self.path)


_R = "Resources[]"
_D = (_R, "Details")


def _k(kind: str, *path: str) -> Key:
    return Key(kind, tuple(p for part in path for p in part.split(".")))


KEYS: dict[str, Key] = {
    "ProductArn": _k(STRING, "ProductArn"), "AwsAccountId": _k(STRING, "AwsAccountId"),
    "Id": _k(STRING, "Id"), "GeneratorId": _k(STRING, "GeneratorId"),
    "Region": _k(STRING, "Region"), "Type": _k(STRING, "Types[]"),
    "FirstObservedAt": _k(DATE, "FirstObservedAt"), "LastObservedAt": _k(DATE, "LastObservedAt"),
    "CreatedAt": _k(DATE, "CreatedAt"), "UpdatedAt": _k(DATE, "UpdatedAt"),
    "SeverityProduct": _k(NUMBER, "Severity.Product"),
    "SeverityNormalized": _k(NUMBER, "Severity.Normalized"),
    "SeverityLabel": _k(STRING, "Severity.Label"), "Confidence": _k(NUMBER, "Confidence"),
    "Criticality": _k(NUMBER, "Criticality"), "Title": _k(STRING, "Title"),
    "Description": _k(STRING, "Description"),
    "RecommendationText": _k(STRING, "Remediation.Recommendation.Text"),
    "SourceUrl": _k(STRING, "SourceUrl"), "ProductFields": _k(MAP, "ProductFields"),
    "ProductName": _k(STRING, "ProductName"), "CompanyName": _k(STRING, "CompanyName"),
    "UserDefinedFields": _k(MAP, "UserDefinedFields"),
    "MalwareName": _k(STRING, "Malware[].Name"), "MalwareType": _k(STRING, "Malware[].Type"),
    "MalwarePath": _k(STRING, "Malware[].Path"), "MalwareState": _k(STRING, "Malware[].State"),
    "NetworkDirection": _k(STRING, "Network.Direction"),
    "NetworkProtocol": _k(STRING, "Network.Protocol"),
    "NetworkSourceIpV4": _k(IP, "Network.SourceIpV4"),
    "NetworkSourceIpV6": _k(IP, "Network.SourceIpV6"),
    "NetworkSourcePort": _k(NUMBER, "Network.SourcePort"),
    "NetworkSourceDomain": _k(STRING, "Network.SourceDomain"),
    "NetworkSourceMac": _k(STRING, "Network.SourceMac"),
    "NetworkDestinationIpV4": _k(IP, "Network.DestinationIpV4"),
    "NetworkDestinationIpV6": _k(IP, "Network.DestinationIpV6"),
    "NetworkDestinationPort": _k(NUMBER, "Network.DestinationPort"),
    "NetworkDestinationDomain": _k(STRING, "Network.DestinationDomain"),
    "ProcessName": _k(STRING, "Process.Name"), "ProcessPath": _k(STRING, "Process.Path"),
    "ProcessPid": _k(NUMBER, "Process.Pid"), "ProcessParentPid": _k(NUMBER, "Process.ParentPid"),
    "ProcessLaunchedAt": _k(DATE, "Process.LaunchedAt"),
    "ProcessTerminatedAt": _k(DATE, "Process.TerminatedAt"),
    "ThreatIntelIndicatorType": _k(STRING, "ThreatIntelIndicators[].Type"),
    "ThreatIntelIndicatorValue": _k(STRING, "ThreatIntelIndicators[].Value"),
    "ThreatIntelIndicatorCategory": _k(STRING, "ThreatIntelIndicators[].Category"),
    "ThreatIntelIndicatorLastObservedAt": _k(DATE, "ThreatIntelIndicators[].LastObservedAt"),
    "ThreatIntelIndicatorSource": _k(STRING, "ThreatIntelIndicators[].Source"),
    "ThreatIntelIndicatorSourceUrl": _k(STRING, "ThreatIntelIndicators[].SourceUrl"),
    "ResourceType": _k(STRING, _R, "Type"), "ResourceId": _k(STRING, _R, "Id"),
    "ResourcePartition": _k(STRING, _R, "Partition"),
    "ResourceRegion": _k(STRING, _R, "Region"), "ResourceTags": _k(MAP, _R, "Tags"),
    "ResourceAwsEc2InstanceType": _k(STRING, *_D, "AwsEc2Instance.Type"),
    "ResourceAwsEc2InstanceImageId": _k(STRING, *_D, "AwsEc2Instance.ImageId"),
    "ResourceAwsEc2InstanceIpV4Addresses": _k(IP, *_D, "AwsEc2Instance.IpV4Addresses[]"),
    "ResourceAwsEc2InstanceIpV6Addresses": _k(IP, *_D, "AwsEc2Instance.IpV6Addresses[]"),
    "ResourceAwsEc2InstanceKeyName": _k(STRING, *_D, "AwsEc2Instance.KeyName"),
    "ResourceAwsEc2InstanceIamInstanceProfileArn":
        _k(STRING, *_D, "AwsEc2Instance.IamInstanceProfileArn"),
    "ResourceAwsEc2InstanceVpcId": _k(STRING, *_D, "AwsEc2Instance.VpcId"),
    "ResourceAwsEc2InstanceSubnetId": _k(STRING, *_D, "AwsEc2Instance.SubnetId"),
    "ResourceAwsEc2InstanceLaunchedAt": _k(DATE, *_D, "AwsEc2Instance.LaunchedAt"),
    "ResourceAwsS3BucketOwnerId": _k(STRING, *_D, "AwsS3Bucket.OwnerId"),
    "ResourceAwsS3BucketOwnerName": _k(STRING, *_D, "AwsS3Bucket.OwnerName"),
    "ResourceAwsIamAccessKeyUserName": _k(STRING, *_D, "AwsIamAccessKey.UserName"),
    "ResourceAwsIamAccessKeyPrincipalName": _k(STRING, *_D, "AwsIamAccessKey.PrincipalName"),
    "ResourceAwsIamAccessKeyStatus": _k(STRING, *_D, "AwsIamAccessKey.Status"),
    "ResourceAwsIamAccessKeyCreatedAt": _k(DATE, *_D, "AwsIamAccessKey.CreatedAt"),
    "ResourceAwsIamUserUserName": _k(STRING, *_D, "AwsIamUser.UserName"),
    "ResourceContainerName": _k(STRING, *_D, "Container.Name"),
    "ResourceContainerImageId": _k(STRING, *_D, "Container.ImageId"),
    "ResourceContainerImageName": _k(STRING, *_D, "Container.ImageName"),
    "ResourceContainerLaunchedAt": _k(DATE, *_D, "Container.LaunchedAt"),
    "ResourceDetailsOther": _k(MAP, *_D, "Other"),
    "ComplianceStatus": _k(STRING, "Compliance.Status"),
    "VerificationState": _k(STRING, "VerificationState"),
    "WorkflowState": _k(STRING, "WorkflowState"),
    "WorkflowStatus": _k(STRING, "Workflow.Status"), "RecordState": _k(STRING, "RecordState"),
    "RelatedFindingsProductArn": _k(STRING, "RelatedFindings[].ProductArn"),
    "RelatedFindingsId": _k(STRING, "RelatedFindings[].Id"),
    "NoteText": _k(STRING, "Note.Text"), "NoteUpdatedAt": _k(DATE, "Note.UpdatedAt"),
    "NoteUpdatedBy": _k(STRING, "Note.UpdatedBy"),
    # deprecated by AWS, no ASFF member: a string anywhere in the finding equal to the value
    "Keyword": Key(KEYWORD, ()),
    "FindingProviderFieldsConfidence": _k(NUMBER, "FindingProviderFields.Confidence"),
    "FindingProviderFieldsCriticality": _k(NUMBER, "FindingProviderFields.Criticality"),
    "FindingProviderFieldsRelatedFindingsId":
        _k(STRING, "FindingProviderFields.RelatedFindings[].Id"),
    "FindingProviderFieldsRelatedFindingsProductArn":
        _k(STRING, "FindingProviderFields.RelatedFindings[].ProductArn"),
    "FindingProviderFieldsSeverityLabel": _k(STRING, "FindingProviderFields.Severity.Label"),
    "FindingProviderFieldsSeverityOriginal":
        _k(STRING, "FindingProviderFields.Severity.Original"),
    "FindingProviderFieldsTypes": _k(STRING, "FindingProviderFields.Types[]"),
    "Sample": _k(BOOLEAN, "Sample"),
    "ComplianceSecurityControlId": _k(STRING, "Compliance.SecurityControlId"),
    "ComplianceAssociatedStandardsId":
        _k(STRING, "Compliance.AssociatedStandards[].StandardsId"),
    "VulnerabilitiesExploitAvailable": _k(STRING, "Vulnerabilities[].ExploitAvailable"),
    "VulnerabilitiesFixAvailable": _k(STRING, "Vulnerabilities[].FixAvailable"),
    "ComplianceSecurityControlParametersName":
        _k(STRING, "Compliance.SecurityControlParameters[].Name"),
    "ComplianceSecurityControlParametersValue":
        _k(STRING, "Compliance.SecurityControlParameters[].Value[]"),
    "AwsAccountName": _k(STRING, "AwsAccountName"),
    "ResourceApplicationName": _k(STRING, _R, "ApplicationName"),
    "ResourceApplicationArn": _k(STRING, _R, "ApplicationArn"),
    "ResourceOwnerAccountId": _k(STRING, _R, "Owner.Account.Id"),
    "ResourceOwnerOrgId": _k(STRING, _R, "Owner.Org.Id"),
    "ResourceProvider": _k(STRING, _R, "Provider"),
}

# secpipe's own additions (not in botocore's model): the import instant
EXTRA_KEYS: dict[str, Key] = {"ProcessedAt": _k(DATE, "ProcessedAt")}
ALL_KEYS: dict[str, Key] = {**KEYS, **EXTRA_KEYS}

# String keys with a column or side table of their own (hub.query answers them there).
COLUMN_STRINGS = frozenset((
    "Id", "ProductArn", "ProductName", "CompanyName", "GeneratorId", "Title", "Description",
    "AwsAccountId", "Region", "SeverityLabel", "WorkflowStatus", "RecordState",
    "VerificationState", "ComplianceStatus", "Type", "ResourceId", "ResourceType",
    "ResourcePartition", "ResourceRegion"))
COLUMN_KEYS = COLUMN_STRINGS | {
    "SeverityNormalized", "Confidence", "Criticality", "CreatedAt", "UpdatedAt",
    "FirstObservedAt", "LastObservedAt", "ProcessedAt", "ProductFields", "UserDefinedFields",
    "ResourceTags", "Sample"}
# The other keys' values (String, Number, Date, Ip) are indexed in finding_map (kind "X", key
# = the filter key, v = the value encoded so that its order is the value's order: see
# filtermatch.encode), so EQUALS / PREFIX / ranges / CIDRs on them are index ranges that
# narrow the candidates the document check then confirms (or decide alone: query_json).
VALUE_INDEXED = tuple(k for k, s in KEYS.items() if s.kind in (STRING, NUMBER, DATE, IP)
                      and k not in COLUMN_KEYS)
VALUE_KIND = "X"
# FindingProviderFields keys whose values import copies from a top-level member that has an
# index of its own (the twin key here). Every finding has them, and in nearly every finding
# they equal the twin's values (import fills FindingProviderFields in from the top level;
# only BatchUpdateFindings or a producer sending both tells them apart), so their value rows
# are written only for a finding where they differ ("divergent"), with a marker row (kind
# DIVERGENT_KIND, key = the FPF key, v = ""). A positive filter is then "a value row matches,
# or the twin matches and the finding has no marker" (query_fpf). Severity.Original's twin
# is the label: producers that report labels send the same text (all of secpipe's findings).
# FindingProviderFieldsConfidence / Criticality have no indexed twin (the top-level columns
# carry no index), so their values are always rows, like any nested key.
# Measured (bench/hub_store.py --no-pg --sizes 10000): see query_fpf's docstring.
TWINS = {
    "FindingProviderFieldsSeverityLabel": "SeverityLabel",
    "FindingProviderFieldsSeverityOriginal": "SeverityLabel",
    "FindingProviderFieldsTypes": "Type",
    "FindingProviderFieldsRelatedFindingsId": "RelatedFindingsId",
    "FindingProviderFieldsRelatedFindingsProductArn": "RelatedFindingsProductArn",
}
DIVERGENT_KIND = "D"
# Resources[].Details.Other (a Map): one finding_map row per entry (kind OTHER_KIND, key =
# the entry's key, v = its value cut like the other maps', `full` the whole value when
# longer), as ProductFields have; keys longer than the column (128) have no row, and a
# filter naming one reads the documents.
OTHER_KEY, OTHER_KIND, OTHER_KEY_MAX = "ResourceDetailsOther", "O", 128

SORTABLE = [k for k, spec in ALL_KEYS.items()
            if spec.scalar and spec.kind in (STRING, NUMBER, DATE, BOOLEAN)]


def model_filter_kinds() -> dict[str, str]:
    """{key: filter shape} of AwsSecurityFindingFilters in botocore's pinned model."""
    import botocore.loaders

    model = botocore.loaders.Loader().load_service_model("securityhub", "service-2")
    shapes = model["shapes"]
    members = shapes["AwsSecurityFindingFilters"]["members"]
    return {k: shapes[v["shape"]]["member"]["shape"] for k, v in members.items()}


# --- parsing: one key's filter objects in normal form ----------------------------------------

@dataclass(frozen=True)
class Parsed:
    """A key's criteria, checked. By kind, `items` holds:
    String:  [(comparison, value)]           Map: [(key, comparison, value)]
    Number:  [{op: number}] (alternatives)    Date: [[(">=" | "<=" | "<", canonical)]]
    Boolean: [bool]                           Ip: [network]   Keyword: [value]"""

    key: str
    kind: str
    items: tuple

    @property
    def positive(self) -> list:
        return [i for i in self.items if i[-2] not in NEGATIVE]

    @property
    def negative(self) -> list:
        return [i for i in self.items if i[-2] in NEGATIVE]


def spec(key: Any) -> Key:
    if not isinstance(key, str) or key not in ALL_KEYS:
        raise InvalidInput(f"{key} is not a supported filter attribute")
    return ALL_KEYS[key]


def _objects(key: str, values: Any) -> list[Mapping[str, Any]]:
    if not isinstance(values, list):
        raise InvalidInput(f"Filters.{key} must be a list")
    if len(values) > MAX_VALUES:
        raise InvalidInput(f"Filters.{key} has more than {MAX_VALUES} values")
    if not all(isinstance(v, Mapping) for v in values):
        raise InvalidInput(f"Filters.{key} values must be objects")
    return values


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{where} must be a non-empty string")
    return value


def _strings(key: str, objs: list[Mapping[str, Any]]) -> tuple:
    out = []
    for v in objs:
        comp = v.get("Comparison")
        if comp not in POSITIVE + NEGATIVE:
            raise InvalidInput(f"Filters.{key}: Comparison must be one of "
                               + ", ".join(POSITIVE + NEGATIVE))
        if not isinstance(v.get("Value"), str):
            raise InvalidInput(f"Filters.{key}: Value must be a string")
        if comp == "CONTAINS_WORD" and len(v["Value"]) > MAX_WORD:
            raise InvalidInput(f"Filters.{key}: a CONTAINS_WORD value is a word (at most "
                               f"{MAX_WORD} characters)")
        out.append((comp, v["Value"]))
    kinds = {c for c, _ in out}
    if "EQUALS" in kinds and kinds & {"NOT_EQUALS", "PREFIX_NOT_EQUALS"}:
        raise InvalidInput(f"Filters.{key}: EQUALS cannot be combined with NOT_EQUALS or "
                           "PREFIX_NOT_EQUALS on the same field")
    for only in ("CONTAINS", "NOT_CONTAINS"):
        if only in kinds and len(kinds) > 1:
            raise InvalidInput(f"Filters.{key}: {only} can only be combined with {only}")
    return tuple(out)


def _maps(key: str, objs: list[Mapping[str, Any]]) -> tuple:
    out = []
    for v in objs:
        k, comp, value = v.get("Key"), v.get("Comparison"), v.get("Value")
        if not isinstance(k, str) or not isinstance(value, str):
            raise InvalidInput(f"Filters.{key}: Key and Value must be strings")
        if comp not in MAP_COMPARISONS:
            raise InvalidInput(f"Filters.{key}: Comparison must be EQUALS, NOT_EQUALS, "
                               "CONTAINS or NOT_CONTAINS")
        out.append((k, comp, value))
    return tuple(out)


def number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{where} must be a number")
    if isinstance(value, int) and -2**63 <= value < 2**63:
        return value
    try:        # a NumberFilter holds a double: bigger integers than SQLite's become one
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise InvalidInput(f"{where} is out of range")
    return out


def _numbers(key: str, objs: list[Mapping[str, Any]]) -> tuple:
    alts = []
    for v in objs:
        if set(v) - set(NUMBER_OPS) or not v:
            raise InvalidInput(f"Filters.{key}: a NumberFilter takes Gte, Lte, Eq, Gt, Lt")
        alts.append({op: number(n, f"Filters.{key}.{op}") for op, n in v.items()})
    return tuple(alts)


def date(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be a timestamp string")
    try:
        return canon_time(value)
    except ValueError:
        raise InvalidInput(f"{where} is not an ISO 8601 timestamp") from None


def _dates(key: str, objs: list[Mapping[str, Any]]) -> tuple:
    """Start/End bound the instant (inclusive). DateRange {Value: N, Unit: DAYS}: WITHIN (the
    default) the last N days, i.e. at or after now - N days; OLDER_THAN: before now - N days
    (AWS: "dates before the specified date range")."""
    alts = []
    for v in objs:
        if set(v) - {"Start", "End", "DateRange"} or not v:
            raise InvalidInput(f"Filters.{key}: a DateFilter takes Start, End or DateRange")
        bounds: list[tuple[str, str]] = []
        if "Start" in v:
            bounds.append((">=", date(v["Start"], f"Filters.{key}.Start")))
        if "End" in v:
            bounds.append(("<=", date(v["End"], f"Filters.{key}.End")))
        if "DateRange" in v:
            rng = v["DateRange"]
            if (not isinstance(rng, Mapping) or rng.get("Unit") != "DAYS"
                    or set(rng) - {"Value", "Unit", "Comparison"}
                    or isinstance(rng.get("Value"), bool) or not isinstance(rng.get("Value"), int)
                    or rng["Value"] < 0):
                raise InvalidInput(f"Filters.{key}.DateRange needs Value (days) and Unit DAYS")
            comp = rng.get("Comparison", "WITHIN")
            if comp not in ("WITHIN", "OLDER_THAN"):
                raise InvalidInput(f"Filters.{key}.DateRange.Comparison must be WITHIN or "
                                   "OLDER_THAN")
            # beyond ~1900 years ago every stored instant is within; no datetime overflow
            edge = days_ago(min(rng["Value"], 700_000))
            bounds.append((">=" if comp == "WITHIN" else "<", edge))
        alts.append(tuple(bounds))
    return tuple(alts)


def network(value: Any, where: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR (host bits may be set, as in 10.0.0.1/8); a bare address is a /32 or /128."""
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be a CIDR string")
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise InvalidInput(f"{where}: {value!r} is not a valid CIDR") from None


def parse(key: str, values: Any) -> Parsed:
    """`key`'s filter objects checked and normalised; InvalidInput names what is wrong."""
    kind = spec(key).kind
    objs = _objects(key, values)
    if kind == STRING:
        items = _strings(key, objs)
    elif kind == MAP:
        items = _maps(key, objs)
    elif kind == NUMBER:
        items = _numbers(key, objs)
    elif kind == DATE:
        items = _dates(key, objs)
    elif kind == BOOLEAN:
        if not all(isinstance(v.get("Value"), bool) and set(v) == {"Value"} for v in objs):
            raise InvalidInput(f"Filters.{key}: Value must be a boolean")
        items = tuple(v["Value"] for v in objs)
    elif kind == IP:
        if not all(set(v) == {"Cidr"} for v in objs):
            raise InvalidInput(f"Filters.{key}: an IpFilter takes Cidr")
        items = tuple(network(v["Cidr"], f"Filters.{key}.Cidr") for v in objs)
    else:
        if not all(set(v) == {"Value"} for v in objs):
            raise InvalidInput(f"Filters.{key}: a KeywordFilter takes Value")
        items = tuple(_text(v["Value"], f"Filters.{key}.Value") for v in objs)
    return Parsed(key, kind, items)
