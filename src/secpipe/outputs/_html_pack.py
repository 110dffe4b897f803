"""report.html's data blocks compressed as they are built, not held as tables and then packed.

A block is gzipped compact JSON (outputs._html_data). Its string table comes first and grows
in the order strings are met, so each new string can go to the compressor at once: at 50,000
findings the table's texts (a secret finding's description and title are made for it, ~20 MB)
were all held until the block was packed. Only what deduplication needs stays: each text, or
in a large run, for one that is not short ASCII, its BLAKE2b digest as an int (a collision of
128-bit digests is not a practical event), so the same text still gets the same index. Most
such texts are made for the table and held by nothing else (a finding's `path:line`, its ASFF
id, a secret finding's title with its mask's "…", which is stored two bytes a character and
gets a UTF-8 copy when it is encoded): ~200 bytes each kept as the key, 48 as a digest
(~11 MB of report.html's 52 MB rise at 50,000 findings).

Same bytes as `gzip.compress(encode_utf8(block), 6, mtime=0)`: the JSON is fed in pieces whose
concatenation is its text (a list's elements encoded `chunk` at a time, as
`_stream.encode_utf8_pieces` does), and deflate's output does not depend on how its input is
cut (tests compare both).
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Callable

from secpipe.outputs._stream import encode_utf8
from secpipe.textsafe import clean

#: texts longer than this, or not ASCII, are keyed by digest in a large run: a shorter ASCII
#: text costs no more than its digest (an int of 128 bits, 48 bytes) and is often a rule's or
#: a path's, held by the findings anyway
LONG_TEXT = 32
#: findings from which a run's tables key long texts by digest: a smaller run holds little,
#: and the digests' time (a microsecond per text) is not spent on it
LARGE_RUN = 10_000
_FEED_AT = 1 << 16


class Packer:
    """A gzip stream (level 6, no name, mtime 0) fed bytes; holds the compressed pieces."""

    def __init__(self) -> None:
        self._zip = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._out: list[bytes] = []
        self._buffer: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> None:
        self._buffer.append(data)
        self._size += len(data)
        if self._size >= _FEED_AT:
            self._push()

    def _push(self) -> None:
        if self._buffer:
            piece = self._zip.compress(b"".join(self._buffer))
            if piece:
                self._out.append(piece)
            self._buffer, self._size = [], 0

    def finish(self) -> list[bytes]:
        self._push()
        self._out.append(self._zip.flush())
        out, self._out = self._out, []
        return out


class StreamedStrings:
    """A string table (`_html_data._Strings`: text -> index, the table holding each text
    cleaned) whose texts go to `packer` as a JSON array's elements as they are added,
    `chunk` at a time; `close` ends the array."""

    def __init__(self, packer: Packer, *, digests: bool, chunk: int = 4096) -> None:
        self._packer = packer
        self._digests = digests
        self._chunk = chunk
        self._pending: list[str] = [""]
        self._first = True
        self.index: dict[str | int, int] = {"": 0}
        self.size = 1
        packer.feed(b"[")

    def indexer(self) -> Callable[[object], int]:
        """The index of a value's text (str(value), None as ""), added when new: a closure,
        as `_Strings.indexer`, since build() calls it eleven times per finding."""
        get, index, pending = self.index.get, self.index, self._pending
        digests, chunk = self._digests, self._chunk
        blake2b, from_bytes = hashlib.blake2b, int.from_bytes

        def of(value: object) -> int:
            text = value if type(value) is str else ("" if value is None else str(value))
            key: str | int = text
            if digests and (len(text) > LONG_TEXT or not text.isascii()):
                key = from_bytes(blake2b(text.encode("utf-8", "surrogatepass"),
                                         digest_size=16).digest(), "little")
            found = get(key)
            if found is None:
                found = index[key] = self.size
                self.size += 1
                pending.append(clean(text))
                if len(pending) == chunk:
                    self._flush()
            return found

        return of

    def _flush(self) -> None:
        if self._pending:
            head = b"" if self._first else b","
            self._packer.feed(head + encode_utf8(self._pending)[1:-1])
            self._pending.clear()
            self._first = False

    def close(self) -> None:
        """End the array (no string can be added after)."""
        self._flush()
        self._packer.feed(b"]")
        self.index = {}


__all__ = ["LARGE_RUN", "LONG_TEXT", "Packer", "StreamedStrings"]
