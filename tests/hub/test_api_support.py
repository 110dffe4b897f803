"""Shared pieces of the HTTP API tests: a real hub (SQLite store + uvicorn on a free loopback
port), boto3 clients pointed at it, signed raw requests, ASFF findings built by `to_asff`.

No tests here; the test modules import these helpers and fixtures.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

boto3 = pytest.importorskip("boto3")
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from secpipe.hub.api import create_app, running_server  # noqa: E402
from secpipe.hub.api.isolation import UNLIMITED  # noqa: E402
from secpipe.hub.store import open_store  # noqa: E402
from secpipe.model import Finding, Location, Severity, SourceContext, to_asff  # noqa: E402

REGION = "us-east-1"


@dataclass
class Hub:
    url: str
    store: Any
    key_id: str
    secret: str

    def client(self, *, secret: str | None = None, key_id: str | None = None,
               region: str = REGION) -> Any:
        """The unmodified boto3 `securityhub` client; no retries so errors surface at once."""
        return boto3.client(
            "securityhub", endpoint_url=self.url, region_name=region,
            aws_access_key_id=key_id or self.key_id,
            aws_secret_access_key=secret if secret is not None else self.secret,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Hub]:
    """A real hub for the module: a store on SQLite (file) or on the session's PostgreSQL
    (tests/hub/conftest.py), real uvicorn, an access key made by the store."""
    pg = None
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("hub") / "hub.db"
        url = f"sqlite:///{path}"
    else:
        pg = request.getfixturevalue("pg_server")
        url = pg.new_url()
    store = open_store(url)
    key_id, secret = store.create_access_key("api tests", role="admin")
    # these tests are not about rate limits (test_api_isolation.py is): many calls, one key
    app = create_app(store, token="test-bearer-token", token_role="read",   # scripts read runs
                     limits=UNLIMITED)
    try:
        with running_server(app) as base:
            yield Hub(base, store, key_id, secret)
    finally:
        store.close()
        if pg is not None:
            pg.drop(url)


def iso(days_ago: float = 0.0) -> str:
    stamp = datetime.now(timezone.utc) - timedelta(days=days_ago)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def make_finding(repo: str, n: int, *, tool: str = "bandit", rule: str = "B101",
                 severity: Severity = Severity.MEDIUM, title: str | None = None,
                 path: str | None = None, days_ago: float = 0.0, stage: str = "sast",
                 confidence: int | None = None) -> dict[str, Any]:
    """One ASFF finding as secpipe builds it; `repo` keeps each test's findings apart."""
    finding = Finding(
        tool=tool, rule_id=rule, title=title or f"{tool} {rule} #{n}", severity=severity,
        description=f"finding {n} of {repo}", location=Location(path or f"src/m{n}.py", n + 1),
        location_key=f"{repo}-{tool}-{rule}-{n}", confidence=confidence,
    )
    ctx = SourceContext(repo=repo, branch="main", commit="c0ffee", run_id=f"run-{repo}",
                        stage=stage, tool_version="1.0")
    return to_asff(finding, ctx, updated_at=iso(days_ago))


def repo_filter(repo: str) -> dict[str, Any]:
    return {"ProductFields": [{"Key": "secpipe/Repo", "Value": repo, "Comparison": "EQUALS"}]}


# answer headers that differ between two identical requests
VARYING_HEADERS = frozenset({"date", "x-amzn-requestid"})
Answer = tuple[int, dict[str, str], Any]


def import_session(hub: Hub, batch: list[dict[str, Any]]) -> list[Answer]:
    """The start of a session that tests comparing two hubs' answers send: new, unchanged and
    partly invalid imports, a read, bad JSON, a wrong secret."""
    bad = dict(batch[0], Severity={"Label": "LOUD"})
    body = json.dumps({"Findings": batch}).encode()
    return [
        signed_request(hub, "POST", "/findings/import", body),
        signed_request(hub, "POST", "/findings/import", body),
        signed_request(hub, "POST", "/findings/import",
                       json.dumps({"Findings": [bad, batch[1]]}).encode()),
        signed_request(hub, "POST", "/findings", json.dumps(
            {"MaxResults": 5, "SortCriteria": [{"Field": "Title", "SortOrder": "asc"}]}).encode()),
        signed_request(hub, "POST", "/findings/import", b"{not json"),
        signed_request(hub, "POST", "/findings/import", b"{}", secret="wrong"),
    ]


def comparable(answers: list[Answer]) -> list[Answer]:
    """Answers less what differs between two identical requests: the date and request id
    headers and the time the hub stored each finding at (ProcessedAt)."""
    out = []
    for status, headers, body in answers:
        if isinstance(body, dict) and isinstance(body.get("Findings"), list):
            body = dict(body, Findings=[dict(f, ProcessedAt="-") for f in body["Findings"]])
        out.append((status, {k: v for k, v in headers.items() if k not in VARYING_HEADERS},
                    body))
    return out


def signed_request(hub: Hub, method: str, path: str, body: bytes = b"", *,
                   secret: str | None = None, headers: dict[str, str] | None = None,
                   ) -> tuple[int, dict[str, str], Any]:
    """Send a raw request signed by botocore's SigV4Auth; (status, headers, JSON body)."""
    req = AWSRequest(method=method, url=hub.url + path, data=body,
                     headers={"Content-Type": "application/json", **(headers or {})})
    SigV4Auth(Credentials(hub.key_id, secret or hub.secret), "securityhub",
              REGION).add_auth(req)
    return raw_request(req.url, method, body, dict(req.headers.items()))


def raw_request(url: str, method: str = "GET", body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """A plain urllib request (no signing); never raises on an HTTP error status."""
    req = urllib.request.Request(url, data=body if body else None, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, hdrs, data = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, data = err.code, err.headers, err.read()
    lowered = {k.lower(): v for k, v in hdrs.items()}
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = data
    return status, lowered, parsed
