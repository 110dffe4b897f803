"""DAST: the seed's OWASP ZAP baseline stage.

Engines: `baseline` (secpipe's own passive scanner, speaking ZAP's rule ids, rules file, report
and exit codes), `zap` (the real zap-baseline.py in Docker), `wapiti` (active, when asked for).
The target is the URL a deploy stage handed on (`url`), or `target` in the tool's options. Each
alert is annotated with its rules-file level (FAIL/WARN/INFO) so the gate can apply ZAP's
verdicts; IGNOREd rules never reach the report.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from secpipe.scanners.interface import (
    RawReport, ReportMissing, ScanOutcome, ScanRequest, Scanner, ToolCrashed, ToolMissing,
    ToolTimeout, require_report,
)

ZAP_IMAGE = "ghcr.io/zaproxy/zaproxy:stable"


def annotate(report: bytes, rules_file: Path | None) -> bytes:
    """Add each alert's rules-file level as `"secpipe-level"`; drop IGNOREd alerts."""
    from secpipe.engines.baseline.rulesfile import RulesConfig, load_rules

    config = load_rules(rules_file) if rules_file else RulesConfig()
    try:
        doc = json.loads(report)
    except ValueError:
        return report  # the parser says what is wrong with it
    sites = doc.get("site") if isinstance(doc, dict) else None
    for site in sites if isinstance(sites, list) else []:
        alerts = site.get("alerts") if isinstance(site, dict) else None
        if not isinstance(alerts, list):
            continue
        kept = []
        for alert in alerts:
            if not isinstance(alert, dict):
                kept.append(alert)
                continue
            level = config.level(str(alert.get("pluginid", "")))
            if level == "IGNORE":
                continue
            alert["secpipe-level"] = level
            kept.append(alert)
        site["alerts"] = kept
    return json.dumps(doc, indent=2).encode()


class Dast(Scanner):
    name = "dast"
    format = "zap"
    executable = sys.executable
    ok_exit_codes = frozenset({0, 1, 2})  # zap-baseline: pass, FAIL, WARN; 3 is an error

    def scan(self, req: ScanRequest) -> ScanOutcome:
        opts = req.options
        target = opts.get("target") or req.inputs.get("url")
        if not target:
            raise ReportMissing(self.name, "no target URL: add a deploy stage to `needs` or set "
                                "tools.dast.target")
        engine = opts.get("engine", "baseline")
        rules = req.root / opts["rules_file"] if opts.get("rules_file") else None
        if rules is not None and not rules.is_file():
            raise ReportMissing(self.name, f"rules file {rules} not found")
        if engine == "baseline":
            return self._baseline(req, str(target), rules)
        if engine == "zap":
            if opts.get("api_url"):
                return self._zap_api(req, str(target), rules)
            return self._zap(req, str(target), rules)
        if engine == "wapiti":
            return self._wapiti(req, str(target))
        raise ToolCrashed(self.name, f"unknown dast engine {engine!r}; use baseline, zap or wapiti")

    def _wapiti(self, req: ScanRequest, target: str) -> ScanOutcome:
        """Wapiti 3, active, bounded by time. Its exit status says nothing about findings, so
        only the report counts: no report, no pass."""
        exe = self.locate(req, "wapiti")
        opts = req.options
        out = req.workdir / "wapiti.json"
        home = req.workdir / "wapiti-home"
        home.mkdir(exist_ok=True)
        argv = [exe, "-u", target, "-f", "json", "-o", str(out), "--scope",
                str(opts.get("scope", "folder")), "--max-scan-time", str(opts.get("max_seconds", 120)),
                "--flush-session", "--store-session", str(home / "session"),
                "--store-config", str(home / "config"), "-v", "0"]
        if opts.get("modules"):
            mods = opts["modules"]
            argv += ["-m", ",".join(mods) if isinstance(mods, list) else str(mods)]
        env = dict(req.env, HOME=str(home))
        from dataclasses import replace as _replace
        run = self.execute(_replace(req, env=env), argv)
        report = require_report(self.name, "wapiti.json",
                                out.read_bytes() if out.is_file() else None, argv)
        return ScanOutcome(reports=[report], exit_code=run.exit_code, command=argv,
                           stderr=run.stderr, format="wapiti", notes=[f"target {target}"])

    def _zap_api(self, req: ScanRequest, target: str, rules: Path | None) -> ScanOutcome:
        """A running ZAP daemon, through its JSON API: spider, wait for the passive scanner,
        take ZAP's own JSON report."""
        import time as _time

        import httpx

        opts = req.options
        base = str(opts["api_url"]).rstrip("/")
        params = {"apikey": str(opts.get("api_key", ""))}
        deadline = _time.monotonic() + req.timeout

        def get(path: str, **extra: str) -> httpx.Response:
            try:
                resp = httpx.get(f"{base}{path}", params={**params, **extra}, timeout=30)
            except httpx.HTTPError as exc:
                raise ToolMissing(self.name, f"ZAP API at {base} unreachable: {exc}") from None
            if resp.status_code != 200:
                raise ToolCrashed(self.name, f"ZAP API {path} answered {resp.status_code}: "
                                  f"{resp.text[:200]}")
            return resp

        scan_id = get("/JSON/spider/action/scan/", url=target,
                      maxChildren=str(opts.get("max_pages", 0)), recurse="true").json().get("scan")
        while int(get("/JSON/spider/view/status/", scanId=str(scan_id)).json().get("status", 0)) < 100:
            if _time.monotonic() > deadline:
                raise ToolTimeout(self.name, "ZAP's spider did not finish in time")
            _time.sleep(1)
        while int(get("/JSON/pscan/view/recordsToScan/").json().get("recordsToScan", 0)) > 0:
            if _time.monotonic() > deadline:
                raise ToolTimeout(self.name, "ZAP's passive scanner did not finish in time")
            _time.sleep(1)
        data = get("/OTHER/core/other/jsonreport/").content
        report = require_report(self.name, "zap.json", data, [base])
        return ScanOutcome(reports=[RawReport("zap.json", annotate(report.data, rules))],
                           exit_code=0, command=[f"{base} (ZAP API)"], notes=[f"target {target}"])

    def _baseline(self, req: ScanRequest, target: str, rules: Path | None) -> ScanOutcome:
        opts = req.options
        out = req.workdir / "zap-baseline.json"
        html = req.workdir / "zap-baseline.html"
        argv = [sys.executable, "-m", "secpipe.engines.baseline", "-t", target,
                "-J", str(out), "-r", str(html),
                "--max-seconds", str(opts.get("max_seconds", 60)),
                "--max-pages", str(opts.get("max_pages", 200))]
        if rules is not None:
            argv += ["-c", str(rules)]
        run = self.execute(req, argv)
        report = require_report(self.name, "zap-baseline.json",
                                out.read_bytes() if out.is_file() else None, argv)
        reports = [RawReport("zap-baseline.json", annotate(report.data, rules))]
        artifacts = [RawReport("zap-baseline.html", html.read_bytes())] if html.is_file() else []
        return ScanOutcome(reports=reports, artifacts=artifacts, exit_code=run.exit_code,
                           command=argv,
                           stderr=run.stderr + run.stdout,
                           notes=[f"target {target}", "zap-baseline verdict "
                                  f"{ {0: 'PASS', 1: 'FAIL', 2: 'WARN'}[run.exit_code] }"])

    def _zap(self, req: ScanRequest, target: str, rules: Path | None) -> ScanOutcome:
        docker = shutil.which("docker", path=req.env.get("PATH", ""))
        if docker is None:
            raise ToolMissing(self.name, "engine `zap` needs a docker engine with the ZAP image "
                              f"({ZAP_IMAGE}); use engine `baseline` where there is none")
        mount = req.workdir
        argv = [docker, "run", "--rm", "--network", "host", "-v", f"{mount}:/zap/wrk:rw",
                req.options.get("image", ZAP_IMAGE), "zap-baseline.py", "-t", target,
                "-J", "zap.json"]
        if rules is not None:
            shutil.copy(rules, mount / "rules.tsv")
            argv += ["-c", "rules.tsv"]
        run = self.execute(req, argv)
        out = mount / "zap.json"
        report = require_report(self.name, "zap.json", out.read_bytes() if out.is_file() else None,
                                argv)
        return ScanOutcome(reports=[RawReport("zap.json", annotate(report.data, rules))],
                           exit_code=run.exit_code, command=argv, stderr=run.stderr)
