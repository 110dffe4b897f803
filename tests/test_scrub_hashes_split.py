"""FingerprintKey.scrub_hashes splits the data on hex runs instead of calling back per run:
the same bytes as the former `_HEX_RUN.sub(swap, data)`, on generated text dense with hex
runs, dashes, mixed case and the tool's own hashes (whole, dash-joined, embedded in longer
runs, cut short)."""

from __future__ import annotations

import re

from hypothesis import given, settings, strategies as st

from secpipe.model.secret import _HEX_RUN, FingerprintKey

HASHES = ["0123456789abcdef0123456789abcdef01234567", "deadbeefdeadbeefdeadbeef",
          "cafebabecafebabe", "a1b2c3d4-e5f6-a7b8-c9d0-e1f2a3b4c5d6"]


def _former(key: FingerprintKey, data: bytes) -> bytes:
    """The former body: a regex substitution with a Python callback per hex run."""
    table = {k.encode(): v.encode() for k, v in key._hashes.items()}

    def swap(match: re.Match[bytes]) -> bytes:
        token = match.group(0)
        found = table.get(token.lower())
        if found is not None:
            return found
        if b"-" not in token:
            return token
        return b"-".join(table.get(part.lower(), part) for part in token.split(b"-"))

    return _HEX_RUN.sub(swap, data) if table else data


def _key() -> FingerprintKey:
    key = FingerprintKey(b"k" * 32)
    for value in HASHES:
        key.rekey("sha1", value)
    return key


KEY = _key()
PIECES = st.sampled_from([h.encode() for h in HASHES] + [h.upper().encode() for h in HASHES]
                         + [b"-", b"--", b"abcd", b"0123", b"xyz", b" ", b'"', b"\n", b"g",
                            b"12345678", b"abcdef0", b"-abc", b"\xc3\xa9", b"DEADBEEF"])


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES, max_size=30))
def test_same_bytes_as_the_callback_substitution(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert KEY.scrub_hashes(data) == _former(KEY, data)


def test_a_report_with_the_tools_hashes() -> None:
    data = (b'{"hashed_secret": "' + HASHES[0].upper().encode() + b'", "id": "'
            + HASHES[3].encode() + b'", "x": "' + HASHES[1].encode() + b'ff"}')
    out = KEY.scrub_hashes(data)
    assert out == _former(KEY, data)
    assert HASHES[0].upper().encode() not in out and HASHES[3].encode() not in out
    assert HASHES[1].encode() + b"ff" in out   # inside a longer run: not the tool's hash
    assert KEY.scrub_hashes(b"no hex here") == b"no hex here"
