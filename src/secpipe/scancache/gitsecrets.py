"""git-secrets' history scanned once: each commit's matches kept, only new commits scanned.

`git secrets --scan-history` has no "only these commits" mode: it selects every commit of
`git log --all` whose diff adds or removes a line matching its patterns (`-G`), `git grep`s the
whole tree of each (`-nwHEI`, output in that order) and drops the lines its allowed patterns
match (`grep -Ev`). Each step is a function of one commit, so this module runs the same steps
itself on the commits no earlier run covered, with the same patterns (read back from git
config and the providers exactly as git-secrets loads them) in the same environment, and keeps
per commit the matched lines' findings (before repeats are merged) and those lines scrubbed.

Per repository, tool, version, options and patterns, the record holds every commit that was
reachable when it was made (`covered`), which of them git-secrets' `-G` selects, and their
matches. A run lists the reachable commits (`git rev-list --all`, the order of
`git log --all`), scans those not covered, and concatenates the selected commits' matches in
that order, so merging them gives what one `--scan-history` report gives. Commits no longer
reachable (a force-push, a deleted branch) drop out with their matches (and are scanned again
should they come back). When no reachable commit is selected, git-secrets greps the working tree
instead (its `git grep` got no revision): that is done here too, never cached.

The working tree is scanned by git-secrets itself (`--scan`), every run, as it is cheap.
`secpipe run --no-cache` runs git-secrets' own `--scan-history` (tests compare the two).
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from secpipe.formats import git_secrets as fmt
from secpipe.model import Finding, SecretCollector, collecting
from secpipe.scancache import hints, store
from secpipe.scanners.git_secrets import scan_env
from secpipe.scanners.interface import RawReport, ScanOutcome, ScanRequest, Scanner

FOOTER = (
    "\n[ERROR] Matched one or more prohibited patterns\n\nPossible mitigations:\n"
    "- Mark false positives as allowed using: git config --add secrets.allowed ...\n"
    "- Mark false positives as allowed by adding regular expressions to .gitallowed at "
    "repository's root directory\n"
    "- List your configured patterns: git config --get-all secrets.patterns\n"
    "- List your configured allowed patterns: git config --get-all secrets.allowed\n"
    "- List your configured allowed patterns in .gitallowed at repository's root directory\n"
    "- Use --no-verify if this is a one-time false positive\n"
)
_BATCH = 200  # revisions per `git grep` (the command line stays short)


class _GitFailed(Exception):
    """A git step failed: the caller runs git-secrets itself, which reports it."""


def _git(root: Path, env: dict[str, str], args: list[str], timeout: float,
         stdin: bytes | None = None, ok: tuple[int, ...] = (0,)) -> bytes:
    try:
        out = subprocess.run(["git", *args], cwd=str(root), env=env, input=stdin,
                             capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _GitFailed(str(exc)) from None
    if out.returncode not in ok:
        raise _GitFailed(f"git {args[0]} exited {out.returncode}")
    return out.stdout


def _patterns(root: Path, env: dict[str, str], timeout: float) -> tuple[str, str]:
    """(combined pattern, allowed patterns) as git-secrets' load_combined_patterns and
    load_allowed build them."""
    lines = _git(root, env, ["config", "--get-all", "secrets.patterns"], timeout,
                 ok=(0, 1)).decode("utf-8", "surrogateescape").splitlines()
    providers = _git(root, env, ["config", "--get-all", "secrets.providers"], timeout,
                     ok=(0, 1)).decode("utf-8", "surrogateescape").splitlines()
    for cmd in providers:
        argv = cmd.split()  # `$cmd` split on IFS=$'\n\t ', as the script runs it
        if not argv:
            continue
        try:
            out = subprocess.run(argv, cwd=str(root), env=env, capture_output=True,
                                 timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _GitFailed(str(exc)) from None
        result = out.stdout.decode("utf-8", "surrogateescape").replace("\r", "").strip("\n")
        if result.strip():
            lines.extend(result.split("\n"))
    combined = "|".join(" ".join(lines).split())  # `for pattern in $patterns` then `|`
    allowed = _git(root, env, ["config", "--get-all", "secrets.allowed"], timeout,
                   ok=(0, 1)).decode("utf-8", "surrogateescape").splitlines()
    top = _git(root, env, ["rev-parse", "--show-toplevel"], timeout).decode(
        "utf-8", "surrogateescape").strip()
    gitallowed = Path(top) / ".gitallowed"
    if gitallowed.exists():
        for line in gitallowed.read_text("utf-8", "surrogateescape").splitlines():
            words = line.split()
            if words and not words[0].startswith("#"):  # awk 'NF && $1!~/^#/'
                allowed.append(line)
    return combined, "\n".join(allowed)


def _allowed_out(data: bytes, allowed: str, env: dict[str, str], timeout: float,
                 root: Path) -> bytes:
    """git-secrets' process_output: matched lines its allowed patterns do not match."""
    if not data or not allowed:
        return data
    try:
        out = subprocess.run(["grep", "-Ev", allowed], cwd=str(root),
                             env={**env, "GREP_OPTIONS": "", "LC_ALL": "C"}, input=data,
                             capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _GitFailed(str(exc)) from None
    if out.returncode not in (0, 1):
        raise _GitFailed(f"grep exited {out.returncode}")
    return out.stdout


def _grep(root: Path, env: dict[str, str], combined: str, revs: list[str], timeout: float
          ) -> bytes:
    genv = {**env, "GREP_OPTIONS": "", "LC_ALL": "C"}
    if not revs:
        return _git(root, genv, ["grep", "-nwHEI", combined], timeout, ok=(0, 1))
    return b"".join(_git(root, genv, ["grep", "-nwHEI", combined, *revs[i:i + _BATCH]],
                         timeout, ok=(0, 1)) for i in range(0, len(revs), _BATCH))


def _by_commit(data: bytes) -> dict[str, bytes]:
    out: dict[str, list[bytes]] = {}
    for line in data.splitlines(keepends=True):
        commit = line.split(b":", 1)[0].decode("ascii", "replace")
        out.setdefault(commit, []).append(line)
    return {c: b"".join(lines) for c, lines in out.items()}


def incremental(scanner: Scanner, req: ScanRequest, collector: SecretCollector, base: str,
                digest) -> tuple[ScanOutcome, list[Finding], list[list]] | None:
    """git-secrets' tree scan plus its history from the record and the new commits; None
    when git cannot answer a step (the caller then runs git-secrets whole)."""
    if req.git_root is None:
        return None
    env = scan_env(req)
    try:
        combined, allowed = _patterns(req.root, env, req.timeout)
        if not combined:
            return None  # git-secrets scans no history then: its own run says so
        version = _git(req.root, env, ["--version"], req.timeout).decode().strip()
        reachable = _git(req.root, env, ["rev-list", "--all"], req.timeout).decode().split()
        key = store.digest([base, "git-secrets-history", str(req.root.resolve()),
                            digest(combined), digest(allowed), version])
        record = store.read_entry(scanner.name, key) or {}
        covered = set(record.get("covered", []))
        selected = set(record.get("selected", []))
        commits: dict = {c: v for c, v in record.get("commits", {}).items()}
        new = [c for c in reachable if c not in covered]
        local = SecretCollector()
        picked: list[str] = []
        if new:
            picked = _git(req.root, env, ["log", "--no-walk=unsorted", "--stdin",
                                          f"-G{combined}", "--pretty=%H"], req.timeout,
                          stdin="\n".join(new).encode() + b"\n").decode().split()
            found = _allowed_out(_grep(req.root, env, combined, picked, req.timeout),
                                 allowed, env, req.timeout, req.root)
            for commit, lines in _by_commit(found).items():
                with collecting(local):
                    occ = fmt.occurrences(lines, "git-secrets-history.txt")
                commits[commit] = {"occ": [store.finding_to_json(f) for f in occ],
                                   "lines": local.scrub(lines).decode("utf-8",
                                                                      "surrogateescape")}
        selected = (selected | set(picked)) & set(reachable)
        order = [c for c in reachable if c in selected]
        if order:
            history = [store.finding_from_json(f) for c in order
                       for f in commits.get(c, {}).get("occ", [])]
            text = "".join(commits[c]["lines"] for c in order if c in commits)
            report = (text + FOOTER).encode("utf-8", "surrogateescape") if text else b""
        else:  # git-secrets' `git grep` got no revision: it greps the working tree
            found = _allowed_out(_grep(req.root, env, combined, [], req.timeout), allowed,
                                 env, req.timeout, req.root)
            with collecting(local):
                history = fmt.occurrences(found, "git-secrets-history.txt")
            report = local.scrub(found) + FOOTER.encode() if found else b""
    except _GitFailed:
        return None
    tree = scanner.scan(replace(req, options={**req.options, "history": False}))
    with collecting(local):
        tree_found = list(fmt.parse(tree.reports[0].data, tree.reports[0].name))
    collector.values |= local.values
    tree_report = RawReport(tree.reports[0].name, local.scrub(tree.reports[0].data))
    report = local.scrub(report)  # values the tree's matches showed, if earlier lines hold them
    hinted = sorted({tuple(h) for h in [*record.get("hints", []),
                                        *hints.make_hints(local.values, digest)]})
    hints.add_hints(collector, record.get("hints", []), digest)
    store.write_entry(scanner.name, key, {
        "covered": reachable, "selected": order,
        "commits": {c: commits[c] for c in order if c in commits},
        "hints": [list(h) for h in hinted]})
    command = " ".join(tree.command)
    notes = [f"commands: {command} ; git secrets --scan-history",
             f"scan cache: history: {len(new)} commits not scanned before were scanned "
             f"({len(picked)} selected by git-secrets' -G); the matches of "
             f"{len(order) - len(set(picked) & set(order))} earlier commits were reused"]
    outcome = replace(tree, reports=[tree_report, RawReport("git-secrets-history.txt", report)],
                      stderr=local.scrub(tree.stderr), notes=notes, coverage={}, cleanup=None,
                      outputs={})
    return outcome, [*tree_found, *fmt.combine(history)], [list(h) for h in hinted]
