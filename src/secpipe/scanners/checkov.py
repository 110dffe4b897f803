"""checkov: the seed's IaC stage (Dockerfile, Kubernetes, Helm, Terraform, CloudFormation).

checkov's helm framework shells out to `helm template`; with no helm binary it exits 0 with an
empty result, a silent pass. So when the tree holds a chart and helm is requested, this adapter
requires helm up front and, after the run, refuses a report without helm results.

secpipe's Istio checks (`CKV_SECPIPE_ISTIO_*`, src/secpipe/policies/istio) ride along as a
checkov external-checks folder, so rendered charts and plain manifests get them alike; the tool
option `istio: false` leaves them out.
"""

from __future__ import annotations

import json

from secpipe.policies import ISTIO_POLICY_DIR
from secpipe.scanners._files import ALWAYS_EXCLUDED, find_named
from secpipe.scanners.interface import (
    ReportMissing, ScanOutcome, ScanRequest, Scanner, ToolMissing, require_report,
)

DEFAULT_FRAMEWORKS = ("dockerfile", "kubernetes", "helm", "terraform", "cloudformation")


class Checkov(Scanner):
    name = "checkov"
    format = "checkov"
    executable = "checkov"
    ok_exit_codes = frozenset({0, 1})  # 1: failed checks found

    def scan(self, req: ScanRequest) -> ScanOutcome:
        exe = self.locate(req)
        opts = req.options
        frameworks = list(opts.get("frameworks") or DEFAULT_FRAMEWORKS)
        charts = find_named(req.root, req.exclude, lambda n: n == "Chart.yaml")
        if "helm" in frameworks and charts:
            try:
                self.locate(req, "helm")
            except ToolMissing:
                raise ToolMissing(
                    self.name,
                    f"the tree holds a Helm chart ({charts[0].relative_to(req.root)}) but no "
                    "`helm` binary is on PATH, and checkov would silently pass it; install it "
                    "with `secpipe tools install helm`",
                ) from None
        out_dir = req.workdir / "checkov-out"
        out_dir.mkdir(parents=True, exist_ok=True)
        argv = [exe, "-d", ".", "-o", "json", "--output-file-path", str(out_dir),
                "--skip-download", "--framework", *frameworks]
        for path in (*ALWAYS_EXCLUDED, *req.exclude):
            argv += ["--skip-path", path]
        for check in opts.get("skip_checks", []):
            argv += ["--skip-check", str(check)]
        external = [str(ISTIO_POLICY_DIR)] if opts.get("istio", True) else []
        for folder in [*external, *opts.get("external_checks_dirs", [])]:
            argv += ["--external-checks-dir", str(folder)]
        if opts.get("secrets_all_files"):
            argv.append("--enable-secret-scan-all-files")
        env = dict(req.env)
        env.setdefault("BC_SKIP_MAPPING", "TRUE")
        env.setdefault("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
        run = self.execute(ScanRequest(**{**req.__dict__, "env": env}), argv)
        report_path = out_dir / "results_json.json"
        data = report_path.read_bytes() if report_path.is_file() else None
        report = require_report(self.name, "results_json.json", data, argv)
        if "helm" in frameworks and charts and not _has_helm_results(report.data):
            raise ReportMissing(
                self.name,
                "the tree holds a Helm chart but checkov reported no helm results "
                "(helm failed to render it?); refusing a silent pass",
                stderr=run.stderr, command=argv)
        return ScanOutcome(reports=[report.__class__("checkov.json", report.data)],
                           exit_code=run.exit_code, command=argv, stderr=run.stderr)


def _has_helm_results(data: bytes) -> bool:
    try:
        doc = json.loads(data)
    except ValueError:
        return True  # let the parser report the broken JSON with its own message
    reports = doc if isinstance(doc, list) else [doc]
    for rep in reports:
        if isinstance(rep, dict) and rep.get("check_type") == "helm":
            summary = rep.get("summary") or {}
            return bool(summary.get("passed", 0) or summary.get("failed", 0)
                        or summary.get("resource_count", 0))
    return False
