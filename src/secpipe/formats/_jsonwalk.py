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

import codecs
import json
import re
from json.decoder import scanstring
from typing import Any, Iterator

_WHITESPACE = re.compile(r"[ \t\n\r]*")    # what JSON allows between tokens (json.decoder's)
_DECODER = json.JSONDecoder()                # json.loads' own decoder, one value at a time
# what may come right after the part of a number a window holds, when the number goes on
_NUMBER_GOES_ON = frozenset("0123456789eE.+-")


CHUNK = 1 << 20   # bytes decoded at a time: a window of ~1-2 MB of text


class Unwalkable(ValueError):
    """A document (or a shape of it) the walking reader does not read its way: the caller
    reads it whole instead."""


class JsonCursor:
    """A position in a JSON document, always at the start of a token (whitespace skipped).

    `members` and `items` are generators: after each key or item they give, the caller reads
    that value (`value`, `skip`, or a nested `members`/`items` to its end) before asking for
    the next one.

    The document's bytes are decoded a window at a time (`chunk` bytes more whenever a token
    runs past the window's end), so the reading never holds the report's whole text either:
    9.4 MB of str for checkov's 50k report, beside the bytes the caller holds anyway. A token
    that fails or may go on past the window (a number, or a value with only whitespace after
    it) is read again once the window has grown; a document is only wrong where it is wrong
    with all of its rest in the window."""

    __slots__ = ("text", "at", "_data", "_read", "_final", "_decoder", "_chunk")

    def __init__(self, data: bytes, chunk: int | None = None) -> None:
        self._data = memoryview(data)
        self._read = 0
        self._final = False
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()   # UnicodeDecodeError
        self._chunk = chunk or CHUNK                                     # is a ValueError
        self.text = ""
        self.at = 0
        self._skip_space()

    def peek(self) -> str:
        """The first character of the next value ("" at the end of the document)."""
        return self.text[self.at:self.at + 1]

    def value(self) -> Any:
        """The next value, decoded as json.loads decodes it."""
        while True:
            text = self.text
            try:
                value, end = _DECODER.raw_decode(text, self.at)
            except ValueError:   # json.JSONDecodeError, or a number too long to convert
                if self._final:
                    raise
                self._grow()
                continue
            at = _WHITESPACE.match(text, end).end()
            if not self._final and (at == len(text) or at == end and text[at] in _NUMBER_GOES_ON):
                self._grow()   # "12" of "125", "1e" of "1e5", or a value then only whitespace
                continue
            self.at = at
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
        self._open("{")
        if self.peek() == "}":
            self._step()
            return
        while True:
            yield self._key()
            if self._closes("}"):
                return

    def items(self) -> Iterator[int]:
        """The indexes of the array at the cursor's items, the cursor at each item."""
        self._open("[")
        if self.peek() == "]":
            self._step()
            return
        index = 0
        while True:
            yield index
            if self._closes("]"):
                return
            index += 1

    def objects(self) -> Iterator[tuple[int, Any]]:
        """(index, object) of the array of objects at the cursor, each decoded on its own;
        nothing for null (`_common.objects` reads None as no items). Anything else is
        Unwalkable: the whole-document parse names what is wrong."""
        if self.peek() != "[":
            if self.value() is not None:
                raise Unwalkable("no array")
            return
        for index in self.items():
            if self.peek() != "{":
                raise Unwalkable("an item that is no object")
            yield index, self.value()

    def end(self) -> None:
        """Raise ValueError unless the whole document has been read (json's "Extra data")."""
        if self.at != len(self.text):
            raise ValueError("extra data")

    def _open(self, mark: str) -> None:
        if self.peek() != mark:
            raise ValueError(f"expecting {mark!r}")
        self._step()

    def _key(self) -> str:
        """A member's key and its colon, the cursor then at the member's value."""
        while True:
            text, at = self.text, self.at
            try:
                if text[at:at + 1] != '"':
                    raise ValueError("expecting a key")
                key, end = scanstring(text, at + 1, True)
                end = _WHITESPACE.match(text, end).end()
                if text[end:end + 1] != ":":
                    raise ValueError("expecting ':'")
            except ValueError:
                if self._final:
                    raise
                self._grow()
                continue
            self.at = end
            self._step()
            return key

    def _closes(self, close: str) -> bool:
        """After a member or item: True past `close`, False past a comma, else ValueError."""
        at = self.at
        mark = self.text[at:at + 1]
        if mark != "," and mark != close:
            raise ValueError(f"expecting ',' or {close!r}")
        self.at = _WHITESPACE.match(self.text, at + 1).end()
        if self.at == len(self.text) and not self._final:
            self._skip_space()
        return mark == close

    def _step(self) -> None:
        """Past the one-character token at the cursor and the whitespace after it."""
        self.at = _WHITESPACE.match(self.text, self.at + 1).end()
        if self.at == len(self.text) and not self._final:
            self._skip_space()

    def _skip_space(self) -> None:
        self.at = _WHITESPACE.match(self.text, self.at).end()
        while self.at == len(self.text) and not self._final:
            self._grow()
            self.at = _WHITESPACE.match(self.text, self.at).end()

    def _grow(self) -> None:
        """The window from the cursor on, with the next `chunk` bytes (or as many as it
        holds already, so a long token costs reads in proportion to its size) decoded."""
        size = max(self._chunk, len(self.text) - self.at)
        piece = self._data[self._read:self._read + size]
        self._read += len(piece)
        self._final = self._read >= len(self._data)
        self.text = self.text[self.at:] + self._decoder.decode(piece, self._final)
        self.at = 0
