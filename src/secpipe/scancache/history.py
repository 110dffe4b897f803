"""History scanned once: kingfisher scans only the commits not already scanned.

Per repository, tool and key, the cache records the occurrences kingfisher reported in the
history (each blob is reported once, for the commit that introduced it) together with the HEAD
they cover. When that HEAD is still an ancestor of the current one and every ref was reachable
from it (a linear record), only the new commits are scanned (`--since-commit`, which also
covers new branches) and their occurrences are added. Anything else (history rewritten by a
force-push, a record made while other branches existed) scans the whole history again, so
commits that are no longer reachable drop out with their occurrences. The working tree's
occurrences are keyed by the tree's content, and kept per file as well: a tree that differs
from the last one in a few files scans only those files (in a mirror tree, with the same
relative paths) and reuses the others' occurrences. Both parts are combined as one report would be
(`formats.kingfisher.combine`), which orders occurrences itself, so the result equals a cold
run's.

Known difference: a blob introduced again by a new commit after it was removed is attributed
to both commits here, to one of them in a cold run.
"""

from __future__ import annotations

import contextvars
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from secpipe.formats import kingfisher as fmt
from secpipe.model import Finding, SecretCollector, collecting
from secpipe.scancache import hints, store, units
from secpipe.scanners.interface import RawReport, ScanOutcome, ScanRequest, Scanner


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode("utf-8", "replace").strip() if out.returncode == 0 else None


def _is_ancestor(root: Path, old: str, new: str) -> bool:
    try:
        out = subprocess.run(["git", "-C", str(root), "merge-base", "--is-ancestor", old, new],
                             capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def _run(scanner: Scanner, req: ScanRequest, options: dict, name: str, local: SecretCollector
         ) -> tuple[ScanOutcome, list[Finding]]:
    work = req.workdir / name.removesuffix(".json")
    work.mkdir(parents=True, exist_ok=True)
    outcome = scanner.scan(replace(req, options=options, workdir=work))
    with collecting(local):
        found = fmt.occurrences(outcome.reports[0].data, name)
    outcome = replace(outcome, reports=[RawReport(name, local.scrub(outcome.reports[0].data))],
                      stderr=local.scrub(outcome.stderr))
    return outcome, found


def incremental(scanner: Scanner, req: ScanRequest, collector: SecretCollector, base: str,
                files: dict[str, str], state: str, digest
                ) -> tuple[ScanOutcome, list[Finding], list[list]] | None:
    """Findings of a kingfisher run with history, scanning only what no entry covers; None
    when git cannot say what HEAD is (the caller runs the tool in full). `files`: the tree's
    manifest (path -> content digest)."""
    tree_digest = units.manifest_digest(files)
    head = _git(req.root, "rev-parse", "HEAD")
    if not head or req.git_root is None:
        return None
    linear = _git(req.root, "rev-list", "--all", "--not", "HEAD", "--count") == "0"
    hist_key = store.digest([base, "history", str(req.root.resolve())])
    tree_key = store.digest([base, "tree", tree_digest])
    old = store.read_entry(scanner.name, hist_key)
    tree = store.read_entry(scanner.name, tree_key)
    local = SecretCollector()
    reports: list[RawReport] = []
    notes: list[str] = []
    outcome: ScanOutcome | None = None
    opts = dict(req.options)
    same = bool(old and old.get("state") == state)
    since = not same and bool(old and old.get("linear")
                              and _is_ancestor(req.root, old["head"], head))
    tree_ran = tree is None and since
    if tree_ran:
        # the changed files' scan beside the new commits' (each kingfisher process pays its
        # rule set's start-up, ~0.7 s of CPU: two cores end them together)
        tree_local = SecretCollector()
        with ThreadPoolExecutor(1, thread_name_prefix="secpipe-kingfisher-tree") as pool:
            pending = pool.submit(contextvars.copy_context().run, _tree, scanner, req, opts,
                                  base, files, tree_local, digest, [])
            outcome, new = _run(scanner, req, {**opts, "since_commit": old["head"]},
                                "kingfisher-new-commits.json", local)
            t_outcome, tree, tree_notes = pending.result()
        local.values |= tree_local.values
        store.write_entry(scanner.name, tree_key, tree)
        hist_occ = [store.finding_from_json(f) for f in old["occ"]] + new
        reports += outcome.reports + (t_outcome.reports if t_outcome is not None else [])
        # each report masked of both scans' values, as one process's report would be
        reports = [RawReport(r.name, local.scrub(r.data)) for r in reports]
        outcome = replace(outcome, stderr=local.scrub(outcome.stderr))
        notes.append(f"scan cache: only commits after {old['head'][:12]} scanned; "
                     "earlier history reused")
        notes += tree_notes
    elif same:
        hist_occ = [store.finding_from_json(f) for f in old["occ"]]
        notes.append("scan cache: history unchanged, its occurrences reused")
    elif since:
        outcome, new = _run(scanner, req, {**opts, "since_commit": old["head"]},
                            "kingfisher-new-commits.json", local)
        hist_occ = [store.finding_from_json(f) for f in old["occ"]] + new
        reports += outcome.reports
        notes.append(f"scan cache: only commits after {old['head'][:12]} scanned; "
                     "earlier history reused")
    else:
        outcome, found = _run(scanner, req, opts, "kingfisher.json", local)
        hist_occ = [f for f in found if f.properties.get("commit")]
        tree_occ = [f for f in found if not f.properties.get("commit")]
        reports += outcome.reports
        tree = {"occ": [store.finding_to_json(f) for f in tree_occ],
                "hints": hints.make_hints(local.values, digest)}
        store.write_entry(scanner.name, tree_key, tree)
        _save_units(scanner.name, base, req, files, tree)
        notes.append("scan cache: whole history scanned" + (" (history rewritten or not "
                                                            "linear)" if old else ""))
    if tree is None:
        t_outcome, tree, tree_notes = _tree(scanner, req, opts, base, files, local, digest,
                                            notes)
        store.write_entry(scanner.name, tree_key, tree)
        if t_outcome is not None:
            reports += t_outcome.reports
            outcome = outcome or t_outcome
    elif not tree_ran:
        hints.add_hints(collector, tree.get("hints", []), digest)
    tree_occ = [store.finding_from_json(f) for f in tree["occ"]]
    collector.values |= local.values
    hinted = [list(h) for h in sorted({tuple(h) for h in [
        *hints.make_hints(local.values, digest), *(old or {}).get("hints", [])]})]
    hints.add_hints(collector, hinted, digest)
    if not reports:  # nothing ran: the last reports, already scrubbed
        reports = store.reports_from_json((old or {}).get("reports", []))
    store.write_entry(scanner.name, hist_key, {
        "state": state, "head": head, "linear": linear,
        "occ": [store.finding_to_json(f) for f in hist_occ], "hints": hinted,
        "reports": store.reports_to_json(reports)})
    base_outcome = outcome or ScanOutcome(reports=[], exit_code=0, command=[])
    every_hint = sorted({tuple(h) for h in [*hinted, *tree.get("hints", [])]})
    return (replace(base_outcome, reports=reports, notes=[*base_outcome.notes, *notes],
                    cleanup=None, outputs={}),
            fmt.combine([*tree_occ, *hist_occ]), [list(h) for h in every_hint])


def _units_key(base: str, req: ScanRequest) -> str:
    return store.digest([base, "tree-units", str(req.root.resolve())])


def _save_units(tool: str, base: str, req: ScanRequest, files: dict[str, str],
                tree: dict) -> None:
    """The working tree's occurrences per file (with each file's content digest), so a later
    tree that differs in a few files scans only those (`_tree`). Not written when an
    occurrence cannot be placed in a file of the manifest (then every tree change scans the
    whole tree, as before)."""
    per_file: dict[str, list] = {rel: [d, []] for rel, d in files.items()}
    for occ in tree["occ"]:
        path = units.normal_path((occ.get("location") or [None])[0])
        if path not in per_file:
            store.write_entry(tool, _units_key(base, req), {"ok": False})
            return
        per_file[path][1].append(occ)
    store.write_entry(tool, _units_key(base, req), {"ok": True, "units": per_file,
                                                    "hints": tree.get("hints", [])})


def _tree(scanner: Scanner, req: ScanRequest, opts: dict, base: str, files: dict[str, str],
          local: SecretCollector, digest, notes: list[str]
          ) -> tuple[ScanOutcome | None, dict, list[str]]:
    """The working tree's occurrences (entry shape: occ, hints) when no entry holds this tree:
    only the files whose content changed since the per-file index was saved are scanned, in a
    mirror tree with the same relative paths (a file's occurrences depend on its content
    alone: kingfisher's tree scan reads no history and no other file); the others' are reused.
    Without a usable index the whole tree is scanned. The outcome is None when no file
    changed (files were only removed): nothing ran. `notes` is appended to and returned."""
    index = store.read_entry(scanner.name, _units_key(base, req))
    known: dict = index.get("units", {}) if index and index.get("ok") else {}
    changed = {rel for rel, d in files.items() if known.get(rel, [None])[0] != d}
    if known and len(changed) < len(files):
        t_outcome, found = None, []
        if changed:
            mirror = req.workdir / "kingfisher-mirror"
            units.build_mirror(req.root, mirror, files, "file", changed)
            sub = replace(req, root=mirror, git_root=None)
            t_outcome, found = _run(scanner, sub, {**opts, "history": False},
                                    "kingfisher-tree.json", local)
        by_file: dict[str, list] = {rel: [] for rel in changed}
        for f in found:
            path = units.normal_path(f.path)
            if path not in files:   # cannot be placed: scan the whole tree instead
                break
            if path in by_file:     # (the root's config files ride along unchanged)
                by_file[path].append(store.finding_to_json(f))
        else:
            occ = [o for rel in sorted(files)
                   for o in (by_file[rel] if rel in changed else known[rel][1])]
            hinted = sorted({tuple(h) for h in [*index.get("hints", []),
                                                *hints.make_hints(local.values, digest)]})
            tree = {"occ": occ, "hints": [list(h) for h in hinted]}
            _save_units(scanner.name, base, req, files, tree)
            notes.append(f"scan cache: tree: {len(changed)} of {len(files)} files changed and "
                         "were scanned (mirror tree); the others' occurrences reused")
            return t_outcome, tree, notes
    t_outcome, tree_found = _run(scanner, req, {**opts, "history": False},
                                 "kingfisher-tree.json", local)
    tree = {"occ": [store.finding_to_json(f) for f in tree_found],
            "hints": hints.make_hints(local.values, digest)}
    _save_units(scanner.name, base, req, files, tree)
    return t_outcome, tree, notes
