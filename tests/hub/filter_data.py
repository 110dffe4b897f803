"""~300 varied ASFF findings for the filter conformance tests (deterministic: seeded).

Every member a filter key reads is present on some findings and absent on others; nested
lists (Resources with EC2/S3/IAM/container/other details, Vulnerabilities, Malware, threat
intel, related findings) hold 0-3 elements; addresses are IPv4 and IPv6; dates are spread
around now - 10 days (DateRange WITHIN / OLDER_THAN) in several ISO spellings.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

ACCOUNT = "123456789012"
ARNS = [f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default",
        f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/scanner-two"]
WORDS = ["Lambda", "bucket", "S3", "public-read", "Open", "port", "22", "SSH", "root",
         "access_key", "EC2", "instance", "CVE-2024-1234", "openssl", "Critical", "x"]


def _stamp(rnd: random.Random, now: datetime) -> str:
    at = now - timedelta(days=rnd.uniform(0, 30), seconds=rnd.randint(0, 3600))
    at = at.replace(microsecond=rnd.randrange(0, 1000) * 1000)
    style = rnd.randrange(3)
    if style == 0:
        return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"
    if style == 1:
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return at.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")


def _words(rnd: random.Random, n: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(n)) + rnd.choice(["", ".", " (x)", ":"])


def _maybe(rnd: random.Random, p: float = 0.5) -> bool:
    return rnd.random() < p


def _ipv4(rnd: random.Random) -> str:
    return f"10.{rnd.choice([1, 2, 200])}.{rnd.randint(0, 3)}.{rnd.randint(1, 254)}"


def _ipv6(rnd: random.Random) -> str:
    return f"2001:db8:{rnd.choice(['1', '2', 'ff'])}::{rnd.randint(1, 0xffff):x}"


def _resource(rnd: random.Random, i: int, j: int, now: datetime) -> dict[str, Any]:
    kind = rnd.choice(["AwsEc2Instance", "AwsS3Bucket", "AwsIamAccessKey", "AwsIamUser",
                       "Container", "Other", None])
    res: dict[str, Any] = {"Type": kind or rnd.choice(["Other", "AwsLambdaFunction"]),
                           "Id": f"arn:aws:thing:::{kind or 'res'}/{i}-{j}"}
    if _maybe(rnd, 0.7):
        res["Partition"] = rnd.choice(["aws", "aws-cn"])
    if _maybe(rnd, 0.7):
        res["Region"] = rnd.choice(["us-east-1", "eu-west-1", "us-west-2"])
    if _maybe(rnd, 0.4):
        res["Tags"] = {rnd.choice(["env", "team", "Owner"]): rnd.choice(["prod", "dev", "sec ops"])
                       for _ in range(rnd.randint(1, 2))}
    if _maybe(rnd, 0.3):
        res["ApplicationName"] = rnd.choice(["shop", "shop-api", "billing"])
        res["ApplicationArn"] = f"arn:aws:resource-groups:::group/{res['ApplicationName']}"
    if _maybe(rnd, 0.3):
        res["Owner"] = {"Account": {"Id": rnd.choice([ACCOUNT, "210987654321"])}}
        if _maybe(rnd):
            res["Owner"]["Org"] = {"Id": rnd.choice(["o-abc", "o-xyz"])}
    if _maybe(rnd, 0.3):
        res["Provider"] = rnd.choice(["AWS", "AZURE"])
    details: dict[str, Any] = {}
    if kind == "AwsEc2Instance":
        details[kind] = {"Type": rnd.choice(["t3.micro", "m5.large", "t3.small"]),
                         "ImageId": f"ami-{rnd.randint(1, 5):04d}",
                         "IpV4Addresses": [_ipv4(rnd) for _ in range(rnd.randint(0, 2))],
                         "IpV6Addresses": [_ipv6(rnd) for _ in range(rnd.randint(0, 2))],
                         "KeyName": rnd.choice(["deploy", "admin key"]),
                         "IamInstanceProfileArn": f"arn:aws:iam::{ACCOUNT}:instance-profile/p{j}",
                         "VpcId": rnd.choice(["vpc-1", "vpc-2"]),
                         "SubnetId": rnd.choice(["subnet-a", "subnet-b"]),
                         "LaunchedAt": _stamp(rnd, now)}
    elif kind == "AwsS3Bucket":
        details[kind] = {"OwnerId": rnd.choice(["owner-1", "owner-2"]),
                         "OwnerName": rnd.choice(["alice", "bob smith"])}
    elif kind == "AwsIamAccessKey":
        details[kind] = {"UserName": rnd.choice(["ci", "ops"]),
                         "PrincipalName": rnd.choice(["ci-bot", "ops-user"]),
                         "Status": rnd.choice(["Active", "Inactive"]),
                         "CreatedAt": _stamp(rnd, now)}
    elif kind == "AwsIamUser":
        details[kind] = {"UserName": rnd.choice(["root", "dev-ann"])}
    elif kind == "Container":
        details[kind] = {"Name": rnd.choice(["web", "worker"]),
                         "ImageId": f"sha256:{rnd.randint(1, 9)}",
                         "ImageName": rnd.choice(["nginx:1.25", "python:3.12-slim"]),
                         "LaunchedAt": _stamp(rnd, now)}
    if kind == "Other" or _maybe(rnd, 0.15):
        details["Other"] = {rnd.choice(["path", "line", "Scanner"]): rnd.choice(
            ["src/app.py", "12", "trivy", "a b c"]) for _ in range(rnd.randint(1, 2))}
    if details:
        res["Details"] = details
    return res


def finding(i: int, rnd: random.Random, now: datetime) -> dict[str, Any]:
    created = _stamp(rnd, now)
    doc: dict[str, Any] = {
        "SchemaVersion": "2018-10-08", "Id": f"finding-{i:03d}/{rnd.choice(['a', 'b'])}",
        "ProductArn": rnd.choice(ARNS), "GeneratorId": rnd.choice(["gen/one", "gen/two", "x"]),
        "AwsAccountId": ACCOUNT, "Types": rnd.sample(
            ["Software and Configuration Checks/Vulnerabilities/CVE", "Effects/Data Exposure",
             "TTPs/Initial Access", "Sensitive Data Identifications/Passwords"],
            rnd.randint(1, 2)),
        "CreatedAt": created, "UpdatedAt": _stamp(rnd, now),
        "Severity": {"Label": rnd.choice(["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"])},
        "Title": _words(rnd, rnd.randint(1, 5)), "Description": _words(rnd, rnd.randint(2, 8)),
        "Resources": [_resource(rnd, i, j, now) for j in range(rnd.randint(1, 3))],
    }
    if _maybe(rnd, 0.6):
        doc["Severity"]["Product"] = rnd.choice([0, 2.5, 7, 8.8, 10, 99])
    if _maybe(rnd):
        doc["Severity"]["Original"] = rnd.choice(["High", "9.8", "moderate"])
    for key in ("FirstObservedAt", "LastObservedAt"):
        if _maybe(rnd, 0.6):
            doc[key] = _stamp(rnd, now)
    for key in ("Confidence", "Criticality"):
        if _maybe(rnd):
            doc[key] = rnd.randint(0, 100)
    if _maybe(rnd):
        doc["Remediation"] = {"Recommendation": {"Text": _words(rnd, 4), "Url": "https://x.test/r"}}
    if _maybe(rnd):
        doc["SourceUrl"] = rnd.choice(["https://scanner.test/a", "https://scanner.test/b?q=1"])
    doc["ProductFields"] = {"scanner/Rule": rnd.choice(["R1", "R2", "rule three"])}
    if _maybe(rnd):
        doc["ProductFields"]["scanner/Path"] = rnd.choice(["src/a.py", "src/b.py"])
    if _maybe(rnd, 0.4):
        doc["UserDefinedFields"] = {"ticket": rnd.choice(["JIRA-1", "JIRA-22"])}
    if _maybe(rnd, 0.3):
        doc["Malware"] = [{"Name": rnd.choice(["EICAR", "Mirai", "xmrig"]),
                           "Type": rnd.choice(["TROJAN", "WORM", "COIN_MINER"]),
                           "Path": rnd.choice(["/tmp/x", "/usr/bin/y"]),
                           "State": rnd.choice(["OBSERVED", "REMOVAL_FAILED"])}
                          for _ in range(rnd.randint(1, 2))]
    if _maybe(rnd, 0.4):
        net: dict[str, Any] = {"Direction": rnd.choice(["IN", "OUT"]),
                               "Protocol": rnd.choice(["TCP", "UDP"])}
        for side in ("Source", "Destination"):
            if _maybe(rnd, 0.7):
                net[f"{side}IpV4"] = _ipv4(rnd)
            if _maybe(rnd, 0.4):
                net[f"{side}IpV6"] = _ipv6(rnd)
            if _maybe(rnd, 0.7):
                net[f"{side}Port"] = rnd.choice([22, 80, 443, 8080, 65000])
            if _maybe(rnd):
                net[f"{side}Domain"] = rnd.choice(["example.test", "evil.test", "a.example.test"])
        if _maybe(rnd):
            net["SourceMac"] = rnd.choice(["00:11:22:33:44:55", "aa:bb:cc:dd:ee:ff"])
        doc["Network"] = net
    if _maybe(rnd, 0.3):
        doc["Process"] = {"Name": rnd.choice(["sshd", "python3", "xmrig"]),
                          "Path": rnd.choice(["/usr/sbin/sshd", "/tmp/xmrig"]),
                          "Pid": rnd.randint(1, 5000), "ParentPid": rnd.randint(1, 50),
                          "LaunchedAt": _stamp(rnd, now)}
        if _maybe(rnd):
            doc["Process"]["TerminatedAt"] = _stamp(rnd, now)
    if _maybe(rnd, 0.3):
        doc["ThreatIntelIndicators"] = [
            {"Type": rnd.choice(["IPV4_ADDRESS", "DOMAIN", "HASH_SHA256"]),
             "Value": rnd.choice(["10.1.2.3", "evil.test", "abc123"]),
             "Category": rnd.choice(["BACKDOOR", "COMMAND_AND_CONTROL"]),
             "LastObservedAt": _stamp(rnd, now),
             "Source": rnd.choice(["feed-a", "feed-b"]),
             "SourceUrl": rnd.choice(["https://feed.test/a", "https://feed.test/b"])}
            for _ in range(rnd.randint(1, 2))]
    if _maybe(rnd, 0.6):
        comp: dict[str, Any] = {"Status": rnd.choice(["PASSED", "FAILED", "WARNING"])}
        if _maybe(rnd):
            comp["SecurityControlId"] = rnd.choice(["S3.1", "EC2.19", "IAM.4"])
            comp["AssociatedStandards"] = [
                {"StandardsId": s} for s in rnd.sample(
                    ["standards/aws-foundational-security-best-practices/v/1.0.0",
                     "standards/cis-aws-foundations-benchmark/v/1.4.0"], rnd.randint(1, 2))]
        if _maybe(rnd, 0.3):
            comp["SecurityControlParameters"] = [
                {"Name": rnd.choice(["maxDays", "ports"]),
                 "Value": rnd.sample(["90", "22", "3389"], rnd.randint(1, 2))}]
        doc["Compliance"] = comp
    if _maybe(rnd):
        doc["VerificationState"] = rnd.choice(["UNKNOWN", "TRUE_POSITIVE", "FALSE_POSITIVE"])
    if _maybe(rnd, 0.3):
        doc["WorkflowState"] = rnd.choice(["NEW", "ASSIGNED", "RESOLVED"])
    if _maybe(rnd, 0.5):
        doc["Workflow"] = {"Status": rnd.choice(["NEW", "NOTIFIED", "SUPPRESSED"])}
    doc["RecordState"] = rnd.choice(["ACTIVE", "ACTIVE", "ARCHIVED"])
    if _maybe(rnd, 0.3):
        doc["RelatedFindings"] = [{"ProductArn": rnd.choice(ARNS),
                                   "Id": f"finding-{rnd.randint(0, 299):03d}/a"}
                                  for _ in range(rnd.randint(1, 2))]
    if _maybe(rnd, 0.3):
        doc["Note"] = {"Text": _words(rnd, 3), "UpdatedBy": rnd.choice(["alice", "bob"]),
                       "UpdatedAt": _stamp(rnd, now)}
    if _maybe(rnd, 0.4):
        doc["Vulnerabilities"] = [{"Id": f"CVE-2024-{rnd.randint(1, 99)}",
                                   "ExploitAvailable": rnd.choice(["YES", "NO"]),
                                   "FixAvailable": rnd.choice(["YES", "NO", "PARTIAL"])}
                                  for _ in range(rnd.randint(1, 3))]
    if _maybe(rnd, 0.5):
        fpf: dict[str, Any] = {"Severity": {"Label": doc["Severity"]["Label"],
                                            "Original": rnd.choice(["7.5", "Low"])},
                               "Types": rnd.sample(["TTPs/Discovery", "Effects/Data Exposure"],
                                                   rnd.randint(1, 2))}
        if _maybe(rnd):
            fpf["Confidence"] = rnd.randint(0, 100)
            fpf["Criticality"] = rnd.randint(0, 100)
        if _maybe(rnd, 0.3):
            fpf["RelatedFindings"] = [{"ProductArn": ARNS[0], "Id": f"finding-{i:03d}/z"}]
        doc["FindingProviderFields"] = fpf
    if _maybe(rnd, 0.2):
        doc["Sample"] = rnd.choice([True, False])
    if _maybe(rnd, 0.3):
        doc["AwsAccountName"] = rnd.choice(["prod account", "dev"])
    return doc


def findings(n: int = 300, seed: int = 13, account: str = ACCOUNT) -> list[dict[str, Any]]:
    """`n` findings; `account` replaces the account id in every id and ARN."""
    rnd = random.Random(seed)
    now = datetime.now(timezone.utc)
    docs = [finding(i, rnd, now) for i in range(n)]
    if account != ACCOUNT:
        docs = json.loads(json.dumps(docs).replace(ACCOUNT, account))
    return docs
