"""A raw report's values scrubbed once, not twice; and which reports held a value.

A tool scanned fresh has its report scrubbed in its turn, of the values its own parse saw, and
at the end of the run, of every value the run saw (what raw/ and the scan cache keep). Both
passes read the whole report; at 50,000 findings each cost seconds. The first is there for
memory: it runs in the tool's turn, and the run's pass then takes its result instead of
scrubbing the largest report with the values' automaton built beside it and its copy (11 MB
more at the 50k peak).

The cache's result is remembered here, keyed by the very report object, with the values it
was scrubbed of. The run's pass takes it when scrubbing by the run's values gives the same
bytes: when the run saw no other value, or when no form of any other value occurs in the
report. (Every match then comes from the same values in both passes, so leftmost-longest picks
the same replacements.) Otherwise it scrubs as before. An entry is taken at most once.

The cache's pass may hand its result over as something that reads it back (`Stored`: the scan
cache keeps a large one on disk, `scancache/kept.py`), not as bytes: held from its tool's turn
to the run's pass, through every other tool's parse, the copy of trufflehog3's report was
12.6 MB of the tools' plateau at 50,000 findings. A result that is the report itself (a tool
without clear values) is kept as the report's reference alone.

The scan cache stores each report as the run's pass leaves it, and searches a tool's other
entries (its findings) for the run's values only where they may be: a finding's text comes from
its tool's report, so a report the pass leaves as it is gives findings that hold no value
(`scancache/deferred.py`; searching every entry cost about 1.4 s of CPU at 50,000 findings).
So the pass tells which of the reports the cache watches (`watch`, by `id()`: the run holds
each of them, unscrubbed, until its pass replaces it, so no two share an id meanwhile) it
changed (`changed`).
"""

from __future__ import annotations

import threading
from typing import AbstractSet, BinaryIO, Iterable, Iterator, Protocol

from secpipe.model.secret import SecretCollector, drop_kept_scrubber, keep_scrubber


class Stored(Protocol):
    """A scrubbed report kept out of memory (`pipeline.spill.SpilledReport` is one): its bytes
    read back at each access, whole or a window at a time."""

    @property
    def data(self) -> bytes: ...

    def chunks(self) -> Iterator[bytes]: ...


# id(report) -> (the report, its values, what it was scrubbed to: None when the report itself)
_MEMO: dict[int, tuple[bytes, frozenset[str], "bytes | Stored | None"]] = {}
_LOCK = threading.Lock()
_MAX_ENTRIES = 256   # reports of one run; a bound, so a crashed run's leftovers stay small
# the last collector of "other" values, by its values: the reports of a tool with values of
# its own are checked against the same others, and building their automaton (25,000 values:
# about 0.3 s) once per report was the run's second-largest scrub cost. (The others of a
# report without values of its own, checkov's and detect-secrets', are the run's values: the
# run's collector, `_collector_of`.) Dropped by forget().
_OTHERS: list[tuple[frozenset[str], SecretCollector]] = []
_WATCHED: set[int] = set()   # the scan cache's reports, by id(), and those the pass changed
_CHANGED: set[int] = set()


def remember(data: bytes, values: AbstractSet[str], scrubbed: "bytes | Stored") -> None:
    """`scrubbed` is `data` scrubbed of exactly `values` (SecretCollector.scrub), or what
    reads those bytes back. The automaton that scrub built is kept for the run's pass
    (`secret.keep_scrubber`, which keeps only a small one): the other tools' reports are
    searched for the same values."""
    frozen = frozenset(values)
    with _LOCK:
        if len(_MEMO) >= _MAX_ENTRIES:
            _MEMO.clear()
        _MEMO[id(data)] = (data, frozen, None if scrubbed is data else scrubbed)
    if frozen:
        keep_scrubber(frozen)


def watch(reports: Iterable[int]) -> None:
    """The `id()`s of reports whose change by the run's pass `changed` is to tell."""
    with _LOCK:
        _WATCHED.update(reports)


def changed() -> frozenset[int]:
    """The watched reports the run's pass changed (by `id()`), and no longer watched."""
    with _LOCK:
        found = frozenset(_CHANGED)
        _WATCHED.clear()
        _CHANGED.clear()
    return found


def scrub_values(collector: SecretCollector, data: bytes) -> bytes:
    """`collector.scrub(data)`, noting whether it changed a watched report."""
    scrubbed = _scrub_values(collector, data)
    if scrubbed is not data and id(data) in _WATCHED and scrubbed != data:
        with _LOCK:
            _CHANGED.add(id(data))
    return scrubbed


def scrub_values_into(collector: SecretCollector, data: bytes, out: BinaryIO) -> None:
    """`out.write(scrub_values(collector, data))` without a scrubbed copy in memory: a
    remembered copy on disk is copied a window at a time, not read back whole (trufflehog3's
    13 MB at 50,000 findings, beside the report in clear, was the top of the run's scrub),
    and a fresh scrub is written as it is made (`SecretCollector.scrub_into`)."""
    taken = _remembered(collector, data)
    if isinstance(taken, bytes):
        out.write(taken)
        changed: bool | None = taken is not data and taken != data
    else:
        changed = None if taken is None else _copied(taken, data, out)
        if changed is None:
            changed = collector.scrub_into(data, out)
    if changed and id(data) in _WATCHED:
        with _LOCK:
            _CHANGED.add(id(data))


def _scrub_values(collector: SecretCollector, data: bytes) -> bytes:
    """`collector.scrub(data)`, from the remembered pass where that gives the same bytes (a
    remembered result that cannot be read back any more is scrubbed afresh, the same bytes)."""
    taken = _remembered(collector, data)
    if isinstance(taken, bytes):
        return taken
    if taken is not None:
        try:
            return taken.data
        except OSError:   # its scratch folder removed under the run: the same bytes anew
            pass
    return collector.scrub(data)


def _remembered(collector: SecretCollector, data: bytes) -> "bytes | Stored | None":
    """What the remembered pass made of `data` (`data` itself when it changed nothing) if
    that is `collector.scrub(data)`, else None; the entry is taken either way."""
    with _LOCK:
        entry = _MEMO.pop(id(data), None)
    if entry is not None and entry[0] is data:
        extra = frozenset(collector.values - entry[1])
        if not extra or not _collector_of(extra, collector).finds_any(data):
            return data if entry[2] is None else entry[2]
    return None


def _copied(stored: Stored, data: bytes, out: BinaryIO) -> bool | None:
    """`stored`'s bytes written to `out` a window at a time; whether they differ from `data`,
    or None (and `out` as it was) if they cannot be read any more (its scratch folder
    removed under the run: the caller scrubs afresh, the same bytes)."""
    at = out.tell()
    chunks = stored.chunks()
    same, done = True, 0
    while True:
        try:
            chunk = next(chunks, None)
        except OSError:
            out.seek(at)
            out.truncate()
            return None
        if chunk is None:
            return not (same and done == len(data))
        out.write(chunk)
        same = same and data[done:done + len(chunk)] == chunk
        done += len(chunk)


def forget() -> None:
    """Drop what was not taken (a run's end)."""
    with _LOCK:
        _MEMO.clear()
        _OTHERS.clear()
        _WATCHED.clear()
        _CHANGED.clear()
    drop_kept_scrubber()


def _collector_of(values: frozenset[str], run: SecretCollector) -> SecretCollector:
    """A collector of `values` (some of `run`'s): `run` itself when they are all of its values
    (a report without values of its own), whose automaton its other reports and its logs
    then use too; a second one of the same values held the same table again (4.5 MB at
    25,000 values, at the run's scrub)."""
    if len(values) == len(run.values):
        return run
    with _LOCK:
        if _OTHERS and _OTHERS[0][0] == values:
            return _OTHERS[0][1]
    collector = SecretCollector()
    collector.values = set(values)
    with _LOCK:
        _OTHERS[:] = [(values, collector)]
    return collector


__all__ = ["Stored", "changed", "forget", "remember", "scrub_values", "scrub_values_into",
           "watch"]
