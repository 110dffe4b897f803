"""Hostile requests against the real hub server: each gets its documented error (never a 500),
and the server answers a normal request correctly afterwards.

Covered here, through real HTTP on SQLite and PostgreSQL: oversized bodies (declared and
chunked), malformed and pathological JSON (deep nesting, huge numbers, NUL and lone
surrogates), replayed, expired and future SigV4 signatures, a wrong service or a re-signed
other region in the credential scope, unknown routes and methods, 10,000 filter values or
attributes or sort keys, megabyte strings in filters, garbage paging tokens. Each abusive
request is timed against a normal GetFindings (printed; no timing is asserted).

Already covered in tests/hub and not repeated: unsigned / other schemes / wrong secret
(test_api_errors.py), truncated JSON, NaN, non-object bodies and 100,000 '[' (ibid.
test_malformed_json_is_400_not_500), unsigned oversized bodies answered 403 before any
read (test_oversized_body_without_auth_is_403_first), tampered path/method/headers/body
(test_api_sigv4.py); the dashboard's CSRF tokens, Origin check, cookie flags (HttpOnly,
SameSite=Lax, Secure over TLS or when forced), security headers and login throttling
(test_dashboard_http.py). Hostile dashboard requests and the DAST baseline against the
signed-in dashboard are in test_hub_dashboard.py.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest

from secpipe.hub.api import create_app, running_server
from secpipe.hub.api.isolation import UNLIMITED
from secpipe.hub.store import open_store
from tests.hub.conftest import pg_server  # noqa: F401  (session fixture)
from tests.hub.test_api_support import REGION, Hub, make_finding, raw_request

boto3 = pytest.importorskip("boto3")
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

MB = 1024 * 1024
REPO = "abuse"
TIMINGS: list[tuple[str, str, int, float]] = []     # (backend, case, status, ms)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request, tmp_path_factory) -> Iterator[Hub]:
    pg = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('abuse') / 'hub.db'}"
    else:
        pg = request.getfixturevalue("pg_server")
        url = pg.new_url()
    store = open_store(url)
    key_id, secret = store.create_access_key("abuse tests")
    seeded = [make_finding(REPO, n) for n in range(5)]
    assert store.batch_import(seeded).success_count == 5
    try:
        # hundreds of calls with one key in a few seconds: not a rate-limit test
        with running_server(create_app(store, limits=UNLIMITED)) as base:
            served = Hub(base, store, key_id, secret)
            served.backend = request.param        # type: ignore[attr-defined]
            yield served
    finally:
        store.close()
        if pg is not None:
            pg.drop(url)
        _print_timings(request.param)


def _print_timings(backend: str) -> None:
    rows = [t for t in TIMINGS if t[0] == backend]
    if rows:
        print(f"\n{backend}: abusive request vs normal GetFindings (ms)")
        for _, case, status, ms in rows:
            print(f"  {case:44} {status:4} {ms:9.1f}")


def sign(hub: Hub, method: str, path: str, body: bytes = b"", *, region: str = REGION,
         service: str = "securityhub", headers: dict[str, str] | None = None
         ) -> tuple[str, dict[str, str]]:
    req = AWSRequest(method=method, url=hub.url + path, data=body,
                     headers={"Content-Type": "application/json", **(headers or {})})
    SigV4Auth(Credentials(hub.key_id, hub.secret), service, region).add_auth(req)
    return req.url, dict(req.headers.items())


def send(hub: Hub, method: str, path: str, body: bytes = b"", **kw: Any) -> tuple:
    url, headers = sign(hub, method, path, body, **kw)
    return raw_request(url, method, body, headers)


def timed(hub: Hub, case: str, call: Callable[[], tuple]) -> tuple:
    began = time.perf_counter()
    answer = call()
    TIMINGS.append((hub.backend, case, answer[0], (time.perf_counter() - began) * 1000))
    return answer


def expect_error(answer: tuple, status: int, code: str) -> str:
    got_status, headers, body = answer
    assert got_status == status, answer if len(str(answer)) < 2000 else str(answer)[:2000]
    assert headers.get("x-amzn-errortype") == code
    assert isinstance(body, dict) and body["Code"] == code and body["Message"]
    return body["Message"]


def normal_query(hub: Hub) -> None:
    """The control: the seeded findings come back, exactly."""
    filters = {"ProductFields": [{"Key": "secpipe/Repo", "Value": REPO, "Comparison": "EQUALS"}]}
    answer = timed(hub, "normal GetFindings (control)", lambda: send(
        hub, "POST", "/findings", json.dumps({"Filters": filters}).encode()))
    assert answer[0] == 200
    titles = sorted(f["Title"] for f in answer[2]["Findings"])
    assert titles == sorted(f"bandit B101 #{n}" for n in range(5))


# --- SigV4: expiry, replay, scope -------------------------------------------------------------
@pytest.mark.parametrize("minutes, word", [(-16, "expired"), (16, "not yet current")])
def test_signature_outside_the_15_minute_window(hub: Hub, minutes: int, word: str) -> None:
    when = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        url, headers = sign(hub, "POST", "/findings", b"{}")
    answer = timed(hub, f"signature {minutes:+d} min", lambda: raw_request(
        url, "POST", b"{}", headers))
    assert word in expect_error(answer, 403, "InvalidSignatureException")
    normal_query(hub)


def test_replayed_import_is_accepted_and_changes_nothing(hub: Hub) -> None:
    """Like AWS, a byte-identical request inside the 15 minutes is accepted again (SigV4 has
    no nonce). An import replay is idempotent: the same UpdatedAt is not newer, so the
    stored finding, its processed stamp and its history stay as they were."""
    doc = make_finding("replay", 1)
    body = json.dumps({"Findings": [doc]}).encode()
    url, headers = sign(hub, "POST", "/findings/import", body)
    first = raw_request(url, "POST", body, headers)
    assert first[0] == 200 and first[2]["SuccessCount"] == 1
    with hub.store.engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT processed_at, doc FROM findings WHERE id = "
                                      + ("%s" if hub.backend == "postgresql" else "?"),
                                      (doc["Id"],)).one()
    history = hub.store.finding_history(doc["Id"])
    again = timed(hub, "replayed BatchImportFindings", lambda: raw_request(
        url, "POST", body, headers))
    assert again[0] == 200 and again[2]["SuccessCount"] == 1
    with hub.store.engine.connect() as conn:
        after = conn.exec_driver_sql("SELECT processed_at, doc FROM findings WHERE id = "
                                     + ("%s" if hub.backend == "postgresql" else "?"),
                                     (doc["Id"],)).one()
    assert tuple(after) == tuple(before)
    assert hub.store.finding_history(doc["Id"]) == history
    # The captured signature does not carry over to another body.
    other = json.dumps({"Findings": [make_finding("replay", 2)]}).encode()
    expect_error(raw_request(url, "POST", other, {**headers, "Content-Length": str(len(other))}),
                 403, "InvalidSignatureException")


def test_replayed_update_reapplies_the_same_change(hub: Hub) -> None:
    """A replayed BatchUpdateFindings is applied again, as AWS would: a workflow change is
    then a no-op (no new history row); what protects against a captured request is TLS."""
    doc = make_finding("replay", 3)
    assert hub.store.batch_import([doc]).success_count == 1
    ident = {"Id": doc["Id"], "ProductArn": doc["ProductArn"]}
    body = json.dumps({"FindingIdentifiers": [ident],
                       "Workflow": {"Status": "SUPPRESSED"}}).encode()
    url, headers = sign(hub, "PATCH", "/findings/batchupdate", body)
    assert raw_request(url, "PATCH", body, headers)[0] == 200
    events = hub.store.finding_history(doc["Id"])
    again = timed(hub, "replayed BatchUpdateFindings", lambda: raw_request(
        url, "PATCH", body, headers))
    assert again[0] == 200 and again[2]["ProcessedFindings"] == [ident]
    assert hub.store.get_finding(doc["Id"])["Workflow"]["Status"] == "SUPPRESSED"
    assert hub.store.finding_history(doc["Id"]) == events


def test_wrong_service_in_the_scope_is_refused(hub: Hub) -> None:
    answer = timed(hub, "scope service s3", lambda: send(hub, "POST", "/findings", b"{}",
                                                         service="s3"))
    assert "scoped to correct service" in expect_error(answer, 403, "InvalidSignatureException")


def test_other_region_in_the_scope(hub: Hub) -> None:
    """A request signed for another region authenticates and lands in that region, which
    Security Hub is not enabled in yet: InvalidAccessException, as AWS answers, not a
    signature error. Its region cannot be swapped after signing, though: the region is part
    of the signing key."""
    assert "not subscribed" in expect_error(
        send(hub, "POST", "/findings", b"{}", region="eu-west-3"), 401, "InvalidAccessException")
    url, headers = sign(hub, "POST", "/findings", b"{}")
    forged = {**headers, "Authorization": headers["Authorization"].replace(
        f"/{REGION}/", "/eu-west-3/")}
    answer = timed(hub, "scope region swapped after signing", lambda: raw_request(
        url, "POST", b"{}", forged))
    expect_error(answer, 403, "InvalidSignatureException")


def test_unsigned_payload_is_refused(hub: Hub) -> None:
    url, headers = sign(hub, "POST", "/findings", b"{}",
                        headers={"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    answer = raw_request(url, "POST", b"{}", headers)
    assert "Unsigned" in expect_error(answer, 403, "InvalidSignatureException")


# --- bodies -------------------------------------------------------------------------------
def test_oversized_bodies_are_413(hub: Hub) -> None:
    big = b'{"Findings": ["' + b"x" * (7 * MB) + b'"]}'
    answer = timed(hub, "7 MB body, Content-Length", lambda: send(
        hub, "POST", "/findings/import", big))
    expect_error(answer, 413, "InvalidInputException")
    # No Content-Length at all: chunked, so the limit must hold while reading.
    url, headers = sign(hub, "POST", "/findings/import", big)
    parts = urlsplit(url)
    began = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.putrequest("POST", parts.path)
        for name, value in headers.items():
            if name.lower() != "content-length":
                conn.putheader(name, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for i in range(0, len(big), MB):
                chunk = big[i:i + MB]
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass                         # refused mid-upload is fine; the answer must be 413
        resp = conn.getresponse()
        status, code = resp.status, resp.getheader("x-amzn-ErrorType")
        resp.read()
    finally:
        conn.close()
    TIMINGS.append((hub.backend, "7 MB body, chunked", status,
                    (time.perf_counter() - began) * 1000))
    assert (status, code) == (413, "InvalidInputException")
    # 100 findings of ~64 KB each: within the body limit's reach only by a little.
    heavy = [make_finding("heavy", n) for n in range(100)]
    for doc in heavy:
        doc["ProductFields"] = {f"k{i}": "v" * 2000 for i in range(32)}
    answer = timed(hub, "100 findings x 64 KB", lambda: send(
        hub, "POST", "/findings/import", json.dumps({"Findings": heavy}).encode()))
    assert answer[0] == 413
    normal_query(hub)


def _nested(depth: int) -> bytes:
    return b'{"Filters": {"Title": [{"Value": ' + b'{"a": ' * depth + b'"x"' + b"}" * depth \
        + b', "Comparison": "EQUALS"}]}}'


@pytest.mark.parametrize("case, body", [
    ("nested 900 levels in a filter", _nested(900)),
    ("nested 5,000 levels in a filter", _nested(5000)),
    ("nested 200,000 levels", b'{"a": ' * 200_000 + b"1" + b"}" * 200_000),
    ("integer of 5,000 digits", b'{"MaxResults": ' + b"9" * 5000 + b"}"),
    ("number 1e400 (infinite) in a NumberFilter",
     b'{"Filters": {"Confidence": [{"Gte": 1e400}]}}'),
    ("integer 10**300 in a NumberFilter",
     b'{"Filters": {"Confidence": [{"Gte": 1' + b"0" * 300 + b"}]}}"),
    ("integer 10**5000 in a NumberFilter",
     b'{"Filters": {"Confidence": [{"Gte": 1' + b"0" * 4200 + b"}]}}"),
    ("DateRange of 10**18 days", b'{"Filters": {"UpdatedAt": [{"DateRange": '
                                 b'{"Value": 1000000000000000000, "Unit": "DAYS"}}]}}'),
    ("NUL in a filter value",
     b'{"Filters": {"Title": [{"Value": "a\\u0000", "Comparison": "PREFIX"}]}}'),
    ("lone surrogate in a filter value",
     b'{"Filters": {"Title": [{"Value": "\\ud800", "Comparison": "EQUALS"}]}}'),
    ("duplicate keys", b'{"MaxResults": 5, "MaxResults": 500}'),
])
def test_pathological_json_is_400_or_answered(hub: Hub, case: str, body: bytes) -> None:
    answer = timed(hub, case, lambda: send(hub, "POST", "/findings", body))
    if answer[0] == 200:            # a legitimate request after all: answered, not an error
        assert isinstance(answer[2]["Findings"], list)
    else:
        expect_error(answer, 400, "InvalidInputException")
    normal_query(hub)


@pytest.mark.parametrize("case, text", [
    ("NUL in a finding", "a\\u0000b"),
    ("lone surrogate in a finding", "\\udfff"),
])
def test_unstorable_text_in_findings_is_400(hub: Hub, case: str, text: str) -> None:
    """Refused on both databases alike (PostgreSQL text cannot hold NUL; no UTF-8 database
    can hold a lone surrogate): InvalidInput, never a 500 from the driver."""
    doc = make_finding("unstorable", 0)
    body = json.dumps({"Findings": [doc]}).replace(doc["Title"], doc["Title"] + text).encode()
    answer = timed(hub, case, lambda: send(hub, "POST", "/findings/import", body))
    assert "cannot be stored" in expect_error(answer, 400, "InvalidInputException")
    normal_query(hub)


@pytest.mark.parametrize("case, change", [
    ("Region of 100 characters", {"Region": "r" * 100}),
    ("Type of 300 characters", {"Types": ["Software and Configuration Checks/" + "x" * 300]}),
])
def test_over_long_columns_fail_only_their_finding(hub: Hub, case: str,
                                                  change: dict[str, Any]) -> None:
    """A value wider than its column is that finding's FailedFindings entry, on PostgreSQL
    too (it used to fail the whole call there with a 500)."""
    bad = {**make_finding("wide", 0), **change}
    good = make_finding("wide", 1)
    answer = timed(hub, case, lambda: send(hub, "POST", "/findings/import",
                                           json.dumps({"Findings": [bad, good]}).encode()))
    assert answer[0] == 200, answer
    assert answer[2]["SuccessCount"] == 1 and answer[2]["FailedCount"] == 1
    assert answer[2]["FailedFindings"][0]["Id"] == bad["Id"]


# --- filters ------------------------------------------------------------------------------
def _body(**members: Any) -> bytes:
    return json.dumps(members).encode()


@pytest.mark.parametrize("case, body, status", [
    ("10,000 values for one filter", _body(Filters={"Title": [
        {"Value": str(n), "Comparison": "EQUALS"} for n in range(10_000)]}), 400),
    ("10,000 filter attributes", _body(Filters={f"F{n}": [{"Value": "x"}]
                                                for n in range(10_000)}), 400),
    ("10,000 ProductFields entries", _body(Filters={"ProductFields": [
        {"Key": f"k{n}", "Value": "v", "Comparison": "EQUALS"} for n in range(10_000)]}), 400),
    ("10,000 SortCriteria", _body(SortCriteria=[{"Field": "Title", "SortOrder": "asc"}]
                                  * 10_000), 400),
    ("5 MB CONTAINS", _body(Filters={"Title": [{"Value": "x" * (5 * MB),
                                                "Comparison": "CONTAINS"}]}), 200),
    ("5 MB PREFIX", _body(Filters={"Title": [{"Value": "x" * (5 * MB),
                                              "Comparison": "PREFIX"}]}), 200),
    ("5 MB NOT_EQUALS", _body(Filters={"Id": [{"Value": "x" * (5 * MB),
                                               "Comparison": "NOT_EQUALS"}]}), "all"),
    ("3 MB ProductFields key and value", _body(Filters={"ProductFields": [
        {"Key": "k" * (3 * MB), "Value": "v" * (2 * MB), "Comparison": "EQUALS"}]}), 200),
    ("1 MB timestamp", _body(Filters={"UpdatedAt": [{"Start": "2" * MB}]}), 400),
    ("1 MB NextToken", _body(NextToken="A" * MB), 400),
    ("NextToken of another shape", _body(NextToken="eyJvIjpbMSwyXX0"), 400),
    ("MaxResults 10**9", _body(MaxResults=10**9), 400),
])
def test_filter_abuse(hub: Hub, case: str, body: bytes, status: int | str) -> None:
    """400 for what Security Hub's limits refuse; megabyte strings are legal, answered."""
    answer = timed(hub, case, lambda: send(hub, "POST", "/findings", body))
    if status == 200:                   # matches nothing
        assert answer[0] == 200 and answer[2]["Findings"] == []
    elif status == "all":               # excludes nothing: a full first page
        assert answer[0] == 200 and len(answer[2]["Findings"]) == min(
            100, hub.store.count_findings())
    else:
        expect_error(answer, 400, "InvalidInputException")
    normal_query(hub)


# --- routes and transport ------------------------------------------------------------------
@pytest.mark.parametrize("case, method, path, status, code", [
    ("unknown route", "GET", "/nope", 404, "UnknownOperationException"),
    ("dot-dot path", "GET", "/../../etc/passwd", 404, "UnknownOperationException"),
    ("encoded NUL in the path", "GET", "/findings%00/import", 404, "UnknownOperationException"),
    ("wrong method", "GET", "/findings/import", 404, "UnknownOperationException"),
    ("TRACE", "TRACE", "/findings", 404, "UnknownOperationException"),
    ("wrong method on a native route", "DELETE", "/v1/runs", 405, "MethodNotAllowedException"),
    ("insight ARN of 60 KB", "GET", "/insights/results/" + quote("a" * 60_000, safe=""), 404,
     "ResourceNotFoundException"),
    ("limit=² (str.isdigit() but not int())", "GET", "/v1/runs?limit=%C2%B2", 400,
     "InvalidInputException"),
])
def test_routes(hub: Hub, case: str, method: str, path: str, status: int, code: str) -> None:
    answer = timed(hub, case, lambda: send(hub, method, path))
    expect_error(answer, status, code)
    normal_query(hub)


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/runs/%00"), ("GET", "/v1/runs/%00/diff"), ("GET", "/v1/findings/%00/history"),
    ("GET", "/v1/runs?repo=%00"), ("GET", "/v1/baseline?repo=%00&branch=main"),
    ("GET", "/insights/results/%00"), ("DELETE", "/insights/%00"),
])
def test_nul_in_paths_and_parameters(hub: Hub, method: str, path: str) -> None:
    """A NUL reaching a PostgreSQL query used to be a driver DataError answered 500; it is
    InvalidInput now. SQLite looks the value up and finds nothing (or an empty list)."""
    answer = timed(hub, f"NUL in {path}", lambda: send(hub, method, path))
    if answer[0] == 200:
        assert hub.backend == "sqlite"
    elif answer[0] == 404:
        assert hub.backend == "sqlite"
        expect_error(answer, 404, "ResourceNotFoundException")
    else:
        assert "NUL" in expect_error(answer, 400, "InvalidInputException")
    normal_query(hub)


def test_oversized_request_head_is_refused_by_the_http_layer(hub: Hub) -> None:
    """A 1 MB URL or header never reaches the app: the HTTP parser refuses it (4xx) or drops
    the connection; the server carries on."""
    parts = urlsplit(hub.url)
    for case, target, header in (("1 MB URL", "/findings?" + "a" * MB, ""),
                                 ("1 MB header", "/findings", "X-Big: " + "b" * MB + "\r\n")):
        began = time.perf_counter()
        sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        try:
            head = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{header}\r\n"
            try:
                sock.sendall(head.encode())
                first = sock.makefile("rb").readline()
                status = int(first.split()[1]) if first.startswith(b"HTTP/") else 0
            except OSError:
                status = 0               # connection dropped: also a refusal
        finally:
            sock.close()
        TIMINGS.append((hub.backend, case, status, (time.perf_counter() - began) * 1000))
        assert status == 0 or 400 <= status < 500, (case, status)
    normal_query(hub)

