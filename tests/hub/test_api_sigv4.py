"""SigV4 verification against requests signed by botocore's own SigV4Auth."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

botocore = pytest.importorskip("botocore")
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from secpipe.hub.api import sigv4  # noqa: E402

AKID, SECRET = "SPHUBTESTKEY0000001", "s3cr3t/with+chars=="
KEYS = {AKID: SECRET}
INSIGHT = ("arn:aws:securityhub:us-east-1:123456789012:insight/123456789012/custom/"
           "9f3c-4b1e")


def signed(method: str, url: str, body: bytes = b"", *, secret: str = SECRET,
           region: str = "us-east-1", service: str = "securityhub",
           headers: dict[str, str] | None = None) -> AWSRequest:
    req = AWSRequest(method=method, url=url, data=body,
                     headers={"Content-Type": "application/json", **(headers or {})})
    SigV4Auth(Credentials(AKID, secret), service, region).add_auth(req)
    return req


def check(req: AWSRequest, *, body: bytes | None = None, now: datetime | None = None,
          keys: dict[str, str] = KEYS, extra: list[tuple[str, str]] = ()) -> sigv4.Caller:
    """Verify as the server would see the request: Host as the HTTP client sends it."""
    parts = urlsplit(req.url)
    headers = [("Host", parts.netloc), *req.headers.items(), *extra]
    data = req.body if body is None else body
    if isinstance(data, str):
        data = data.encode()
    return sigv4.verify(req.method, parts.path, parts.query, headers, data or b"",
                        keys.get, now=now)


def test_botocore_signed_post_verifies() -> None:
    body = json.dumps({"Findings": []}).encode()
    caller = check(signed("POST", "http://127.0.0.1:8443/findings/import", body))
    assert caller.access_key_id == AKID
    assert caller.region == "us-east-1" and caller.service == "securityhub"


def test_any_region_is_accepted_and_recorded() -> None:
    caller = check(signed("POST", "http://127.0.0.1:8443/findings", b"{}", region="eu-west-3"))
    assert caller.region == "eu-west-3"


def test_insight_arn_in_path_is_double_encoded_like_botocore() -> None:
    # botocore's serializer sends the greedy label with ':' percent-encoded; the signer then
    # encodes the path once more. A verifier that signs the decoded path would reject this.
    path = "/insights/results/" + INSIGHT.replace(":", "%3A")
    req = signed("GET", "http://localhost:8443" + path)
    assert check(req).access_key_id == AKID
    canonical = SigV4Auth(Credentials(AKID, SECRET), "securityhub", "us-east-1")
    assert sigv4.canonical_path(path) == canonical._normalize_url_path(path)
    assert "%253A" in sigv4.canonical_path(path)


def test_query_string_is_canonicalised() -> None:
    url = ("http://127.0.0.1:8443/accounts?HubArn=" +
           "arn%3Aaws%3Asecurityhub%3Aus-east-1%3A123456789012%3Ahub%2Fdefault&a=b%20c")
    assert check(signed("GET", url)).access_key_id == AKID


def test_date_header_instead_of_x_amz_date() -> None:
    req = signed("POST", "http://127.0.0.1:8443/findings", b"{}",
                 headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert "X-Amz-Date" not in req.headers
    assert check(req).access_key_id == AKID


def test_dot_segments_and_double_slashes_normalise() -> None:
    assert sigv4.canonical_path("/a//b/./c/../d/") == "/a/b/d/"
    assert sigv4.canonical_path("") == "/"


def test_wrong_secret_is_signature_mismatch() -> None:
    req = signed("POST", "http://127.0.0.1:8443/findings", b"{}", secret="not-the-secret")
    with pytest.raises(sigv4.InvalidSignature) as err:
        check(req)
    assert err.value.status == 403 and err.value.code == "InvalidSignatureException"
    assert "does not match" in err.value.message


def test_unknown_key_is_unrecognized_client() -> None:
    with pytest.raises(sigv4.UnrecognizedClient) as err:
        check(signed("POST", "http://127.0.0.1:8443/findings", b"{}"), keys={})
    assert err.value.status == 403


def test_missing_authorization_is_missing_token() -> None:
    with pytest.raises(sigv4.MissingAuthenticationToken) as err:
        sigv4.verify("POST", "/findings", "", [("Host", "x")], b"{}", KEYS.get)
    assert err.value.status == 403 and err.value.code == "MissingAuthenticationTokenException"
    with pytest.raises(sigv4.MissingAuthenticationToken):
        sigv4.verify("POST", "/findings", "", [("Host", "x"), ("Authorization", "Bearer x")],
                     b"{}", KEYS.get)


@pytest.mark.parametrize("header", [
    "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/securityhub/aws4_request",
    "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/aws4_request, SignedHeaders=host, "
    "Signature=00",
    "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
    "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/securityhub/aws4_request, "
    "SignedHeaders=Host;X-Amz-Date, Signature=00",
])
def test_malformed_authorization_is_incomplete_signature(header: str) -> None:
    with pytest.raises(sigv4.IncompleteSignature):
        sigv4.verify("GET", "/accounts", "", [("Host", "x"), ("Authorization", header),
                                              ("X-Amz-Date", "20240101T000000Z")], b"",
                     KEYS.get)


def test_tampered_body_is_rejected() -> None:
    req = signed("POST", "http://127.0.0.1:8443/findings", b'{"MaxResults": 1}')
    with pytest.raises(sigv4.InvalidSignature):
        check(req, body=b'{"MaxResults": 100}')


def test_content_sha256_header_must_match_body() -> None:
    req = signed("POST", "http://127.0.0.1:8443/findings", b"{}",
                 headers={"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(sigv4.InvalidSignature, match="Unsigned"):
        check(req)
    import hashlib
    req = signed("POST", "http://127.0.0.1:8443/findings", b"{}",
                 headers={"X-Amz-Content-Sha256": hashlib.sha256(b"{}").hexdigest()})
    assert check(req).access_key_id == AKID
    with pytest.raises(sigv4.InvalidSignature, match="x-amz-content-sha256"):
        check(req, body=b"[]")


def test_tampered_path_method_or_header_is_rejected() -> None:
    req = signed("POST", "http://127.0.0.1:8443/findings", b"{}")
    parts = urlsplit(req.url)
    headers = [("Host", parts.netloc), *req.headers.items()]
    with pytest.raises(sigv4.InvalidSignature):
        sigv4.verify("POST", "/findings/import", "", headers, b"{}", KEYS.get)
    with pytest.raises(sigv4.InvalidSignature):
        sigv4.verify("PATCH", "/findings", "", headers, b"{}", KEYS.get)
    other_host = [("Host", "evil:1"), *req.headers.items()]
    with pytest.raises(sigv4.InvalidSignature):
        sigv4.verify("POST", "/findings", "", other_host, b"{}", KEYS.get)


def test_wrong_service_is_rejected() -> None:
    with pytest.raises(sigv4.InvalidSignature, match="securityhub"):
        check(signed("POST", "http://127.0.0.1:8443/findings", b"{}", service="s3"))


def test_clock_skew_over_15_minutes_is_rejected() -> None:
    req = signed("POST", "http://127.0.0.1:8443/findings", b"{}")
    now = datetime.now(timezone.utc)
    assert check(req, now=now + timedelta(minutes=14)).access_key_id == AKID
    with pytest.raises(sigv4.InvalidSignature, match="Signature expired"):
        check(req, now=now + timedelta(minutes=16))
    with pytest.raises(sigv4.InvalidSignature, match="not yet current"):
        check(req, now=now - timedelta(minutes=16))


def test_unsigned_host_is_rejected() -> None:
    req = signed("POST", "http://127.0.0.1:8443/findings", b"{}")
    auth = req.headers["Authorization"].replace("SignedHeaders=", "SignedHeaders=x;")
    auth = auth.replace(";host;", ";")
    headers = [("Host", "127.0.0.1:8443"), ("Authorization", auth),
               ("X-Amz-Date", req.headers["X-Amz-Date"])]
    with pytest.raises(sigv4.InvalidSignature, match="Host"):
        sigv4.verify("POST", "/findings", "", headers, b"{}", KEYS.get)


def test_non_ascii_signature_does_not_crash() -> None:
    req = signed("POST", "http://127.0.0.1:8443/findings", b"{}")
    auth = req.headers["Authorization"].rsplit("Signature=", 1)[0] + "Signature=\u00e9\u00e9"
    parts = urlsplit(req.url)
    headers = [("Host", parts.netloc), ("Authorization", auth),
               ("X-Amz-Date", req.headers["X-Amz-Date"]),
               ("Content-Type", "application/json")]
    with pytest.raises(sigv4.InvalidSignature):
        sigv4.verify("POST", "/findings", "", headers, b"{}", KEYS.get)
