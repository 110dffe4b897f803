"""A cache entry written as JSON piece by piece, never as one string.

`json.dumps` of a history scanner's entry at 50,000 findings built a 67 MB string on top of
the 30 MB of finding dicts it encoded, while the tools' reports and parsed findings were still
in memory: the run's peak. Here the entry's outer levels are walked by hand; a list given as
:class:`Each` is encoded one element at a time (its elements may be produced lazily), and a
report given as :class:`Text` is decoded and escaped a megabyte at a time. The bytes are
exactly `json.dumps(entry, separators=(",", ":"))` of the same entry with every `Each`
materialised as a list and every `Text` decoded whole (utf-8, surrogateescape).
"""

from __future__ import annotations

import codecs
import json
from typing import IO, Any, Iterable

_encode = json.JSONEncoder(separators=(",", ":")).encode
#: a value's compact JSON as `dump` writes it, for a `Raw` made ahead
encode = _encode
_CHUNK = 1 << 20


class Each:
    """A JSON array written element by element; `items` is iterated once, while writing."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


class Raw(str):
    """A value already encoded as compact JSON (`encode`'s text): written as it is."""

    __slots__ = ()


class Text:
    """Bytes written as the JSON string of their utf-8 (surrogateescape) decoding."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def dump(value: Any, out: IO[str]) -> None:
    """Write `value` as compact JSON; dicts and lists holding an `Each` or a `Text` are walked,
    everything else is encoded whole by the C encoder."""
    if type(value) is Raw:
        out.write(value)
    elif isinstance(value, Each):
        out.write("[")
        for i, item in enumerate(value.items):
            if i:
                out.write(",")
            dump(item, out)
        out.write("]")
    elif isinstance(value, Text):
        _dump_text(value.data, out)
    elif (type(value) is dict and _walk(value.values())
          and all(type(key) is str for key in value)):
        out.write("{")
        for i, (key, item) in enumerate(value.items()):
            out.write(("," if i else "") + _encode(key) + ":")
            dump(item, out)
        out.write("}")
    elif type(value) in (list, tuple) and _walk(value):
        out.write("[")
        for i, item in enumerate(value):
            if i:
                out.write(",")
            dump(item, out)
        out.write("]")
    else:
        out.write(_encode(value))


def _walk(items: Iterable[Any]) -> bool:
    """Whether a container holds something to stream (directly, or in a dict or list that
    does, one level down: the shapes entries have)."""
    for item in items:
        if isinstance(item, _STREAMED):
            return True
        if type(item) is dict and any(isinstance(v, _STREAMED) or type(v) in (list, tuple)
                                      and any(isinstance(x, _STREAMED) for x in v)
                                      for v in item.values()):
            return True
        if type(item) in (list, tuple) and any(isinstance(x, _STREAMED) for x in item):
            return True
    return False


_STREAMED = (Each, Text, Raw)


def _dump_text(data: bytes, out: IO[str]) -> None:
    """JSON escaping is per character, so escaping a string in pieces gives the same text;
    the incremental decoder keeps a multi-byte sequence cut at a piece's end whole."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    out.write('"')
    view = memoryview(data)
    for start in range(0, len(data), _CHUNK):
        piece = decoder.decode(view[start:start + _CHUNK], False)
        if piece:
            out.write(_encode(piece)[1:-1])
    tail = decoder.decode(b"", True)
    if tail:
        out.write(_encode(tail)[1:-1])
    out.write('"')


__all__ = ["Each", "Raw", "Text", "dump", "encode"]
