"""The scan cache returns exactly what a cold run returns, and never holds a secret in clear.

A copy of examples/web in a git repository goes through a scripted history of edits (files
modified, added and deleted, Helm values changed, commits, history rewritten as by a force-push,
a tool option changed); after each edit a cached run and a `--no-cache` run of the static
stages with the real tools must give the same findings, Ids and content alike. The tool-upgrade
case drives the cache's entry point with two version strings. Needs the scanners
(`secpipe tools install` and `secpipe tools install kingfisher`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from secpipe.model import SecretCollector
from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import ToolStatus
from secpipe.scancache import hints, scan_and_parse, store
from secpipe.scanners.interface import ScanRequest
from secpipe.scanners.registry import get_scanner
from secpipe.tools import tool_env
from tests.conftest import ROOT

pytestmark = pytest.mark.tools

EXAMPLE = ROOT / "examples" / "web"
PLANTED = ["AKIA56FG63YKWF32DALO", "DFnNho62c16uXY71utLubrjLpCreK3evpDvW4J2K"]
NEW_KEY = ("AKIAZ7QW3ERT5YUI8OPA", "q9W8e7R6t5Y4u3I2o1P0a9S8d7F6g5H4j3K2l1Zx")
HISTORY_KEY = ("AKIAM4NB6VC8XZ2LKJ7H", "Zx1Cv2Bn3Mq4Wq5Er6Ty7Ui8Op9As0Df1Gh2Jk3L")
TOOLS = ("git-secrets", "detect-secrets", "trufflehog3", "kingfisher", "hadolint", "checkov",
         "helm")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.invalid",
                    "-c", "user.name=ci", *args], check=True, capture_output=True)


def _config(repo: Path, **tool_options: dict) -> Path:
    cfg = {
        "version": 1, "exclude": ["build"],
        "stages": {
            "secrets": {"tools": ["git-secrets", "detect-secrets", "trufflehog3", "kingfisher"],
                        "fail_on": "low"},
            "dockerfile": {"tools": ["hadolint"]},
            "iac": {"tools": ["checkov"], "fail_on": "medium"},
        },
        "tools": {"checkov": {"frameworks": ["dockerfile", "kubernetes", "helm"]},
                  **tool_options},
    }
    path = repo.parent / "secpipe-test.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = tool_env()
    for exe in TOOLS:
        if not shutil.which(exe, path=env["PATH"]):
            pytest.fail(f"{exe} is not installed: run `secpipe tools install` "
                        "and `secpipe tools install kingfisher`")
    monkeypatch.setenv("SECPIPE_SCAN_CACHE", str(tmp_path / "scan-cache"))
    monkeypatch.delenv("SECPIPE_NO_CACHE", raising=False)
    # every text's hint searches kept and answered from the scan cache (scancache.hints._memo),
    # not only the megabyte reports of a real project's checkov: what the cached runs recover
    # and scrub must equal the cold runs' here too, and the cache hold no secret in clear
    monkeypatch.setattr(hints, "MEMO_MIN", 1)
    # one fingerprint key for every run of the test (each --out would otherwise make its own,
    # and keyed secret digests, hence Ids, differ between a cached and a cold run by design)
    key = tmp_path / "fingerprint.key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o600)
    monkeypatch.setenv("SECPIPE_FINGERPRINT_KEY_FILE", str(key))
    top = tmp_path / "web"
    shutil.copytree(EXAMPLE, top, ignore=shutil.ignore_patterns(
        "node_modules", "build", ".secpipe", "secpipe.yml"))
    _git(top, "init", "-q", "-b", "main")
    _git(top, "add", "-A")
    _git(top, "commit", "-qm", "the example service")
    return top


def _findings(repo: Path, out: Path, config: Path, cached: bool,
              monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict[str, str]]:
    """fingerprint -> full finding content, per tool; and each tool's log."""
    if cached:
        monkeypatch.delenv("SECPIPE_NO_CACHE", raising=False)
    else:
        monkeypatch.setenv("SECPIPE_NO_CACHE", "1")
    run = run_pipeline(RunRequest(root=repo, config_file=config, out_dir=out, use_hub=False))
    result: dict[str, dict[str, dict]] = {}
    for stage in run.stages:
        for tool in stage.tools:
            assert tool.status is ToolStatus.OK, (tool.tool, tool.error)
            result[tool.tool] = {f.fingerprint(): store.finding_to_json(f) for f in tool.findings}
    run_dir = Path(run.run_dir)
    logs = {p.stem: p.read_text() for p in (run_dir / "logs").glob("*.log")}
    return result, logs


def _same(repo: Path, tmp_path: Path, config: Path, step: str,
          monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    cached, logs = _findings(repo, tmp_path / f"out-{step}-cached", config, True, monkeypatch)
    cold, _ = _findings(repo, tmp_path / f"out-{step}-cold", config, False, monkeypatch)
    assert set(cached) == set(cold), step
    for tool in cold:
        assert cached[tool] == cold[tool], f"{step}: {tool} differs from a cold run"
    assert any(cold.values()), step
    return logs


def test_cached_runs_equal_cold_runs_through_edits(repo: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(repo)
    _same(repo, tmp_path, config, "first", monkeypatch)
    logs = _same(repo, tmp_path, config, "unchanged", monkeypatch)
    assert all("scan cache: the same content was scanned before" in text
               for text in logs.values()), logs

    # the working tree changes: a file modified, one added, one deleted, Helm values edited
    (repo / "config" / "aws.js").write_text(
        (repo / "config" / "aws.js").read_text() + f'\nconst second = "{NEW_KEY[0]}";\n')
    (repo / "config" / "extra.env").write_text(
        f"AWS_ACCESS_KEY_ID={NEW_KEY[0]}\nAWS_SECRET_ACCESS_KEY={NEW_KEY[1]}\n")
    (repo / "build.js").unlink()
    values = repo / "helm" / "web" / "values.yaml"
    text = values.read_text()
    assert "tag: latest" in text
    values.write_text(text.replace("tag: latest", 'tag: "1.0"'))  # checkov's :latest check
    logs = _same(repo, tmp_path, config, "edited", monkeypatch)
    assert "history unchanged, its occurrences reused" in logs["secrets-kingfisher"]
    assert "units changed and were scanned (mirror tree)" in logs["secrets-detect-secrets"]
    assert "units changed and were scanned (mirror tree)" in logs["iac-checkov"]

    # a file only the secret scanners read: hadolint and checkov need not run at all
    (repo / "src").mkdir(exist_ok=True)
    (repo / "src" / "more.js").write_text("module.exports = 1;\n")
    logs = _same(repo, tmp_path, config, "js-only", monkeypatch)
    assert "hold no file the tool reads" in logs["iac-checkov"]
    assert "hold no file the tool reads" in logs["dockerfile-hadolint"]

    # committed, then a key is committed and removed (it stays in history)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "edits")
    (repo / "old.env").write_text(f"aws_access_key_id={HISTORY_KEY[0]}\n"
                                  f"aws_secret_access_key={HISTORY_KEY[1]}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "oops")
    (repo / "old.env").unlink()
    _git(repo, "commit", "-qam", "remove the key")
    logs = _same(repo, tmp_path, config, "history", monkeypatch)
    assert "only commits after" in logs["secrets-kingfisher"]  # the new commits, not all

    # history rewritten (as after a force-push): the leaking commits are gone
    _git(repo, "reset", "-q", "--hard", "HEAD~2")
    (repo / "server.js").write_text((repo / "server.js").read_text() + "\n// rewritten\n")
    _git(repo, "commit", "-qam", "rewritten history")
    logs = _same(repo, tmp_path, config, "rewritten", monkeypatch)
    assert "whole history scanned (history rewritten" in logs["secrets-kingfisher"]

    # a tool option changes: the old entries must not answer
    config = _config(repo, hadolint={"ignore": ["DL3018"]},
                     trufflehog3={"no_entropy": True})
    _same(repo, tmp_path, config, "options", monkeypatch)

    secrets = [*PLANTED, *NEW_KEY, *HISTORY_KEY, *_pem_body_lines()]
    for where in ["scan-cache", *(p.name for p in tmp_path.glob("out-*-cached"))]:
        blob = b"".join(p.read_bytes() for p in (tmp_path / where).rglob("*") if p.is_file())
        assert blob, f"{where} holds nothing"
        for value in secrets:
            for form in (value, json.dumps(value)[1:-1]):
                assert form.encode() not in blob, f"a secret ({len(value)} chars) is in {where}"


def _pem_body_lines() -> list[str]:
    lines = (EXAMPLE / "config" / "deploy_key.pem").read_text().splitlines()
    return [line for line in lines[1:-1] if len(line) > 20][:3]


def test_a_tool_upgrade_is_a_miss(repo: Path, tmp_path: Path) -> None:
    scanner = get_scanner("detect-secrets")
    work = tmp_path / "work"
    work.mkdir()
    req = ScanRequest(root=repo, workdir=work, options={}, timeout=300, env=tool_env(),
                      exclude=("build",), git_root=repo)

    def scan(version: str):
        outcome, findings = scan_and_parse(scanner, req, SecretCollector(), lambda: version)
        return outcome, sorted(f.fingerprint() for f in findings)

    first, found = scan("1.5.0")
    again, found_again = scan("1.5.0")
    upgraded, found_upgraded = scan("1.6.0")
    assert not any("scan cache" in n for n in first.notes)
    assert any("scan cache: the same content" in n for n in again.notes)
    assert not any("scan cache" in n for n in upgraded.notes)  # ran the tool again
    assert found == found_again == found_upgraded and found
