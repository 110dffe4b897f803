"""The run's scrub of the raw reports, telling the scan cache which of its reports held a value.

The scan cache stores a tool's reports as raw/ holds them, after the run's scrub of every
value any tool saw (`scancache/deferred.py`), and searches a tool's other entries (its
findings) for those values only where they may be: a finding's text comes from its tool's
report, so a report the scrub leaves as it is gives findings that hold no value. Searching
every entry cost as much as scrubbing the reports again (46 MB of entries at 50,000
findings: about 1.4 s of CPU). So the run's pass over each report goes through here, and
says which of the reports the cache watches it changed.

Reports are known by `id()`: the run holds every watched report, unscrubbed, from the tools'
turns until its pass replaces it, so no two of them share an id while it runs. Nothing here
holds a report (each is freed as its scrubbed form replaces it).
"""

from __future__ import annotations

import threading
from typing import Iterable

from secpipe.model.secret import SecretCollector

_WATCHED: set[int] = set()
_CHANGED: set[int] = set()
_LOCK = threading.Lock()


def watch(reports: Iterable[int]) -> None:
    """The `id()`s of reports whose change by the run's scrub `changed` is to tell."""
    with _LOCK:
        _WATCHED.update(reports)


def scrub_values(collector: SecretCollector, data: bytes) -> bytes:
    """`collector.scrub(data)`, noting whether it changed a watched report."""
    scrubbed = collector.scrub(data)
    if scrubbed is not data and id(data) in _WATCHED and scrubbed != data:
        with _LOCK:
            _CHANGED.add(id(data))
    return scrubbed


def changed() -> frozenset[int]:
    """The watched reports the scrub changed (by `id()`), and no longer watched."""
    with _LOCK:
        found = frozenset(_CHANGED)
        _WATCHED.clear()
        _CHANGED.clear()
    return found


def forget() -> None:
    """Drop what was not asked for (a run's end)."""
    with _LOCK:
        _WATCHED.clear()
        _CHANGED.clear()


__all__ = ["changed", "forget", "scrub_values", "watch"]
