"""An independent evaluation of AwsSecurityFindingFilters for the conformance tests.

Written apart from `secpipe.hub.filterspec` / `filtermatch` on purpose: its own spelling of
every key's place in ASFF (JMESPath-like, "[*]" for lists), its own string tests, dates
parsed with `datetime.fromisoformat`. Simple over fast. Also `cases(docs)`: for every key,
every comparison its kind allows, criteria built from values the documents really hold.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

R = "Resources[*]"
D = "Resources[*].Details."
PATHS: dict[str, tuple[str, str]] = {
    "ProductArn": ("S", "ProductArn"), "AwsAccountId": ("S", "AwsAccountId"), "Id": ("S", "Id"),
    "GeneratorId": ("S", "GeneratorId"), "Region": ("S", "Region"), "Type": ("S", "Types[*]"),
    "FirstObservedAt": ("D", "FirstObservedAt"), "LastObservedAt": ("D", "LastObservedAt"),
    "CreatedAt": ("D", "CreatedAt"), "UpdatedAt": ("D", "UpdatedAt"),
    "SeverityProduct": ("N", "Severity.Product"), "SeverityNormalized": ("N", "Severity.Normalized"),
    "SeverityLabel": ("S", "Severity.Label"), "Confidence": ("N", "Confidence"),
    "Criticality": ("N", "Criticality"), "Title": ("S", "Title"),
    "Description": ("S", "Description"),
    "RecommendationText": ("S", "Remediation.Recommendation.Text"),
    "SourceUrl": ("S", "SourceUrl"), "ProductFields": ("M", "ProductFields"),
    "ProductName": ("S", "ProductName"), "CompanyName": ("S", "CompanyName"),
    "UserDefinedFields": ("M", "UserDefinedFields"), "MalwareName": ("S", "Malware[*].Name"),
    "MalwareType": ("S", "Malware[*].Type"), "MalwarePath": ("S", "Malware[*].Path"),
    "MalwareState": ("S", "Malware[*].State"), "NetworkDirection": ("S", "Network.Direction"),
    "NetworkProtocol": ("S", "Network.Protocol"), "NetworkSourceIpV4": ("I", "Network.SourceIpV4"),
    "NetworkSourceIpV6": ("I", "Network.SourceIpV6"), "NetworkSourcePort": ("N", "Network.SourcePort"),
    "NetworkSourceDomain": ("S", "Network.SourceDomain"),
    "NetworkSourceMac": ("S", "Network.SourceMac"),
    "NetworkDestinationIpV4": ("I", "Network.DestinationIpV4"),
    "NetworkDestinationIpV6": ("I", "Network.DestinationIpV6"),
    "NetworkDestinationPort": ("N", "Network.DestinationPort"),
    "NetworkDestinationDomain": ("S", "Network.DestinationDomain"),
    "ProcessName": ("S", "Process.Name"), "ProcessPath": ("S", "Process.Path"),
    "ProcessPid": ("N", "Process.Pid"), "ProcessParentPid": ("N", "Process.ParentPid"),
    "ProcessLaunchedAt": ("D", "Process.LaunchedAt"),
    "ProcessTerminatedAt": ("D", "Process.TerminatedAt"),
    "ThreatIntelIndicatorType": ("S", "ThreatIntelIndicators[*].Type"),
    "ThreatIntelIndicatorValue": ("S", "ThreatIntelIndicators[*].Value"),
    "ThreatIntelIndicatorCategory": ("S", "ThreatIntelIndicators[*].Category"),
    "ThreatIntelIndicatorLastObservedAt": ("D", "ThreatIntelIndicators[*].LastObservedAt"),
    "ThreatIntelIndicatorSource": ("S", "ThreatIntelIndicators[*].Source"),
    "ThreatIntelIndicatorSourceUrl": ("S", "ThreatIntelIndicators[*].SourceUrl"),
    "ResourceType": ("S", R + ".Type"), "ResourceId": ("S", R + ".Id"),
    "ResourcePartition": ("S", R + ".Partition"), "ResourceRegion": ("S", R + ".Region"),
    "ResourceTags": ("M", R + ".Tags"),
    "ResourceAwsEc2InstanceType": ("S", D + "AwsEc2Instance.Type"),
    "ResourceAwsEc2InstanceImageId": ("S", D + "AwsEc2Instance.ImageId"),
    "ResourceAwsEc2InstanceIpV4Addresses": ("I", D + "AwsEc2Instance.IpV4Addresses[*]"),
    "ResourceAwsEc2InstanceIpV6Addresses": ("I", D + "AwsEc2Instance.IpV6Addresses[*]"),
    "ResourceAwsEc2InstanceKeyName": ("S", D + "AwsEc2Instance.KeyName"),
    "ResourceAwsEc2InstanceIamInstanceProfileArn":
        ("S", D + "AwsEc2Instance.IamInstanceProfileArn"),
    "ResourceAwsEc2InstanceVpcId": ("S", D + "AwsEc2Instance.VpcId"),
    "ResourceAwsEc2InstanceSubnetId": ("S", D + "AwsEc2Instance.SubnetId"),
    "ResourceAwsEc2InstanceLaunchedAt": ("D", D + "AwsEc2Instance.LaunchedAt"),
    "ResourceAwsS3BucketOwnerId": ("S", D + "AwsS3Bucket.OwnerId"),
    "ResourceAwsS3BucketOwnerName": ("S", D + "AwsS3Bucket.OwnerName"),
    "ResourceAwsIamAccessKeyUserName": ("S", D + "AwsIamAccessKey.UserName"),
    "ResourceAwsIamAccessKeyPrincipalName": ("S", D + "AwsIamAccessKey.PrincipalName"),
    "ResourceAwsIamAccessKeyStatus": ("S", D + "AwsIamAccessKey.Status"),
    "ResourceAwsIamAccessKeyCreatedAt": ("D", D + "AwsIamAccessKey.CreatedAt"),
    "ResourceAwsIamUserUserName": ("S", D + "AwsIamUser.UserName"),
    "ResourceContainerName": ("S", D + "Container.Name"),
    "ResourceContainerImageId": ("S", D + "Container.ImageId"),
    "ResourceContainerImageName": ("S", D + "Container.ImageName"),
    "ResourceContainerLaunchedAt": ("D", D + "Container.LaunchedAt"),
    "ResourceDetailsOther": ("M", D + "Other"), "ComplianceStatus": ("S", "Compliance.Status"),
    "VerificationState": ("S", "VerificationState"), "WorkflowState": ("S", "WorkflowState"),
    "WorkflowStatus": ("S", "Workflow.Status"), "RecordState": ("S", "RecordState"),
    "RelatedFindingsProductArn": ("S", "RelatedFindings[*].ProductArn"),
    "RelatedFindingsId": ("S", "RelatedFindings[*].Id"), "NoteText": ("S", "Note.Text"),
    "NoteUpdatedAt": ("D", "Note.UpdatedAt"), "NoteUpdatedBy": ("S", "Note.UpdatedBy"),
    "Keyword": ("K", ""),
    "FindingProviderFieldsConfidence": ("N", "FindingProviderFields.Confidence"),
    "FindingProviderFieldsCriticality": ("N", "FindingProviderFields.Criticality"),
    "FindingProviderFieldsRelatedFindingsId": ("S", "FindingProviderFields.RelatedFindings[*].Id"),
    "FindingProviderFieldsRelatedFindingsProductArn":
        ("S", "FindingProviderFields.RelatedFindings[*].ProductArn"),
    "FindingProviderFieldsSeverityLabel": ("S", "FindingProviderFields.Severity.Label"),
    "FindingProviderFieldsSeverityOriginal": ("S", "FindingProviderFields.Severity.Original"),
    "FindingProviderFieldsTypes": ("S", "FindingProviderFields.Types[*]"),
    "Sample": ("B", "Sample"), "ComplianceSecurityControlId": ("S", "Compliance.SecurityControlId"),
    "ComplianceAssociatedStandardsId": ("S", "Compliance.AssociatedStandards[*].StandardsId"),
    "VulnerabilitiesExploitAvailable": ("S", "Vulnerabilities[*].ExploitAvailable"),
    "VulnerabilitiesFixAvailable": ("S", "Vulnerabilities[*].FixAvailable"),
    "ComplianceSecurityControlParametersName":
        ("S", "Compliance.SecurityControlParameters[*].Name"),
    "ComplianceSecurityControlParametersValue":
        ("S", "Compliance.SecurityControlParameters[*].Value[*]"),
    "AwsAccountName": ("S", "AwsAccountName"), "ResourceApplicationName": ("S", R + ".ApplicationName"),
    "ResourceApplicationArn": ("S", R + ".ApplicationArn"),
    "ResourceOwnerAccountId": ("S", R + ".Owner.Account.Id"),
    "ResourceOwnerOrgId": ("S", R + ".Owner.Org.Id"), "ResourceProvider": ("S", R + ".Provider"),
}


def get(doc: Any, path: str) -> list[Any]:
    found = [doc]
    for part in path.split("."):
        many = part.endswith("[*]")
        name = part[:-3] if many else part
        step = []
        for node in found:
            if isinstance(node, dict) and node.get(name) is not None:
                if many:
                    step.extend(node[name] if isinstance(node[name], list) else [])
                else:
                    step.append(node[name])
        found = step
    return found


def all_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in all_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in all_strings(v)]
    return []


def is_word_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


def has_word(text: str, word: str) -> bool:
    low, w = text.lower(), word.lower()
    start = low.find(w)
    while start >= 0:
        end = start + len(w)
        if (start == 0 or not is_word_char(low[start - 1])) and \
                (end == len(low) or not is_word_char(low[end])):
            return True
        start = low.find(w, start + 1)
    return False


def str_test(s: str, comp: str, v: str) -> bool:
    return {"EQUALS": s == v, "NOT_EQUALS": s == v, "PREFIX": s.startswith(v),
            "PREFIX_NOT_EQUALS": s.startswith(v), "CONTAINS": v in s, "NOT_CONTAINS": v in s,
            "CONTAINS_WORD": has_word(s, v)}[comp]


def when(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def date_ok(value: datetime, crit: dict[str, Any], now: datetime) -> bool:
    ok = True
    if "Start" in crit:
        ok = ok and value >= when(crit["Start"])
    if "End" in crit:
        ok = ok and value <= when(crit["End"])
    if "DateRange" in crit:
        edge = now - timedelta(days=crit["DateRange"]["Value"])
        older = crit["DateRange"].get("Comparison") == "OLDER_THAN"
        ok = ok and (value < edge if older else value >= edge)
    return ok


def num_ok(n: float, crit: dict[str, float]) -> bool:
    tests = {"Gte": n >= crit.get("Gte", n), "Lte": n <= crit.get("Lte", n),
             "Eq": n == crit.get("Eq", n), "Gt": "Gt" not in crit or n > crit["Gt"],
             "Lt": "Lt" not in crit or n < crit["Lt"]}
    return all(tests.values())


def match_key(doc: dict[str, Any], key: str, criteria: list[dict[str, Any]]) -> bool:
    kind, path = PATHS[key]
    if kind == "K":
        return any(s == c["Value"] for s in all_strings(doc) for c in criteria)
    found = get(doc, path)
    if kind == "S":
        texts = [s for s in found if isinstance(s, str)]
        pos = [c for c in criteria if not c["Comparison"].startswith(("NOT_", "PREFIX_NOT"))]
        neg = [c for c in criteria if c not in pos]
        if pos and not any(str_test(s, c["Comparison"], c["Value"]) for s in texts for c in pos):
            return False
        return all(not str_test(s, c["Comparison"], c["Value"]) for s in texts for c in neg)
    if kind == "M":
        def hit(c: dict[str, Any]) -> bool:
            return any(isinstance(m, dict) and isinstance(m.get(c["Key"]), str)
                       and str_test(m[c["Key"]], c["Comparison"], c["Value"]) for m in found)
        pos = [c for c in criteria if not c["Comparison"].startswith("NOT_")]
        neg = [c for c in criteria if c["Comparison"].startswith("NOT_")]
        return (not pos or any(hit(c) for c in pos)) and not any(hit(c) for c in neg)
    if kind == "N":
        nums = [n for n in found if type(n) in (int, float)]
        return any(num_ok(n, c) for n in nums for c in criteria)
    if kind == "D":
        now = datetime.now(timezone.utc)
        return any(date_ok(when(s), c, now) for s in found for c in criteria)
    if kind == "B":
        flag = found[0] if found else False
        return any(flag == c["Value"] for c in criteria)
    if kind == "I":
        def inside(a: str, cidr: str) -> bool:
            net = ipaddress.ip_network(cidr, strict=False)
            addr = ipaddress.ip_address(a)
            return addr.version == net.version and addr in net
        return any(inside(a, c["Cidr"]) for a in found for c in criteria)
    raise AssertionError(kind)


def match(doc: dict[str, Any], filters: dict[str, list[dict[str, Any]]]) -> bool:
    return all(match_key(doc, k, v) for k, v in filters.items())


def _pick(values: list[Any], n: int) -> list[Any]:
    distinct = sorted(set(values), key=str)
    return [distinct[(i * 7) % len(distinct)] for i in range(min(n, len(distinct)))]


def cases(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, list]]]:
    """(label, Filters) for every key and every comparison its kind allows."""
    for key, (kind, path) in PATHS.items():
        found = [v for d in docs for v in get(d, path)] if path else []
        if kind == "S":
            texts = _pick([s for s in found if isinstance(s, str)], 3) or ["nothing"]
            a, b = texts[0], texts[-1]
            word = next((w for t in texts for w in t.split() if w.strip(".:()")), a)
            word = word.strip(".:()").swapcase()
            mid = a[len(a) // 3: len(a) // 3 + 3] or a
            for comp, val in (("EQUALS", a), ("PREFIX", a[:4]), ("CONTAINS", mid),
                              ("CONTAINS_WORD", word), ("NOT_EQUALS", a),
                              ("PREFIX_NOT_EQUALS", a[:4]), ("NOT_CONTAINS", mid),
                              ("EQUALS", "no such value")):
                yield f"{key} {comp} {val!r}", {key: [{"Comparison": comp, "Value": val}]}
            yield f"{key} EQUALS a|b", {key: [{"Comparison": "EQUALS", "Value": a},
                                              {"Comparison": "EQUALS", "Value": b}]}
            yield f"{key} PREFIX and NOT_EQUALS", {
                key: [{"Comparison": "PREFIX", "Value": a[:2]},
                      {"Comparison": "NOT_EQUALS", "Value": a},
                      {"Comparison": "PREFIX_NOT_EQUALS", "Value": b}]}
        elif kind == "M":
            pairs = _pick([(k, v) for m in found if isinstance(m, dict) for k, v in m.items()], 2)
            for k, v in pairs or [("none", "none")]:
                for comp, val in (("EQUALS", v), ("NOT_EQUALS", v), ("CONTAINS", v[1:3] or v),
                                  ("NOT_CONTAINS", v[:2])):
                    yield f"{key} {k} {comp} {val!r}", {
                        key: [{"Key": k, "Comparison": comp, "Value": val}]}
        elif kind == "N":
            nums = sorted(n for n in found if type(n) in (int, float)) or [0]
            lo, mid, hi = nums[len(nums) // 4], nums[len(nums) // 2], nums[3 * len(nums) // 4]
            for label, crit in (("Gte", [{"Gte": mid}]), ("Lte", [{"Lte": mid}]),
                                ("Eq", [{"Eq": mid}]), ("Gt&Lt", [{"Gt": lo, "Lt": hi}]),
                                ("Lt|Gt", [{"Lt": lo}, {"Gt": hi}]), ("Gte&Lte", [{"Gte": lo,
                                                                                    "Lte": mid}])):
                yield f"{key} {label}", {key: crit}
        elif kind == "D":
            stamps = sorted(when(s) for s in found) or [datetime.now(timezone.utc)]
            lo, hi = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
            iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"  # noqa: E731
            for label, crit in (("Start&End", [{"Start": iso(lo), "End": iso(hi)}]),
                                ("Start", [{"Start": iso(hi)}]), ("End", [{"End": iso(lo)}]),
                                ("Within", [{"DateRange": {"Value": 10, "Unit": "DAYS"}}]),
                                ("Within2", [{"DateRange": {"Value": 10, "Unit": "DAYS",
                                                            "Comparison": "WITHIN"}}]),
                                ("Older", [{"DateRange": {"Value": 10, "Unit": "DAYS",
                                                          "Comparison": "OLDER_THAN"}}])):
                yield f"{key} {label}", {key: crit}
        elif kind == "I":
            for cidr in ("10.1.0.0/16", "10.200.0.0/14", "2001:db8:1::/48", "2001:db8::/32",
                         "0.0.0.0/0"):
                yield f"{key} {cidr}", {key: [{"Cidr": cidr}]}
            addrs = _pick([a for a in found if isinstance(a, str)], 1)
            if addrs:
                yield f"{key} host", {key: [{"Cidr": addrs[0]}]}
            yield f"{key} v4|v6", {key: [{"Cidr": "10.2.0.0/16"}, {"Cidr": "2001:db8:2::/48"}]}
        elif kind == "B":
            for flag in (True, False):
                yield f"{key} {flag}", {key: [{"Value": flag}]}
        elif kind == "K":
            for val in ("EICAR", "alice", "no such keyword"):
                yield f"{key} {val}", {key: [{"Value": val}]}
