"""trivy as an alternative engine for the static stages: `trivy fs` with the misconfig and
secret scanners, which work offline (its vulnerability database cannot be fetched here).

No network unless asked: no DB, Java DB or check updates, no version check, no dependency
lookups (`--offline-scan`); a run inside a network namespace without interfaces gives the same
findings in the same time (tests/test_no_network.py)."""

from __future__ import annotations

from secpipe.scanners._files import ALWAYS_EXCLUDED
from secpipe.scanners.interface import ScanOutcome, ScanRequest, Scanner, require_report


class Trivy(Scanner):
    name = "trivy"
    format = "trivy"
    executable = "trivy"

    def scan(self, req: ScanRequest) -> ScanOutcome:
        exe = self.locate(req)
        scanners = req.options.get("scanners") or ["misconfig", "secret"]
        out = req.workdir / "trivy.json"
        argv = [exe, "fs", "--quiet", "--format", "json", "--output", str(out),
                "--scanners", ",".join(scanners), "--skip-db-update", "--skip-java-db-update",
                "--skip-check-update", "--skip-version-check", "--offline-scan",
                "--cache-dir", str(req.workdir / "trivy-cache")]
        for path in (*ALWAYS_EXCLUDED, *req.exclude):
            argv += ["--skip-dirs", f"**/{path}"]
        argv.append(".")
        run = self.execute(req, argv)
        data = out.read_bytes() if out.is_file() else None
        report = require_report(self.name, "trivy.json", data, argv)
        return ScanOutcome(reports=[report], exit_code=run.exit_code, command=argv,
                           stderr=run.stderr)
