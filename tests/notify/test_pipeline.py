"""`secpipe run` with `notifications:` in secpipe.yml: a failing gate mails the SMTP sink once,
a second identical run stays quiet, and a dead channel never changes the run's result."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline

from .conftest import SmtpSink, free_port

HADOLINT_ERROR = ('[{"line":1,"code":"DL3002","message":"Last USER should not be root",'
                  '"column":1,"file":"Dockerfile","level":"error"}]')


def _project(tmp_path: Path, smtp_port: int) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM alpine:3.20\nUSER root\n")
    (root / "secpipe.yml").write_text(f"""version: 1
project: {{repo: acme/web}}
stages:
  dockerfile:
    tools: [hadolint]
    fail_on: high
notifications:
  - name: security-team
    sources: [dockerfile]
    events: [gate_failed, new_critical]
    channels:
      - type: smtp
        host: 127.0.0.1
        port: {smtp_port}
        starttls: false
        from: secpipe@ci.example
        to: [security@example.com]
""")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "hadolint"
    tool.write_text('#!/bin/sh\n[ "$1" = "--version" ] && { echo "Haskell Dockerfile Linter '
                    f'9.9.9"; exit 0; }}\necho \'{HADOLINT_ERROR}\'\n')
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return root, {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}


@pytest.fixture(autouse=True)
def _own_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECPIPE_NOTIFY_STATE", raising=False)   # state beside OUT/hub.db


def test_failed_gate_sends_exactly_one_mail(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    root, env = _project(tmp_path, smtp_sink.port)
    out = tmp_path / "out"
    run = run_pipeline(RunRequest(root=root, out_dir=out, env=env))
    assert run.exit_code == 1 and run.verdict == "failed"
    assert len(smtp_sink.messages) == 1
    _, rcpts, msg = smtp_sink.messages[0]
    assert rcpts == ["security@example.com"]
    assert msg["Subject"].startswith("[secpipe] gate FAILED: acme/web@")
    assert msg["X-Secpipe-Run"] == run.run_id
    body = msg.get_content()
    assert "Stage dockerfile: FAILED (fail_on HIGH, 1 blocking)" in body
    assert "[HIGH] DL3002: Last USER should not be root" in body and "at Dockerfile:1" in body
    assert f"Report: {out / 'runs' / run.run_id / 'report.html'}" in body
    outcome = json.loads((out / "runs" / run.run_id / "notifications.json").read_text())
    assert [(o["rule"], o["event"], o["status"]) for o in outcome] == [
        ("security-team", "gate_failed", "sent")]
    assert (out / "notify.db").is_file()

    again = run_pipeline(RunRequest(root=root, out_dir=out, env=env))   # same failure
    assert again.exit_code == 1 and len(smtp_sink.messages) == 1
    outcome = json.loads((out / "runs" / again.run_id / "notifications.json").read_text())
    assert [o["status"] for o in outcome] == ["deduplicated"]


def test_dead_mail_server_keeps_the_result(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    root, env = _project(tmp_path, free_port())          # nothing listens there
    out = tmp_path / "out"
    run = run_pipeline(RunRequest(root=root, out_dir=out, env=env, use_hub=False))
    assert run.exit_code == 1                             # the gate's verdict, not 2
    run_dir = out / "runs" / run.run_id
    assert (run_dir / "summary.json").is_file() and (run_dir / "report.html").is_file()
    [outcome] = json.loads((run_dir / "notifications.json").read_text())
    assert outcome["status"] == "failed"
    assert outcome["channels"][0]["attempts"] == 3 and outcome["channels"][0]["error"]
    assert "exit code are unchanged" in caplog.text
