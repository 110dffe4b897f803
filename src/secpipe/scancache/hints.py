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

A big text (a cached checkov report is megabytes, served again on every run) is searched once
per hint: whether a hint's value is in a text, and where, depends on nothing else, so the
answer is kept per text (by the digest of its bytes) in the scan cache (`_memo`), and the next
run searches it only for hints it has not answered yet. A kept answer holds the hint's digest
and a position, never a value; a position is believed only where the value read there has the
hint's digest.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from typing import Any, Iterable, Iterator

from secpipe.model import SecretCollector
from secpipe.model.scrubber import WINDOW, automaton_of, matches

MIN_HINTED = 16
_EDGE = 4            # characters of a value's start and end a hint holds (its mask shows them)
MEMO_MIN = 1 << 20   # texts of this many bytes or more keep their answers (`_memo`)
_MEMO_TOOL = "_hint-search"   # the scan cache's folder for them (no tool has this name)

Hint = tuple[str, str, int, str]  # prefix, suffix, length, digest


def make_hints(values: Iterable[str], digest) -> list[list]:
    """Hints for the values a tool's parser collected (digest: the fingerprint function)."""
    out = []
    for value in sorted(set(values)):
        if len(value) >= MIN_HINTED:
            out.append([value[:_EDGE], value[-_EDGE:], len(value), digest(value)])
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
        _search(collector, new, texts, digest)


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
        scanner, hinted = state.scanner, set(state.hints)
    _search(collector, hinted, texts, digest, scanner)


def _search(collector: SecretCollector, hinted: set[Hint], blobs: list[bytes], digest,
            scanner: "_Scanner | None" = None) -> None:
    """Every hint looked for in every blob; a big blob's answers kept (`_memo`)."""
    small = [b for b in blobs if len(b) < MEMO_MIN]
    if small:
        (scanner or _Scanner(hinted)).recover(collector, small, digest)
    for blob in blobs:
        if len(blob) >= MEMO_MIN:
            _memo(collector, hinted, blob, digest)


def _memo(collector: SecretCollector, hinted: set[Hint], blob: bytes, digest) -> None:
    """`_Scanner(hinted).recover` on one big blob, through the answers kept for its bytes:
    {hint digest: [start, length] of the value in the decoded text, or None}. Only the
    hints without a (confirmed) answer are searched, and their answers added. With the scan
    cache off, nothing is read or kept."""
    from secpipe.scancache import enabled, store

    if not enabled():
        _Scanner(hinted).recover(collector, [blob], digest)
        return
    key = hashlib.sha256(blob).hexdigest()
    entry = store.read_entry(_MEMO_TOOL, key)
    kept = entry.get("found") if entry is not None else None
    kept = kept if isinstance(kept, dict) else {}
    text: str | None = None
    todo: set[Hint] = set()
    for hint in hinted:
        if hint[3] not in kept:
            todo.add(hint)
            continue
        where = kept[hint[3]]
        if where is None:
            continue           # searched before: not in this text
        if text is None:
            text = blob.decode("utf-8", "replace")
        value = _at(text, where)
        if value is not None and digest(value) == hint[3]:
            collector.add(value)
        else:
            todo.add(hint)     # a damaged answer: searched again
    if not todo:
        return
    if text is None:
        text = blob.decode("utf-8", "replace")
    found = _Scanner(todo).find(text, digest)
    for start, length, value in found.values():
        collector.add(value)
    answers = {h[3]: (list(found[h[3]][:2]) if h[3] in found else None) for h in todo}
    store.write_entry(_MEMO_TOOL, key, {"found": {**kept, **answers}})


def _at(text: str, where: object) -> str | None:
    if not (isinstance(where, list) and len(where) == 2
            and all(type(n) is int and n >= 0 for n in where)):
        return None
    start, length = where
    return text[start:start + length]


class _Scanner:
    """Every hint's prefix found in one pass over a text, whatever the number of hints.

    The prefixes (four characters each) go into one Aho-Corasick automaton (`pyahocorasick`,
    as the run's scrubber, secpipe.model.scrubber), else into one regular expression shaped as
    a trie: a report of n characters costs O(n), where looking for each hint in turn cost
    hints x n. The automaton is the faster by far when the prefixes start with most of the
    alphabet (thousands of random keys), where the regex tries a branch per first character
    at every position: 5.3 s against ~0.5 s on a 50k-findings run's reports. Only a candidate
    whose prefix, suffix and length fit is hashed, and each distinct candidate once."""

    def __init__(self, hints: Iterable[Hint]) -> None:
        # prefix -> length -> suffix -> the digests wanted. Keyed by length, then suffix, so an
        # occurrence of a prefix costs one slice and one lookup per distinct length: thousands
        # of keys share "AKIA", and trying each (suffix, length) shape in turn at each of
        # their thousands of occurrences was quadratic (70 s of a 50k-findings re-run).
        self.by_prefix: dict[str, dict[int, dict[str, Any]]] = {}   # set, then tuple
        for prefix, suffix, length, want in hints:
            if len(prefix) != _EDGE or len(suffix) != _EDGE or length < MIN_HINTED:
                continue  # not a hint make_hints writes (a damaged entry): never matches
            lengths = self.by_prefix.setdefault(prefix, {})
            lengths.setdefault(length, {}).setdefault(suffix, set()).add(want)
        # each shape's digests as a tuple (48 bytes for the usual one, a set's 216): the
        # scanner of a 50k-findings re-run's 25,000 hints lives through every tool's turn
        for lengths in self.by_prefix.values():
            for by_suffix in lengths.values():
                for suffix, wants in by_suffix.items():
                    by_suffix[suffix] = tuple(wants)
        self._automaton = _prefix_automaton(self.by_prefix)
        self._pattern: re.Pattern[str] | None = None

    def _starts(self, text: str) -> Iterator[int]:
        """Every position where a prefix occurs, in increasing order."""
        if not self.by_prefix:
            return
        if self._automaton is not None:
            # a window at a time: the automaton copies what it searches as 4-byte characters
            for start, _length in matches(self._automaton, len(text),
                                          lambda a, b: text[a:b], _EDGE, WINDOW):
                yield start
            return
        if self._pattern is None:
            self._pattern = re.compile(_trie(sorted(self.by_prefix)), re.DOTALL)
        for m in self._pattern.finditer(text):
            yield m.start()

    def recover(self, collector: SecretCollector, blobs: list[bytes], digest) -> None:
        seen: set[str] = set()
        for blob in blobs:
            for _start, _length, value in self.find(blob.decode("utf-8", "replace"), digest,
                                                    seen).values():
                collector.add(value)

    def find(self, text: str, digest, seen: set[str] | None = None
             ) -> dict[str, tuple[int, int, str]]:
        """{hint digest: (start, length, value)} of the hinted values in `text` (the first
        place each is met), skipping the candidates in `seen` (which it extends)."""
        seen = set() if seen is None else seen
        found: dict[str, tuple[int, int, str]] = {}
        for start in self._starts(text):
            for length, by_suffix in self.by_prefix[text[start:start + _EDGE]].items():
                candidate = text[start:start + length]
                if len(candidate) != length:
                    continue
                wants = by_suffix.get(candidate[-_EDGE:])
                if wants is not None and candidate not in seen:
                    seen.add(candidate)
                    got = digest(candidate)
                    if got in wants:
                        found[got] = (start, length, candidate)
        return found


def _prefix_automaton(prefixes: Iterable[str]):
    """An Aho-Corasick automaton of the prefixes, or None without pyahocorasick."""
    return automaton_of(prefixes)


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
