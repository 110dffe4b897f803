"""The runtime sensor for real (root): the example service started by the deploy-local
adapter, its deliberately unsafe endpoint called, the kernel's events turned into a Falco
alert, the alert POSTed to a real hub (uvicorn) whose intake stores it - tied to the run that
deployed the image - and mails it through a real SMTP server (aiosmtpd).

Also: normal traffic fires nothing; the `runtime` stage of a pipeline run reports the alert
as a finding; without root, or when the kernel refuses, the sensor fails closed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from secpipe.hub.api import create_app, running_server
from secpipe.hub.interface import RunRecord
from secpipe.hub.store import open_store
from secpipe.runtime.correlate import record_run_images
from secpipe.runtime.intake import routes
from secpipe.runtime.sensor import (NEEDS_ROOT, Sensor, SensorConfig, SensorUnavailable,
                                    service_ruleset)
from secpipe.scanners.deploy_local import DeployLocal
from secpipe.scanners.interface import ReportMissing, ScanRequest, ToolMissing
from secpipe.scanners.runtime_sensor import RuntimeSensor
from tests.conftest import ROOT
from tests.notify.conftest import SmtpSink, smtp_sink  # noqa: F401 - the SMTP sink fixture

EXAMPLE = ROOT / "examples" / "web"
TOKEN = "sensor-test-token"
SHELL_RULE = "Shell spawned by the web server"
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="the runtime sensor needs root (netlink "
                                "proc connector, fanotify); run the tests as root")


def _until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _assert_shell(fields: dict[str, Any], cmdline: str) -> None:
    """The shell as the alert names it. Its arguments are read from /proc after the exec is
    reported; a shell that is already gone (`sh -c id` lives a millisecond or two) is named
    from what is left (its name, or the binary fanotify saw executed), never mistaken."""
    assert fields["proc.pname"] == "node"
    assert fields["proc.exepath"] == os.path.realpath("/bin/sh")
    assert fields["proc.cmdline"] in (cmdline, "sh", os.path.basename(os.path.realpath(
        "/bin/sh"))), fields


# -- the example service ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/web with its dependencies (a copy with `npm install` when the checkout has
    none yet; `make demo` installs them in place)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if (EXAMPLE / "node_modules" / "express").is_dir():
        return EXAMPLE
    copy = tmp_path_factory.mktemp("web")
    for name in ("server.js", "package.json", "package-lock.json", ".npmrc"):
        if (EXAMPLE / name).exists():
            shutil.copy(EXAMPLE / name, copy / name)
    npm = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                         cwd=copy, capture_output=True, timeout=300)
    if npm.returncode != 0:
        pytest.skip(f"npm install failed: {npm.stderr.decode()[-300:]}")
    return copy


@pytest.fixture
def service(example_dir: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The example started by the deploy-local adapter with the unsafe endpoint on."""
    req = ScanRequest(root=example_dir, workdir=tmp_path, timeout=60,
                      env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
                      options={"command": "node server.js", "health_path": "/api",
                               "env": {"WEB_ENABLE_DEBUG_EXEC": "1"}})
    outcome = DeployLocal().scan(req)
    try:
        yield outcome.outputs
    finally:
        assert outcome.cleanup is not None
        outcome.cleanup()


# -- the hub ----------------------------------------------------------------------------------

@pytest.fixture
def hub(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[dict[str, Any]]:  # noqa: F811
    """`secpipe hub serve` with the Falco intake, whose stored alerts go to a notifier that
    mails the runtime alerts to the SMTP sink."""
    from secpipe.notify.config import NotificationRule
    from secpipe.notify.dispatcher import Notifier

    store = open_store(tmp_path / "hub.db", account_id="123456789012")
    rule = NotificationRule.model_validate({
        "name": "runtime", "events": ["runtime_alert"], "sources": ["runtime"],
        "min_priority": "error", "channels": [{
            "type": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "starttls": False,
            "from": "secpipe@example.invalid", "to": ["security@example.invalid"]}]})
    notifier = Notifier([rule], state=tmp_path / "notify.db")
    falco = routes(store, flush_interval=0.1,
                   on_stored=lambda docs: notifier.notify_findings(docs, source="runtime"))
    app = create_app(store, token=TOKEN, extra_routes=falco)
    try:
        with running_server(app) as url:
            yield {"url": url, "store": store, "sink": smtp_sink}
    finally:
        falco.intake.close()
        store.close()


def _falco_findings(store: Any) -> list[dict[str, Any]]:
    found, _ = store.get_findings({"GeneratorId": [{"Value": "falco/", "Comparison": "PREFIX"}]},
                                  max_results=100)
    return found


# -- the tests --------------------------------------------------------------------------------

@needs_root
def test_shell_spawned_by_the_service_reaches_the_hub_and_a_mailbox(
        service: dict[str, str], hub: dict[str, Any], tmp_path: Path) -> None:
    store = hub["store"]
    store.record_run(RunRecord(run_id="run-42", repo="web", branch="main", commit="c0ffee42",
                               started_at="", finished_at="", status="failed", exit_code=1,
                               summary={}), [])
    record_run_images(store, "run-42", ["web:1.4.2"], stage="deploy", role="deployed")
    config = SensorConfig(pids=[int(service["pid"])], rules=service_ruleset(["node"]),
                          hub_url=hub["url"], token=TOKEN, output_file=tmp_path / "a.jsonl",
                          identity={"container.image.repository": "web",
                                    "container.image.tag": "1.4.2"})
    with Sensor(config) as sensor:
        status, body = _get(service["url"] + "/api/debug/exec?cmd=id")
        assert status == 200 and b"uid=0(root)" in body, body
        assert sensor.wait_for_alerts(1, timeout=5), sensor.stats.notes()
    stats = sensor.stats
    [alert] = sensor.alerts
    assert alert["rule"] == SHELL_RULE and alert["priority"] == "Error"
    assert alert["source"] == "syscall" and alert["hostname"]
    fields = alert["output_fields"]
    _assert_shell(fields, "sh -c id")
    assert fields["user.name"] == "root" and fields["user.uid"] == 0
    assert f"command={fields['proc.cmdline']} parent=node" in alert["output"]
    assert stats.outputs.posted == 1 and stats.outputs.post_failed == 0, stats.notes()
    assert json.loads((tmp_path / "a.jsonl").read_text()) == alert

    found = _until(lambda: _falco_findings(store))
    assert len(found) == 1, found
    finding = found[0]
    assert finding["Title"] == SHELL_RULE and finding["Severity"]["Label"] == "HIGH"
    pf = finding["ProductFields"]
    assert pf["secpipe/falco.proc.cmdline"] == fields["proc.cmdline"]
    assert pf["secpipe/RunId"] == "run-42" and pf["secpipe/Commit"] == "c0ffee42"
    assert "TTPs/Execution" in finding["Types"]

    sink: SmtpSink = hub["sink"]
    assert _until(lambda: sink.messages), "no e-mail reached the SMTP sink"
    sender, rcpts, msg = sink.messages[0]
    assert rcpts == ["security@example.invalid"]
    assert SHELL_RULE in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    assert fields["proc.cmdline"] in text and "run-42" in text


@needs_root
def test_normal_traffic_fires_nothing(service: dict[str, str], example_dir: Path) -> None:
    config = SensorConfig(pids=[int(service["pid"])], rules=service_ruleset(["node"]))
    with Sensor(config) as sensor:
        for path in ("/api", "/", "/favicon.ico", "/api?x=1"):
            assert _get(service["url"] + path)[0] in (200, 404)
        package = example_dir / "package.json"          # an open the sensor must see ...
        subprocess.run(["node", "-e", f"require('fs').readFileSync({str(package)!r})"],
                       check=True)                        # ... (not ours: not in the tree)
        assert not sensor.wait_for_alerts(1, timeout=1.0), sensor.alerts
        # the control: the same sensor does catch the attack
        assert _get(service["url"] + "/api/debug/exec?cmd=true")[0] == 200
        assert sensor.wait_for_alerts(1, timeout=5), sensor.stats.notes()
    assert [a["rule"] for a in sensor.alerts] == [SHELL_RULE]
    assert sensor.stats.execs >= 1 and not sensor.stats.error


@needs_root
def test_runtime_stage_reports_the_alert_as_a_finding(example_dir: Path, tmp_path: Path) -> None:
    from secpipe.pipeline.api import RunRequest, run_pipeline
    from secpipe.pipeline.result import StageStatus

    project = tmp_path / "proj"
    project.mkdir()
    (project / "secpipe.yml").write_text(f"""version: 1
stages:
  deploy:
    tools: [deploy-local]
  runtime:
    tools: [runtime-sensor]
    needs: [deploy]
tools:
  deploy-local:
    cwd: {json.dumps(str(example_dir))}
    command: node server.js
    health_path: /api
    env: {{WEB_ENABLE_DEBUG_EXEC: "1"}}
  runtime-sensor:
    watch_seconds: 1.5
    trigger: ["/api/debug/exec?cmd=id"]
""")
    run = run_pipeline(RunRequest(root=project, out_dir=tmp_path / "out"))
    stages = {s.name: s for s in run.stages}
    assert stages["deploy"].status is StageStatus.PASSED, stages["deploy"].error
    runtime = stages["runtime"]
    assert runtime.status is StageStatus.FAILED and run.exit_code == 1, runtime.error
    [g] = runtime.findings
    assert g.finding.tool == "runtime-sensor" and g.finding.rule_id == SHELL_RULE and g.blocking
    assert g.finding.properties["parsed_as"] == "falco"  # the run's tool name, Falco's format
    _assert_shell({k[len("falco."):]: v for k, v in g.finding.properties.items()
                   if k.startswith("falco.")}, "sh -c id")
    raw = Path(run.run_dir) / "raw" / "runtime" / "falco.jsonl"
    assert json.loads(raw.read_text().splitlines()[0])["rule"] == SHELL_RULE
    log = (Path(run.run_dir) / "logs" / "runtime-runtime-sensor.log").read_text()
    assert "/api/debug/exec?cmd=id -> 200" in log


def test_example_pipeline_has_the_runtime_stage() -> None:
    from secpipe.config import load_config

    cfg = load_config(EXAMPLE).config
    assert cfg.stages["runtime"].tools == ["runtime-sensor"]
    assert cfg.stages["runtime"].needs == ["deploy"]
    assert cfg.tools["deploy-local"]["env"]["WEB_ENABLE_DEBUG_EXEC"] == "1"
    assert "/api/debug/exec" in json.dumps(cfg.tools["runtime-sensor"]["trigger"])


# -- failing closed ---------------------------------------------------------------------------

def _request(tmp_path: Path, **inputs: str) -> ScanRequest:
    return ScanRequest(root=tmp_path, workdir=tmp_path, options={"watch_seconds": 1},
                       timeout=30, env=dict(os.environ), inputs=inputs)


def test_not_root_is_a_clear_error_not_an_empty_report(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SensorUnavailable, match="needs root") as err:
        Sensor(SensorConfig(pids=[os.getpid()], rules=service_ruleset())).start()
    assert err.value.reason == f"{NEEDS_ROOT} (running as uid 1000)"
    with pytest.raises(ToolMissing, match="needs root for the netlink proc connector and "
                                          "fanotify"):
        RuntimeSensor().scan(_request(tmp_path, pid=str(os.getpid())))


@needs_root
def test_kernel_refusal_fails_closed(tmp_path: Path) -> None:
    """uid 0 without capabilities: fanotify_init is refused by the kernel itself."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    code = ("import os, sys\n"
            "from secpipe.runtime.sensor import Sensor, SensorConfig, SensorUnavailable, "
            "service_ruleset\n"
            "try:\n"
            "    Sensor(SensorConfig(pids=[os.getpid()], rules=service_ruleset())).start()\n"
            "except SensorUnavailable as exc:\n"
            "    print(exc.reason); sys.exit(3)\n")
    proc = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all",
                           sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == 3, proc.stderr.decode()[-500:]
    assert b"Operation not permitted" in proc.stdout, proc.stdout


@needs_root
def test_nothing_to_watch_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReportMissing, match="no process to watch"):
        RuntimeSensor().scan(_request(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    with pytest.raises(ToolMissing, match=f"pid {dead.pid} is not running"):
        RuntimeSensor().scan(_request(tmp_path, pid=str(dead.pid)))
    with pytest.raises(SensorUnavailable, match="cannot watch /nonexistent"):
        Sensor(SensorConfig(pids=[os.getpid()], rules=service_ruleset(),
                            watch_paths=["/nonexistent"])).start()
