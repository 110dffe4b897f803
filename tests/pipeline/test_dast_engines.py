"""The DAST stage's other engines: the real Wapiti, and a ZAP daemon's API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from secpipe.pipeline.api import RunRequest, run_pipeline
from secpipe.pipeline.result import StageStatus, ToolStatus
from secpipe.tools import probe, tool_env
from tests.engines.targets import serve


def _project(tmp_path: Path, tools: str) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    (root / "secpipe.yml").write_text(f"stages:\n  dast: {{tools: [dast], fail_on: medium}}\ntools:\n{tools}")
    return root


@pytest.mark.tools
def test_wapiti_engine_scans_and_its_report_parses(tmp_path: Path) -> None:
    if not probe("wapiti").ok:
        pytest.fail("wapiti is not installed: `secpipe tools install wapiti` (make test does)")
    with serve("defect") as site:
        root = _project(tmp_path, f"  dast:\n    engine: wapiti\n    target: {site.url}\n"
                                  "    modules: [http_headers, cookieflags, csp]\n    max_seconds: 60\n")
        run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "o", use_hub=False,
                                      env=tool_env()))
    tool = run.stages[0].tools[0]
    assert tool.status is ToolStatus.OK, tool.error
    assert {f.tool for f in tool.findings} == {"dast"}  # the run's tool name, as in the hub
    assert {f.properties["parsed_as"] for f in tool.findings} == {"wapiti"}
    assert any("Content Security Policy" in f.title or "CSP" in f.title for f in tool.findings), \
        [f.title for f in tool.findings]


class _FakeZap(BaseHTTPRequestHandler):
    """A stand-in for a ZAP daemon's JSON API (no ZAP can run here): the four calls the adapter
    makes, answering as ZAP documents them, and a real ZAP report as the final JSON report."""

    report = b""
    calls: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        q = parse_qs(url.query)
        self.calls.append(url.path)
        if q.get("apikey") != ["k3y"]:
            return self._send(403, b'{"code":"bad_api_key"}')
        body = {
            "/JSON/spider/action/scan/": b'{"scan":"7"}',
            "/JSON/spider/view/status/": b'{"status":"100"}',
            "/JSON/pscan/view/recordsToScan/": b'{"recordsToScan":"0"}',
            "/OTHER/core/other/jsonreport/": self.report,
        }.get(url.path)
        self._send(200 if body else 404, body or b"{}")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a) -> None:
        pass


def test_zap_api_engine_with_rules_file(tmp_path: Path) -> None:
    report = {"@programName": "ZAP", "@version": "2.14.0", "site": [{
        "@name": "http://shop.internal", "@host": "shop.internal", "@port": "80", "@ssl": "false",
        "alerts": [
            {"pluginid": "10020", "alertRef": "10020-1", "alert": "Missing Anti-clickjacking Header",
             "name": "Missing Anti-clickjacking Header", "riskcode": "2", "confidence": "2",
             "riskdesc": "Medium (Medium)", "desc": "<p>x</p>", "instances": [
                 {"uri": "http://shop.internal/", "method": "GET", "param": "x-frame-options",
                  "attack": "", "evidence": "", "otherinfo": ""}],
             "count": "1", "solution": "<p>s</p>", "otherinfo": "", "reference": "", "cweid": "1021",
             "wascid": "15", "sourceid": "3"},
            {"pluginid": "10038", "alertRef": "10038", "alert": "Content Security Policy (CSP) Header Not Set",
             "name": "Content Security Policy (CSP) Header Not Set", "riskcode": "2", "confidence": "3",
             "riskdesc": "Medium (High)", "desc": "", "instances": [], "count": "1", "solution": "",
             "otherinfo": "", "reference": "", "cweid": "693", "wascid": "15", "sourceid": "3"}]}]}
    _FakeZap.report = json.dumps(report).encode()
    _FakeZap.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeZap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        root = _project(tmp_path, f"""  dast:
    engine: zap
    api_url: http://127.0.0.1:{server.server_port}
    api_key: k3y
    target: http://shop.internal/
    rules_file: rules.tsv
""")
        (root / "rules.tsv").write_text("10038\tIGNORE\t(CSP)\n")
        run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "o", use_hub=False))
    finally:
        server.shutdown()
    stage = run.stages[0]
    assert stage.tools[0].status is ToolStatus.OK, stage.tools[0].error
    assert [g.finding.rule_id for g in stage.findings] == ["10020"]
    assert stage.status is StageStatus.FAILED
    assert _FakeZap.calls[-1] == "/OTHER/core/other/jsonreport/"


def test_zap_api_unreachable_fails_closed(tmp_path: Path) -> None:
    root = _project(tmp_path, "  dast:\n    engine: zap\n    api_url: http://127.0.0.1:9\n"
                              "    target: http://x/\n")
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "o", use_hub=False))
    assert run.exit_code == 2 and "unreachable" in run.stages[0].tools[0].error
