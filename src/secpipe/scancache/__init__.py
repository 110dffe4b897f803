"""Incremental scans: a tool's scan + parse, answered from a content-addressed cache when the
same tool (same version, options and fingerprint key) already scanned the same content.

Keys: the tool, its version, its options and excludes, secpipe's version, the identity of the
fingerprint key (the digest a fixed probe value gets, so a keyed digest changes the key
without the cache ever holding the key), and what was scanned: the digest of every file's
content and, for history scans, of every ref. An exact repeat is served whole. Otherwise the
tools whose findings are local to a file or directory (see `units.py`) scan only the units that
changed, in a mirror tree, and reuse the rest. Cached findings are the parser's own output
before identities are assigned, so the pipeline gives them the same Ids as a cold run.

Nothing is written to the cache in a tool's turn: its entries wait for the run's scrub of every
tool's values and are written after it, its reports as raw/ holds them (`deferred.py`).

Off with `secpipe run --no-cache` (SECPIPE_NO_CACHE=1) or SECPIPE_SCAN_CACHE=off.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

from secpipe.formats import ReportFormatError, get_format
from secpipe.model import Finding, Secret, SecretCollector, collecting, scrubonce
from secpipe.scancache import deferred, hints, jsonout, kept, lines, store, units as u
from secpipe.scancache.turns import my_turn, not_my_turn, turns
from secpipe.scanners.interface import RawReport, ScanOutcome, ScanRequest, Scanner

PROBE = "secpipe-scan-cache-fingerprint-probe"


def enabled() -> bool:
    if os.environ.get("SECPIPE_NO_CACHE", "").strip() not in ("", "0"):
        return False
    return os.environ.get("SECPIPE_SCAN_CACHE", "").strip().lower() not in ("off", "0", "none")


def fresh_scan(scanner: Scanner, req: ScanRequest, collector: SecretCollector
               ) -> tuple[ScanOutcome, list[Finding]]:
    """The uncached path: run the tool, parse its reports (secrets go to `collector`); the
    parse waits for its turn (`turns.py`), a tool never runs holding one."""
    not_my_turn()
    outcome = scanner.scan(req)
    my_turn(sum(len(r.data) for r in (*outcome.reports, *outcome.artifacts)))
    findings: list[Finding] = []
    if outcome.reports:
        fmt = get_format(outcome.format or scanner.format)
        with collecting(collector):
            try:
                for report in outcome.reports:
                    findings.extend(fmt.parse(report.data, report.name))
            except ReportFormatError as exc:
                exc.outcome = outcome  # the runner keeps the unparsable report beside its log
                raise
    return outcome, findings


def scan_and_parse(scanner: Scanner, req: ScanRequest, collector: SecretCollector,
                   version: Callable[[], str | None]) -> tuple[ScanOutcome, list[Finding]]:
    """Findings (before identities) and the outcome, from the cache where it holds them.

    Whatever a tool wrote is also searched for the values of tools served from the cache
    (see `hints.py`), so the run's scrub masks them as a cold run would. What it leaves for
    the cache is written after the run's scrub (`deferred.py`; called alone, at the end)."""
    store.write_failures()
    with deferred.writing(collector), turns():   # digested in its turn (turns.py)
        outcome, findings = _scan_and_parse(scanner, req, collector, version)
        failed = store.write_failures()
        if failed:
            outcome = replace(outcome, notes=[*outcome.notes, "scan cache not written (the "
                                              "next run scans again): " + "; ".join(failed[:3])])
        hints.add_texts(collector, [*(r.data for r in outcome.reports),
                                    *(r.data for r in outcome.artifacts), outcome.stderr],
                        _digest)
    return outcome, findings


def _scan_and_parse(scanner: Scanner, req: ScanRequest, collector: SecretCollector,
                    version: Callable[[], str | None]) -> tuple[ScanOutcome, list[Finding]]:
    if not enabled() or req.inputs or scanner.name not in u.UNIT_KIND:
        return fresh_scan(scanner, req, collector)
    tool_version = version()
    if not tool_version:
        return fresh_scan(scanner, req, collector)  # an unknown version cannot be keyed
    files, files_digest = _manifest(req)
    kind = u.unit_kind(scanner.name, req.options, req.git_root, req.root, files)
    history = None
    if scanner.name in u.HISTORY_TOOLS and req.options.get("history", True) and req.git_root:
        history = _history_state(req)
        if history is None:
            return fresh_scan(scanner, req, collector)
    from secpipe import __version__

    base = store.digest({
        "tool": scanner.name, "version": tool_version, "secpipe": __version__,
        "options": dict(req.options), "exclude": list(req.exclude), "format": scanner.format,
        "fingerprint": _probe(), "unit_kind": kind, "code": _code_digest(scanner),
        "tool_config": {rel: files[rel] for rel in u.root_config_files(files)},
        "executable": _executable_identity(scanner, req),
    })
    whole_key = store.digest([base, files_digest, history])
    my_turn()   # a hit's findings are built from its entry in this tool's turn (turns.py)
    entry = lines.read(scanner.name, whole_key)
    reports = None if entry is None else store.get_reports(scanner.name, entry[0])
    if entry is not None and reports is not None:
        head, findings = entry
        hints.add_hints(collector, head.get("hints", []), _digest)
        return _from_entry(head, reports, "the same content was scanned before: reused whole"
                           ), findings
    not_my_turn()   # the tool runs: other tools' outputs are digested meanwhile
    if scanner.name == "kingfisher" and history is not None:
        from secpipe.scancache import history as hist

        done = hist.incremental(scanner, req, collector, base, files, history, _digest)
        if done is not None:
            outcome, findings, hinted = done
            _save_whole(scanner.name, whole_key, outcome, findings, hinted)
            return outcome, findings
    if scanner.name == "git-secrets" and history is not None:
        from secpipe.scancache import gitsecrets

        done = gitsecrets.incremental(scanner, req, collector, base, _digest)
        if done is not None:
            outcome, findings, hinted = done
            _save_whole(scanner.name, whole_key, outcome, findings, hinted)
            return outcome, findings
    index_key = store.digest([base, "units", str(req.root.resolve())])
    if kind in ("file", "dir"):
        done = _partial(scanner, req, collector, files, kind, index_key)
        if done is not None:
            outcome, findings, hinted = done
            hints.add_hints(collector, hinted, _digest)
            _save_whole(scanner.name, whole_key, outcome, findings, hinted)
            return outcome, findings
    local = SecretCollector()
    outcome, findings = fresh_scan(scanner, req, local)
    collector.values |= local.values
    deferred.current().saw(local.values, plain=True)
    _scrub_own(outcome, local)
    ref = store.put_reports(scanner.name, outcome.reports)
    hinted = hints.make_hints(local.values, _digest)
    _save_whole(scanner.name, whole_key, outcome, findings, hinted, ref)
    if kind in ("file", "dir"):
        _save_index(scanner.name, index_key, files, kind, findings, outcome, hinted, ref)
    return outcome, findings


_MANIFESTS: dict[tuple, tuple[dict[str, str], str]] = {}
_MANIFEST_LOCK = threading.Lock()


def _manifest(req: ScanRequest) -> tuple[dict[str, str], str]:
    """The tree's manifest and its digest, made once per run however many tools read them
    (the tree does not change under a run; a new run id hashes again)."""
    key = (str(req.root), tuple(req.exclude), req.run_id)
    with _MANIFEST_LOCK:
        if not req.run_id or key not in _MANIFESTS:
            if len(_MANIFESTS) > 8:
                _MANIFESTS.clear()
            files = u.manifest(req.root, req.exclude)
            _MANIFESTS[key] = (files, u.manifest_digest(files))
        return _MANIFESTS[key]


_HISTORIES: dict[tuple, str | None] = {}


def _history_state(req: ScanRequest) -> str | None:
    """`units.history_state` once per run however many history tools ask (four git commands
    each; the refs do not change under a run, and a new run id asks git again)."""
    key = (str(req.root), str(req.git_root), req.run_id)
    with _MANIFEST_LOCK:
        if req.run_id and key in _HISTORIES:
            return _HISTORIES[key]
    state = u.history_state(req.root, req.git_root)
    with _MANIFEST_LOCK:
        if len(_HISTORIES) > 8:
            _HISTORIES.clear()
        _HISTORIES[key] = state
    return state


def _code_digest(scanner: Scanner) -> str:
    """The adapter's and parser's source: a changed command line or parser is a new key even
    when secpipe's version number did not move."""
    import hashlib
    import inspect
    import sys

    import importlib.util

    from secpipe.formats.registry import BUILTIN

    h = hashlib.sha256()
    # a built-in parser's module is found without importing every format (a run answered from
    # the cache parses nothing, and all_formats() imports them all)
    fmt_module = BUILTIN.get(scanner.format) or get_format(scanner.format).parse.__module__
    extra = {"git-secrets": ("secpipe.scancache.gitsecrets",),
             "kingfisher": ("secpipe.scancache.history",)}.get(scanner.name, ())
    for module in (type(scanner).__module__, fmt_module, "secpipe.formats._secrets", __name__,
                   u.__name__, *extra):
        loaded = sys.modules.get(module)
        source = (inspect.getsourcefile(loaded) if loaded is not None
                  else getattr(importlib.util.find_spec(module), "origin", None))
        h.update(Path(source).read_bytes() if source else module.encode())
    return h.hexdigest()


def _executable_identity(scanner: Scanner, req: ScanRequest) -> list:
    """Which binary answers: another build of the same version is another key."""
    import shutil

    found = shutil.which(scanner.executable, path=req.env.get("PATH", os.environ.get("PATH")))
    if not found:
        return []
    real = os.path.realpath(found)
    st = os.stat(real)
    return [real, st.st_size, st.st_mtime_ns]


def _probe() -> str:
    """The digest the active fingerprint scheme gives a fixed value: a keyed scheme changes it
    with its key, so entries made under another key are never served."""
    return _digest(PROBE)


def _scrub_own(outcome: ScanOutcome, local: SecretCollector) -> None:
    """Each report scrubbed of its tool's own values now, in the tool's turn, for the run's
    pass to take (`model.scrubonce`; a large copy waits on disk, `kept.py`): scrubbed in that
    pass instead, the largest report's copy and the values' automaton were alive together,
    beside every other report (11 MB more at the 50k peak). Only the run's pass decides what
    raw/ and the cache hold. `local` is released after: nothing of the turn scrubs with it
    again."""
    for report in (*outcome.reports, *outcome.artifacts):
        scrubonce.remember(report.data, local.values, kept.kept_scrub(report.data, local))
    # its automaton and table (11 MB at 25,000 values, a small one kept by `remember` for
    # the run's pass) not held through the tool's hints and cache entries made next
    local.release()


def _save_whole(tool: str, key: str, outcome: ScanOutcome, findings: list[Finding],
                hinted: list[list], reports_ref: str | None = None) -> None:
    """The tool's whole result, its findings one a line (`lines.py`); its reports are those
    stored under `reports_ref` when given (`store.put_reports`), else the outcome's. Its
    artifacts and log are left out, and filled in after the run's scrub (`deferred.py`)."""
    deferred.current().head(lines.path(tool, key), outcome.artifacts, outcome.stderr)
    lines.write(tool, key, {
        # one hint at a time (the same bytes): the C encoder's pieces of 25,000 hints at once
        # were the top of trufflehog3's turn at 50,000 findings
        "hints": jsonout.Each(hinted),
        "reports_ref": reports_ref or store.put_reports(tool, outcome.reports),
        "exit_code": outcome.exit_code, "command": list(outcome.command),
        "notes": list(outcome.notes), "format": outcome.format,
        "artifacts": [], "stderr": "",   # last: deferred._LEFT_OUT
    }, findings)


def _from_entry(entry: dict, reports: list[RawReport], why: str) -> ScanOutcome:
    return ScanOutcome(
        reports=reports,
        artifacts=store.reports_from_json(entry["artifacts"]),
        exit_code=int(entry["exit_code"]), command=list(entry["command"]),
        stderr=str(entry["stderr"]).encode("utf-8", "surrogateescape"),
        notes=[*entry["notes"], f"scan cache: {why}"], format=entry["format"])


def _group(findings: list[Finding], files: dict[str, str], kind: str
           ) -> dict[str, list[Finding]] | None:
    """Findings by unit, in report order; None when one cannot be placed in a unit."""
    charts = u.chart_roots(files) if kind == "dir" else set()
    out: dict[str, list[Finding]] = {}
    for f in findings:
        path = u.normal_path(f.path)
        if path is None or path not in files:
            return None
        out.setdefault(u.unit_of(path, kind, charts), []).append(f)
    return out


def _save_index(tool: str, key: str, files: dict[str, str], kind: str,
                findings: list[Finding], outcome: ScanOutcome, hinted: list[list],
                reports_ref: str | None = None) -> None:
    grouped = _group(findings, files, kind)
    if grouped is None:
        store.write_entry(tool, key, {"ok": False})
        return
    current = u.units(files, kind)
    store.write_entry(tool, key, {
        **_index_head(tool, outcome, reports_ref), "hints": jsonout.Each(hinted), "units": {
            unit: [d, store.findings_streamed(grouped.get(unit, []))]
            for unit, d in current.items()}})


def _index_head(tool: str, outcome: ScanOutcome, reports_ref: str | None = None) -> dict:
    """What a partial run falls back on when its mirror gave no report (no unit of the tool's
    kind changed): the last full report, already scrubbed (stored under `reports_ref` when
    given)."""
    return {"ok": True, "exit_code": outcome.exit_code, "command": list(outcome.command),
            "reports_ref": reports_ref or store.put_reports(tool, outcome.reports),
            "notes": list(outcome.notes),
            "format": outcome.format}


def _partial(scanner: Scanner, req: ScanRequest, collector: SecretCollector,
             files: dict[str, str], kind: str, index_key: str
             ) -> tuple[ScanOutcome, list[Finding], list[list]] | None:
    """Scan only the changed units in a mirror; None when the index cannot be used."""
    index = store.read_entry(scanner.name, index_key)
    if not index or not index.get("ok"):
        return None
    known: dict = index["units"]
    current = u.units(files, kind)
    changed = {unit for unit, d in current.items() if known.get(unit, [None])[0] != d}
    if len(changed) == len(current):
        return None  # nothing to reuse: a plain run reports exactly what the tool says
    fresh: dict[str, list[Finding]] = {}
    local = SecretCollector()
    last_reports = store.get_reports(scanner.name, index)
    if last_reports is None:
        return None
    last = ScanOutcome(reports=last_reports,
                       exit_code=int(index.get("exit_code", 0)),
                       command=list(index.get("command", [])), notes=list(index.get("notes", [])),
                       format=index.get("format"))
    outcome = last
    charts = u.chart_roots(files) if kind == "dir" else set()
    unit_of = {rel: u.unit_of(rel, kind, charts) for rel in files}
    tool_reads = u.reader(scanner.name, req.options, req.root)

    def reads(rel: str) -> bool:
        return tool_reads(rel, unit_of[rel] in charts)

    # when no file the tool reads changed, its changed units hold nothing and it need not run
    changed_run = any(reads(rel) for rel in files if unit_of[rel] in changed)
    if not changed_run and not any(reads(rel) for rel in files):
        return None  # nothing left for the tool to read: its own run says so (SKIPPED)
    if changed_run:
        mirror = req.workdir / "scan-cache-mirror"
        u.build_mirror(req.root, mirror, files, kind, changed)
        sub = replace(req, root=mirror, git_root=None, workdir=req.workdir / "scan-cache-work")
        sub.workdir.mkdir(parents=True, exist_ok=True)
        outcome, found = fresh_scan(scanner, sub, local)
        collector.values |= local.values
        deferred.current().saw(local.values)
        grouped = _group(found, files, kind)
        if grouped is None:
            return None  # the mirror's findings do not map back: scan the whole tree
        # the root's config files ride along in the mirror; what the tool says of them when
        # they did not change is already in the cache
        fresh = {unit: found for unit, found in grouped.items() if unit in changed}
        outcome = replace(outcome, cleanup=None, outputs={})
        if not outcome.reports:  # nothing of the tool's kind changed: keep the last report
            outcome = replace(last, stderr=outcome.stderr)
    findings: list[Finding] = []
    entries: dict[str, list] = {}
    for unit in sorted(current):
        if unit in changed:
            mine = fresh.get(unit, [])
            entries[unit] = [current[unit], store.findings_streamed(mine)]
        else:
            entries[unit] = known[unit]
            mine = [store.finding_from_json(f) for f in known[unit][1]]
        findings.extend(mine)
    hinted = sorted({tuple(h) for h in [*index.get("hints", []),
                                        *hints.make_hints(local.values, _digest)]})
    hinted_json = [list(h) for h in hinted]
    store.write_entry(scanner.name, index_key, {**_index_head(scanner.name, outcome),
                                                "hints": jsonout.Each(hinted_json),
                                                "units": entries})
    how = "were scanned (mirror tree)" if changed_run else "hold no file the tool reads"
    note = (f"scan cache: {len(changed)} of {len(current)} {kind} units changed and {how}; "
            "the other units' findings were reused")
    return replace(outcome, notes=[*outcome.notes, note]), findings, hinted_json


def _digest(value: str) -> str:
    """The fingerprint digest of a value (keyed when the fingerprint scheme is), uncollected."""
    from secpipe.model import secret as secret_mod

    token = secret_mod._ACTIVE.set(None)
    try:
        return Secret.from_value(value).sha256
    finally:
        secret_mod._ACTIVE.reset(token)


__all__ = ["enabled", "fresh_scan", "scan_and_parse"]
