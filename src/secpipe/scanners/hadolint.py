"""hadolint: the seed's Dockerfile lint. One run per Dockerfile found (or configured)."""

from __future__ import annotations

from secpipe.scanners._files import find_named
from secpipe.scanners.interface import (
    ReportMissing, ScanOutcome, ScanRequest, Scanner, require_report,
)


def is_dockerfile(name: str) -> bool:
    return (name == "Dockerfile" or name.startswith("Dockerfile.")
            or name.endswith(".Dockerfile") or name == "Containerfile")


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
            files = find_named(req.root, req.exclude, is_dockerfile)
        if not files:
            return ScanOutcome(reports=[], exit_code=0, command=[exe],
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
                           stderr=run.stderr)
