"""`secpipe hub keys|users|audit` as an operator uses them, on a SQLite hub."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from secpipe.hub.store import open_store


def secpipe(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "secpipe", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, input=stdin)


def test_keys_users_and_audit_from_the_command_line(tmp_path: Path) -> None:
    made = secpipe("hub", "keys", "create", "--role", "ci", "--repo", "acme/*", "--branch",
                   "feature/*", "--product-arn", "arn:aws:securityhub:*:*:product/*/default",
                   "--label", "gh-actions", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    pairs = dict(line.split("=", 1) for line in made.stdout.splitlines())
    akid, secret = pairs["SECPIPE_HUB_ACCESS_KEY_ID"], pairs["SECPIPE_HUB_SECRET_ACCESS_KEY"]
    # no role, no key: the choice is explicit
    assert secpipe("hub", "keys", "create", cwd=tmp_path).returncode == 2

    listed = secpipe("hub", "keys", "list", "--json", cwd=tmp_path)
    assert secret not in listed.stdout and secret not in (tmp_path / ".secpipe" / "hub.db"
                                                          ).read_bytes().decode("latin-1")
    [row] = json.loads(listed.stdout)
    assert row["AccessKeyId"] == akid and row["Role"] == "ci" and row["Enabled"]
    assert row["Scope"] == {"repos": ["acme/*"], "branches": ["feature/*"],
                            "product_arns": ["arn:aws:securityhub:*:*:product/*/default"]}
    table = secpipe("hub", "keys", "list", cwd=tmp_path).stdout
    assert akid[:8] in table and secret not in table

    assert secpipe("hub", "keys", "revoke", akid, cwd=tmp_path).returncode == 0
    with open_store(tmp_path / ".secpipe" / "hub.db") as store:
        assert store.secret_for(akid) is None
    assert secpipe("hub", "keys", "revoke", "SPKNOSUCHKEY00000000", cwd=tmp_path).returncode == 2

    env_pw = ["--password", "correct horse battery"]
    new = secpipe("hub", "users", "set-password", "alice", *env_pw, cwd=tmp_path)
    assert new.returncode == 2 and "--role" in new.stderr           # a new user needs a role
    assert secpipe("hub", "users", "set-password", "alice", "--role", "triage", *env_pw,
                   cwd=tmp_path).returncode == 0
    assert secpipe("hub", "users", "set-role", "alice", "read", cwd=tmp_path).returncode == 0
    users = json.loads(secpipe("hub", "users", "list", "--json", cwd=tmp_path).stdout)
    assert [(u["Name"], u["Role"]) for u in users] == [("alice", "read")]
    assert secpipe("hub", "users", "delete", "alice", cwd=tmp_path).returncode == 0
    assert json.loads(secpipe("hub", "users", "list", "--json", cwd=tmp_path).stdout) == []

    audit = json.loads(secpipe("hub", "audit", "--json", cwd=tmp_path).stdout)
    assert [r["action"] for r in audit] == ["DeleteUser", "SetUserRole", "SetUserPassword",
                                            "RevokeAccessKey", "CreateAccessKey"]
    assert all(r["principal"].startswith("local:") for r in audit)
    assert audit[3]["targets"] == [akid] and audit[3]["before"] != audit[3]["after"]
    only = json.loads(secpipe("hub", "audit", "--json", "--action", "CreateAccessKey",
                              "--since", "2000-01-01T00:00:00Z", cwd=tmp_path).stdout)
    assert len(only) == 1 and only[0]["detail"]["role"] == "ci"
    bad = secpipe("hub", "audit", "--since", "yesterday", cwd=tmp_path)
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr and "Traceback" not in bad.stderr
    over_http = secpipe("hub", "keys", "list", "--db", "http://127.0.0.1:1", cwd=tmp_path)
    assert over_http.returncode == 2 and "database" in over_http.stderr


def test_serve_protects_the_branches_it_is_told(tmp_path: Path, monkeypatch) -> None:
    """`hub serve --protected-branch prod`: main is an ordinary branch then, prod is not."""
    import socket
    import time

    from secpipe.hub.client import RemoteHub
    from secpipe.hub.interface import AccessDenied, RunRecord

    made = secpipe("hub", "keys", "create", "--role", "ci", "--label", "any-branch",
                   cwd=tmp_path)
    pairs = dict(line.split("=", 1) for line in made.stdout.splitlines())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "secpipe", "hub", "serve", "--port",
                               str(port), "--protected-branch", "prod", "--protected-branch",
                               "hotfix/*"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        for name, value in pairs.items():
            monkeypatch.setenv(name, value)
        hub = RemoteHub(f"http://127.0.0.1:{port}")

        def run(run_id: str, branch: str) -> RunRecord:
            return RunRecord(run_id, "acme/web", branch, "c", "s", "f", "passed", 0, {}, [])
        assert hub.record_run(run("r-main", "main"), []).run_id == "r-main"
        for branch in ("prod", "hotfix/1"):
            try:
                hub.record_run(run(f"r-{branch}", branch), [])
            except AccessDenied as err:
                assert "is protected" in str(err)
            else:
                raise AssertionError(f"{branch} accepted a run from a wildcard key")
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    # the access log names the key of each request
    assert f"key={pairs['SECPIPE_HUB_ACCESS_KEY_ID']} role=ci op=RecordRun" in err.decode()
