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
import threading
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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
        yield ("[\n" if first else ",\n") + inner
        first = False
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


__all__ = ["Encoded", "encode", "json_chunks", "write_atomic", "write_chunks"]
