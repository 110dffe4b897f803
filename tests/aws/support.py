"""Helpers for the AWS tests: findings as secpipe builds them, call counting, throttling."""

from __future__ import annotations

import json
from typing import Any, Callable

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from secpipe.model import Finding, Location, Severity, SourceContext, to_asff

SEVERITIES = list(Severity)


def findings(n: int, repo: str = "sink-tests", *, description: str = "") -> list[dict[str, Any]]:
    """n distinct ASFF findings (stable Ids), for the default account like `secpipe run`."""
    ctx = SourceContext(repo=repo, branch="main", commit="c0ffee", run_id=f"run-{repo}",
                        stage="sast", tool_version="1.0", observed_at="2026-11-27T10:00:00.000Z")
    out = []
    for i in range(n):
        f = Finding(tool="bandit", rule_id=f"B{100 + i % 7}", title=f"{repo} finding {i}",
                    severity=SEVERITIES[i % len(SEVERITIES)],
                    description=description or f"finding {i} of {repo}",
                    location=Location(f"src/m{i}.py", i + 1), location_key=f"{repo}-{i}")
        out.append(to_asff(f, ctx))
    return out


class CallCounter:
    """Counts the HTTP requests of one operation (botocore's before-send event)."""

    def __init__(self, client: Any, operation: str = "BatchImportFindings") -> None:
        self.count = 0
        self.bodies: list[dict] = []
        service = client.meta.service_model.endpoint_prefix
        client.meta.events.register(f"before-send.{service}.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> None:
        self.count += 1
        body = request.body
        if body:
            self.bodies.append(json.loads(body if isinstance(body, (bytes, str)) else body.read()))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def throttle(client: Any, should: Callable[[int], bool], *, status: int = 429,
             code: str = "TooManyRequestsException",
             operation: str = "BatchImportFindings") -> list[int]:
    """Answer the n-th request (0-based) with a throttling error when `should(n)`, before it
    reaches the server: injected throttling on a real endpoint. Returns the list of injected n."""
    seen = {"n": 0}
    injected: list[int] = []

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        n = seen["n"]
        seen["n"] += 1
        if not should(n):
            return None
        injected.append(n)
        headers = HTTPHeaders()
        headers["x-amzn-ErrorType"] = code
        headers["Content-Type"] = "application/json"
        body = json.dumps({"Code": code, "Message": "Rate exceeded (injected)"}).encode()
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register_first(f"before-send.securityhub.{operation}", hook)
    return injected


class Sleeps:
    """A Backoff sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
