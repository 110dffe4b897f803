"""The deploy stage hands a live URL to the DAST stage, and the run leaves nothing behind."""

from __future__ import annotations

import os
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import StageStatus, ToolStatus

APP = textwrap.dedent('''
    import http.server, os, pathlib
    pathlib.Path("app.pid").write_text(str(os.getpid()))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><head><title>t</title></head><body><a href='/about'>a</a></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("X-Powered-By", "Express")
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    http.server.ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), H).serve_forever()
''')


def _project(tmp_path: Path, *, command: str, rules: str | None = None, dast_fail_on: str = "high") -> Path:
    root = tmp_path / "svc"
    root.mkdir()
    (root / "app.py").write_text(APP)
    rules_line = "    rules_file: rules.tsv\n" if rules is not None else ""
    if rules is not None:
        (root / "rules.tsv").write_text(rules)
    (root / "secpipe.yml").write_text(f"""version: 1
stages:
  deploy:
    tools: [deploy-local]
    timeout: 20
  dast:
    tools: [dast]
    needs: [deploy]
    fail_on: {dast_fail_on}
tools:
  deploy-local:
    command: {command}
    health_path: /
    health_timeout: 8
  dast:
    max_seconds: 10
{rules_line}""")
    return root


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stage(run, name):
    return next(s for s in run.stages if s.name == name)


def test_deploy_then_scan_then_stop(tmp_path: Path) -> None:
    root = _project(tmp_path, command=f"{sys.executable} app.py")
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", use_hub=False))
    dast = _stage(run, "dast")
    assert _stage(run, "deploy").status is StageStatus.PASSED
    assert dast.tools[0].status is ToolStatus.OK, dast.tools[0].error
    rules = {g.finding.rule_id for g in dast.findings}
    assert {"10020", "10021", "10037", "10038"} <= rules, rules
    pid = int((root / "app.pid").read_text())
    time.sleep(0.5)
    assert not _alive(pid), "the deployed service outlived the run"
    assert (Path(run.run_dir) / "raw" / "dast" / "zap-baseline.html").is_file()


def test_rules_file_changes_verdicts(tmp_path: Path) -> None:
    rules = "10020\tFAIL\t(Missing Anti-clickjacking Header)\n10038\tIGNORE\t(CSP Header Not Set)\n"
    root = _project(tmp_path, command=f"{sys.executable} app.py", rules=rules,
                    dast_fail_on="critical")
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", use_hub=False))
    dast = _stage(run, "dast")
    by_rule = {g.finding.rule_id: g for g in dast.findings}
    assert "10038" not in by_rule                       # IGNORE: not reported
    assert by_rule["10020"].blocking                    # FAIL: blocks below the threshold
    assert not by_rule["10021"].blocking                # WARN: the threshold decides (critical)
    assert dast.status is StageStatus.FAILED and run.exit_code == 1


def test_service_that_never_gets_healthy_fails_closed(tmp_path: Path) -> None:
    # a duration of its own, so pgrep below cannot see another test run's service
    marker = f"61.{os.getpid() % 10000:04d}1"
    root = _project(tmp_path, command=f"sleep {marker}")
    t0 = time.monotonic()
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", use_hub=False))
    assert time.monotonic() - t0 < 30
    deploy = _stage(run, "deploy")
    assert deploy.status is StageStatus.ERROR and "did not answer" in deploy.tools[0].error
    assert _stage(run, "dast").status is StageStatus.SKIPPED
    assert run.exit_code == 2
    out = os.popen(f"pgrep -f '[s]leep {marker}' || true").read().split()
    assert not out, f"orphan left running: {out}"


def test_crashing_service_reports_its_log(tmp_path: Path) -> None:
    root = _project(tmp_path, command=f"{sys.executable} -c 'import sys; print(\"boom\"); sys.exit(4)'")
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", use_hub=False))
    err = _stage(run, "deploy").tools[0].error
    assert "exited with code 4" in err and "boom" in err


def test_dast_without_target_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "secpipe.yml").write_text("stages:\n  dast: {tools: [dast]}\n")
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", use_hub=False))
    assert run.exit_code == 2 and "no target URL" in run.stages[0].tools[0].error
