"""A report's text a window at a time, never decoded whole.

The hint search (`hints.py`) reads a tool's report as text: `blob.decode("utf-8", "replace")`.
Decoded whole, that text sat beside the report's bytes for the whole search: trufflehog3's
13 MB report at 50,000 findings holds a few characters beyond Latin-1, so its text took two
bytes a character, 26 MB at the top of a cached run's last turn. Here the same text comes a
window at a time: an ASCII report is sliced and decoded per window (its characters are its
bytes), any other through an incremental decoder, which gives the same characters as
decoding the whole (replacement characters included: an invalid sequence cut between two
pieces is held back until the next). Positions are the whole text's character offsets.
"""

from __future__ import annotations

import codecs
from typing import Iterator

Window = tuple[int, str, int]   # base, text[base:stop + overlap], stop


def text_windows(blob: bytes, step: int, overlap: int) -> Iterator[Window]:
    """(base, window, stop) covering `blob.decode("utf-8", "replace")` from 0 to its end:
    each window is the text from `base` to `stop + overlap` (less at the end), and the
    windows' [base, stop) follow one another, so a search that handles in each window only
    what starts before `stop` sees everything once, with `overlap` characters after it."""
    step = max(1, step)
    if blob.isascii():
        for base in range(0, len(blob), step):
            stop = min(base + step, len(blob))
            yield base, blob[base:stop + overlap].decode("ascii"), stop
        return
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    held, base = "", 0   # held: the text from `base` decoded so far, not yet yielded past
    for at in range(0, len(blob), step):
        held += decoder.decode(blob[at:at + step], final=at + step >= len(blob))
        while len(held) >= step + overlap:
            yield base, held[:step + overlap], base + step
            held, base = held[step:], base + step
    while held:
        stop = min(step, len(held))
        yield base, held[:step + overlap], base + stop
        held, base = held[stop:], base + stop


def str_windows(text: str, step: int, overlap: int) -> Iterator[Window]:
    """`text_windows` of a text already decoded."""
    step = max(1, step)
    for base in range(0, len(text), step):
        stop = min(base + step, len(text))
        yield base, text[base:stop + overlap], stop


def slices(blob: bytes, wanted: dict[str, tuple[int, int]], step: int) -> dict[str, str]:
    """{name: text[start:start + length]} of `blob`'s text for each (start, length) of
    `wanted` whose start lies inside the text (read in one pass of windows)."""
    out: dict[str, str] = {}
    if not wanted:
        return out
    order = sorted(wanted.items(), key=lambda item: item[1][0])
    longest = max(length for _start, length in wanted.values())
    i = 0
    for base, window, stop in text_windows(blob, step, longest):
        while i < len(order) and order[i][1][0] < stop:
            name, (start, length) = order[i]
            out[name] = window[start - base:start - base + length]
            i += 1
        if i == len(order):
            break
    return out


__all__ = ["Window", "slices", "str_windows", "text_windows"]
