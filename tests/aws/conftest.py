"""AWS without AWS: moto's real HTTP server on loopback, and secpipe's own hub API as a second
Security Hub, both reached by unmodified boto3 clients through `endpoint_url`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
from botocore.config import Config  # noqa: E402

REGION = "us-east-1"
MOTO_ACCOUNT = "123456789012"   # moto's default account


@dataclass
class Moto:
    url: str

    def client(self, service: str, region: str = REGION) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=region,
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Moto(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch, moto: Moto) -> Moto:
    """Point every boto3 client made without an endpoint at moto (botocore reads these)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return moto


@dataclass
class OwnHub:
    url: str
    store: Any
    key_id: str
    secret: str

    def client(self) -> Any:
        return boto3.client("securityhub", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret,
                            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


@pytest.fixture(scope="module")
def own_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnHub]:
    """secpipe's hub API (real uvicorn, SQLite store) with an access key, as in
    tests/hub/test_api_boto3.py."""
    from secpipe.hub.api import create_app, running_server
    from secpipe.hub.api.isolation import UNLIMITED
    from secpipe.hub.store import open_store

    path: Path = tmp_path_factory.mktemp("hub") / "hub.db"
    store = open_store(f"sqlite:///{path}")
    key_id, secret = store.create_access_key("aws sink tests")
    app = create_app(store, token="aws-tests-token", limits=UNLIMITED)   # not a rate-limit test
    try:
        with running_server(app) as base:
            yield OwnHub(base, store, key_id, secret)
    finally:
        store.close()
