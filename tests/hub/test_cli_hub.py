"""The hub's command line, as a user meets it: import, list, triage, serve for boto3."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import OWN_FIXTURES


def secpipe(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "secpipe", *args], cwd=cwd, capture_output=True,
                          env=env, timeout=120)


def test_import_list_update(tmp_path: Path) -> None:
    report = OWN_FIXTURES / "checkov" / "example-web.json"
    out = secpipe("import", str(report), "--from", "checkov", "--repo", "acme/web", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert b"imported 22 findings" in out.stdout
    assert (tmp_path / ".secpipe" / "hub.db").is_file()
    listed = json.loads(secpipe("findings", "list", "--json", "--limit", "500", cwd=tmp_path).stdout)
    assert len(listed) == 22
    fid = listed[0]["Id"]
    upd = secpipe("findings", "update", fid, "--workflow", "SUPPRESSED", "--note", "accepted: SEC-9",
                  cwd=tmp_path)
    assert upd.returncode == 0, upd.stderr
    sup = json.loads(secpipe("findings", "list", "--workflow", "SUPPRESSED", "--json", cwd=tmp_path).stdout)
    assert [f["Id"] for f in sup] == [fid] and sup[0]["Note"]["Text"] == "accepted: SEC-9"
    # re-importing the same report keeps the triage (import cannot change Workflow or Note)
    secpipe("import", str(report), "--from", "checkov", "--repo", "acme/web", cwd=tmp_path)
    sup = json.loads(secpipe("findings", "list", "--workflow", "SUPPRESSED", "--json", cwd=tmp_path).stdout)
    assert [f["Id"] for f in sup] == [fid]


def test_update_unknown_id_and_bad_report(tmp_path: Path) -> None:
    out = secpipe("findings", "update", "nope", "--workflow", "RESOLVED", cwd=tmp_path)
    assert out.returncode == 2 and b"no finding with Id nope" in out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    out = secpipe("import", str(bad), "--from", "checkov", cwd=tmp_path)
    assert out.returncode == 2 and b"not valid JSON" in out.stderr and b"Traceback" not in out.stderr


def test_import_refuses_a_report_of_another_format(tmp_path: Path) -> None:
    """A hadolint report imported `--from trivy` used to say "imported 0 findings"."""
    report = OWN_FIXTURES / "hadolint" / "example-web.json"
    out = secpipe("import", str(report), "--from", "trivy", cwd=tmp_path)
    err = b" ".join(out.stderr.split())
    assert out.returncode == 2 and b"not a trivy report" in err and str(report).encode() in err
    assert b"imported" not in out.stdout and b"Traceback" not in out.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_for_boto3(tmp_path: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.exceptions import ClientError

    keys = secpipe("hub", "keys", "create", "--role", "read", "--label", "test",
                   cwd=tmp_path).stdout.decode()
    env_keys = dict(line.split("=", 1) for line in keys.splitlines() if "=" in line)
    secpipe("import", str(OWN_FIXTURES / "hadolint" / "example-web.json"), "--from", "hadolint",
            cwd=tmp_path)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "secpipe", "hub", "serve", "--port", str(port)],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, server.stderr.read() if server.poll() else "no server"
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        client = boto3.client("securityhub", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id=env_keys["SECPIPE_HUB_ACCESS_KEY_ID"],
                              aws_secret_access_key=env_keys["SECPIPE_HUB_SECRET_ACCESS_KEY"])
        found = client.get_findings(Filters={"SeverityLabel": [{"Value": "HIGH", "Comparison": "EQUALS"}]})
        assert [f["GeneratorId"] for f in found["Findings"]] == ["hadolint/DL3020"]
        wrong = boto3.client("securityhub", endpoint_url=url, region_name="us-east-1",
                             aws_access_key_id=env_keys["SECPIPE_HUB_ACCESS_KEY_ID"],
                             aws_secret_access_key="x" * 40)
        with pytest.raises(ClientError) as err:
            wrong.get_findings()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_run_records_into_a_remote_hub(tmp_path: Path) -> None:
    """`secpipe run --hub http://...`: the run and its diff go through the HTTP API, signed
    with a ci key scoped to the project's protected branch; a key scoped to feature branches
    is refused there, and the CI job's own AWS keys are never used to sign."""
    keys = secpipe("hub", "keys", "create", "--role", "ci", "--repo", "proj", "--branch", "main",
                   cwd=tmp_path).stdout.decode()
    env_keys = dict(line.split("=", 1) for line in keys.splitlines() if "=" in line)
    feature = secpipe("hub", "keys", "create", "--role", "ci", "--branch", "feature/*",
                      cwd=tmp_path).stdout.decode()
    feature_keys = dict(line.split("=", 1) for line in feature.splitlines() if "=" in line)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "secpipe", "hub", "serve", "--port", str(port)],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "Dockerfile").write_text("FROM alpine\nRUN apk add curl\n")
    (proj / "secpipe.yml").write_text("stages:\n  dockerfile: {tools: [hadolint]}\n")
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("SECPIPE_HUB_", "AWS_", "GITHUB_", "CI_", "CODEBUILD_"))}
    base_env["GITHUB_REF_NAME"] = "main"
    env = dict(base_env, **env_keys)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        runs = [secpipe("run", str(proj), "--hub", url, "--out", str(tmp_path / "o"), "--no-progress",
                        cwd=tmp_path, env=env) for _ in range(2)]
        for r in runs:
            assert r.returncode in (0, 1), r.stderr
        assert b"new, 0 recurring" in runs[0].stdout and b"0 new" in runs[1].stdout
        bad = secpipe("run", str(proj), "--hub", url, "--out", str(tmp_path / "o"), cwd=tmp_path,
                      env=dict(env, SECPIPE_HUB_SECRET_ACCESS_KEY="y" * 40))
        assert bad.returncode == 2 and b"Traceback" not in bad.stderr
        # a feature-branch key cannot record a run on the protected main branch
        denied = secpipe("run", str(proj), "--hub", url, "--out", str(tmp_path / "o"),
                         cwd=tmp_path, env=dict(base_env, **feature_keys))
        assert denied.returncode == 2 and b"may not record runs for branch 'main'" in denied.stderr
        # AWS_ACCESS_KEY_ID (a CI job's real AWS keys) are never used to sign hub requests
        aws_only = secpipe("run", str(proj), "--hub", url, "--out", str(tmp_path / "o"),
                           cwd=tmp_path, env=dict(
                               base_env, AWS_ACCESS_KEY_ID=env_keys["SECPIPE_HUB_ACCESS_KEY_ID"],
                               AWS_SECRET_ACCESS_KEY=env_keys["SECPIPE_HUB_SECRET_ACCESS_KEY"]))
        assert aws_only.returncode == 2 and b"no credentials" in aws_only.stderr
        # an explicit --hub-profile is the other way to give the key
        creds = tmp_path / "aws-credentials"
        creds.write_text("[hub]\naws_access_key_id = {}\naws_secret_access_key = {}\n".format(
            env_keys["SECPIPE_HUB_ACCESS_KEY_ID"], env_keys["SECPIPE_HUB_SECRET_ACCESS_KEY"]))
        profiled = secpipe("run", str(proj), "--hub", url, "--hub-profile", "hub", "--out",
                           str(tmp_path / "o"), "--no-progress", cwd=tmp_path,
                           env=dict(base_env, AWS_SHARED_CREDENTIALS_FILE=str(creds),
                                    AWS_CONFIG_FILE=str(tmp_path / "none")))
        assert profiled.returncode in (0, 1), profiled.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
