"""Large JSON outputs written piece by piece, never as one giant string.

`json.dumps(..., indent=2)` of 50,000 findings builds a string of hundreds of MB through the
pure-Python encoder (the C one only serves compact output). Here the outer levels of the
document (the log's runs, a run's results, the list of ASFF findings) are walked by hand and
each element is encoded compactly by the C encoder, one element per line: the file stays
readable line by line, is a third of the indented size, and memory holds one element at a time.
Lists may be given as iterators, so a writer can produce elements lazily.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

try:
    import orjson as _orjson
except ImportError:      # pragma: no cover - a declared dependency; speed only without it
    _orjson = None

_std_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# orjson and the standard encoder differ on floats only where Python's repr uses an exponent
# (below 1e-4 or from 1e16): orjson then writes `1e-5`, `1e16` or `0.00001`. Such a number
# (where a number can stand: after a key's `":`, after `[` or `,`, before `,`, `}` or `]`)
# sends the element to the standard encoder; so does a `null` (orjson writes NaN and
# Infinity as null, the standard encoder NaN and Infinity). Text inside a string that merely
# looks like one (`"a,1e5]"`) costs speed only, never bytes. The precise pattern is slow on
# text full of `e`s and `:`s, so cheap tests that every such number passes go first.
_SUSPECT_NUMBER = re.compile(
    rb"[:\[,]-?(?:[0-9]+(?:\.[0-9]+)?e-?[0-9]+|0\.0000[0-9]*)[,}\]]")
_POSITIVE_EXPONENT = re.compile(rb"e[0-9]+[,}\]]")
# refused by orjson, so decided by the standard encoder: subclasses of str/int/dict/list
# (`Encoded`, enums' mixins), dataclasses, datetimes, non-string keys, ints beyond 64 bits
_OPTIONS = 0 if _orjson is None else (_orjson.OPT_PASSTHROUGH_DATETIME
                                      | _orjson.OPT_PASSTHROUGH_DATACLASS
                                      | _orjson.OPT_PASSTHROUGH_SUBCLASS)


def _fast_encode(value: Any) -> str:
    """Compact JSON, byte for byte what `_std_encode` gives, about twice as fast: orjson
    where its text is provably the same, the standard encoder everywhere else."""
    out = _orjson_text(value)
    return _std_encode(value) if out is None else out.decode("utf-8")


def _orjson_text(value: Any) -> bytes | None:
    """orjson's UTF-8 encoding of `value` where it is `_std_encode`'s text, else None."""
    if type(value) is not dict and type(value) is not list:
        return None
    try:
        out = _orjson.dumps(value, option=_OPTIONS)     # type: ignore[union-attr]
    except (TypeError, ValueError):     # orjson.JSONEncodeError is a TypeError
        return None                     # the standard encoder raises, or encodes it
    if b"null" in out or ((b"e-" in out or b"0.0000" in out
                           or (_SCAN_POSITIVE and _POSITIVE_EXPONENT.search(out)))
                          and _SUSPECT_NUMBER.search(out)):
        return None
    return out


def encode_utf8(value: Any) -> bytes:
    """`encode(value)` as UTF-8 bytes, for a file opened in binary mode: orjson's bytes are
    written as they are, not decoded to text and encoded back by the file."""
    out = _orjson_text(value) if _orjson is not None else None
    return _std_encode(value).encode("utf-8") if out is None else out


def encode_utf8_pieces(value: Any, *, chunk: int = 4096) -> Iterator[bytes]:
    """`encode_utf8(value)` in pieces whose concatenation is its bytes: a dict's members
    one by one and a list `chunk` elements at a time (compact JSON is the concatenation of
    its parts' texts, and each part is checked as `encode_utf8` checks the whole). For a
    document encoded to be compressed (report.html's data block: 16 MB at 50,000 findings),
    so its whole text is never held."""
    if type(value) is RawArray:
        yield from value.pieces()
    elif type(value) is dict and all(type(key) is str for key in value):
        yield b"{"
        for i, (key, item) in enumerate(value.items()):
            yield (b"," if i else b"") + encode_utf8(key) + b":"
            yield from encode_utf8_pieces(item, chunk=chunk)
        yield b"}"
    elif type(value) is list and len(value) > chunk:
        yield b"["
        for start in range(0, len(value), chunk):
            yield (b"," if start else b"") + encode_utf8(value[start:start + chunk])[1:-1]
        yield b"]"
    else:
        yield encode_utf8(value)


class RawArray:
    """A JSON array kept as its encoded elements, `chunk` at a time: what
    `encode_utf8_pieces` gives for the list, without the list. report.html's rows (13 ints
    for each of 50,000 findings: 8 MB as lists, 2 MB as text) are encoded as they are made
    and wait as bytes for the string table, which goes before them in the block."""

    __slots__ = ("_chunks", "_pending", "_chunk")

    def __init__(self, chunk: int = 4096) -> None:
        self._chunks: list[bytes] = []
        self._pending: list[Any] = []
        self._chunk = chunk

    def append(self, item: Any) -> None:
        self._pending.append(item)
        if len(self._pending) == self._chunk:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._chunks.append(encode_utf8(self._pending)[1:-1])
            self._pending = []

    def pieces(self) -> Iterator[bytes]:
        """The array's text in pieces, as `encode_utf8_pieces(list)` gives it (a list up to
        `chunk` long is one piece)."""
        self._flush()
        chunks = self._chunks
        yield b"[" + b",".join(chunks) + b"]" if len(chunks) <= 1 else b"["
        if len(chunks) > 1:
            for i, chunk in enumerate(chunks):
                yield (b"," if i else b"") + chunk
            yield b"]"


def _writes_positive_exponents_as_python() -> bool:
    """Whether this orjson writes floats from 1e16 up as Python does (`1e+16`, as 3.13 does;
    the scan above was written for one that wrote `1e16`). Then only negative exponents,
    `0.0000…` and `null` can differ, and the positive-exponent scan (a third of the checks'
    time on a finding's ASFF, whose text is full of `e`s) is skipped."""
    samples = [1e16, 1.5e300, 1.2345678901234568e17, 1.7976931348623157e308, 9.5e21, 2e22]
    return _orjson.dumps(samples).decode() == _std_encode(samples)  # type: ignore[union-attr]


_PLUS_EXPONENT_SAME = _orjson is not None and _writes_positive_exponents_as_python()
_SCAN_POSITIVE = not _PLUS_EXPONENT_SAME


_encode: Callable[[Any], str] = _std_encode if _orjson is None else _fast_encode


class Encoded(str):
    """An element already encoded as compact JSON: written as it is."""


def encode(value: Any) -> Encoded:
    return Encoded(_encode(value))


def json_chunks(value: Any, *, spread: int = 3, _indent: str = "") -> Iterator[str]:
    """`value` as JSON text in pieces: dicts and lists (or iterators) down to `spread`
    levels get one member per line, anything deeper is one compact line."""
    if isinstance(value, Encoded):
        yield value
        return
    if spread <= 0 or not isinstance(value, (dict, list, tuple, Iterator)):
        yield _encode(value)
        return
    inner = _indent + " "
    if isinstance(value, dict):
        if not value:
            yield "{}"
            return
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("\n" if i == 0 else ",\n") + inner + _encode(str(key)) + ":"
            yield from json_chunks(item, spread=spread - 1, _indent=inner)
        yield "\n" + _indent + "}"
        return
    first = True
    for item in value:
        head = ("[\n" if first else ",\n") + inner
        first = False
        # an element written on one line (the SARIF results, the ASFF findings: thousands)
        # goes out with its separator as one piece, without a generator of its own
        if isinstance(item, Encoded):
            yield head + item
        elif spread <= 1 or not isinstance(item, (dict, list, tuple, Iterator)):
            yield head + _encode(item)
        else:
            yield head
            yield from json_chunks(item, spread=spread - 1, _indent=inner)
    yield "[]" if first else "\n" + _indent + "]"


def write_chunks(path: Path, chunks: Iterable[str], *, buffer: int = 1 << 20) -> Path:
    """Write text pieces atomically (temporary name, then rename), as `write_file` does."""
    def fill(fh: IO[Any]) -> None:
        for chunk in chunks:
            fh.write(chunk)
        fh.write("\n")

    return write_atomic(path, fill, buffering=buffer)


def write_atomic(path: Path, fill: Callable[[IO[Any]], Any], *, binary: bool = False,
                 buffering: int = -1) -> Path:
    """Fill a temporary file beside `path`, then rename it over `path`: a reader (CI uploading
    the SARIF) never sees half a file, and a failure leaves no temporary behind.

    The temporary name is made by hand rather than with mkstemp, whose 0600 mode would make
    the report unreadable to the CI user serving the artifacts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        if binary:
            with open(tmp, "wb", buffering=buffering) as fh:
                fill(fh)
        else:
            with open(tmp, "w", encoding="utf-8", newline="\n", buffering=buffering) as fh:
                fill(fh)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


__all__ = ["Encoded", "RawArray", "encode", "encode_utf8", "encode_utf8_pieces", "json_chunks", "write_atomic",
           "write_chunks"]
