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

import json
import os

from secpipe.paths import cache_dir
from secpipe.scanners._files import ALWAYS_EXCLUDED
from secpipe.scanners.interface import (
    RawReport, ScannerError, ScanOutcome, ScanRequest, Scanner, require_report,
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
                "--no-update-check", "--jobs", str(jobs), "--no-dedup",
                "--rule-cache-dir", str(cache_dir() / "kingfisher-rules")]
        if not opts.get("validate", False):
            argv.append("--no-validate")
        confidence = str(opts.get("confidence", "medium")).lower()
        if confidence not in CONFIDENCE:
            raise ScannerError(self.name, f"confidence must be one of {', '.join(CONFIDENCE)}")
        argv += ["--confidence", confidence]
        prefix = _prefix(req) if opts.get("history", True) else None
        if prefix is None:
            argv += ["--git-history", "none"]
        elif prefix:
            argv += ["--path-prefix", prefix]
        if prefix is not None and req.options.get("since_commit"):
            # set by the scan cache: only commits not reachable from one already scanned
            argv += ["--since-commit", str(req.options["since_commit"])]
        for path in (*ALWAYS_EXCLUDED, *req.exclude):
            if path != ".git":  # kingfisher reads .git as history, never as files; excluding
                argv += ["--exclude", path]  # it would silently turn history off
        # a subfolder of a repository: kingfisher finds history only at the repository's top,
        # so it runs there, limited to the subfolder, and its paths are made relative again
        cwd = req.git_root if prefix else req.root
        run = self.execute(req, argv, cwd=cwd)
        data = out.read_bytes() if out.is_file() else None
        report = require_report(self.name, "kingfisher.json", data, argv)
        if prefix:
            report = RawReport(report.name, relative_paths(report.data, prefix))
        return ScanOutcome(reports=[report], exit_code=run.exit_code, command=argv,
                           stderr=run.stderr)


def _prefix(req: ScanRequest) -> str | None:
    """None: no history to scan; "": the repository's top; "sub/dir/": a subfolder of it."""
    if req.git_root is None:
        return None
    try:
        rel = req.root.resolve().relative_to(req.git_root.resolve())
    except ValueError:
        return None
    return "" if str(rel) == "." else rel.as_posix().rstrip("/") + "/"


def relative_paths(data: bytes, prefix: str) -> bytes:
    """Paths of a report made at the repository's top, relative to the scanned subfolder."""
    try:
        doc = json.loads(data)
    except ValueError:
        return data  # the parser reports the broken JSON with its own message
    for item in doc.get("findings", []) if isinstance(doc, dict) else []:
        hit = item.get("finding") if isinstance(item, dict) else None
        if not isinstance(hit, dict):
            continue
        hit["path"] = _strip(hit.get("path"), prefix)
        git = hit.get("git_metadata")
        if isinstance(git, dict) and isinstance(git.get("file"), dict):
            git["file"]["path"] = _strip(git["file"].get("path"), prefix)
    return json.dumps(doc).encode()


def _strip(path: object, prefix: str) -> object:
    if not isinstance(path, str):
        return path
    clean = path[2:] if path.startswith("./") else path
    return clean[len(prefix):] if clean.startswith(prefix) else path
