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

import re
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
    __slots__ = ("hints", "texts", "lock", "scanner")

    def __init__(self) -> None:
        self.hints: set[Hint] = set()
        # the tools' own report and log bytes (held by the run anyway), decoded one at a time
        # when searched: a decoded copy of every report kept for the whole run was the size of
        # the reports again
        self.texts: list[bytes] = []
        self.lock = threading.Lock()
        self.scanner: _Scanner | None = None  # for every hint of the run, built when needed


_STATES: "weakref.WeakKeyDictionary[SecretCollector, _RunState]" = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(collector: SecretCollector) -> _RunState:
    with _STATES_LOCK:
        state = _STATES.get(collector)
        if state is None:
            state = _STATES[collector] = _RunState()
        return state


def forget(collector: SecretCollector) -> None:
    """Every tool has run: the tools' texts need no more searching. Dropped before the run's
    final scrub, so each raw report is freed as soon as its scrubbed copy replaces it."""
    with _STATES_LOCK:
        _STATES.pop(collector, None)


def add_hints(collector: SecretCollector, hints: Iterable[list], digest) -> None:
    """A cached tool's hints: look for them in what already ran, and in what runs later."""
    state = _state(collector)
    new = {(h[0], h[1], int(h[2]), h[3]) for h in hints}
    with state.lock:
        new -= state.hints
        if new:
            state.hints |= new
            state.scanner = None
        texts = list(state.texts)
    if new and texts:
        _Scanner(new).recover(collector, texts, digest)


def add_texts(collector: SecretCollector, blobs: Iterable[bytes], digest) -> None:
    """A tool that ran: its reports and log, searched for every hint of the run."""
    texts = [b for b in blobs if b]
    state = _state(collector)
    with state.lock:
        state.texts.extend(texts)
        if not state.hints or not texts:
            return
        if state.scanner is None:
            state.scanner = _Scanner(state.hints)
        scanner = state.scanner
    scanner.recover(collector, texts, digest)


class _Scanner:
    """Every hint's prefix found in one pass over a text, whatever the number of hints.

    The prefixes (four characters each) are compiled into one regular expression shaped as a
    trie: its first characters form the set the regex engine skips by, and each position costs
    at most one comparison per distinct next character, so a report of n characters costs
    O(n), where looking for each hint in turn cost hints x n. Only a candidate whose prefix,
    suffix and length fit is hashed, and each distinct candidate once."""

    def __init__(self, hints: Iterable[Hint]) -> None:
        self.by_prefix: dict[str, dict[tuple[str, int], set[str]]] = {}
        for prefix, suffix, length, want in hints:
            shapes = self.by_prefix.setdefault(prefix, {})
            shapes.setdefault((suffix, length), set()).add(want)
        self.pattern = re.compile(_trie(sorted(self.by_prefix)), re.DOTALL)

    def recover(self, collector: SecretCollector, blobs: list[bytes], digest) -> None:
        seen: set[str] = set()
        for blob in blobs:
            text = blob.decode("utf-8", "replace")
            for m in self.pattern.finditer(text):
                start = m.start()
                for (suffix, length), wants in self.by_prefix[text[start:start + 4]].items():
                    candidate = text[start:start + length]
                    if (len(candidate) == length and candidate.endswith(suffix)
                            and candidate not in seen):
                        seen.add(candidate)
                        if digest(candidate) in wants:
                            collector.add(candidate)


def _trie(prefixes: list[str]) -> str:
    """A regex matching the first character of any prefix where the whole prefix follows
    (the rest is a lookahead, so overlapping occurrences are all found)."""
    root: dict = {}
    for prefix in prefixes:
        node = root
        for ch in prefix:
            node = node.setdefault(ch, {})

    def alternatives(node: dict) -> str:
        alts = [re.escape(ch) + alternatives(child) for ch, child in sorted(node.items())]
        if not alts:
            return ""
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    if not root:
        return "(?!)"  # no hint: matches nowhere
    return "|".join(re.escape(ch) + (f"(?={alternatives(child)})" if child else "")
                    for ch, child in sorted(root.items()))
