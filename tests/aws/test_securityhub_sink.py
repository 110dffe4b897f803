"""The Security Hub sink against botocore's Stubber (throttling, partial failures, oversize),
moto's Security Hub and secpipe's own hub API (1,000 findings in exactly 10 calls)."""

from __future__ import annotations

import math

import pytest

from secpipe.model.asff import TRUNCATION_MARKER, validate_asff
from secpipe.sinks._aws import partition_for_region, product_arn
from secpipe.sinks._fit import MAX_FINDING_BYTES, fit_finding, size_of
from secpipe.sinks._retry import Backoff
from secpipe.sinks.securityhub import SecurityHubSink
from tests.aws.conftest import MOTO_ACCOUNT, REGION
from tests.aws.support import CallCounter, Sleeps, findings, throttle

boto3 = pytest.importorskip("boto3")
from botocore.stub import ANY, Stubber  # noqa: E402

ACCOUNT = "111122223333"


@pytest.mark.parametrize("region, partition", [
    ("us-east-1", "aws"), ("eu-west-3", "aws"), ("cn-north-1", "aws-cn"),
    ("cn-northwest-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"),
    ("us-gov-east-1", "aws-us-gov"), ("us-iso-east-1", "aws-iso"),
    ("us-isob-east-1", "aws-iso-b"),
])
def test_partition_is_derived_from_the_region(region: str, partition: str) -> None:
    assert partition_for_region(region) == partition
    assert product_arn(region, ACCOUNT) == (
        f"arn:{partition}:securityhub:{region}:{ACCOUNT}:product/{ACCOUNT}/default")


def _stubbed(region: str = REGION, **kwargs) -> tuple[SecurityHubSink, Stubber, Sleeps]:
    client = boto3.client("securityhub", region_name=region, aws_access_key_id="x",
                          aws_secret_access_key="x")
    sleeps = Sleeps()
    sink = SecurityHubSink(client, account_id=ACCOUNT,
                           backoff=Backoff(max_attempts=5, sleep=sleeps), **kwargs)
    return sink, Stubber(client), sleeps


def _ok(n: int) -> dict:
    return {"FailedCount": 0, "SuccessCount": n, "FailedFindings": []}


def test_findings_are_retargeted_to_the_account_partition_and_region() -> None:
    sink, stub, _ = _stubbed(region="cn-north-1")
    sent: list[dict] = []
    stub.client.meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings",
        lambda params, **_: sent.extend(params["Findings"]))
    stub.add_response("batch_import_findings", _ok(3), {"Findings": ANY})
    with stub:
        report = sink.send(findings(3))
    assert report.ok and report.imported == 3 and report.calls == 1
    for f in sent:
        assert f["ProductArn"] == (f"arn:aws-cn:securityhub:cn-north-1:{ACCOUNT}:"
                                   f"product/{ACCOUNT}/default")
        assert f["AwsAccountId"] == ACCOUNT
        assert {(r["Partition"], r["Region"]) for r in f["Resources"]} == {
            ("aws-cn", "cn-north-1")}
    assert [f["Id"] for f in sent] == [f["Id"] for f in findings(3)]  # Ids are never touched


@pytest.mark.parametrize("code, status", [
    ("TooManyRequestsException", 429), ("ThrottlingException", 400),
    ("LimitExceededException", 429), ("InternalException", 500),
    ("ServiceUnavailable", 503),
])
def test_throttling_and_5xx_are_retried_with_backoff(code: str, status: int) -> None:
    sink, stub, sleeps = _stubbed()
    stub.add_client_error("batch_import_findings", service_error_code=code,
                          http_status_code=status)
    stub.add_client_error("batch_import_findings", service_error_code=code,
                          http_status_code=status)
    stub.add_response("batch_import_findings", _ok(5))
    with stub:
        report = sink.send(findings(5))
    stub.assert_no_pending_responses()
    assert report.ok and report.imported == 5
    assert report.calls == 3 and report.retried_calls == 2
    assert len(sleeps.calls) == 2
    # full jitter: each wait is drawn from [0, base * 2**attempt]
    assert 0 <= sleeps.calls[0] <= 0.2 and 0 <= sleeps.calls[1] <= 0.4


def test_backoff_is_full_jitter_capped() -> None:
    backoff = Backoff(base=1.0, cap=8.0)
    draws = [backoff.delay(10) for _ in range(200)]
    assert max(draws) <= 8.0 and min(draws) >= 0.0
    assert len(set(draws)) > 100  # jittered, not a fixed schedule


def test_a_client_error_that_is_not_transient_fails_the_batch_at_once() -> None:
    sink, stub, sleeps = _stubbed()
    stub.add_client_error("batch_import_findings", service_error_code="AccessDeniedException",
                          http_status_code=403, service_message="not allowed")
    with stub:
        report = sink.send(findings(4))
    assert report.calls == 1 and not sleeps.calls
    assert len(report.failed) == 4 and report.imported == 0
    assert report.failed[0]["ErrorCode"] == "AccessDeniedException (HTTP 403)"


def test_retries_are_bounded() -> None:
    sink, stub, sleeps = _stubbed()
    for _ in range(5):
        stub.add_client_error("batch_import_findings",
                              service_error_code="TooManyRequestsException",
                              http_status_code=429)
    with stub:
        report = sink.send(findings(2))
    assert report.calls == 5 and len(sleeps.calls) == 4
    assert {f["ErrorCode"] for f in report.failed} == {"TooManyRequestsException (HTTP 429)"}


def test_failed_findings_are_retried_when_transient_and_reported_otherwise() -> None:
    sink, stub, _ = _stubbed()
    batch = findings(4)
    ids = [f["Id"] for f in batch]
    stub.add_response("batch_import_findings", {
        "FailedCount": 2, "SuccessCount": 2, "FailedFindings": [
            {"Id": ids[1], "ErrorCode": "InternalException", "ErrorMessage": "try again"},
            {"Id": ids[3], "ErrorCode": "InvalidInput", "ErrorMessage": "bad Types"},
        ]})
    resent: list[list[str]] = []
    stub.client.meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings",
        lambda params, **_: resent.append([f["Id"] for f in params["Findings"]]))
    stub.add_response("batch_import_findings", _ok(1))
    with stub:
        report = sink.send(batch)
    assert resent == [ids, [ids[1]]]  # only the transient failure went again
    assert report.imported == 3 and report.retried_findings == 1
    assert report.failed == [{"Id": ids[3], "ErrorCode": "InvalidInput",
                              "ErrorMessage": "bad Types"}]


def test_oversized_findings_are_cut_to_fit_never_refused() -> None:
    big = findings(1, description="d")[0]
    big["Title"] = "T" * 2000
    big["Description"] = "x" * 50_000
    big["ProductFields"]["secpipe/Huge"] = "v" * 5000
    big["Resources"][0]["Details"] = {"Other": {f"k{i}": "y" * 1024 for i in range(300)}}
    assert size_of(big) > MAX_FINDING_BYTES
    fitted, cut = fit_finding(big)
    assert cut and size_of(fitted) <= MAX_FINDING_BYTES
    assert validate_asff(fitted) == []
    assert len(fitted["Title"]) == 256 and fitted["Title"].endswith(TRUNCATION_MARKER)
    assert fitted["Description"].endswith(TRUNCATION_MARKER)
    assert fitted["Id"] == big["Id"]

    sink, stub, _ = _stubbed()
    sent: list[dict] = []
    stub.client.meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings",
        lambda params, **_: sent.extend(params["Findings"]))
    stub.add_response("batch_import_findings", _ok(1))
    with stub:
        report = sink.send([big])
    assert report.ok and report.truncated == 1
    assert size_of(sent[0]) <= MAX_FINDING_BYTES


def test_batches_respect_the_size_limit_as_well_as_the_count() -> None:
    sink, stub, _ = _stubbed()
    heavy = findings(60)
    for f in heavy:
        f["Resources"][0]["Details"] = {"Other": {f"k{i}": "z" * 1000 for i in range(200)}}
    sizes: list[int] = []
    stub.client.meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings",
        lambda params, **_: sizes.append(sum(size_of(f) for f in params["Findings"])))
    expected_batches = math.ceil(sum(size_of(f) for f in heavy) / sink.max_batch_bytes)
    for _ in range(expected_batches + 1):
        stub.add_response("batch_import_findings", _ok(1))
    with stub:
        report = sink.send(heavy)
    assert report.batches >= expected_batches and len(sizes) == report.batches
    assert max(sizes) <= sink.max_batch_bytes


def test_an_invalid_finding_is_reported_without_being_sent() -> None:
    sink, stub, _ = _stubbed()
    bad = findings(2)
    del bad[1]["Resources"]
    stub.add_response("batch_import_findings", _ok(1))
    with stub:
        report = sink.send(bad)
    assert report.imported == 1 and report.calls == 1
    assert report.failed[0]["ErrorCode"] == "InvalidInput (not sent)"
    assert "Resources" in report.failed[0]["ErrorMessage"]


def test_the_same_id_twice_is_sent_once_newest_first() -> None:
    sink, stub, _ = _stubbed()
    old, new = findings(1)[0], findings(1)[0]
    new["UpdatedAt"] = "2026-11-28T00:00:00.000Z"
    sent: list[dict] = []
    stub.client.meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings",
        lambda params, **_: sent.extend(params["Findings"]))
    stub.add_response("batch_import_findings", _ok(1))
    with stub:
        report = sink.send([new, old])
    assert report.duplicates == 1 and [f["UpdatedAt"] for f in sent] == [new["UpdatedAt"]]


# -- real servers: moto and secpipe's own hub ------------------------------------------------

def _all_ids(client, repo: str | None = None) -> set[str]:
    kwargs: dict = {"MaxResults": 100}
    if repo:
        kwargs["Filters"] = {"ProductFields": [
            {"Key": "secpipe/Repo", "Value": repo, "Comparison": "EQUALS"}]}
    ids: set[str] = set()
    while True:
        page = client.get_findings(**kwargs)
        ids.update(f["Id"] for f in page["Findings"])
        if not page.get("NextToken"):
            return ids
        kwargs["NextToken"] = page["NextToken"]


def test_a_thousand_findings_into_moto_in_ten_calls(aws_env) -> None:
    client = aws_env.client("securityhub")
    counter = CallCounter(client)
    sink = SecurityHubSink(client)           # account from STS (moto's), region from the client
    batch = findings(1000, repo="moto-1000")
    report = sink.send(batch)
    assert sink.account_id == MOTO_ACCOUNT
    assert report.ok and report.imported == 1000
    assert counter.count == math.ceil(1000 / 100) == report.calls
    assert all(len(b["Findings"]) <= 100 for b in counter.bodies)
    assert {f["Id"] for f in batch} <= _all_ids(client)


def test_moto_import_survives_injected_throttling(aws_env) -> None:
    client = aws_env.client("securityhub")
    counter = CallCounter(client)
    injected = throttle(client, lambda n: n % 3 == 1)   # every third request is throttled
    sleeps = Sleeps()
    sink = SecurityHubSink(client, backoff=Backoff(sleep=sleeps))
    batch = findings(1000, repo="moto-throttled")
    report = sink.send(batch)
    assert injected and report.ok and report.imported == 1000
    assert report.calls == 10 + len(injected) == counter.count
    assert len(sleeps.calls) == len(injected)
    assert {f["Id"] for f in batch} <= _all_ids(client)


def test_a_thousand_findings_into_our_hub_in_ten_calls(own_hub) -> None:
    client = own_hub.client()
    counter = CallCounter(client)
    sink = SecurityHubSink(client, account_id=ACCOUNT)
    batch = findings(1000, repo="hub-1000")
    report = sink.send(batch)
    assert report.ok and report.imported == 1000
    assert counter.count == 10 == report.calls
    assert _all_ids(client, "hub-1000") == {f["Id"] for f in batch}
    # the same findings again (a re-run): same Ids, updated in place, nothing duplicated
    again = SecurityHubSink(client, account_id=ACCOUNT).send(batch)
    assert again.ok and len(_all_ids(client, "hub-1000")) == 1000


def test_our_hub_import_survives_injected_throttling(own_hub) -> None:
    client = own_hub.client()
    injected = throttle(client, lambda n: n in (0, 1, 4, 7), code="LimitExceededException")
    sink = SecurityHubSink(client, account_id=ACCOUNT, backoff=Backoff(sleep=Sleeps()))
    batch = findings(1000, repo="hub-throttled")
    report = sink.send(batch)
    assert len(injected) == 4 and report.ok and report.imported == 1000
    assert report.calls == 14
    assert _all_ids(client, "hub-throttled") == {f["Id"] for f in batch}
