"""A cursor that walks one JSON document part by part, decoding only what the caller asks for.

`json.loads` builds the whole document before a parser sees any of it: a 9.4 MB checkov
report is ~45 MB of dicts and lists while its findings are made, and those short-lived objects
fragment the interpreter's arenas among the long-lived findings. With the cursor a parser
steps through the objects and arrays that hold its items (`members`, `items`) and decodes one
item at a time (`value`, json's own decoder via `raw_decode`), so an item's objects are freed
before the next is read.

The cursor only reads well-formed JSON; on anything else it raises ValueError (or
RecursionError) at the first token it cannot take, with no message worth showing: a parser
then reads the document whole (`_common.read_walking`), which raises the error it always
raised. Duplicate keys are the caller's concern (json.loads keeps the last value at the first
key's place).
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring
from typing import Any, Iterator

_WHITESPACE = re.compile(r"[ \t\n\r]*")    # what JSON allows between tokens (json.decoder's)
_DECODER = json.JSONDecoder()                # json.loads' own decoder, one value at a time


class Unwalkable(ValueError):
    """A document (or a shape of it) the walking reader does not read its way: the caller
    reads it whole instead."""


class JsonCursor:
    """A position in a JSON text, always at the start of a token (whitespace skipped).

    `members` and `items` are generators: after each key or item they give, the caller reads
    that value (`value`, `skip`, or a nested `members`/`items` to its end) before asking for
    the next one."""

    __slots__ = ("text", "at")

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = _WHITESPACE.match(text).end()

    def peek(self) -> str:
        """The first character of the next value ("" at the end of the text)."""
        return self.text[self.at:self.at + 1]

    def value(self) -> Any:
        """The next value, decoded as json.loads decodes it."""
        value, end = _DECODER.raw_decode(self.text, self.at)
        self.at = _WHITESPACE.match(self.text, end).end()
        return value

    def skip(self) -> None:
        """Read past the next value, holding at most one of its items or members at a time
        (a checkov report's `passed_checks` can be as long as its `failed_checks`)."""
        mark = self.peek()
        if mark == "[":
            for _ in self.items():
                self.value()
        elif mark == "{":
            for _ in self.members():
                self.value()
        else:
            self.value()

    def members(self) -> Iterator[str]:
        """The keys of the object at the cursor, in document order (repeats included)."""
        text = self.text
        if self.peek() != "{":
            raise ValueError("not an object")
        self.at = _WHITESPACE.match(text, self.at + 1).end()
        if self.peek() == "}":
            self.at = _WHITESPACE.match(text, self.at + 1).end()
            return
        while True:
            if self.peek() != '"':
                raise ValueError("expecting a key")
            key, end = scanstring(text, self.at + 1, True)
            at = _WHITESPACE.match(text, end).end()
            if text[at:at + 1] != ":":
                raise ValueError("expecting ':'")
            self.at = _WHITESPACE.match(text, at + 1).end()
            yield key
            if self._closes("}"):
                return

    def items(self) -> Iterator[int]:
        """The indexes of the array at the cursor's items, the cursor at each item."""
        if self.peek() != "[":
            raise ValueError("not an array")
        self.at = _WHITESPACE.match(self.text, self.at + 1).end()
        if self.peek() == "]":
            self.at = _WHITESPACE.match(self.text, self.at + 1).end()
            return
        index = 0
        while True:
            yield index
            if self._closes("]"):
                return
            index += 1

    def _closes(self, close: str) -> bool:
        """After a member or item: True past `close`, False past a comma, else ValueError."""
        mark = self.peek()
        if mark != "," and mark != close:
            raise ValueError(f"expecting ',' or {close!r}")
        self.at = _WHITESPACE.match(self.text, self.at + 1).end()
        return mark == close

    def end(self) -> None:
        """Raise ValueError unless the whole text has been read (json.loads' "Extra data")."""
        if self.at != len(self.text):
            raise ValueError("extra data")
