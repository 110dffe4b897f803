"""AWS Signature Version 4 verification, server side.

The hub authenticates Security Hub clients the way AWS does, so the unmodified boto3
`securityhub` client and `aws securityhub` work with nothing but `endpoint_url` and a hub key.
The canonical request is rebuilt from what arrived on the wire, exactly as botocore builds it
before sending: the path as sent (already percent-encoded once) is normalised and encoded
AGAIN (non-S3 services sign a double-encoded path, which matters for insight ARNs in
`/insights/{InsightArn+}`), the query is decoded and re-encoded with the unreserved set and
sorted, and the payload hash is recomputed from the body (a client-sent
`X-Amz-Content-Sha256` must match it: the signature has to cover the body we act on).

The rejections carry the codes AWS's REST-JSON front end answers with (all HTTP 403):
MissingAuthenticationTokenException, IncompleteSignatureException,
UnrecognizedClientException (unknown key) and InvalidSignatureException (bad signature,
clock skew beyond 15 minutes).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Callable, Iterable
from urllib.parse import quote, unquote

from secpipe.hub.interface import HubError

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "securityhub"
MAX_SKEW = timedelta(minutes=15)
AMZ_DATE = "%Y%m%dT%H%M%SZ"
UNSIGNED = ("UNSIGNED-PAYLOAD", "STREAMING-")


class AuthError(HubError):
    """A request the hub will not act on because it cannot tell who sent it."""

    status = 403


class MissingAuthenticationToken(AuthError):
    code = "MissingAuthenticationTokenException"


class IncompleteSignature(AuthError):
    code = "IncompleteSignatureException"


class UnrecognizedClient(AuthError):
    code = "UnrecognizedClientException"


class InvalidSignature(AuthError):
    code = "InvalidSignatureException"


MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.")


@dataclass(frozen=True)
class Caller:
    """Who signed a verified request, and for which scope (the region is recorded, not
    enforced: a local hub answers for every region)."""

    access_key_id: str
    region: str
    service: str
    signed_at: datetime


@dataclass(frozen=True)
class Credential:
    """The parsed `Authorization` header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def is_sigv4(authorization: str | None) -> bool:
    return bool(authorization) and authorization.lstrip().startswith(ALGORITHM + " ")


def parse_authorization(value: str | None) -> Credential:
    """Split `AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..` into its parts."""
    if not value or not value.strip():
        raise MissingAuthenticationToken("Missing Authentication Token")
    value = value.strip()
    if not value.startswith(ALGORITHM + " "):
        raise MissingAuthenticationToken(
            f"Authorization header requires the {ALGORITHM} signature scheme")
    parts: dict[str, str] = {}
    for item in value[len(ALGORITHM):].split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key.strip()] = val.strip()
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not parts.get(required):
            raise IncompleteSignature(f"Authorization header requires '{required}' parameter.")
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope[:4]):
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, e.g. "
            "keyid/date/region/service/aws4_request")
    signed = tuple(parts["SignedHeaders"].split(";"))
    if any(not h or h != h.lower() for h in signed):
        raise IncompleteSignature("SignedHeaders must be a ';'-separated list of lower-case names")
    return Credential(scope[0], scope[1], scope[2], scope[3], signed, parts["Signature"])


def canonical_path(raw_path: str) -> str:
    """botocore's canonical URI: dot segments and empty segments removed, then the path as
    sent is percent-encoded once more (so `%3A` on the wire signs as `%253A`)."""
    segments: list[str] = []
    for seg in raw_path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segments:
                segments.pop()
            continue
        segments.append(seg)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and segments:
        path += "/"
    return quote(path, safe="/~", encoding="latin-1")


def canonical_query(raw_query: str) -> str:
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, val = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(val), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_headers(headers: Iterable[tuple[str, str]], signed: Iterable[str]) -> str:
    values: dict[str, list[str]] = {}
    for name, val in headers:
        values.setdefault(name.lower(), []).append(" ".join(val.split()))
    return "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _request_time(headers: dict[str, str]) -> tuple[str, datetime]:
    """The signing timestamp: X-Amz-Date, or the Date header botocore falls back to."""
    amz = headers.get("x-amz-date")
    try:
        if amz:
            when = datetime.strptime(amz.strip(), AMZ_DATE).replace(tzinfo=timezone.utc)
            return amz.strip(), when
        if headers.get("date"):
            when = parsedate_to_datetime(headers["date"]).astimezone(timezone.utc)
            return when.strftime(AMZ_DATE), when
    except (ValueError, TypeError, IndexError, OverflowError):
        raise IncompleteSignature("Date must be in ISO-8601 'basic format'. "
                                  f"Got '{(amz or headers.get('date') or '')[:40]}'") from None
    raise IncompleteSignature(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")


def verify(method: str, raw_path: str, raw_query: str, headers: Iterable[tuple[str, str]],
           body: bytes, secret_for: Callable[[str], str | None], *, service: str = SERVICE,
           now: datetime | None = None, max_skew: timedelta = MAX_SKEW) -> Caller:
    """Verify one request's SigV4 signature; return the caller or raise an AuthError.

    `raw_path`/`raw_query` are as received (percent-encoded); `headers` are (name, value)
    pairs, repeated names allowed. `secret_for` maps an access key id to its secret (None if
    unknown); it is only called once the header has parsed and the clock check passed.
    """
    header_list = [(n.lower(), v) for n, v in headers]
    first = {}
    for name, val in header_list:
        first.setdefault(name, val)
    cred = parse_authorization(first.get("authorization"))
    if cred.service != service:
        raise InvalidSignature(f"Credential should be scoped to correct service: '{service}'.")
    if "host" not in cred.signed_headers or "host" not in first:
        raise InvalidSignature("'Host' must be a signed header.")
    stamp, when = _request_time(first)
    if cred.date != stamp[:8]:
        raise InvalidSignature(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{cred.date}' != '{stamp[:8]}', from '{stamp}'.")
    if ("x-amz-date" in first and "x-amz-date" not in cred.signed_headers) or (
            "x-amz-date" not in first and "date" not in cred.signed_headers):
        raise InvalidSignature("The header holding the request date must be signed.")
    now = now or datetime.now(timezone.utc)
    if when < now - max_skew:
        raise InvalidSignature(
            f"Signature expired: {stamp} is now earlier than "
            f"{(now - max_skew).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} - 15 min.)")
    if when > now + max_skew:
        raise InvalidSignature(
            f"Signature not yet current: {stamp} is still later than "
            f"{(now + max_skew).strftime(AMZ_DATE)} ({now.strftime(AMZ_DATE)} + 15 min.)")

    body_hash = hashlib.sha256(body).hexdigest()
    claimed = first.get("x-amz-content-sha256")
    if claimed is not None:
        if claimed.startswith(UNSIGNED):
            raise InvalidSignature("Unsigned payloads are not accepted: sign the request body.")
        if not hmac.compare_digest(claimed.strip().lower().encode(), body_hash.encode()):
            raise InvalidSignature("The provided 'x-amz-content-sha256' header does not match "
                                   "what was computed.")

    secret = secret_for(cred.access_key_id)
    if not secret:
        raise UnrecognizedClient("The security token included in the request is invalid.")

    canonical = "\n".join([
        method.upper(),
        canonical_path(raw_path),
        canonical_query(raw_query),
        canonical_headers(header_list, cred.signed_headers),
        ";".join(cred.signed_headers),
        claimed.strip() if claimed is not None else body_hash,
    ])
    scope = f"{cred.date}/{cred.region}/{cred.service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = signing_key(secret, cred.date, cred.region, cred.service)
    expected = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), cred.signature.encode("utf-8", "replace")):
        raise InvalidSignature(MISMATCH)
    return Caller(cred.access_key_id, cred.region, cred.service, when)
