"""One pass over a raw report that replaces every known secret value, whatever their number.

Replacing value after value costs (values x report bytes): on a repository whose tools report
5,000 secrets that was minutes of secpipe's own CPU. Here all the forms of all the values go
into one automaton, built once per collector, and each report is read once: the time is linear
in the report's size (plus building the automaton, linear in the values' total length).

The automaton is a regular expression shaped like a trie (common prefixes shared), so at any
position the engine follows at most one branch per byte instead of trying every value in turn.
Where two forms start at the same place the longest wins, as replacing longest-first did.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

# Beyond this many nested groups a subtree becomes a flat alternation (longest first): a
# crafted report with thousands of values each extending the previous one would otherwise
# nest groups past the regex compiler's recursion limit.
_MAX_NESTING = 40
_END = b""


class Scrubber:
    """Replace each key of `replacements` (bytes) found in data by its value, in one pass."""

    def __init__(self, replacements: Mapping[bytes, bytes]) -> None:
        self._replacements = {k: v for k, v in replacements.items() if k}
        self._regex: re.Pattern[bytes] | None = None
        if self._replacements:
            self._regex = re.compile(_trie_pattern(self._replacements))

    def scrub(self, data: bytes) -> bytes:
        if self._regex is None or not data:
            return data
        table = self._replacements
        return self._regex.sub(lambda m: table[m.group()], data)


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
