"""Where a run's hints occur in a text: the hint scanner of `hints.py`.

Every hint's prefix is looked for in one pass over the text, whatever the number of hints, a
window of the text at a time (`windows.py`); only a candidate whose prefix, suffix and length
fit a hint is hashed, and each distinct candidate once.
"""

from __future__ import annotations

import re
from itertools import groupby
from operator import itemgetter
from typing import Any, Iterable, Iterator

from secpipe.model.scrubber import WINDOW, automaton_with
from secpipe.scancache import windows

MIN_HINTED = 16
EDGE = 4             # characters of a value's start and end a hint holds (its mask shows them)

Hint = tuple[str, str, int, str]  # prefix, suffix, length, digest


class Scanner:
    """Every hint's prefix found in one pass over a text, whatever the number of hints.

    The prefixes (four characters each) go into one Aho-Corasick automaton (`pyahocorasick`,
    as the run's scrubber, secpipe.model.scrubber), else into one regular expression shaped as
    a trie: a report of n characters costs O(n), where looking for each hint in turn cost
    hints x n. The automaton is the faster by far when the prefixes start with most of the
    alphabet (thousands of random keys), where the regex tries a branch per first character
    at every position: 5.3 s against ~0.5 s on a 50k-findings run's reports. Only a candidate
    whose prefix, suffix and length fit is hashed, and each distinct candidate once."""

    def __init__(self, hints: Iterable[Hint]) -> None:
        # prefix -> its shapes (`_shapes`), each prefix's hints grouped in turn (sorted), not
        # in a dict of dicts per prefix: the scanner of a 50k-findings re-run's 25,000 hints
        # lives through the tools' turns, and 25,000 prefixes of one or two keys each held
        # two dicts apiece (~14 MB with the automaton, against ~3 MB as tuples)
        valid = sorted((h for h in hints if len(h[0]) == EDGE and len(h[1]) == EDGE
                        and h[2] >= MIN_HINTED),   # else not a hint make_hints writes (a
                       key=itemgetter(0))          # damaged entry): never matches
        groups = {prefix: _shapes(group) for prefix, group in groupby(valid, itemgetter(0))}
        del valid
        # a candidate starting in a window is read whole from it: the windows overlap by
        # the longest hinted value
        self._longest = max((n for shapes in groups.values() for n in _lengths(shapes)),
                            default=EDGE)
        self._automaton = _prefix_automaton(groups)
        # the shapes by prefix, when no automaton holds them
        self._groups = groups if self._automaton is None else None
        self._any = bool(groups)
        self._pattern: re.Pattern[str] | None = None

    def digests(self) -> set[str]:
        """The digests of every hint the scanner looks for."""
        every = self._automaton.values() if self._automaton is not None \
            else (self._groups or {}).values()
        out: set[str] = set()
        for shapes in every:
            if type(shapes) is tuple:
                for i in range(2, len(shapes), 3):
                    out.update(shapes[i])
            else:
                for by_suffix in shapes.values():
                    for wants in by_suffix.values():
                        out.update(wants)
        return out

    def _starts(self, window: str, limit: int) -> Iterator[tuple[int, Any]]:
        """(position, the prefix's shapes) of every prefix occurring in `window` before
        `limit`, in increasing order."""
        if not self._any:
            return
        if self._automaton is not None:
            # all prefixes are EDGE characters long: ordered by end is ordered by start
            for end, shapes in self._automaton.iter(window):
                start = end + 1 - EDGE
                if start >= limit:
                    return
                yield start, shapes
            return
        groups = self._groups or {}
        if self._pattern is None:
            self._pattern = re.compile(_trie(sorted(groups)), re.DOTALL)
        for m in self._pattern.finditer(window):
            if m.start() >= limit:
                return
            yield m.start(), groups[window[m.start():m.start() + EDGE]]

    def recover(self, collector: SecretCollector, blobs: list[bytes], digest) -> None:
        seen: set[str] = set()
        for blob in blobs:
            for _start, _length, value in self.find_in(blob, digest, seen).values():
                collector.add(value)

    def find_in(self, blob: bytes, digest, seen: set[str] | None = None
                ) -> dict[str, tuple[int, int, str]]:
        """`find` on `blob.decode("utf-8", "replace")`, read a window at a time."""
        return self._find(windows.text_windows(blob, WINDOW, self._longest), digest, seen)

    def find(self, text: str, digest, seen: set[str] | None = None
             ) -> dict[str, tuple[int, int, str]]:
        """{hint digest: (start, length, value)} of the hinted values in `text` (the first
        place each is met), skipping the candidates in `seen` (which it extends)."""
        return self._find(windows.str_windows(text, WINDOW, self._longest), digest, seen)

    def _find(self, pieces: Iterable[windows.Window], digest, seen: set[str] | None
              ) -> dict[str, tuple[int, int, str]]:
        seen = set() if seen is None else seen
        found: dict[str, tuple[int, int, str]] = {}

        def check(candidate: str, wants: tuple[str, ...], start: int) -> None:
            if candidate not in seen:
                seen.add(candidate)
                got = digest(candidate)
                if got in wants:
                    found[got] = (start, len(candidate), candidate)

        for base, window, stop in pieces:
            # a window at a time: the automaton copies what it searches as 4-byte characters
            for at, shapes in self._starts(window, stop - base):
                if type(shapes) is tuple:    # a few shapes, tried in turn
                    for i in range(0, len(shapes), 3):
                        length = shapes[i]
                        candidate = window[at:at + length]
                        if len(candidate) == length and candidate.endswith(shapes[i + 1]):
                            check(candidate, shapes[i + 2], base + at)
                    continue
                for length, by_suffix in shapes.items():
                    candidate = window[at:at + length]
                    if len(candidate) != length:
                        continue
                    wants = by_suffix.get(candidate[-EDGE:])
                    if wants is not None:
                        check(candidate, wants, base + at)
        return found


#: a prefix's hints of up to this many shapes (length and suffix) are tried in turn
_FEW = 4


def _shapes(group: Iterable[Hint]) -> Any:
    """One prefix's hints as what `Scanner._find` tries at each place the prefix occurs:
    for a few shapes, (length, suffix, digests, ...) one after the other; for more, {length:
    {suffix: digests}}, so that an occurrence costs one slice and one lookup per distinct
    length: thousands of keys share "AKIA", and trying each (suffix, length) shape in turn at
    each of their thousands of occurrences was quadratic (70 s of a 50k-findings re-run).
    A shape's digests are a tuple (48 bytes for the usual one, a set's 216)."""
    by_shape: dict[tuple[int, str], list[str]] = {}
    for _prefix, suffix, length, want in group:
        wants = by_shape.setdefault((length, suffix), [])
        if want not in wants:
            wants.append(want)
    if len(by_shape) <= _FEW:
        return tuple(x for (length, suffix), wants in by_shape.items()
                     for x in (length, suffix, tuple(wants)))
    nested: dict[int, dict[str, tuple[str, ...]]] = {}
    for (length, suffix), wants in by_shape.items():
        nested.setdefault(length, {})[suffix] = tuple(wants)
    return nested


def _lengths(shapes: Any) -> Iterable[int]:
    return shapes[0::3] if type(shapes) is tuple else shapes.keys()


def _prefix_automaton(groups: dict[str, Any]):
    """An Aho-Corasick automaton of the prefixes, each match's value its shapes, or None
    without pyahocorasick."""
    return automaton_with(groups.items())


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


__all__ = ["EDGE", "Hint", "MIN_HINTED", "Scanner"]
