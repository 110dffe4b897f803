"""detect-secrets (Yelp): entropy and keyword plugins over every file of the tree.

`--all-files` because in a git checkout detect-secrets otherwise scans tracked files only and
would miss a key in a file not yet committed. It reports SHA-1 hashes, never the values.

`--no-verify` unless the tool option `verify: true`: verification sends every credential found
to its issuer's API (AWS STS, Slack, ...), which secpipe, promising never to copy a secret, does
only when asked; offline it also waits on connections that cannot succeed (224 s for 4 s of work
on 1,200 AWS-shaped keys).
"""

from __future__ import annotations

from secpipe.scanners._files import ALWAYS_EXCLUDED
from secpipe.scanners.interface import ScanOutcome, ScanRequest, Scanner, require_report


class DetectSecrets(Scanner):
    name = "detect-secrets"
    format = "detect-secrets"
    executable = "detect-secrets"

    def scan(self, req: ScanRequest) -> ScanOutcome:
        exe = self.locate(req)
        names = "|".join(p.replace(".", r"\.").replace("*", ".*")
                         for p in (*ALWAYS_EXCLUDED, *req.exclude))
        argv = [exe, "scan", "--all-files", "--exclude-files", f"(^|/)({names})(/|$)"]
        if req.options.get("verify") is not True:
            argv.append("--no-verify")
        for plugin in req.options.get("disable_plugins", []):
            argv += ["--disable-plugin", str(plugin)]
        argv.append(".")
        run = self.execute(req, argv)
        report = require_report(self.name, "detect-secrets.json", run.stdout, argv)
        return ScanOutcome(reports=[report], exit_code=run.exit_code, command=argv,
                           stderr=run.stderr)
