"""Scan cache entries written once the run has scrubbed every report of every tool's values,
never in a tool's turn.

A tool's turn knows only the values its own parser saw; a value that only another tool of the
run recognises (a token trufflehog3 finds in a Terraform line that checkov quotes) would stay
in clear in an entry written then. So nothing reaches the cache during the tools' turns:

- an entry the cache writes (`store._write_atomic`: a tool's findings, its unit index, a
  history record, a hint search's answers) goes to a scratch folder of the run (0700, locked,
  removed with the run or, if it is killed, by the next run: `pipeline.scratch`);
- a tool's reports (`store.put_reports`) are not written at all: only which report objects
  they are is noted, and the bytes stored are those the run writes to raw/, scrubbed of every
  value of the run and of the plain hashes tools reported;
- a whole entry's artifacts and tool log are left out of its head (`_LEFT_OUT`) and filled in
  with the run's scrubbed artifacts and the log scrubbed as raw/'s.

When every tool is done, `check` binds the noted reports to the run's own report slots, before
the run's scrub replaces them; once that scrub is done, with the values' automaton still built,
`search` scrubs the tools' logs and searches the pending files that may hold a value of the
run (see `search`) for every one: a file holding one (a finding's text quoting another tool's
value, which the run's outputs show as the tool reported it) is dropped, and its tool scans
again next run. After the hashes' pass, `commit` writes what is left into the cache. A run
killed or failing before that writes nothing there. Outside a run (`scan_and_parse` called
alone), the same is done at the end of the call with that call's values (`save_alone`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import os
import re
import shutil
import threading
import weakref
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

from secpipe.model import SecretCollector, scrubonce
from secpipe.scancache import jsonout, store
from secpipe.scanners.interface import RawReport

#: how a whole entry's head ends until `commit` fills in its artifacts and log
_LEFT_OUT = ',"artifacts":[],"stderr":""}'
_BLOCK = 1 << 20   # bytes of a pending file searched at a time
_Slot = tuple[Any, int]   # (a tool run, the index of one of its reports)


class _Run:
    """What one run (one SecretCollector) has for the cache until `commit`."""

    __slots__ = ("lock", "folder", "files", "groups", "dirty", "count", "bound", "_release",
                 "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.folder: Path | None = None
        self.files: dict[Path, Path] = {}    # entry's path in the cache -> its last pending file
        self.groups: list[_Group] = []
        self.dirty: set[Path] = set()        # pending files holding a value of the run
        self.count = itertools.count()
        self.bound = False
        self._release: Callable[[], None] | None = None

    def pending(self, final: Path) -> Path:
        with self.lock:
            if self.folder is None:
                from secpipe.pipeline.scratch import new_scratch

                self.folder, release = new_scratch()
                self._release = weakref.finalize(self, release)
            pending = self.folder / f"entry-{next(self.count)}{final.suffix}"
            self.files[final] = pending
            return pending

    def remove(self) -> None:
        if self._release is not None:
            self._release()


class _Group:
    """What one tool's digest (one `writing`) leaves for the cache.

    A report or artifact is a part `[name, its bytes, then its slot in the run, its id]`."""

    __slots__ = ("run", "files", "reports", "heads", "own", "own_count", "plain")

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.files: list[tuple[Path, Path]] = []   # (entry's path, its pending file)
        self.reports: dict[tuple[str, str], list[list[Any]]] = {}   # (tool, key) -> parts
        self.heads: dict[Path, list[Any]] = {}     # whole entry -> [artifact parts, tool log]
        self.own: set[str] | None = set()          # the values its parses saw, then how many
        self.own_count = 0
        self.plain = False   # its findings are one fresh parse of its reports, nothing older

    def path(self, final: Path) -> Path:
        """Where an entry meant for `final` is written meanwhile (`store._write_atomic`)."""
        pending = self.run.pending(final)
        self.files.append((final, pending))
        return pending

    def put_reports(self, tool: str, reports: Sequence[RawReport]) -> str:
        """`store.put_reports`'s key for reports stored at `commit` (as raw/ holds them). Named
        by the digest of what the tool wrote: the same report is the same key."""
        key = store.digest(["reports.bin", "run-scrubbed", [
            [r.name, hashlib.sha256(r.data).hexdigest()] for r in reports]])
        self.reports[(tool, key)] = [[r.name, r.data, None] for r in reports]
        return key

    def head(self, final: Path, artifacts: Sequence[RawReport], stderr: bytes) -> None:
        """A whole entry written with `_LEFT_OUT`: what `commit` puts there."""
        self.heads[final] = [[[a.name, a.data, None] for a in artifacts], stderr]

    def saw(self, values: Iterable[str], *, plain: bool = False) -> None:
        """The values the tool's parse collected; `plain`: its findings are that parse's of
        its reports alone (no unit, commit or record reused from an older entry)."""
        if self.own is not None:
            self.own.update(values)
        self.plain = plain

    def parts(self) -> Iterator[list[Any]]:
        for parts in self.reports.values():
            yield from parts
        for head in self.heads.values():
            yield from head[0]


_RUNS: "weakref.WeakKeyDictionary[SecretCollector, _Run]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def begin(collector: SecretCollector) -> None:
    """A run starts (`run_plan`): its tools' entries wait for its `check`, `search` and
    `commit`."""
    with _LOCK:
        _RUNS[collector] = _Run()


@contextlib.contextmanager
def writing(collector: SecretCollector) -> Iterator[None]:
    """A tool's scan and digest (`scan_and_parse`): what it writes to the cache waits. Outside
    a run, it is saved at the end, scrubbed of `collector`'s values (`save_alone`)."""
    with _LOCK:
        run = _RUNS.get(collector)
    alone = run is None
    run = _Run() if alone else run
    group = _Group(run)
    token = store.DEFERRAL.set(group)
    try:
        yield
    finally:
        store.DEFERRAL.reset(token)
        group.own_count = len(group.own or ())
        group.own = None
        with run.lock:
            run.groups.append(group)
    if alone:
        try:
            save_alone(run, collector)
        finally:
            run.remove()


def current() -> _Group:
    """The pending writes of the tool being digested (inside `writing`)."""
    group = store.DEFERRAL.get()
    if group is None:
        raise RuntimeError("scan cache entries are written only inside deferred.writing()")
    return group


def save_alone(run: _Run, collector: SecretCollector) -> None:
    """Outside a run: the reports scrubbed here as the run would (values, then hashes), and
    every pending file searched."""
    from secpipe.model.secret import current_key

    key = current_key()
    try:
        for group in run.groups:
            for head in group.heads.values():
                head[1] = collector.scrub(head[1])
            _search_files(run, collector, group.files)
        _commit(run, lambda data: key.scrub_hashes(collector.scrub(data)), key.scrub_hashes,
                tool_runs=())
    finally:
        key.release()


def check(collector: SecretCollector, tool_runs: Sequence[Any]) -> None:
    """Every tool is done, the reports not yet scrubbed: each noted report bound to its slot
    in `tool_runs` (the very bytes object, so its scrubbed form is found there at `commit`),
    and watched by the run's scrub (`scrubonce.watch`): whether it held a value tells
    `search` whether the tool's entries need searching."""
    with _LOCK:
        run = _RUNS.get(collector)
    if run is None:
        return
    slots = {id(r.data): (tr, i) for tr in tool_runs for i, r in enumerate(tr.reports)}
    watched = []
    for group in run.groups:
        for part in group.parts():
            data = part[1]
            slot = slots.get(id(data))
            if slot is not None and slot[0].reports[slot[1]].data is data:
                part[1:] = [slot, id(data)]
                watched.append(id(data))
            else:
                part[1] = None   # not handed to the run (its tool failed): never stored
    scrubonce.watch(watched)
    run.bound = True


def search(collector: SecretCollector) -> None:
    """The reports are scrubbed, the values' automaton still built: the tools' logs scrubbed,
    and the pending files of each tool that may hold a value of the run searched for every
    value of the run. A tool may, when the run holds values its parse did not see and its
    findings are not one fresh parse of its reports (`_Group.plain`: reused units, commits or
    records come from older entries) or the run's scrub changed its reports, artifacts or
    log: a finding's text comes from its tool's report, so a report with no value gives
    findings with none, and a tool's own values are only in its findings as digests and
    masks (the parsers' rule, tests/pipeline/test_scan_cache.py)."""
    with _LOCK:
        run = _RUNS.get(collector)
    if run is None:
        return
    changed = scrubonce.changed()
    for group in run.groups:
        logs_changed = False
        for head in group.heads.values():
            scrubbed = collector.scrub(head[1])
            logs_changed |= scrubbed is not head[1] and scrubbed != head[1]
            head[1] = scrubbed
        if len(collector.values) <= group.own_count:
            continue
        if group.plain and not logs_changed \
                and not any(part[2] in changed for part in group.parts() if part[1]):
            continue
        _search_files(run, collector, group.files)


def _search_files(run: _Run, collector: SecretCollector, files: list[tuple[Path, Path]]
                  ) -> None:
    longest = max((len(v.encode("utf-8")) for v in collector.values), default=0)
    # a JSON-escaped form is at most six bytes a byte (\uXXXX), and quoted
    overlap = 6 * longest + 2
    for _final, pending in files:
        if _holds_a_value(pending, collector, overlap):
            run.dirty.add(pending)


def _holds_a_value(path: Path, collector: SecretCollector, overlap: int) -> bool:
    """Whether any form of any value occurs in the file (read a block at a time, each block
    searched with the last bytes of the one before: no form straddles two unseen)."""
    if not collector.values:
        return False
    try:
        with open(path, "rb") as fh:
            carry = b""
            while True:
                block = fh.read(_BLOCK)
                if not block:
                    return False
                data = carry + block
                if collector.finds_any(data) and not _shown_anyway(collector, data):
                    return True
                carry = data[-overlap:]
    except FileNotFoundError:
        return True   # its write failed: nothing to store


#: what a value's mask adds after it when the mask shows the value whole (a private key's
#: `-----BEGIN ... -----` line alone, which every mask of the key shows), in each spelling
_SHOWN_SUFFIXES = ("…(redacted)".encode(), b"\\u2026(redacted)")


def _shown_anyway(collector: SecretCollector, data: bytes) -> bool:
    """Whether the values in `data` are only values every mask shows whole (the run's
    scrub then only adds "…(redacted)" after them): those are in the run's outputs, in the
    findings' masked forms, and are no secret."""
    scrubbed = collector.scrub(data)
    for suffix in _SHOWN_SUFFIXES:
        scrubbed, data = scrubbed.replace(suffix, b""), data.replace(suffix, b"")
    return scrubbed == data


def commit(collector: SecretCollector, scrub_hashes: Callable[[bytes], bytes],
           tool_runs: Sequence[Any]) -> None:
    """After the run's hashes' pass: the reports as raw/ holds them, then every pending entry
    that holds no value of the run, written to the cache. A failure to write is said in the
    tool's log (the next run scans again)."""
    with _LOCK:
        run = _RUNS.pop(collector, None)
    if run is None:
        return

    def report(slot: _Slot) -> Any:
        return slot[0].reports[slot[1]]

    try:
        if run.bound:   # else `check` never came: nothing is known to be scrubbed
            _commit(run, report, scrub_hashes, tool_runs)
    finally:
        run.remove()


def _commit(run: _Run, final: Callable[[Any], Any],
            scrub_hashes: Callable[[bytes], bytes], tool_runs: Sequence[Any]) -> None:
    """`final`: the stored form of a noted report (bytes, a RawReport or a spilled one) from
    its slot in the run (`check`), or from its bytes alone (`save_alone`)."""
    store.write_failures()
    _remove_old_layouts()

    def stored(part: list[Any]) -> Any:
        """The stored form of a noted report; None when it was not handed to the run."""
        return None if part[1] is None else final(part[1])

    heads: dict[Path, list[Any]] = {}
    for group in run.groups:
        heads.update(group.heads)
        for (tool, key), parts in group.reports.items():
            done = [stored(p) for p in parts]
            if all(d is not None for d in done):
                _put_reports(tool, key, [p[0] for p in parts], done)
    for final_path, pending in run.files.items():
        if pending in run.dirty:
            continue
        head = heads.get(final_path)
        if head is None:
            store._write_atomic(final_path, lambda fh, p=pending: _copy(p, fh), binary=True)
            continue
        artifacts = [stored(p) for p in head[0]]
        if any(a is None for a in artifacts):
            continue
        filled = [RawReport(p[0], _bytes(a)) for p, a in zip(head[0], artifacts)]
        store._write_atomic(final_path, lambda fh, p=pending: _filled(
            p, fh, filled, scrub_hashes(head[1])), binary=True)
    failed = store.write_failures()
    if failed:
        note = "\nscan cache not written (the next run scans again): " + "; ".join(failed[:3])
        for tr in tool_runs:
            if any(f"/{tr.result.tool}/" in m for m in failed):
                tr.log += note


def _bytes(report: Any) -> bytes:
    return report if isinstance(report, bytes) else report.data


def _put_reports(tool: str, key: str, names: list[str], reports: list[Any]) -> None:
    """`store.put_reports`'s files: the reports' bytes (a spilled one copied from its file),
    then the entry naming them."""
    sizes = [len(r) if isinstance(r, bytes) else
             os.path.getsize(r.path) if hasattr(r, "path") else len(r.data) for r in reports]

    def write(fh: IO[bytes]) -> None:
        for r in reports:
            if isinstance(r, bytes):
                fh.write(r)
            elif hasattr(r, "path"):
                with open(r.path, "rb") as src:
                    shutil.copyfileobj(src, fh, _BLOCK)
            else:
                fh.write(r.data)

    store.write_reports(tool, key, zip(names, sizes), write)


def _copy(pending: Path, fh: IO[bytes]) -> None:
    with open(pending, "rb") as src:
        shutil.copyfileobj(src, fh, _BLOCK)


class _Damaged(OSError):
    """A pending whole entry without its left-out head's end: not stored."""


def _filled(pending: Path, fh: IO[bytes], artifacts: list[RawReport], stderr: bytes) -> None:
    """The whole entry with its head's artifacts and log filled in, its lines after as they
    are."""
    with open(pending, "rb") as src:
        head = src.readline().rstrip(b"\n")
        if not head.endswith(_LEFT_OUT.encode()):
            raise _Damaged(f"{pending}: not a deferred head")
        fh.write(head[:-len(_LEFT_OUT)])
        text = io.TextIOWrapper(fh, encoding="utf-8", write_through=True)
        text.write(',"artifacts":')
        jsonout.dump(store.reports_streamed(artifacts), text)
        text.write(',"stderr":' + jsonout.encode(stderr.decode("utf-8", "surrogateescape"))
                   + "}\n")
        text.detach()
        shutil.copyfileobj(src, fh, _BLOCK)


_OLD_LAYOUT = re.compile(r"v(\d+)")


def _remove_old_layouts() -> None:
    """Entries of an older layout were scrubbed of their own tool's values only: removed."""
    root = store.cache_root()
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _OLD_LAYOUT.fullmatch(entry.name)
        if match and int(match.group(1)) < store.SCHEMA and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


__all__ = ["begin", "check", "commit", "current", "save_alone", "search", "writing"]
