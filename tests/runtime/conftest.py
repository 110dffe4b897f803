"""Runtime test fixtures: the hub tests' real databases (SQLite file and the session's
PostgreSQL), and a real hub server with the Falco intake mounted through `extra_routes`."""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from secpipe.hub.api import create_app, running_server
from secpipe.runtime.intake import FalcoRoutes, routes
from tests.hub.conftest import backend, pg_server, store, store_url  # noqa: F401

TOKEN = "falco-test-token"
READER_KEY, READER_SECRET = "SPKRUNTIMETESTREADER", "runtime-tests-reader-secret-000000000000"

ALERT: dict[str, Any] = {
    "hostname": "node-1", "priority": "Notice", "rule": "Terminal shell in container",
    "source": "syscall", "tags": ["container", "shell", "mitre_execution", "T1059"],
    "time": "2026-06-02T10:00:00.000000000Z",
    "output": "10:00:00.000000000: Notice A shell was spawned in a container",
    "output_fields": {"container.id": "3ad7b26ded6d", "container.name": "web",
                      "container.image.repository": "registry.example.com/web",
                      "container.image.tag": "1.4.2", "proc.name": "bash",
                      "proc.exepath": "/bin/bash", "proc.cmdline": "bash", "user.name": "root",
                      "k8s.ns.name": "default", "k8s.pod.name": "web-6d4cf56db6-x2k7q"},
}


def alert(**changes: Any) -> dict[str, Any]:
    fields = {**ALERT["output_fields"], **changes.pop("fields", {})}
    return {**ALERT, **changes, "output_fields": fields}


@dataclass
class Hub:
    url: str
    store: Any
    routes: FalcoRoutes

    def connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.url)
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def post(self, body: Any, *, headers: dict[str, str] | None = None, path: str = "/falco",
             conn: http.client.HTTPConnection | None = None) -> tuple[int, Any]:
        """POST as Falco's http_output does: JSON, credentials from the URL (Basic)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        auth = "Basic " + base64.b64encode(f"falco:{TOKEN}".encode()).decode()
        hdrs = {"Content-Type": "application/json", "Authorization": auth,
                "User-Agent": "falcosecurity/falco"}
        hdrs.update(headers or {})
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request("POST", path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            if own:
                conn.close()
        return resp.status, (json.loads(raw) if raw else None)

    def get(self, path: str) -> tuple[int, Any]:
        """A signed read (the hub token is `runtime`: it feeds alerts, it reads nothing)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        req = AWSRequest(method="GET", url=self.url + path)
        SigV4Auth(Credentials(READER_KEY, READER_SECRET), "securityhub", "us-east-1"
                  ).add_auth(req)
        conn = self.connection()
        try:
            conn.request("GET", path, headers=dict(req.headers.items()))
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    def falco_findings(self) -> list[dict[str, Any]]:
        found, _ = self.store.get_findings(
            {"GeneratorId": [{"Value": "falco/", "Comparison": "PREFIX"}]}, max_results=100)
        return found


@pytest.fixture
def hub(store) -> Iterator[Hub]:   # noqa: F811 - the hub tests' `store` fixture
    falco = routes(store)
    app = create_app(store, token=TOKEN, extra_routes=falco,
                     access_keys={READER_KEY: READER_SECRET})
    try:
        with running_server(app) as url:
            yield Hub(url, store, falco)
    finally:
        falco.intake.close()
