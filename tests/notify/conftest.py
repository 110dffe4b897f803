"""Real receivers on loopback: an SMTP server (aiosmtpd), an HTTP server (stdlib) that records
what it is sent and answers with scripted status codes, and moto's server for SNS/SQS and
CloudWatch Logs. Plus builders for pipeline results to notify about."""

from __future__ import annotations

import email
import hashlib
import email.policy
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from secpipe.model import Finding, Location, Secret, Severity, SourceContext
from secpipe.model.asff import finding_id
from secpipe.pipeline.result import (
    GatedFinding, RunResult, StageResult, StageStatus, ToolResult, ToolStatus,
)

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- SMTP ---------------------------------------------------------------------------------------

@dataclass
class SmtpSink:
    port: int
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    def parsed(self, i: int = 0) -> EmailMessage:
        return self.messages[i][2]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        self.sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"


@pytest.fixture()
def smtp_sink() -> Iterator[SmtpSink]:
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    sink = SmtpSink(free_port())
    controller = controller_mod.Controller(_Handler(sink), hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# -- HTTP ---------------------------------------------------------------------------------------

@dataclass
class HttpSink:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)   # answered in order, then 200

    def json(self, i: int = 0) -> Any:
        return json.loads(self.requests[i]["body"])


@pytest.fixture()
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sink.requests.append({"path": self.path, "headers": dict(self.headers),
                                  "body": body})
            status = sink.statuses.pop(0) if sink.statuses else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    sink.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


# -- moto ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> str:
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_REGION", REGION), ("AWS_DEFAULT_REGION", REGION),
                       ("AWS_CONFIG_FILE", "/nonexistent"),
                       ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")):
        monkeypatch.setenv(key, value)
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    return moto_url


def boto(service: str, url: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


# -- runs ---------------------------------------------------------------------------------------

CLEAR_SECRET = "AKIAIOSFODNN7EXAMPLE"
CTX = SourceContext(repo="acme/web", branch="main", commit="0123456789abcdef0123",
                    run_id="20260101T000000Z-abcdef")


def finding(rule: str, sev: Severity, path: str = "main.tf", line: int = 3, *,
            tool: str = "checkov", secret: str | None = None, title: str | None = None
            ) -> Finding:
    sec = Secret.from_value(secret) if secret else None
    return Finding(tool=tool, rule_id=rule, title=title or (
        f"AWS key {sec.masked}" if sec else f"{rule} problem"), severity=sev,
        location=Location(path, line), secret=sec)


def stage(name: str, findings: list[Finding], *, fail_on: Severity = Severity.HIGH,
          status: StageStatus | None = None, new: bool | None = None) -> StageResult:
    gated = [GatedFinding(f, name, finding_id(f, CTX), blocking=f.severity >= fail_on,
                          is_new=new) for f in findings]
    if status is None:
        status = StageStatus.FAILED if any(g.blocking for g in gated) else StageStatus.PASSED
    tool = ToolResult(findings[0].tool if findings else "checkov", name, ToolStatus.OK,
                      findings=list(findings))
    return StageResult(name, status, fail_on, "enforce", tools=[tool], findings=gated)


def run_result(*stages: StageResult, run_id: str = CTX.run_id) -> RunResult:
    from dataclasses import replace

    return RunResult(run_id=run_id, root="/src", run_dir=f"/out/runs/{run_id}",
                     context=replace(CTX, run_id=run_id), started_at="2026-01-01T00:00:00Z",
                     finished_at="2026-01-01T00:01:00Z", stages=list(stages))


def falco_asff(rule: str = "Terminal shell in container", priority: str = "Warning",
               label: str = "MEDIUM", container: str = "abc123def456", output: str = "",
               run_id: str = "") -> dict[str, Any]:
    """A runtime alert in the ASFF shape the Falco intake produces."""
    fields = {"secpipe/Tool": "falco", "secpipe/RuleId": rule, "secpipe/Priority": priority,
              "secpipe/Count": "1"}
    if run_id:
        fields |= {"secpipe/RunId": run_id, "secpipe/Commit": "feedfacecafe0000"}
    return {
        "Id": "secpipe/falco/" + hashlib.sha256(f"{rule}|{container}".encode()).hexdigest()[:32],
        "Title": rule, "Description": output or f"A shell was spawned (container={container})",
        "Severity": {"Label": label, "Original": priority},
        "Resources": [{"Type": "Container", "Id": container,
                       "Details": {"Other": {"Image": "acme/web:1.2", "KubernetesPod": "web-1"}}}],
        "ProductFields": fields,
    }
