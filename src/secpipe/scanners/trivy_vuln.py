"""trivy's vulnerability scanner (`trivy-vuln`), with trivy's own database, where it can get it.

The `trivy` tool of the static stages runs only the misconfig and secret scanners, which work
offline. This one matches packages against trivy's vulnerability DB: `trivy image --input
ARCHIVE` for the build stage's image archive, `trivy sbom PATH` for the SBOM stage's output, or
`trivy fs --scanners vuln` over the tree (`target: auto` takes the SBOM, then the image, then
the tree, like grype; `target: sbom | image | dir` forces one). For an image's OS packages,
`target: image` lets trivy read the distribution itself rather than from the SBOM.

trivy downloads its DB on first use. Offline that fails, and then the stage fails closed with
trivy's own FATAL line, never an empty pass. The DB lives in trivy's cache (`cache_dir`, default
trivy's own ~/.cache/trivy) so it survives between runs; `offline: true` adds `--skip-db-update
--offline-scan` for air-gapped runners with a preloaded cache.
"""

from __future__ import annotations

from secpipe.scanners._files import ALWAYS_EXCLUDED
from secpipe.scanners.grype import pick_target
from secpipe.scanners.interface import (
    ScanOutcome, ScanRequest, Scanner, ToolCrashed, ToolMissing, require_report,
)


class TrivyVuln(Scanner):
    name = "trivy-vuln"
    format = "trivy"
    executable = "trivy"

    def scan(self, req: ScanRequest) -> ScanOutcome:
        try:
            exe = self.locate(req)
        except ToolMissing:
            raise ToolMissing(self.name, "`trivy` not found on PATH or in secpipe's tool dir; "
                              "install it with `secpipe tools install trivy`") from None
        opts = req.options
        kind, target = pick_target(self.name, req, {"sbom": "", "image": "", "dir": ""})
        out = req.workdir / "trivy-vuln.json"
        sub = {"sbom": ["sbom"], "image": ["image", "--input"], "dir": ["fs"]}[kind]
        argv = [exe, *sub, target if kind != "dir" else ".", "--quiet", "--format", "json",
                "--output", str(out), "--scanners", "vuln", "--skip-version-check"]
        if kind == "dir":
            for path in (*ALWAYS_EXCLUDED, *req.exclude):
                argv += ["--skip-dirs", f"**/{path}"]
        if opts.get("cache_dir"):
            argv += ["--cache-dir", str(req.root / str(opts["cache_dir"]))]
        if opts.get("offline"):
            argv += ["--skip-db-update", "--skip-java-db-update", "--offline-scan"]
        if opts.get("severity"):
            argv += ["--severity", ",".join(opts["severity"])]
        try:
            run = self.execute(req, argv, cwd=req.root)
        except ToolCrashed as exc:
            raise ToolCrashed(self.name, _why(exc), stderr=exc.stderr, exit_code=exc.exit_code,
                              command=exc.command) from None
        data = out.read_bytes() if out.is_file() else None
        report = require_report(self.name, "trivy-vuln.json", data, argv)
        return ScanOutcome(reports=[report], exit_code=run.exit_code, command=argv,
                           stderr=run.stderr, notes=[f"target: {kind} {target or req.root}"])


def _why(exc: ToolCrashed) -> str:
    """trivy's FATAL message (it spans lines) rather than the last lines of its log."""
    text = exc.stderr.decode("utf-8", "replace")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "FATAL" in line:
            message = " ".join(part.strip() for part in lines[i:] if part.strip())
            message = " ".join(message.split())  # trivy's log separates fields with tabs
            message = message.split("FATAL", 1)[1].strip()
            hint = (" (its vulnerability DB cannot be downloaded here: load it into the cache "
                    "and set offline: true, or use the osv-match tool)"
                    if "DB" in message or "db" in message else "")
            return f"exited with code {exc.exit_code}: {message[:600]}{hint}"
    return exc.message
