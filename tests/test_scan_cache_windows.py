"""A report's text a window at a time (scancache.windows) is the text decoded whole: the
windows cover it in order with the overlap asked, whatever the bytes (invalid UTF-8 cut
between two pieces included), and the hint scanner finds in the bytes, read so, exactly what
it finds in the whole text."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secpipe.scancache import hints, hintscan, windows

# ASCII, two-, three- and four-byte characters, and bytes that are not UTF-8 on their own
_PIECES = [b"A", b"K", b"I", b"a", b"0", b" ", b"\n", "\u00e9".encode(), "\u2026".encode(),
           "\U0001f511".encode(), b"\xe2", b"\x82", b"\xff", b"\xc3", b"\xf0\x9f"]


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


_blobs = st.lists(st.sampled_from(_PIECES), max_size=80).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(_blobs, st.integers(1, 9), st.integers(0, 7))
def test_the_windows_are_the_whole_text(blob: bytes, step: int, overlap: int) -> None:
    text = blob.decode("utf-8", "replace")
    expected_base = 0
    for base, window, stop in windows.text_windows(blob, step, overlap):
        assert base == expected_base and base < stop <= len(text)
        assert window == text[base:stop + overlap]
        expected_base = stop
    assert expected_base == len(text)
    assert list(windows.str_windows(text, step, overlap)) == \
        list(windows.text_windows(blob, step, overlap))


@settings(max_examples=200, deadline=None)
@given(_blobs, st.integers(1, 9), st.data())
def test_slices_are_the_texts(blob: bytes, step: int, data) -> None:
    text = blob.decode("utf-8", "replace")
    wanted = {str(i): (data.draw(st.integers(0, len(text) + 3)), data.draw(st.integers(0, 9)))
              for i in range(data.draw(st.integers(0, 5)))}
    expected = {name: text[start:start + length] for name, (start, length) in wanted.items()
                if start < len(text)}
    assert windows.slices(blob, wanted, step) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=20, max_size=120).map(b"".join),
       st.lists(st.integers(0, 60), min_size=1, max_size=6), st.sampled_from([3, 16, 1 << 20]),
       st.sampled_from(["aho-corasick", "regex"]))
def test_the_scanner_finds_in_the_bytes_what_it_finds_in_the_text(blob, starts, window,
                                                                  engine) -> None:
    text = blob.decode("utf-8", "replace")
    values = [text[s:s + hints.MIN_HINTED + s % 5] for s in starts]
    values = [v for v in values if len(v) >= hints.MIN_HINTED] + ["AKIA" + "K" * 14]
    hint_list = [tuple(h) for h in hints.make_hints(values, _sha)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hintscan, "WINDOW", window)
        if engine == "regex":
            mp.setattr(hintscan, "_prefix_automaton", lambda prefixes: None)
        scanner = hintscan.Scanner(hint_list)
        found = scanner.find_in(blob, _sha)
        assert found == scanner.find(text, _sha)
        mp.setattr(hintscan, "WINDOW", 1 << 30)   # the text in one window: what a whole search finds
        assert found == scanner.find(text, _sha)
