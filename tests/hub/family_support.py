"""A real hub for the findings-family tests: like `test_api_support.hub` (SQLite file or the
session's PostgreSQL, real uvicorn, boto3), plus a secpipe.yml whose notification rules the
custom actions send through, an SMTP receiver (aiosmtpd) and an HTTP receiver on loopback."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from secpipe.hub import custom_action
from secpipe.hub.api import create_app, running_server
from secpipe.hub.api.isolation import UNLIMITED
from secpipe.hub.store import open_store
from tests.hub.test_api_support import Hub
from tests.notify.conftest import free_port


@dataclass
class Sinks:
    smtp_port: int
    mails: list[Any] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    http_url: str = ""


@dataclass
class FamilyHub(Hub):
    sinks: Sinks | None = None
    config: Path | None = None
    app: Any = None


class _Smtp:
    def __init__(self, sinks: Sinks) -> None:
        self.sinks = sinks

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sinks.mails.append(email.message_from_bytes(envelope.original_content
                                                         or envelope.content,
                                                         policy=email.policy.default))
        return "250 OK"


def _config(path: Path, sinks: Sinks) -> Path:
    path.write_text(f"""stages:
  iac: {{tools: [checkov]}}
notifications:
  - name: SendToSec
    channels:
      - {{type: smtp, host: 127.0.0.1, port: {sinks.smtp_port}, starttls: false,
         from: hub@example.com, to: [sec@example.com]}}
  - name: Hook
    channels:
      - {{type: webhook, url: '{sinks.http_url}/hook'}}
  - name: Dead
    channels:
      - {{type: webhook, url: 'http://127.0.0.1:{free_port()}/nobody'}}
""")
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fhub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[FamilyHub]:
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    sinks = Sinks(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sinks.posts.append({"path": self.path, "body": json.loads(body)})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    sinks.http_url = f"http://127.0.0.1:{http.server_address[1]}"
    smtp = controller_mod.Controller(_Smtp(sinks), hostname="127.0.0.1", port=sinks.smtp_port)
    smtp.start()
    tmp = tmp_path_factory.mktemp("family")
    pg = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'hub.db'}"
    else:
        pg = request.getfixturevalue("pg_server")
        url = pg.new_url()
    store = open_store(url)
    key_id, secret = store.create_access_key("family tests", role="admin")
    app = create_app(store, token="test-bearer-token", token_role="read", limits=UNLIMITED)
    config = _config(tmp / "secpipe.yml", sinks)
    custom_action.install(app, config, attempts=1, base_delay=0.0)
    try:
        with running_server(app) as base:
            yield FamilyHub(base, store, key_id, secret, sinks=sinks, config=config, app=app)
    finally:
        smtp.stop()
        http.shutdown()
        http.server_close()
        store.close()
        if pg is not None:
            pg.drop(url)


def regional(fhub: Hub, region: str) -> Any:
    """A boto3 client whose SigV4 scope names `region` (the call's region once the hub takes
    it from the scope)."""
    import boto3
    from botocore.config import Config

    return boto3.client("securityhub", endpoint_url=fhub.url, region_name=region,
                        aws_access_key_id=fhub.key_id, aws_secret_access_key=fhub.secret,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def enabled(client: Any, **kwargs: Any) -> bool:
    """EnableSecurityHub in the client's region; False when it was enabled already."""
    from botocore.exceptions import ClientError

    try:
        client.enable_security_hub(**kwargs)
        return True
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceConflictException":
            raise
        return False
