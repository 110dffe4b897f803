"""The hashes' pass over a spilled report, window by window instead of the whole report.

`FingerprintKey.scrub_hashes` replaces every run of hex digits (dash-joined, for uuids) that
is a plain hash a tool reported. The pass over a spilled report read it back whole and, when
it held such a hash, made a scrubbed copy of it: trufflehog3's 14 MB report at 50,000
findings, beside the run's correlation, was the run's peak once the stages were judged after
the values' scrub (`judging.py`). Here the report is read a window at a time and each window
scrubbed on its own; the scrubbed file is written only from the first window that changes
(most reports hold no reported hash and are left as they are, never copied).

A window ends just before a byte that no hex run holds (neither a hex digit nor `-`), the
rest carried into the next: a run never straddles two windows, and the search from such a
byte finds what the search over the whole report finds from there (a match cannot hold it,
and the pattern looks at nothing before where it starts), so the windows scrubbed one by one
and joined are the whole report scrubbed. A window of hex digits only is carried whole until
such a byte or the end of the report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable

from secpipe.model.secret import HEX_SYMBOLS

#: bytes read at a time (a window is at most this plus a carried hex run)
WINDOW = 1 << 20
_STEP = 4096   # bytes looked at at a time for a window's end, from its last byte back


def _window_end(data: bytes) -> int:
    """The index of the last byte of `data` that no hex run holds, or -1."""
    end = len(data)
    while end > 0:
        start = max(0, end - _STEP)
        last = data[start:end].translate(HEX_SYMBOLS).rfind(b" ")
        if last >= 0:
            return start + last
        end = start
    return -1


def scrub_file(path: Path, scrub: Callable[[bytes], bytes], *,
               window: int = WINDOW) -> bool:
    """Scrub the file at `path` with `scrub` (FingerprintKey.scrub_hashes: returns its argument
    itself when it changes nothing) a window at a time; the file is replaced by the scrubbed
    one, made 0600 beside it, only if some window changed. Returns whether it was."""
    tmp = path.with_name(path.name + ".scrubbed")
    out: BinaryIO | None = None
    try:
        with open(path, "rb") as src:
            passed = 0   # bytes of the file whose scrub changed nothing, before `out` opens
            carry = b""
            while True:
                chunk = src.read(window)
                data = carry + chunk if carry else chunk
                if chunk:
                    end = _window_end(data)
                    if end <= 0:   # no byte to end a window at but (maybe) the first: read on
                        carry = data
                        continue
                    piece, carry = data[:end], data[end:]
                else:
                    piece, carry = data, b""
                del data
                scrubbed = scrub(piece) if piece else piece
                if out is None and scrubbed is not piece:
                    out = _opened(tmp)
                    src_at = src.tell()
                    src.seek(0)
                    _copy(src, out, passed)
                    src.seek(src_at)
                if out is not None:
                    out.write(scrubbed)
                passed += len(piece)
                del piece, scrubbed
                if not chunk:
                    break
        if out is None:
            return False
        out.close()
        os.replace(tmp, path)
        return True
    except BaseException:
        if out is not None:
            out.close()
            tmp.unlink(missing_ok=True)
        raise


def _opened(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    return open(fd, "wb")


def _copy(src: BinaryIO, out: BinaryIO, size: int) -> None:
    """The first `size` bytes of `src` (at its start) to `out`, a window at a time."""
    while size > 0:
        block = src.read(min(size, WINDOW))
        if not block:
            raise OSError("the spilled report got shorter while it was scrubbed")
        out.write(block)
        size -= len(block)


__all__ = ["WINDOW", "scrub_file"]
