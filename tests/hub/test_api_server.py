"""`serve()`: loopback by default, and the real entry point in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from secpipe.hub.api import server
from tests.hub.test_api_support import REGION, make_finding, raw_request

boto3 = pytest.importorskip("boto3")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "[::1]"])
def test_loopback_hosts_are_allowed(host: str) -> None:
    server.check_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com"])
def test_remote_hosts_need_allow_remote(host: str) -> None:
    with pytest.raises(server.RemoteBindRefused, match="allow_remote"):
        server.check_host(host)
    server.check_host(host, allow_remote=True)


def test_serve_refuses_before_opening_anything(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    with pytest.raises(server.RemoteBindRefused):
        server.serve(str(db), host="0.0.0.0", port=0)
    assert not db.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_in_its_own_process_with_env_keys(tmp_path: Path) -> None:
    """The entry point the CLI calls, as a separate process: a key given by environment
    works with boto3, and a wrong one does not."""
    port = _free_port()
    env = {**os.environ, "SECPIPE_HUB_ACCESS_KEY_ID": "SPKENVKEY0000000001",
           "SECPIPE_HUB_SECRET_ACCESS_KEY": "env-secret-for-tests"}
    code = (f"from secpipe.hub.api.server import serve; "
            f"serve({str(tmp_path / 'hub.db')!r}, port={port}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if raw_request(url + "/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"server did not start: {out}")
            time.sleep(0.1)
        client = boto3.client("securityhub", endpoint_url=url, region_name=REGION,
                              aws_access_key_id="SPKENVKEY0000000001",
                              aws_secret_access_key="env-secret-for-tests")
        answer = client.batch_import_findings(Findings=[make_finding("proc", 0)])
        assert answer["SuccessCount"] == 1
        assert len(client.get_findings()["Findings"]) == 1
        wrong = boto3.client("securityhub", endpoint_url=url, region_name=REGION,
                             aws_access_key_id="SPKENVKEY0000000001",
                             aws_secret_access_key="not-it")
        with pytest.raises(wrong.exceptions.ClientError) as err:
            wrong.get_findings()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        # serve() mounts the dashboard beside the API by default.
        assert raw_request(url + "/ui/login")[0] == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
