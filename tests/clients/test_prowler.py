"""Prowler from PyPI (pinned, in its own tools venv) runs its real Security Hub integration,
unchanged, against the real `secpipe hub serve`, while scanning an AWS account that moto's
server plays: `AWS_ENDPOINT_URL` sends every AWS API to moto and
`AWS_ENDPOINT_URL_SECURITYHUB` sends Security Hub to the hub.

What prowler's own code does against the hub (prowler/providers/aws/lib/security_hub/):
DescribeHub and ListEnabledProductsForImport per region (it looks for its subscription
`arn:aws:securityhub:REGION:ACCOUNT:product-subscription/prowler/prowler`),
BatchImportFindings of its ASFF findings, then GetFindings filtered on
`ProductName EQUALS "Prowler"`, RecordState, AwsAccountId and Region, paged by the botocore
paginator, and BatchImportFindings of every finding of an earlier run that this run did not
send again, with RecordState ARCHIVED. With `--send-sh-only-fails` a check that passes now is
not sent, so its earlier finding is archived.

The account: prowler takes it from STS GetCallerIdentity (moto) and builds its subscription
ARN and filters from it, so moto answers as the hub's own account (from DescribeHub's ARN).

moto's gaps, which prowler logs and the chosen checks do not depend on: IAM
ListOrganizationsFeatures answers 500, and S3 Control's endpoint is the account id prefixed to
the endpoint's host (`000000000000.127.0.0.1`), which does not resolve, so the account-level
public access block reads as absent (as it is).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import REGION, HubServer, installed_tool, moto_server

boto3 = pytest.importorskip("boto3")

PROWLER_PRODUCT = f"arn:aws:securityhub:{REGION}::product/prowler/prowler"
# Four cheap checks, two services, each answered from a handful of moto calls.
CHECKS = ("s3_bucket_object_versioning", "s3_bucket_level_public_access_block",
          "iam_password_policy_minimum_length_14", "iam_password_policy_uppercase")
FIXED_BUCKET, OPEN_BUCKET = "secpipe-clients-fixed", "secpipe-clients-open"
PROWLER_TIMEOUT = 900
FAILS_FOUND = 3   # prowler's exit code when the scan has failed checks


def _hub_account(hub: HubServer) -> str:
    """The hub's account, enabling Security Hub first where the hub asks for it (as AWS does
    before EnableSecurityHub)."""
    sh = hub.boto3()
    try:
        arn = sh.describe_hub()["HubArn"]
    except sh.exceptions.InvalidAccessException:
        sh.enable_security_hub()
        arn = sh.describe_hub()["HubArn"]
    return arn.split(":")[4]


def _prowler(exe: Path, hub: HubServer, moto: str, out: Path) -> subprocess.CompletedProcess:
    env = hub.aws_env()
    env.update(AWS_ENDPOINT_URL=moto, AWS_ENDPOINT_URL_SECURITYHUB=hub.url,
               HOME=str(out.parent))
    argv = [str(exe), "aws", "--security-hub", "--send-sh-only-fails",
            "--checks", *CHECKS, "--region", REGION,
            "--output-directory", str(out), "--output-formats", "csv", "--no-banner",
            "--log-level", "WARNING"]   # its "integration does not accept findings" is a warning
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=PROWLER_TIMEOUT,
                          env=env, stdin=subprocess.DEVNULL)
    # kept beside the test's other files: what prowler said is the first thing to read
    with (out.parent / "prowler.log").open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(argv)}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n")
    return proc


def _said(proc: subprocess.CompletedProcess, pattern: str) -> re.Match:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    found = re.search(pattern, plain)
    assert found, f"prowler did not say {pattern!r}:\n{plain[-4000:]}"
    return found


def _prowler_findings(hub: HubServer) -> dict[str, dict[str, Any]]:
    sh = hub.boto3()
    filters = {"ProductArn": [{"Value": PROWLER_PRODUCT, "Comparison": "EQUALS"}]}
    found: dict[str, dict[str, Any]] = {}
    for page in sh.get_paginator("get_findings").paginate(Filters=filters):
        found.update((f["Id"], f) for f in page["Findings"])
    return found


def _check_of(finding: dict[str, Any]) -> str:
    """The prowler check a finding reports (prowler's GeneratorId is `prowler-<check>`)."""
    assert finding["GeneratorId"].startswith("prowler-"), finding["GeneratorId"]
    return finding["GeneratorId"].removeprefix("prowler-")


def test_prowler_sends_and_archives_through_its_own_security_hub_code(
        hub_server: HubServer, tmp_path: Path) -> None:
    exe = installed_tool("prowler", "prowler")
    account = _hub_account(hub_server)
    with moto_server(account, tmp_path / "moto.log") as moto:
        aws = dict(endpoint_url=moto, region_name=REGION, aws_access_key_id="testing",
                   aws_secret_access_key="testing")
        s3 = boto3.client("s3", **aws)
        for bucket in (FIXED_BUCKET, OPEN_BUCKET):   # no versioning, no public access block
            s3.create_bucket(Bucket=bucket)
        # and no account password policy: both password checks fail

        # 1. Security Hub is on, but the Prowler integration is not enabled: prowler itself
        # finds its subscription missing in ListEnabledProductsForImport and sends nothing.
        first = _prowler(exe, hub_server, moto, tmp_path / "run0")
        assert first.returncode == FAILS_FOUND, first.stderr[-3000:]
        _said(first, r"Prowler integration does not accept findings")
        _said(first, r"No findings sent to AWS Security Hub")
        assert _prowler_findings(hub_server) == {}

        # 2. Enabled as an AWS user enables it; every failed check arrives.
        sub = hub_server.boto3().enable_import_findings_for_product(ProductArn=PROWLER_PRODUCT)
        assert sub["ProductSubscriptionArn"] == (
            f"arn:aws:securityhub:{REGION}:{account}:product-subscription/prowler/prowler")
        second = _prowler(exe, hub_server, moto, tmp_path / "run1")
        assert second.returncode == FAILS_FOUND, second.stderr[-3000:]
        sent = int(_said(second, r"(\d+) findings sent to AWS Security Hub!").group(1))
        assert sent == 6          # 2 buckets x 2 S3 checks + 2 password checks
        stored = _prowler_findings(hub_server)
        assert len(stored) == 6
        for finding in stored.values():
            assert finding["RecordState"] == "ACTIVE"
            assert finding["Compliance"]["Status"] == "FAILED"
            assert finding["AwsAccountId"] == account
            # prowler archives by this very filter: the registry's names, not the ARN's
            assert finding["ProductName"] == "Prowler" and finding["CompanyName"] == "Prowler"
        by_check = sorted(_check_of(f) for f in stored.values())
        assert by_check == sorted([*CHECKS[:2], *CHECKS[:2], *CHECKS[2:]]), by_check

        # 3. Fix one bucket and part of the password policy; prowler's archiving code
        # archives what it no longer sends, and nothing else.
        s3.put_bucket_versioning(Bucket=FIXED_BUCKET,
                                 VersioningConfiguration={"Status": "Enabled"})
        s3.put_public_access_block(Bucket=FIXED_BUCKET, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
        boto3.client("iam", **aws).update_account_password_policy(MinimumPasswordLength=14)
        third = _prowler(exe, hub_server, moto, tmp_path / "run2")
        assert third.returncode == FAILS_FOUND, third.stderr[-3000:]
        assert int(_said(third, r"(\d+) findings sent to AWS Security Hub!").group(1)) == 3
        archived = int(_said(third, r"(\d+) findings archived in AWS Security Hub!").group(1))
        assert archived == 3

    after = _prowler_findings(hub_server)
    assert set(after) == set(stored)              # archived, not deleted, and no new Ids
    state = {(_check_of(f), f["Resources"][0]["Id"]): f for f in after.values()}
    fixed = {("s3_bucket_object_versioning", f"arn:aws:s3:::{FIXED_BUCKET}"),
             ("s3_bucket_level_public_access_block", f"arn:aws:s3:::{FIXED_BUCKET}")}
    fixed |= {k for k in state if k[0] == "iam_password_policy_minimum_length_14"}
    assert len(fixed) == 3
    for key, finding in state.items():
        if key in fixed:
            assert finding["RecordState"] == "ARCHIVED", key
            # Security Hub resolves a finding whose record is archived
            assert finding["Workflow"]["Status"] == "RESOLVED", key
        else:
            assert finding["RecordState"] == "ACTIVE", key
            assert finding["Workflow"]["Status"] == "NEW", key
    # what prowler's archive filter asks now finds only the three still failing
    active = hub_server.boto3().get_findings(Filters={
        "ProductName": [{"Value": "Prowler", "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        "AwsAccountId": [{"Value": account, "Comparison": "EQUALS"}],
        "Region": [{"Value": REGION, "Comparison": "EQUALS"}]})["Findings"]
    assert {f["Resources"][0]["Id"] for f in active if f["Resources"][0]["Id"].startswith(
        "arn:aws:s3")} == {f"arn:aws:s3:::{OPEN_BUCKET}"}
    assert len(active) == 3
