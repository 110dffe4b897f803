"""Error shapes and request validation through the real server: raw signed and unsigned
requests, so the server's answer to what boto3 would never send is tested too."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest

from tests.hub.test_api_support import (Hub, hub, make_finding, raw_request,  # noqa: F401
                                        signed_request)


def assert_error(answer: tuple, status: int, code: str) -> str:
    got_status, headers, body = answer
    assert got_status == status, answer
    assert headers.get("x-amzn-errortype") == code, answer
    assert headers.get("content-type", "").startswith("application/json")
    assert headers.get("x-amzn-requestid")
    assert isinstance(body, dict) and body["Code"] == code and body["Message"], answer
    return body["Message"]


def test_unsigned_request_is_403(hub: Hub) -> None:
    body = json.dumps({"Findings": [make_finding("unsigned", 0)]}).encode()
    answer = raw_request(hub.url + "/findings/import", "POST", body,
                         {"Content-Type": "application/json"})
    assert_error(answer, 403, "MissingAuthenticationTokenException")
    status, _, found = signed_request(hub, "POST", "/findings", json.dumps({"Filters": {
        "Description": [{"Value": "of unsigned", "Comparison": "CONTAINS"}]}}).encode())
    assert status == 200 and found["Findings"] == []


def test_other_auth_schemes_are_403(hub: Hub) -> None:
    for header in ("Basic dXNlcjpwYXNz", "Bearer test-bearer-token",
                   "AWS4-HMAC-SHA256 Credential=x"):
        answer = raw_request(hub.url + "/findings", "POST", b"{}", {"Authorization": header})
        status, headers, _ = answer
        assert status == 403 and headers["x-amzn-errortype"].endswith("Exception"), header


def test_wrong_secret_raw_is_403_signature(hub: Hub) -> None:
    answer = signed_request(hub, "POST", "/findings", b"{}", secret="nope")
    assert "signature" in assert_error(answer, 403, "InvalidSignatureException").lower()


def test_clock_skew_over_15_minutes_is_403(hub: Hub) -> None:
    past = datetime.now(timezone.utc) - timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=past):
        answer = signed_request(hub, "POST", "/findings", b"{}")
    assert "expired" in assert_error(answer, 403, "InvalidSignatureException")


def test_malformed_json_is_400_not_500(hub: Hub) -> None:
    for body in (b'{"Filters": ', b"\xff\xfe not json", b'{"MaxResults": NaN}', b"[1, 2]",
                 b'"a string"', b"[" * 100000):
        answer = signed_request(hub, "POST", "/findings", body)
        assert_error(answer, 400, "InvalidInputException")


@pytest.mark.parametrize("path, method, body", [
    ("/findings", "POST", {"MaxResults": "ten"}),
    ("/findings", "POST", {"MaxResults": 0}),
    ("/findings", "POST", {"MaxResults": 101}),
    ("/findings", "POST", {"MaxResults": True}),
    ("/findings", "POST", {"Filters": []}),
    ("/findings", "POST", {"Filters": {"Title": "x"}}),
    ("/findings", "POST", {"Filters": {"Title": ["x"]}}),
    ("/findings", "POST", {"Filters": {"NoSuchField": [{"Value": "x", "Comparison": "EQUALS"}]}}),
    ("/findings", "POST", {"Filters": {"Title": [{"Value": "x", "Comparison": "LIKE"}]}}),
    ("/findings", "POST", {"Filters": {f"F{i}": [] for i in range(11)}}),
    ("/findings", "POST", {"Filters": {"Title": [{"Value": str(i), "Comparison": "EQUALS"}
                                                 for i in range(21)]}}),
    ("/findings", "POST", {"SortCriteria": {"Field": "Title"}}),
    ("/findings", "POST", {"SortCriteria": [{"Field": "Title", "SortOrder": "up"}]}),
    ("/findings", "POST", {"NextToken": "not-a-token"}),
    ("/findings", "POST", {"NextToken": 5}),
    ("/findings/import", "POST", {}),
    ("/findings/import", "POST", {"Findings": []}),
    ("/findings/import", "POST", {"Findings": {"Id": "x"}}),
    ("/findings/batchupdate", "PATCH", {"FindingIdentifiers": []}),
    ("/findings/batchupdate", "PATCH", {"FindingIdentifiers": [{"Id": "x"}],
                                        "Workflow": {"Status": "SUPPRESSED"}}),
    ("/findings/batchupdate", "PATCH", {"FindingIdentifiers": [{"Id": "x", "ProductArn": "y"}]}),
    ("/findings/batchupdate", "PATCH", {"FindingIdentifiers": [{"Id": "x", "ProductArn": "y"}],
                                        "Workflow": {"Status": "IGNORED"}}),
    ("/findings/batchupdate", "PATCH", {"FindingIdentifiers": [{"Id": "x", "ProductArn": "y"}],
                                        "Note": {"Text": "no author"}}),
    ("/findings/batchupdate", "PATCH", {"FindingIdentifiers": [{"Id": "x", "ProductArn": "y"}],
                                        "Confidence": 101}),
    ("/findings/batchupdate", "PATCH", {"FindingIdentifiers": [{"Id": "x", "ProductArn": "y"}],
                                        "Note": {"Text": "x" * 513, "UpdatedBy": "me"}}),
    ("/insights", "POST", {"Name": "n", "GroupByAttribute": "SeverityLabel"}),
    ("/insights", "POST", {"Name": "", "Filters": {}, "GroupByAttribute": "SeverityLabel"}),
    ("/insights", "POST", {"Name": "n", "Filters": {}, "GroupByAttribute": "NoSuchAttribute"}),
    ("/insights/get", "POST", {"InsightArns": "arn"}),
    ("/accounts", "POST", {"Tags": {"a": 1}}),
])
def test_bad_shapes_are_invalid_input(hub: Hub, path: str, method: str, body: dict) -> None:
    answer = signed_request(hub, method, path, json.dumps(body).encode())
    assert_error(answer, 400, "InvalidInputException")


def test_batch_import_with_non_object_finding(hub: Hub) -> None:
    good = make_finding("nonobj", 0)
    status, _, body = signed_request(hub, "POST", "/findings/import",
                                     json.dumps({"Findings": [good, "oops", 7]}).encode())
    assert status == 200
    assert body["SuccessCount"] == 1 and body["FailedCount"] == 2
    assert [f["Id"] for f in body["FailedFindings"]] == ["Findings[1]", "Findings[2]"]


def test_unknown_route_and_wrong_method_are_json(hub: Hub) -> None:
    """As AWS answers an action it does not know: 404 UnknownOperationException, never
    ResourceNotFoundException (which says "this insight does not exist")."""
    assert_error(raw_request(hub.url + "/no/such/route"), 404, "UnknownOperationException")
    assert_error(signed_request(hub, "GET", "/no/such/route"), 404,
                 "UnknownOperationException")
    assert_error(raw_request(hub.url + "/findings", "GET"), 404, "UnknownOperationException")
    status, headers, body = raw_request(hub.url + "/v1/runs", "DELETE")  # secpipe's own route
    assert status == 405 and body["Code"] == headers["x-amzn-errortype"]


def test_insight_arn_with_reserved_characters_round_trips(hub: Hub) -> None:
    """Greedy-label ARNs reach the store decoded, and a missing one is a 404."""
    arn = "arn:aws:securityhub:us-east-1:000000000000:insight/000000000000/custom/no such"
    quoted = arn.replace(":", "%3A").replace(" ", "%20")
    answer = signed_request(hub, "GET", "/insights/results/" + quoted)
    message = assert_error(answer, 404, "ResourceNotFoundException")
    assert arn in message


def test_store_failure_is_500_without_details(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a, **_k):
        raise RuntimeError("database exploded at /secret/path")

    monkeypatch.setattr(hub.store, "get_findings", boom)
    message = assert_error(signed_request(hub, "POST", "/findings", b"{}"), 500,
                           "InternalException")
    assert "exploded" not in message and "secret" not in message


def test_oversized_body_without_auth_is_403_first(hub: Hub) -> None:
    answer = raw_request(hub.url + "/findings/import", "POST", b"x" * (7 * 1024 * 1024),
                         {"Content-Type": "application/json"})
    assert_error(answer, 403, "MissingAuthenticationTokenException")


def test_oversized_signed_body_is_413(hub: Hub) -> None:
    body = json.dumps({"Findings": [{"Pad": "x" * (6 * 1024 * 1024)}]}).encode()
    assert_error(signed_request(hub, "POST", "/findings/import", body), 413,
                 "InvalidInputException")


def test_a_non_ascii_key_id_beside_the_environments_key_is_403_not_500(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """hmac refuses to compare a str holding non-ASCII: a key id the client made up must be an
    unknown key, whatever key the environment holds."""
    from secpipe.hub import keys

    monkeypatch.setenv(keys.ENV_KEY_ID, "SPKENVKEY0000000000")
    monkeypatch.setenv(keys.ENV_SECRET, "s" * 40)
    header = ("AWS4-HMAC-SHA256 Credential=SPK\u00e9/20240101/us-east-1/securityhub/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
    answer = raw_request(hub.url + "/findings", "POST", b"{}",
                         {"Authorization": header, "X-Amz-Date": "20240101T000000Z"})
    status, headers, _ = answer
    assert status == 403, answer
    assert headers["x-amzn-errortype"] in ("UnrecognizedClientException",
                                           "InvalidSignatureException"), answer
