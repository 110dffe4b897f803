"""One pass over a raw report that replaces every known secret value, whatever their number.

Replacing value after value costs (values x report bytes): on a repository whose tools report
5,000 secrets that was minutes of secpipe's own CPU. Here all the forms of all the values go
into one automaton, built once per collector, and each report is read once: the time is linear
in the report's size (plus building the automaton, linear in the values' total length).

The automaton is Aho-Corasick (`pyahocorasick`, C) when that package is installed, else a
regular expression shaped like a trie (common prefixes shared, so at any position the engine
follows one branch per byte instead of trying every value in turn): the same result, the
regex about eight times slower. Matches are leftmost, and where two forms start at the same
place the longest wins, as replacing longest-first did.
"""

from __future__ import annotations

import io
import itertools
import re
from typing import Any, BinaryIO, Callable, Generator, Iterable, Iterator, Mapping

# Beyond this many nested groups a subtree becomes a flat alternation (longest first): a
# crafted report with thousands of values each extending the previous one would otherwise
# nest groups past the regex compiler's recursion limit.
_MAX_NESTING = 40
_END = b""


class Scrubber:
    """Replace each key of `replacements` (bytes) found in data by its value, in one pass."""

    def __init__(self, replacements: Mapping[bytes, bytes], *, engine: str = "auto") -> None:
        # the caller's own table where it can be (a collector's: 1.3 MB of dict at 25,000
        # values, held again by a copy); never changed here
        self._replacements = replacements if type(replacements) is dict \
            and b"" not in replacements else {k: v for k, v in replacements.items() if k}
        self._regex: re.Pattern[bytes] | None = None
        self._automaton = None
        if not self._replacements:
            return
        self._longest = max(map(len, self._replacements))
        self._prefixes: _Prefixes | None = None
        if engine in ("auto", "prefix"):
            self._prefixes = _Prefixes.of(self._replacements, required=engine != "auto")
        elif engine == "aho-corasick":
            self._automaton = _automaton(self._replacements, required=True)
        if self._automaton is None and self._prefixes is None:
            self._regex = re.compile(_trie_pattern(self._replacements))

    @property
    def engine(self) -> str:
        return ("prefix" if self._prefixes is not None else
                "aho-corasick" if self._automaton is not None else "regex")

    def finds_any(self, data: bytes) -> bool:
        """Whether any key occurs in `data` (stops at the first)."""
        if not data or not self._replacements:
            return False
        if self._prefixes is not None:
            return self._prefixes.finds_any(data, self._replacements)
        if self._automaton is not None:
            for _ in _windows(self._automaton, data, self._longest):
                return True
            return False
        assert self._regex is not None
        return self._regex.search(data) is not None

    def scrub(self, data: bytes) -> bytes:
        if not data or not self._replacements:
            return data
        if self._prefixes is not None or self._automaton is not None:
            try:
                return splice(data, self._edits(data))
            except _Overlapping:  # pathological overlaps: the regex copes, built once
                if self._regex is None:
                    self._regex = re.compile(_trie_pattern(self._replacements))
        table = self._replacements
        assert self._regex is not None
        return self._regex.sub(lambda m: table[m.group()], data)

    def scrub_into(self, data: bytes, out: BinaryIO) -> bool:
        """`out.write(self.scrub(data))` without the scrubbed copy in memory: the edits of
        each window of the search are written as soon as that window is searched (a match
        that starts in it is seen whole there, `matches`), with the text between them as
        views of `data`. The run's values' scrub writes a report to disk so (`pipeline.spill`):
        its copy, beside the report in clear, was as large again (trufflehog3's 14 MB at
        50,000 findings when another tool reports one of its values). Whether anything was
        replaced; `out` is rewound to where it was (and cut there) if the matches overlap past
        the budget, and the regex's result written, as `scrub` does."""
        if not data or not self._replacements \
                or (self._prefixes is None and self._automaton is None):
            scrubbed = self.scrub(data)
            out.write(scrubbed)
            return scrubbed is not data and scrubbed != data
        at = out.tell()
        try:
            return splice_into(data, self._edits(data), out)
        except _Overlapping:
            out.seek(at)
            out.truncate()
            scrubbed = self.scrub(data)   # the same budget is spent again: the regex
            out.write(scrubbed)
            return scrubbed is not data and scrubbed != data

    def _edits(self, data: bytes) -> Iterator[tuple[int, int, bytes]]:
        """The leftmost-longest replacements in `data`, a window at a time (`_window_edits`);
        `_Overlapping` past the budget. Only with an automaton (prefixes or whole keys)."""
        table = self._replacements
        if self._prefixes is not None:
            return _window_edits(self._prefixes.hits(data, table), data, table)
        return _window_edits(_as_hits(_windows(self._automaton, data, self._longest)),
                             data, table)


def _automaton(replacements: Mapping[bytes, bytes], *, required: bool):
    # bytes as latin-1 text: one character per byte, so offsets are byte offsets
    return automaton_of((form.decode("latin-1") for form in replacements), required=required)


def automaton_of(words: Iterable[str], *, required: bool = False):
    """An Aho-Corasick automaton of `words` (each match's value: the word's length), or None
    without pyahocorasick (ImportError if `required`) or without a word."""
    return automaton_with(((word, len(word)) for word in words), required=required)


def automaton_with(pairs: Iterable[tuple[str, object]], *, required: bool = False):
    """An Aho-Corasick automaton of (word, value) pairs (a match's value: its pair's), or
    None without pyahocorasick (ImportError if `required`) or without a word."""
    try:
        import ahocorasick
    except ImportError:
        if required:
            raise
        return None
    automaton = ahocorasick.Automaton()
    for word, value in pairs:
        automaton.add_word(word, value)
    if len(automaton) == 0:
        return None
    automaton.make_automaton()
    return automaton


#: bytes of a report searched at a time: pyahocorasick copies the text it searches as 4-byte
#: characters, so one 13 MB report searched whole cost 52 MB more at the run's peak
WINDOW = 1 << 20


def _windows(automaton, data: bytes, longest: int, *, width: int | None = None
             ) -> Iterator[tuple[int, Any]]:
    """`matches` in `data`, its windows decoded as latin-1 (offsets are byte offsets)."""
    return matches(automaton, len(data), lambda a, b: data[a:b].decode("latin-1"), longest,
                   WINDOW, width=width)


def matches(automaton, size: int, window: Callable[[int, int], str], longest: int,
            step: int, *, width: int | None = None) -> Iterator[tuple[int, Any]]:
    """(start, value) of every match in a text of `size` characters, each once, ordered by
    window, searching `window(start, stop)` (the text's slice) `step` characters at a time.
    A match's length is its value (`automaton_of`'s), or `width` when every word has that
    length. Each window reaches `longest - 1` characters into the next so that a match
    starting in it is seen whole; a match is kept by the window it starts in."""
    for base in range(0, size, step):
        stop = base + step
        for end, value in automaton.iter(window(base, stop + longest - 1)):
            start = base + end + 1 - (value if width is None else width)
            if start < stop:
                yield start, value


class _Prefixes:
    """Aho-Corasick over the keys' first `size` bytes only (`PREFIX`, fewer when a key is
    shorter), each prefix holding the lengths of its keys, longest first: where a prefix
    matches, the longest key that starts there is found by looking its candidate slices up in
    the table. Every key that occurs has its prefix there, so the matches, and the
    leftmost-longest result, are those of the automaton of the whole keys; the automaton is a
    fraction of its size (25,000 values of 40 bytes: about 5 MB against 32 MB, which the run
    held from its first scrub to its last) and is built faster."""

    __slots__ = ("automaton", "size")

    def __init__(self, automaton, size: int) -> None:
        self.automaton, self.size = automaton, size

    @classmethod
    def of(cls, replacements: Mapping[bytes, bytes], *, required: bool) -> "_Prefixes | None":
        """The keys' lengths are gathered in the automaton itself, each prefix's tuple
        replaced as a key of another length comes: a dict of every prefix and a set of its
        lengths, built first, held 8 MB more at 25,000 values, at the top of the values'
        scrub at 50,000 findings. (Equal tuples are one object, as there are few.)"""
        try:
            import ahocorasick
        except ImportError:
            if required:
                raise
            return None
        size = min(PREFIX, min(map(len, replacements)))
        automaton = ahocorasick.Automaton()
        shared: dict[tuple[int, ...], tuple[int, ...]] = {}
        for key in replacements:
            prefix, length = key[:size].decode("latin-1"), len(key)
            found = automaton.get(prefix, ())
            if length not in found:
                lengths = tuple(sorted((*found, length), reverse=True))
                automaton.add_word(prefix, shared.setdefault(lengths, lengths))
        automaton.make_automaton()
        return cls(automaton, size)

    def hits(self, data: bytes, table: Mapping[bytes, bytes]) -> Iterator[tuple[int, int]]:
        """(start, length) of the longest key at each start where one occurs, in order of
        start; a step for each candidate looked up (the budget's unit): (-1, 0)."""
        size, end_of_data = self.size, len(data)
        for start, lengths in _windows(self.automaton, data, size, width=size):
            for length in lengths:
                yield -1, 0
                if start + length <= end_of_data and data[start:start + length] in table:
                    yield start, length
                    break

    def finds_any(self, data: bytes, table: Mapping[bytes, bytes]) -> bool:
        return any(start >= 0 for start, _ in self.hits(data, table))


#: bytes of each key the prefix engine indexes
PREFIX = 8


class _Overlapping(Exception):
    """The matches overlap so much (a crafted report: thousands of nested values over one
    long run) that the regex is the better engine: past a budget of steps (a match of the
    whole keys' automaton, or a candidate of the prefixes' looked up), `4 x bytes + 10,000`.
    (pyahocorasick's own `iter_long` misses a shorter match after a longer one fails at the
    end of the text, so it is not used.)"""


def _as_hits(found: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The automaton's (start, length) matches as `_Prefixes.hits` gives them: each a step
    of the budget (-1, 0) and then the match."""
    for match in found:
        yield -1, 0
        yield match


def _window_edits(hits: Iterable[tuple[int, int]], data: bytes,
                  table: Mapping[bytes, bytes]) -> Iterator[tuple[int, int, bytes]]:
    """The leftmost-longest edits, a window of the search at a time: `hits` ((start, length),
    or (-1, 0) for a step of the budget) come window by window (`matches`: every match that
    starts in a window before the next window's), so once a start of a later window comes,
    the earlier window's longest match at each start is known and its edits are final.
    Raises _Overlapping when the steps exceed the budget."""
    budget = 4 * len(data) + 10_000
    step = WINDOW
    longest: dict[int, int] = {}
    current = 0   # the window of the starts in `longest`
    done = 0   # the end of the last replacement
    for start, length in hits:
        if start < 0:
            budget -= 1
            if budget < 0:
                raise _Overlapping
            continue
        if start // step != current:
            done = yield from _leftmost(longest, data, table, done)
            longest.clear()
            current = start // step
        if length > longest.get(start, 0):
            longest[start] = length
    yield from _leftmost(longest, data, table, done)


def _leftmost(longest: Mapping[int, int], data: bytes, table: Mapping[bytes, bytes],
              done: int) -> Generator[tuple[int, int, bytes], None, int]:
    """The leftmost-longest edits of `longest` (start -> length), none starting before
    `done` (inside a previous replacement); returns the end of the last replacement."""
    for start in sorted(longest):
        if start < done:
            continue  # inside the previous replacement
        done = start + longest[start]
        yield start, done, table[data[start:done]]
    return done


def splice(data: bytes, edits: Iterable[tuple[int, int, bytes]]) -> bytes:
    """`data` with each (start, end, replacement) of `edits` (in order, not overlapping)
    applied; `data` itself when there is none. One growing buffer, the text between edits
    written as views of `data`: a list of every piece (what `re.sub` or a join holds) kept
    them all as objects at once, 13-34 MB more for a 14 MB report."""
    edits = iter(edits)
    first = next(edits, None)
    if first is None:
        return data
    out = io.BytesIO()
    splice_into(data, itertools.chain((first,), edits), out)
    return out.getvalue()


def splice_into(data: bytes, edits: Iterable[tuple[int, int, bytes]], out: BinaryIO) -> bool:
    """`out.write(splice(data, edits))`, the text between edits written as views of `data`
    (to a file: no copy of the whole); whether there was an edit (a secret's mask never
    equals its form, so for a collector's table: whether the bytes changed)."""
    view = memoryview(data)
    done = 0
    for start, end, replacement in edits:
        out.write(view[done:start])
        out.write(replacement)
        done = end
    out.write(view[done:])
    return done > 0   # an edit ends past 0: its key is not empty


def _trie_pattern(words: Iterable[bytes]) -> bytes:
    root: dict = {}
    for word in words:
        node = root
        for byte in word:
            node = node.setdefault(byte, {})
        node[_END] = True
    return _node_pattern(root, 0)


def _node_pattern(node: dict, depth: int) -> bytes:
    """The pattern matching every word below `node`, longest alternatives first."""
    if depth > _MAX_NESTING:
        return _flat(node)
    alternatives = []
    for byte in sorted(k for k in node if k != _END):
        prefix = bytearray([byte])
        child = node[byte]
        # a chain of single children is one literal
        while _END not in child and len(child) == 1:
            (nxt, child), = child.items()
            prefix.append(nxt)
        alternatives.append(re.escape(bytes(prefix)) + _node_pattern(child, depth + 1))
    if not alternatives:
        return b""
    body = alternatives[0] if len(alternatives) == 1 else b"(?:" + b"|".join(alternatives) + b")"
    if _END in node:
        # greedy optional: the longer word is tried first, the shorter one when it fails
        return b"(?:" + body + b")?"
    return body


def _flat(node: dict) -> bytes:
    """Every suffix below `node` as a plain alternation, longest first (no further nesting)."""
    suffixes: list[bytes] = []
    stack: list[tuple[dict, bytes]] = [(node, b"")]
    while stack:
        current, prefix = stack.pop()
        for key, child in current.items():
            if key == _END:
                suffixes.append(prefix)
            else:
                stack.append((child, prefix + bytes([key])))
    suffixes.sort(key=len, reverse=True)
    parts = [re.escape(s) for s in suffixes if s]
    if not parts:
        return b""
    body = b"(?:" + b"|".join(parts) + b")"
    return b"(?:" + body + b")?" if b"" in suffixes else body


__all__ = ["Scrubber"]
