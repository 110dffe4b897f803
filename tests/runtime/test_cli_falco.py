"""`secpipe falco ...` as a user meets it (registered on a fresh group, as cli.py will)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from secpipe.cli.falco import register
from secpipe.hub.interface import RunRecord
from secpipe.hub.store import open_store
from secpipe.runtime.rules import load_rules
from tests.conftest import shared_fixture_dir
from tests.runtime.conftest import TOKEN, Hub, alert



def _events() -> Path:
    """A real Falco alert file from ../shared, looked up when a test runs (not at import)."""
    return shared_fixture_dir("falco") / "single_rule_with_cat_write.json"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECPIPE_HUB_TOKEN", raising=False)

    @click.group()
    def main() -> None:
        pass

    register(main)
    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(main, list(args), **kw)


def test_ingest_into_the_local_hub_twice(cli, tmp_path: Path) -> None:
    first = cli("falco", "ingest", str(_events()))
    assert first.exit_code == 0, first.output
    assert "8 alerts -> 1 findings (1 new, 0 updated, 0 tied to a run)" in first.stdout
    again = cli("falco", "ingest", "-", input=_events().read_bytes())
    assert again.exit_code == 0 and "(0 new, 1 updated" in again.stdout
    with open_store(tmp_path / ".secpipe" / "hub.db") as store:
        found, _ = store.get_findings()
    assert len(found) == 1 and found[0]["ProductFields"]["secpipe/Count"] == "16"


def test_ingest_refuses_what_is_not_falco_output(cli, tmp_path: Path) -> None:
    result = cli("falco", "ingest", str(shared_fixture_dir("falco") / "falco_rules.yaml"))
    assert result.exit_code == 2 and "error:" in result.stderr and "line 1 is not JSON" in \
        result.stderr
    assert cli("falco", "ingest", str(tmp_path / "missing.json")).exit_code == 2
    assert not (tmp_path / ".secpipe").exists()


def test_ingest_into_a_hub_over_http(cli, hub: Hub) -> None:
    lines = "\n".join(json.dumps(alert(time=f"2026-06-02T10:00:0{i}Z")) for i in range(5))
    no_token = cli("falco", "ingest", "-", "--hub", hub.url, input=lines)
    assert no_token.exit_code == 2 and "token" in no_token.stderr
    result = cli("falco", "ingest", "-", "--hub", hub.url, "--token", TOKEN, input=lines)
    assert result.exit_code == 0, result.output
    assert "5 alerts sent" in result.stdout
    only, = hub.falco_findings()                    # ?wait=true: committed on return
    assert only["ProductFields"]["secpipe/Count"] == "5"
    wrong = cli("falco", "ingest", "-", "--hub", hub.url, "--token", "nope", input=lines)
    assert wrong.exit_code == 2 and "HTTP 403" in wrong.stderr


def test_image_ties_later_alerts_to_the_run(cli, tmp_path: Path) -> None:
    with open_store(tmp_path / ".secpipe" / "hub.db") as store:
        store.record_run(RunRecord(run_id="run-7", repo="web", branch="main", commit="77777",
                                   started_at="", finished_at="", status="passed", exit_code=0,
                                   summary={}), [])
    result = cli("falco", "image", "run-7", "registry.example.com/web:1.4.2", "--stage", "deploy")
    assert result.exit_code == 0 and "1 images recorded for run run-7" in result.stdout
    assert cli("falco", "image", "no-run", "x:1").exit_code == 2
    events = tmp_path / "events.json"
    events.write_text(json.dumps(alert()) + "\n")
    result = cli("falco", "ingest", str(events))
    assert "1 tied to a run" in result.stdout
    with open_store(tmp_path / ".secpipe" / "hub.db") as store:
        found, _ = store.get_findings()
    assert found[0]["ProductFields"]["secpipe/Commit"] == "77777"


def test_values_http_mode(cli, tmp_path: Path) -> None:
    result = cli("falco", "values", "--hub-url", "https://hub.example.com:8443", "--out", "falco",
                 "--web-process", "node", "--web-process", "gunicorn")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "falco" / "falco-values.yaml").read_text()
    values = yaml.safe_load(text)
    falco = values["falco"]
    assert falco["json_output"] is True and falco["http_output"]["enabled"] is True
    assert falco["http_output"]["url"] == \
        "https://falco:${SECPIPE_HUB_TOKEN}@hub.example.com:8443/falco"
    env, = values["extra"]["env"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "secpipe-hub-token", "key": "token"}
    rules_text = values["customRules"]["secpipe_rules.yaml"]
    assert rules_text == (tmp_path / "falco" / "secpipe_rules.yaml").read_text()
    rules = load_rules(("secpipe_rules.yaml", rules_text))
    assert len(rules.loaded) == 4 and rules.skipped == []
    assert rules.lists["secpipe_web_server_binaries"] == ["node", "gunicorn"]
    assert "falcosidekick" not in values


def test_values_sidekick_mode_for_cloudwatch_and_sns(cli, tmp_path: Path) -> None:
    topic = "arn:aws:sns:eu-west-1:123456789012:secpipe-alerts"
    result = cli("falco", "values", "--mode", "sidekick", "--region", "eu-west-1",
                 "--log-group", "/secpipe/falco", "--sns-topic-arn", topic,
                 "--hub-url", "https://hub.example.com", "--minimum-priority", "warning",
                 "--out", "sk")
    assert result.exit_code == 0, result.output
    values = yaml.safe_load((tmp_path / "sk" / "falco-values.yaml").read_text())
    config = values["falcosidekick"]["config"]
    assert values["falcosidekick"]["enabled"] is True
    assert config["aws"]["cloudwatchlogs"] == {"loggroup": "/secpipe/falco",
                                               "minimumpriority": "warning"}
    assert config["aws"]["sns"]["topicarn"] == topic and config["aws"]["region"] == "eu-west-1"
    assert config["webhook"]["address"] == "https://hub.example.com/falco"
    header_env, = config["extraEnv"]
    assert header_env["name"] == "WEBHOOK_CUSTOMHEADERS"
    assert values["falco"]["priority"] == "warning"
    bad = cli("falco", "values", "--minimum-priority", "loud", "--out", "x")
    assert bad.exit_code == 2 and "unknown Falco priority" in bad.stderr


def test_rules_command(cli, tmp_path: Path) -> None:
    own = cli("falco", "rules")
    assert own.exit_code == 0 and "loaded   Error         Shell spawned by the web server" in \
        own.stdout
    real = cli("falco", "rules", str(shared_fixture_dir("falco") / "falco_rules.yaml"))
    assert "12 rules loaded, 13 not loaded" in real.stderr
    assert "skipped  Contact K8S API Server From Container: needs fields" in real.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: X\n  desc: d\n  condition: nope\n  output: o\n  priority: INFO\n")
    result = cli("falco", "rules", str(bad))
    assert result.exit_code == 2 and "Undefined macro 'nope'" in result.stderr


def test_every_command_has_examples(cli) -> None:
    for command in ("ingest", "values", "rules", "image"):
        result = cli("falco", command, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout, command


def test_ingest_counts_a_cut_last_line_as_a_warning(cli, tmp_path: Path) -> None:
    """A log read while Falco writes it may end mid-line: the complete alerts go in, the cut
    line is a warning naming it (a broken line elsewhere stays an error)."""
    whole = _events().read_bytes().rstrip(b"\n")
    lines = whole.split(b"\n")
    cut = b"\n".join(lines) + b"\n" + lines[0][:40]
    result = cli("falco", "ingest", "-", input=cut)
    assert result.exit_code == 0, result.output
    assert f"line {len(lines) + 1} is not JSON: the last line is cut short" in result.stderr
    assert f"{len(lines)} alerts -> 1 findings" in result.stdout
    with open_store(tmp_path / ".secpipe" / "hub.db") as store:
        found, _ = store.get_findings()
    assert found[0]["FirstObservedAt"] == "2016-08-04T16:17:57.881Z"
    broken = lines[0] + b"\n{broken\n" + lines[1] + b"\n"
    assert cli("falco", "ingest", "-", input=broken).exit_code == 2
