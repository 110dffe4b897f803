"""git-secrets (awslabs): the seed's secrets stage.

Patterns are handed to git through GIT_CONFIG_* environment variables instead of
`git secrets --register-aws`, so scanning never rewrites the user's .git/config (which
detect-secrets would then flag). The working tree is scanned with `git grep` semantics
(tracked and untracked files, .gitignore honoured); history with `--scan-history`. Both run in
the scanned folder, and `git grep` run in a subfolder of a larger repository searches only that
subfolder (in every revision) and prints paths relative to it: history is limited to the
scanned path without any filtering of ours.
git-secrets prints its matches on stderr and exits 1 when it found any.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from secpipe.scanners._history import history_coverage
from secpipe.scanners.interface import (
    RawReport, ScanOutcome, ScanRequest, Scanner, ToolCrashed,
)

# The patterns and allowances `git secrets --register-aws` installs (git-secrets 1.3.0).
_AWS = '("|\')?(AWS|aws|Aws)?_?'
AWS_PATTERNS = (
    "(A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}",
    _AWS + "(SECRET|secret|Secret)?_?(ACCESS|access|Access)?_?(KEY|key|Key)(\"|')?"
    "\\s*(:|=>|=)\\s*(\"|')?[A-Za-z0-9/\\+=]{40}(\"|')?",
    _AWS + "(ACCOUNT|account|Account)_?(ID|id|Id)?(\"|')?\\s*(:|=>|=)\\s*(\"|')?"
    "[0-9]{4}\\-?[0-9]{4}\\-?[0-9]{4}(\"|')?",
)
AWS_ALLOWED = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
# git-secrets splits patterns on whitespace, so this one spells its blanks as a class.
PRIVATE_KEY_PATTERN = "-----BEGIN[A-Z[:blank:]]*PRIVATE[[:blank:]]KEY-----"


def git_config_env(patterns: list[str], allowed: list[str], providers: list[str]) -> dict[str, str]:
    entries = ([("secrets.patterns", p) for p in patterns]
               + [("secrets.allowed", a) for a in allowed]
               + [("secrets.providers", p) for p in providers])
    env = {"GIT_CONFIG_COUNT": str(len(entries))}
    for i, (key, value) in enumerate(entries):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def scan_env(req: ScanRequest) -> dict[str, str]:
    """The environment git-secrets runs in: the request's, with the configured patterns,
    allowances and providers as git config (the scan cache's history scan uses the same)."""
    opts = req.options
    patterns = list(AWS_PATTERNS) + [PRIVATE_KEY_PATTERN] + list(opts.get("patterns", []))
    allowed = list(AWS_ALLOWED) + list(opts.get("allowed", []))
    providers = ["git secrets --aws-provider"] if opts.get("aws_provider", True) else []
    env = dict(req.env)
    env.update(git_config_env(patterns, allowed, providers))
    return env


class GitSecrets(Scanner):
    name = "git-secrets"
    format = "git-secrets"
    executable = "git-secrets"
    ok_exit_codes = frozenset({0, 1})

    def scan(self, req: ScanRequest) -> ScanOutcome:
        self.locate(req)
        env = scan_env(req)
        excludes = [f":(exclude,glob)**/{e}/**" for e in (".secpipe", "node_modules",
                                                           *req.exclude)]
        if req.git_root is not None:
            argv = ["git", "secrets", "--scan", "--untracked", "--", ".", *excludes]
        else:
            argv = ["git", "secrets", "--scan", "--no-index", "--", ".", *excludes]
        coverage = history_coverage(self.name, req, argv)
        req_env = ScanRequest(**{**req.__dict__, "env": env})
        tree = self.execute(req_env, argv)
        tree_report = tree.stderr if tree.exit_code else b""
        if req.git_root is None:
            # outside a repository git-secrets still asks git for the top level (for
            # .gitallowed) and git complains first; that line is not part of the report
            tree_report, _ = _split_not_a_repo(tree_report)
        reports = [RawReport("git-secrets-tree.txt", tree_report)]
        commands = [" ".join(argv)]
        stderr = b"" if tree.exit_code else tree.stderr
        if not coverage:
            hist_argv = ["git", "secrets", "--scan-history"]
            hist = self.execute(req_env, hist_argv)
            data = hist.stderr if hist.exit_code else b""
            reports.append(RawReport("git-secrets-history.txt", data))
            commands.append(" ".join(hist_argv))
            if not hist.exit_code:
                stderr += hist.stderr
        if tree.exit_code == 1 and b"[ERROR] Matched" not in tree.stderr:
            raise ToolCrashed(self.name, "exited 1 without its findings footer",
                              stderr=tree.stderr, exit_code=1, command=argv)
        notes = ["commands: " + " ; ".join(commands)]
        if "history" in coverage:
            notes.append("history " + coverage["history"])
        return ScanOutcome(reports=reports, exit_code=tree.exit_code, command=argv,
                           stderr=stderr, notes=notes, coverage=coverage)


_NOT_A_REPO = b"fatal: not a git repository"


def _split_not_a_repo(data: bytes) -> tuple[bytes, bytes]:
    """(report, git's "not a git repository" complaints) of a --no-index scan's stderr."""
    keep, noise = [], []
    for line in data.splitlines(keepends=True):
        (noise if line.startswith(_NOT_A_REPO) else keep).append(line)
    return b"".join(keep), b"".join(noise)


def git_toplevel(path: Path) -> Path | None:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None
