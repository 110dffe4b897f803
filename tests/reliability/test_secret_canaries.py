"""No secret ever reaches disk or the wire in clear: canaries through the whole pipeline.

A fresh git repository holds canary secrets made for this run, of every kind the secrets stage
detects (AWS key id and secret key, a private-key block, hex and base64 high-entropy strings,
GitHub, Slack and Stripe tokens, a JWT, a password, a URL's basic-auth password, a secret in a
Dockerfile ENV and a Kubernetes env var), in the working tree and, for three more, only in
history. `secpipe run` (the CLI, as CI runs it) runs the default stages with the real
scanners and every output on: the local hub (SQLite, WAL), the run's file archive (raw
reports, logs), SARIF, JUnit, HTML, summary and ASFF, the Security Hub sink against secpipe's
own hub API (a real server, each request captured at the ASGI layer), the S3 archive sink
against moto, and notifications to a webhook and a Slack endpoint (captured). Then every byte
is searched for every canary in every spelling (raw, JSON-escaped, URL-encoded, a key's body
line by line): the output folder with the hub's database, WAL and shared memory files, a
logical dump of each database (a value split across SQLite overflow pages would escape a byte
search), the temp folder and HOME the run used, the second hub's database, everything both
HTTP servers and the webhook received, every S3 object, and the console output.
docs/reliability.md, "Secrets never in clear".
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.reliability.canaries import Canary, Leak, leaks_in, make_canaries, plant

pytestmark = pytest.mark.tools
boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "canary-archive"


class CaptureASGI:
    """Everything an ASGI app receives and answers, kept: what went over the wire."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.exchanges: list[bytes] = []
        self.paths: list[str] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request: list[bytes] = [scope.get("raw_path") or scope["path"].encode(),
                                scope.get("query_string", b"")]
        request += [k + b": " + v for k, v in scope.get("headers", [])]
        response: list[bytes] = []

        async def recv() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                request.append(message.get("body", b""))
            return message

        async def snd(message: dict) -> None:
            if message["type"] == "http.response.start":
                response.extend(k + b": " + v for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                response.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, recv, snd)
        finally:
            self.paths.append(scope["path"])
            self.exchanges.append(b"\n".join(request) + b"\n\n" + b"".join(response))


@dataclass
class Webhook:
    url: str
    received: list[bytes] = field(default_factory=list)


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.received.append(self.requestline.encode() + b"\n"
                                 + str(self.headers).encode() + b"\n" + body)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield hook
    finally:
        server.shutdown()


@dataclass
class Run:
    canaries: list[Canary]
    code: int
    stdout: str
    stderr: str
    out: Path
    home: Path
    tmp: Path
    hub_db: Path
    hub_wire: CaptureASGI
    s3_objects: dict[str, bytes]
    webhook: Webhook
    run_dir: Path


@pytest.fixture(scope="module", params=["local-hub", "remote-hub"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        webhook: Webhook) -> Iterator[Run]:
    """The run, recording into the project's local hub (OUT/hub.db), or into the hub server
    over HTTP (`--hub URL`: the run's record travels over the wire too)."""
    from secpipe.hub.api import create_app, running_server
    from secpipe.hub.store import open_store
    from secpipe.tools import tool_env, tools_dir

    env_path = tool_env()["PATH"]
    for exe in ("git-secrets", "detect-secrets", "trufflehog3", "hadolint", "checkov"):
        if not __import__("shutil").which(exe, path=env_path):
            pytest.fail(f"{exe} is not installed: run `secpipe tools install` (make test does)")
    base = tmp_path_factory.mktemp("canaries")
    canaries = make_canaries()
    repo = base / "repo"
    plant(repo, canaries)
    home, tmp, out = base / "home", base / "tmp", base / "out"
    for folder in (home, tmp):
        folder.mkdir()

    hub_db = base / "hub-server" / "hub.db"
    hub_db.parent.mkdir()
    store = open_store(f"sqlite:///{hub_db}")
    key_id, secret = store.create_access_key("canary test", role="admin")
    wire = CaptureASGI(create_app(store, token="canary-token"))
    moto = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION,
                      aws_access_key_id=key_id, aws_secret_access_key=secret)
    s3.create_bucket(Bucket=BUCKET)
    try:
        with running_server(wire) as hub_url:
            config = base / "secpipe.yml"
            config.write_text(f"""version: 1
project: {{name: canary, account_id: "{ACCOUNT}"}}
stages:
  secrets:
    tools: [git-secrets, detect-secrets, trufflehog3]
    fail_on: low
  dockerfile:
    tools: [hadolint]
  iac:
    tools: [checkov]
    fail_on: medium
tools:
  git-secrets: {{history: true}}
  checkov: {{frameworks: [dockerfile, kubernetes]}}
sinks:
  - {{type: securityhub, endpoint_url: "{hub_url}", region: {REGION}, account_id: "{ACCOUNT}"}}
  - {{type: s3, bucket: {BUCKET}, endpoint_url: "{moto_url}", region: {REGION}}}
notifications:
  - name: everything
    events: [gate_failed, new_critical, new_finding]
    channels:
      - {{type: webhook, url: "{webhook.url}/hook"}}
      - {{type: slack, url: "{webhook.url}/slack"}}
""")
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                   "HOME": str(home), "TMPDIR": str(tmp), "SECPIPE_TOOLS_DIR": str(tools_dir()),
                   "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
                   # the remote hub is signed with its own variables, never AWS_* (issue 12)
                   "SECPIPE_HUB_ACCESS_KEY_ID": key_id, "SECPIPE_HUB_SECRET_ACCESS_KEY": secret,
                   "AWS_REGION": REGION, "AWS_CONFIG_FILE": "/nonexistent",
                   "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                   "PYTHONPATH": str(ROOT / "src")}
            remote = ["--hub", hub_url] if request.param == "remote-hub" else []
            webhook.received.clear()
            done = subprocess.run([sys.executable, "-m", "secpipe", "run", str(repo), "-c",
                                   str(config), "--out", str(out), "--no-progress", *remote],
                                  env=env, capture_output=True, text=True, timeout=900)
            objects = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
                for obj in page.get("Contents", []):
                    got = s3.get_object(Bucket=BUCKET, Key=obj["Key"])
                    objects[obj["Key"]] = (obj["Key"].encode() + b"\n"
                                           + json.dumps(got.get("Metadata", {})).encode() + b"\n"
                                           + got["Body"].read())
        run_dir = next((out / "runs").glob("2*"))
        yield Run(canaries, done.returncode, done.stdout, done.stderr, out, home, tmp, hub_db,
                  wire, objects, webhook, run_dir)
    finally:
        store.close()
        moto.stop()


def _files(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield str(path), path.read_bytes()


def _sqlite_dump(path: Path) -> bytes:
    """Every row as text: a value SQLite split over overflow pages is whole again here."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump()).encode("utf-8", "surrogatepass")
    finally:
        conn.close()


def _everything(run: Run) -> Iterator[tuple[str, bytes]]:
    yield from _files(run.out)
    yield from _files(run.tmp)
    yield from _files(run.home)
    yield from _files(run.hub_db.parent)
    for folder in (run.out, run.hub_db.parent, run.tmp, run.home):
        for path, data in _files(folder):   # the hubs, the notification state, any other
            if data.startswith(b"SQLite format 3\0"):
                yield f"{path} (logical dump)", _sqlite_dump(Path(path))
    for i, exchange in enumerate(run.hub_wire.exchanges):
        yield f"hub API exchange {i} ({run.hub_wire.paths[i]})", exchange
    for key, data in run.s3_objects.items():
        yield f"s3://{BUCKET}/{key}", data
    for i, body in enumerate(run.webhook.received):
        yield f"webhook request {i}", body
    yield "console stdout", run.stdout.encode()
    yield "console stderr", run.stderr.encode()


def test_the_run_failed_its_gate_and_every_sink_delivered(run: Run) -> None:
    assert run.code == 1, run.stderr[-3000:]          # findings: the gate fails, nothing errs
    sinks = json.loads((run.run_dir / "sinks.json").read_text())
    assert {s["sink"] for s in sinks} == {"securityhub", "s3"} and all(s["ok"] for s in sinks)
    assert any(p == "/" for p in run.hub_wire.paths) or run.hub_wire.exchanges
    assert run.s3_objects and run.webhook.received
    for name in ("summary.json", "findings.asff.json", "results.sarif", "junit.xml",
                 "report.html"):
        assert (run.run_dir / name).is_file(), name
    # the run's record is in the local hub, or went to the hub server over HTTP
    assert (run.out / "hub.db").is_file() or "/v1/runs" in run.hub_wire.paths


def test_the_search_finds_what_it_looks_for(run: Run) -> None:
    """The search itself works: every working-tree canary is found in the scanned repository."""
    repo = run.out.parent / "repo"
    found = {l.canary for path, data in _files(repo) if "/.git/" not in path
             for l in leaks_in(data, path, run.canaries)}
    assert found == {c for c in run.canaries if not c.history_only}


def test_every_canary_was_found(run: Run) -> None:
    """Otherwise the search below proves nothing: each canary's value is known to secpipe
    (by its hash) or its file is named by a secret finding."""
    findings = json.loads((run.run_dir / "findings.asff.json").read_text())
    findings = findings.get("Findings", findings) if isinstance(findings, dict) else findings
    hashes = {f["ProductFields"].get("secpipe/SecretSha256") for f in findings}
    paths = {f["ProductFields"].get("secpipe/Path") for f in findings
             if f["ProductFields"].get("secpipe/Category") == "secret"}
    missed = [c for c in run.canaries if not (c.hashes() & hashes) and c.where not in paths]
    assert not missed, [f"{c.kind} in {c.where}" for c in missed]


def test_no_canary_in_clear_anywhere(run: Run) -> None:
    leaks: list[Leak] = []
    scanned = 0
    places = 0
    for place, data in _everything(run):
        scanned += len(data)
        places += 1
        leaks += leaks_in(data, place, run.canaries)
    print(f"\ncanary search: {len(run.canaries)} canaries, {places} files and messages, "
          f"{scanned:,} bytes scanned")
    assert not leaks, "\n".join(f"{l.canary.kind} ({l.canary.where}) in clear in {l.place} "
                                f"at byte {l.offset}" for l in leaks)
    assert scanned > 1_000_000 and places > 30
