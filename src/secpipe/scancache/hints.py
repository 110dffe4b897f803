"""Scrubbing across tools when some of them were served from the cache.

In a cold run every clear value any parser saw scrubs every tool's raw report and log: a key
trufflehog3 found is masked in checkov's report too. A tool served from the cache parses
nothing, so its values would be missing from that scrub, and a tool that did run could write
one of them in clear. The cache therefore keeps, per value of 16 characters or more, exactly
what its masked form already shows (first and last four characters) plus its length and its
fingerprint digest; in a run, each such hint is looked for in the reports and logs of the tools
that did run, and a candidate whose digest matches is handed to the run's collector, which
then scrubs it like any value a parser saw. Shorter values are never hinted (their mask shows
less than four plus four characters), so they are not recovered this way.
"""

from __future__ import annotations

import threading
import weakref
from typing import Iterable

from secpipe.model import SecretCollector

MIN_HINTED = 16

Hint = tuple[str, str, int, str]  # prefix, suffix, length, digest


def make_hints(values: Iterable[str], digest) -> list[list]:
    """Hints for the values a tool's parser collected (digest: the fingerprint function)."""
    out = []
    for value in sorted(set(values)):
        if len(value) >= MIN_HINTED:
            out.append([value[:4], value[-4:], len(value), digest(value)])
    return out


class _RunState:
    __slots__ = ("hints", "texts", "lock")

    def __init__(self) -> None:
        self.hints: set[Hint] = set()
        self.texts: list[str] = []
        self.lock = threading.Lock()


_STATES: "weakref.WeakKeyDictionary[SecretCollector, _RunState]" = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(collector: SecretCollector) -> _RunState:
    with _STATES_LOCK:
        state = _STATES.get(collector)
        if state is None:
            state = _STATES[collector] = _RunState()
        return state


def add_hints(collector: SecretCollector, hints: Iterable[list], digest) -> None:
    """A cached tool's hints: look for them in what already ran, and in what runs later."""
    state = _state(collector)
    new = {(h[0], h[1], int(h[2]), h[3]) for h in hints}
    with state.lock:
        new -= state.hints
        state.hints |= new
        texts = list(state.texts)
    _recover(collector, new, texts, digest)


def add_texts(collector: SecretCollector, blobs: Iterable[bytes], digest) -> None:
    """A tool that ran: its reports and log, searched for every hint of the run."""
    texts = [b.decode("utf-8", "replace") for b in blobs if b]
    state = _state(collector)
    with state.lock:
        state.texts.extend(texts)
        hints = set(state.hints)
    _recover(collector, hints, texts, digest)


def _recover(collector: SecretCollector, hints: set[Hint], texts: list[str], digest) -> None:
    for prefix, suffix, length, want in hints:
        for text in texts:
            start = text.find(prefix)
            while start != -1:
                candidate = text[start:start + length]
                if (len(candidate) == length and candidate.endswith(suffix)
                        and digest(candidate) == want):
                    collector.add(candidate)
                    break
                start = text.find(prefix, start + 1)
