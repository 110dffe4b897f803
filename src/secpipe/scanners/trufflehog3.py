"""trufflehog3: pattern and entropy rules over the working tree and, in a repository, history.

Exit status 2 means "found something"; only 0 and 2 come with a trustworthy report.
"""

from __future__ import annotations

import subprocess

import yaml

from secpipe.scanners._files import ALWAYS_EXCLUDED
from secpipe.scanners._history import OFF, history_coverage, history_setting
from secpipe.scanners.interface import ScanOutcome, ScanRequest, Scanner, require_report


# Entropy hits that are known noise, each already covered by a better rule or not a secret:
# lockfile integrity hashes (sha512 of public packages) and the body lines of a PEM key, which
# the private-key pattern reports once for the whole block.
LOCKFILES = ["package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
             "poetry.lock", "Pipfile.lock", "go.sum", "Cargo.lock", "composer.lock", "Gemfile.lock"]
ENTROPY_NOISE = [
    {"message": "integrity hashes of lockfiles", "id": "high-entropy", "paths": LOCKFILES},
    {"message": "PEM bodies (the private-key rule reports the block)", "id": "high-entropy",
     "paths": ["*.pem", "*.key", "*.p8"]},
]


class Trufflehog3(Scanner):
    name = "trufflehog3"
    format = "trufflehog3"
    executable = "trufflehog3"
    ok_exit_codes = frozenset({0, 2})

    def scan(self, req: ScanRequest) -> ScanOutcome:
        exe = self.locate(req)
        config = req.workdir / "trufflehog3.yml"
        patterns = [f"{p}/**" if "*" not in p else p for p in (*ALWAYS_EXCLUDED, *req.exclude)]
        patterns += [f"**/{p}" for p in patterns]
        excludes = [{"message": "secpipe excludes", "paths": patterns}]
        if req.options.get("entropy_noise_filter", True):
            excludes += ENTROPY_NOISE
        config.write_text(yaml.safe_dump({"exclude": excludes}))
        out = req.workdir / "trufflehog3.json"
        argv = [exe, "--config", str(config), "--format", "JSON", "--output", str(out)]
        coverage = history_coverage(self.name, req, argv)  # plain folder: said, or required
        notes: list[str] = []
        if history_setting(req) in OFF:
            argv.append("--no-history")
        else:
            depth = int(req.options.get("history_depth") or DEFAULT_DEPTH)
            if req.options.get("history_depth"):
                argv += ["--depth", str(depth)]
            notes += _depth_note(req, depth)
        if req.options.get("no_entropy"):
            argv.append("--no-entropy")
        argv.append(".")
        run = self.execute(req, argv)
        data = out.read_bytes() if out.is_file() else None
        report = require_report(self.name, "trufflehog3.json", data, argv)
        return ScanOutcome(reports=[report], exit_code=run.exit_code, command=argv,
                           stderr=run.stderr, coverage=coverage, notes=notes)


# trufflehog3 walks at most this many commits of history unless told otherwise (`--depth`)
DEFAULT_DEPTH = 10000


def _depth_note(req: ScanRequest, depth: int) -> list[str]:
    """Say so when the history is longer than trufflehog3 will walk: older commits are not
    scanned, which must never look like a clean history."""
    if req.git_root is None:
        return []
    try:
        out = subprocess.run(["git", "-C", str(req.root), "rev-list", "--count", "HEAD"],
                             capture_output=True, text=True, timeout=60)
        count = int(out.stdout.strip()) if out.returncode == 0 else 0
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    if count <= depth:
        return []
    return [f"WARNING: the history has {count} commits and trufflehog3 walks only the newest "
            f"{depth} (set `history_depth`, or scan history with kingfisher)"]
