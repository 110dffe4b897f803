"""`secpipe notify test|findings`, on a fresh click group (the lead wires `register`)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from secpipe.cli.notify import register

from .conftest import HttpSink, falco_asff, free_port


@pytest.fixture()
def cli() -> click.Group:
    group = click.Group("secpipe")
    register(group)
    return group


def _config(tmp_path: Path, *urls: str) -> Path:
    channels = "\n".join(f"      - {{type: webhook, url: '{u}'}}" for u in urls)
    path = tmp_path / "secpipe.yml"
    path.write_text(f"""stages:
  iac: {{tools: [checkov]}}
notifications:
  - name: ops
    sources: [runtime]
    channels:
{channels}
""")
    return path


def test_notify_test_reports_each_channel(cli: click.Group, tmp_path: Path,
                                          http_sink: HttpSink) -> None:
    cfg = _config(tmp_path, http_sink.url)
    res = CliRunner().invoke(cli, ["notify", "test", "-c", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "ok" in res.output and http_sink.json()["event"] == "test"
    dead = _config(tmp_path, http_sink.url, f"http://127.0.0.1:{free_port()}/x")
    res = CliRunner().invoke(cli, ["notify", "test", "-c", str(dead)])
    assert res.exit_code == 2 and "notification failed: ops via webhook:127.0.0.1" in res.output
    res = CliRunner().invoke(cli, ["notify", "test", "-c", str(cfg), "--rule", "nope"])
    assert res.exit_code == 2 and "no rule named nope" in res.output


def test_notify_findings_from_asff(cli: click.Group, tmp_path: Path,
                                   http_sink: HttpSink) -> None:
    cfg = _config(tmp_path, http_sink.url)
    report = tmp_path / "alerts.json"
    report.write_text(json.dumps({"Findings": [falco_asff(), falco_asff(container="b")]}))
    args = ["notify", "findings", str(report), "-c", str(cfg), "--state",
            str(tmp_path / "n.db")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "ops  runtime_alert  sent  2 item(s)" in res.output
    res = CliRunner().invoke(cli, args)                      # dedup across invocations
    assert "deduplicated" in res.output and len(http_sink.requests) == 1
    res = CliRunner().invoke(cli, [*args, "--source", "iac"])
    assert res.exit_code == 0 and "no rule matched" in res.output
    report.write_text("{nope")
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and "not JSON" in res.output
