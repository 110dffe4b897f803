"""Kingfisher: a Rust secret scanner (Vectorscan rules) for the working tree and git history.

The history engine that keeps the secrets stage bounded at real-repository scale: it scans
each blob once however many commits hold it, on every core, where trufflehog3 diffs commit by
commit in Python (measured by bench/generated_repo.py; see docs). Shipped as a static binary in
the `kingfisher-bin` wheel, pinned by `secpipe tools install kingfisher`.

Never on the network unless asked: `--no-validate` (validation sends each credential to its
issuer; `validate: true` turns it on), `--no-update-check`. Its compiled-rule cache lives under
secpipe's cache dir. Exit status 200 (and 205 for validated findings) means "found something".
"""

from __future__ import annotations

import os

from secpipe.paths import cache_dir
from secpipe.scanners._files import ALWAYS_EXCLUDED
from secpipe.scanners.interface import (
    ScannerError, ScanOutcome, ScanRequest, Scanner, require_report,
)

CONFIDENCE = ("low", "medium", "high")


class Kingfisher(Scanner):
    name = "kingfisher"
    format = "kingfisher"
    executable = "kingfisher"
    ok_exit_codes = frozenset({0, 200, 205})

    def scan(self, req: ScanRequest) -> ScanOutcome:
        exe = self.locate(req)
        opts = req.options
        out = req.workdir / "kingfisher.json"
        jobs = int(opts.get("jobs") or max(2, os.cpu_count() or 2))
        argv = [exe, "scan", ".", "--format", "json", "--output", str(out), "--quiet",
                "--no-update-check", "--jobs", str(jobs),
                "--rule-cache-dir", str(cache_dir() / "kingfisher-rules")]
        if not opts.get("validate", False):
            argv.append("--no-validate")
        confidence = str(opts.get("confidence", "medium")).lower()
        if confidence not in CONFIDENCE:
            raise ScannerError(self.name, f"confidence must be one of {', '.join(CONFIDENCE)}")
        argv += ["--confidence", confidence]
        if not opts.get("history", True) or req.git_root is None:
            argv += ["--git-history", "none"]
        for path in (*ALWAYS_EXCLUDED, *req.exclude):
            if path != ".git":  # kingfisher reads .git as history, never as files; excluding
                argv += ["--exclude", path]  # it would silently turn history off
        run = self.execute(req, argv)
        data = out.read_bytes() if out.is_file() else None
        report = require_report(self.name, "kingfisher.json", data, argv)
        return ScanOutcome(reports=[report], exit_code=run.exit_code, command=argv,
                           stderr=run.stderr)
