"""What every AWS sink needs: boto3 (an optional dependency), clients without botocore's own
retries, the partition of a region, and the account the credentials belong to."""

from __future__ import annotations

import os
from typing import Any

from secpipe.sinks.interface import SinkError

# Region prefixes of the partitions other than `aws`. Longest first: us-isob- before us-iso-.
_PARTITIONS = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
)


def partition_for_region(region: str) -> str:
    """`aws`, `aws-cn` (cn-north-1), `aws-us-gov` (us-gov-west-1), ... for a region name.

    The seed hard-coded `arn:aws:`, which breaks in China and GovCloud; the partition is a fact
    of the region, so it is derived, never configured separately.
    """
    region = region.strip().lower()
    for prefix, partition in _PARTITIONS:
        if region.startswith(prefix):
            return partition
    return "aws"


def product_arn(region: str, account_id: str) -> str:
    """The custom-integration product ARN findings an account sends itself must carry."""
    return (f"arn:{partition_for_region(region)}:securityhub:{region}:{account_id}:"
            f"product/{account_id}/default")


def boto3_module() -> Any:
    try:
        import boto3
    except ImportError:
        raise SinkError("the AWS sinks need boto3: pip install 'secpipe[aws]' "
                        "(or pip install boto3)") from None
    return boto3


def make_client(service: str, *, region: str | None = None, endpoint_url: str | None = None,
                session: Any = None, timeout: float = 60.0) -> Any:
    """A boto3 client whose retries are ours (total_max_attempts=1): see sinks/_retry.py."""
    boto3 = boto3_module()
    from botocore.config import Config

    session = session or boto3.session.Session()
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=min(timeout, 10.0), read_timeout=timeout,
                    user_agent_extra="secpipe")
    kwargs: dict[str, Any] = {"config": config}
    if region:
        kwargs["region_name"] = region
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    try:
        return session.client(service, **kwargs)
    except Exception as exc:  # NoRegionError and friends: say what to set
        raise SinkError(f"cannot create the {service} client: {exc} "
                        "(set the sink's region, or AWS_REGION)") from None


def resolve_region(configured: str | None, session: Any = None) -> str:
    region = (configured or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or (session.region_name if session is not None else None))
    if not region:
        boto3 = boto3_module()
        region = boto3.session.Session().region_name
    if not region:
        raise SinkError("no AWS region: set `region` on the sink in secpipe.yml, or AWS_REGION")
    return region


def caller_account(*, region: str, session: Any = None, endpoint_url: str | None = None) -> str:
    """The 12-digit account of the credentials in use (STS GetCallerIdentity needs no IAM
    permission, so this works for any principal)."""
    from botocore.exceptions import BotoCoreError, ClientError

    sts = make_client("sts", region=region, session=session,
                      endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL_STS"))
    try:
        account = str(sts.get_caller_identity()["Account"])
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise SinkError(f"cannot tell which AWS account to report to (sts:GetCallerIdentity: "
                        f"{exc}); set `account_id` on the securityhub sink") from None
    if not (len(account) == 12 and account.isdigit()):
        raise SinkError(f"sts:GetCallerIdentity answered an odd account id {account!r}")
    return account
