"""hadolint: the seed's Dockerfile lint, over every Dockerfile found (or configured).

Dockerfiles are found by :func:`secpipe.scanners._discovery.find_dockerfiles`, the rule checkov
shares (names such as `Dockerfile_web`, `api.Dockerfile`, `Containerfile`, and any file whose
first instruction is FROM/ARG); the list goes into the summary (`coverage.dockerfiles`)."""

from __future__ import annotations

from secpipe.scanners._discovery import dockerfile_by_name, find_dockerfiles
from secpipe.scanners.interface import (
    ReportMissing, ScanOutcome, ScanRequest, Scanner, require_report,
)


is_dockerfile = dockerfile_by_name  # the name rule (content is checked by find_dockerfiles)


class Hadolint(Scanner):
    name = "hadolint"
    format = "hadolint"
    executable = "hadolint"
    ok_exit_codes = frozenset({0})  # --no-fail: any other code is a crash

    def scan(self, req: ScanRequest) -> ScanOutcome:
        exe = self.locate(req)
        configured = req.options.get("dockerfiles")
        if configured:
            files = [req.root / f for f in configured]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                raise ReportMissing(self.name, "configured Dockerfile not found: " + ", ".join(missing))
        else:
            files = find_dockerfiles(req.root, req.exclude)
        coverage = {"dockerfiles": [f.relative_to(req.root).as_posix() for f in files]}
        if not files:
            return ScanOutcome(reports=[], exit_code=0, command=[exe], coverage=coverage,
                               notes=["no Dockerfile found under the scanned path"])
        argv = [exe, "--no-fail", "-f", "json"]
        for rule in req.options.get("ignore", []):
            argv += ["--ignore", str(rule)]
        if req.options.get("trusted_registries"):
            for reg in req.options["trusted_registries"]:
                argv += ["--trusted-registry", str(reg)]
        argv += [f.relative_to(req.root).as_posix() for f in files]
        run = self.execute(req, argv)
        # `-f json` prints `[]` when nothing is wrong: no output at all is a broken run, never
        # a clean one (it used to read as `[]`, a silent pass)
        report = require_report(self.name, "hadolint.json", run.stdout.strip(), argv)
        return ScanOutcome(reports=[report], exit_code=run.exit_code, command=argv,
                           stderr=run.stderr, coverage=coverage)
