"""checkov: the seed's IaC stage, over every checkov framework whose files are in the tree.

`frameworks` (tools.checkov) defaults to `auto`: the frameworks detected by
:mod:`secpipe.scanners._discovery` (Dockerfiles, Kubernetes, Helm, Kustomize, Terraform,
CloudFormation, Serverless, ARM, Bicep, OpenAPI, Ansible, Argo Workflows, GitHub Actions, GitLab
CI, Azure Pipelines, CircleCI, Bitbucket Pipelines, and secrets); a list runs exactly those. The
frameworks run and the Dockerfiles found are in summary.json (`coverage`) and on the console.
Dockerfiles checkov's name mask misses (`Dockerfile_web`, `Containerfile`, found by content)
get one extra `--framework dockerfile` run (:mod:`secpipe.scanners.checkov_dockerfiles`).

checkov's helm framework shells out to `helm template`; with no helm binary it exits 0 with an
empty result, a silent pass. So when the tree holds a chart and helm is requested, this adapter
requires helm up front and, after the run, refuses a report without helm results.

secpipe's Istio checks (`CKV_SECPIPE_ISTIO_*`, src/secpipe/policies/istio) ride along as a
checkov external-checks folder, so rendered charts and plain manifests get them alike; the tool
option `istio: false` leaves them out.
"""

from __future__ import annotations

import json
import time

from pathlib import PurePosixPath
from typing import Sequence

from secpipe.model import Finding
from secpipe.policies import ISTIO_POLICY_DIR
from secpipe.scanners._discovery import checkov_reads_name, inventory
from secpipe.scanners._files import ALWAYS_EXCLUDED
from secpipe.scanners.checkov_dockerfiles import merge_reports, rewrite_report, stage_dockerfiles
from secpipe.scanners.interface import (
    ReportMissing, ScanOutcome, ScannerError, ScanRequest, Scanner, ToolCrashed, ToolMissing,
    require_report,
)


class Checkov(Scanner):
    name = "checkov"
    format = "checkov"
    executable = "checkov"
    ok_exit_codes = frozenset({0, 1})  # 1: failed checks found

    def scan(self, req: ScanRequest) -> ScanOutcome:
        exe = self.locate(req)
        deadline = time.monotonic() + req.timeout  # the tool's timeout covers both runs
        opts = req.options
        inv = inventory(req.root, req.exclude)
        wanted = opts.get("frameworks") or "auto"
        if isinstance(wanted, str):
            wanted = [wanted]
        frameworks = (inv.framework_names() if list(wanted) == ["auto"]
                      else [str(f) for f in wanted])
        if "kustomize" in frameworks:
            self._require_kustomize(req)
        charts = [req.root / rel for rel in inv.frameworks.get("helm", [])]
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
        for path in skip_paths(req.exclude):
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
        run = self.execute(ScanRequest(**{**req.__dict__, "env": env}), argv, deadline=deadline)
        report_path = out_dir / "results_json.json"
        data = report_path.read_bytes() if report_path.is_file() else None
        report = require_report(self.name, "results_json.json", data, argv)
        if "helm" in frameworks and charts and not _has_helm_results(report.data):
            raise ReportMissing(
                self.name,
                "the tree holds a Helm chart but checkov reported no helm results "
                "(helm failed to render it?); refusing a silent pass",
                stderr=run.stderr, command=argv)
        data = report.data
        extra = [d for d in inv.dockerfiles if not checkov_reads_name(PurePosixPath(d).name)]
        stderr = run.stderr
        if "dockerfile" in frameworks and extra:
            data, more = self._extra_dockerfiles(req, exe, extra, data, deadline)
            stderr += more
        coverage = {"frameworks": frameworks, "dockerfiles": inv.dockerfiles}
        if extra and "dockerfile" in frameworks:
            coverage["dockerfiles_renamed_for_checkov"] = extra
        return ScanOutcome(reports=[report.__class__("checkov.json", data)],
                           exit_code=run.exit_code, command=argv, stderr=stderr,
                           coverage=coverage, notes=["frameworks: " + ", ".join(frameworks)])

    def _require_kustomize(self, req: ScanRequest) -> None:
        """checkov renders kustomizations with `kustomize` or `kubectl kustomize`; with
        neither it skips them without a word."""
        for exe in ("kustomize", "kubectl"):
            try:
                self.locate(req, exe)
                return
            except ToolMissing:
                continue
        raise ToolMissing(self.name, "the tree holds a kustomization but neither `kustomize` nor "
                          "`kubectl` is on PATH, and checkov would silently pass it; install "
                          "one (`secpipe tools install helm` brings kubectl)")

    def _extra_dockerfiles(self, req: ScanRequest, exe: str, rels: Sequence[str],
                           data: bytes, deadline: float) -> tuple[bytes, bytes]:
        """One `--framework dockerfile` run over copies of the Dockerfiles checkov's name mask
        misses, merged into the main report with the original paths."""
        staging = req.workdir / "checkov-dockerfiles"
        out_dir = req.workdir / "checkov-dockerfiles-out"
        out_dir.mkdir(parents=True, exist_ok=True)
        mapping = stage_dockerfiles(req.root, rels, staging)
        argv = [exe, "-d", ".", "-o", "json", "--output-file-path", str(out_dir),
                "--skip-download", "--framework", "dockerfile"]
        for check in req.options.get("skip_checks", []):
            argv += ["--skip-check", str(check)]
        env = dict(req.env)
        env.setdefault("BC_SKIP_MAPPING", "TRUE")
        run = self.execute(ScanRequest(**{**req.__dict__, "env": env}), argv, cwd=staging,
                           deadline=deadline)
        path = out_dir / "results_json.json"
        extra = require_report(self.name, "results_json.json (Dockerfiles)",
                               path.read_bytes() if path.is_file() else None, argv)
        try:
            reports = rewrite_report(extra.data, mapping, staging.resolve(), req.root.resolve())
            return merge_reports(data, reports), run.stderr
        except ValueError as exc:
            raise ToolCrashed(self.name, f"unreadable report of the Dockerfile run: {exc}",
                              command=argv) from None

    def postprocess(self, findings: list[Finding], req: ScanRequest) -> list[Finding]:
        """`tools.checkov.severities` overrides the shipped severity table per check id."""
        from secpipe.formats.checkov_severity import apply_overrides

        try:
            return apply_overrides(findings, req.options.get("severities") or {})
        except ValueError as exc:
            raise ScannerError(self.name, str(exc)) from None


def skip_paths(exclude: Sequence[str]) -> list[str]:
    """`--skip-path` values. checkov drops a path when a skip value is a *substring* of it, so
    `.git` would drop `.github/workflows` too: hidden folders (.git, .secpipe, .venv) are left
    to checkov's own rule, which skips every hidden folder but the ones a framework reads."""
    mine = [p for p in ALWAYS_EXCLUDED if not p.startswith(".")]
    return list(dict.fromkeys([*mine, *(p for p in exclude if p not in ALWAYS_EXCLUDED)]))


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
