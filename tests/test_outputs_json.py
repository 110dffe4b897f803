"""The writers' JSON encoder: orjson where its text is the standard encoder's, byte for byte.

Every output file (ASFF, OCSF, SARIF, the report's data) goes through `outputs._stream`'s
encoder; these tests hold it to `json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))`
on any JSON-shaped value, and on the values where orjson is known to write something else
(floats Python writes with an exponent, NaN, Infinity, big ints, non-string keys, subclasses).
"""

from __future__ import annotations

import enum
import json
import math
import struct
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from secpipe.outputs import _stream
from secpipe.outputs._stream import Encoded, _fast_encode, _std_encode

pytestmark = pytest.mark.skipif(_stream._orjson is None, reason="orjson not installed")


def _both(value):
    """(fast, standard) results, an exception compared by its type."""
    out = []
    for encode in (_fast_encode, _std_encode):
        try:
            out.append(encode(value))
        except Exception as exc:  # noqa: BLE001 - the exception is the result compared
            out.append(type(exc))
    return out


# floats of every magnitude, NaN and the infinities among them
_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(0, 2**64 - 1).map(lambda b: struct.unpack("d", struct.pack("Q", b))[0]))
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), _floats,
                     st.text(), st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x3000)))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_json, max_size=4), st.dictionaries(st.text(max_size=8), _json, max_size=4)))
def test_same_text_as_the_standard_encoder(value) -> None:
    fast, std = _both(value)
    assert fast == std


@pytest.mark.parametrize("number", [
    1e-05, -4.4365542300072625e-05, 2.5e-07, 1e16, 1.5e300, 5e-324, 1.7976931348623157e308,
    1e15, 0.0001, 123456.789, -0.0, 0.1, math.nan, math.inf, -math.inf, 2**64, -2**63 - 1,
])
def test_numbers_orjson_writes_otherwise(number) -> None:
    for value in ([number], {"Score": number}, {"a": [{"b": number, "c": "x:1e5,"}]},
                  [1, number, "e-"], {"n": None, "x": number}):
        fast, std = _both(value)
        assert fast == std, value


class _Color(enum.Enum):
    RED = "red"


class _Level(str, enum.Enum):
    HIGH = "high"


def test_what_orjson_refuses_or_treats_its_own_way_is_the_standard_encoders() -> None:
    for value in ({1: "int key"}, {"k": Encoded('{"pre":"encoded"}')}, {"k": _Level.HIGH},
                  {"when": datetime(2026, 1, 2, tzinfo=timezone.utc)}, [set()], "plain",
                  {"deep": json.loads("[" * 300 + "]" * 300)}):
        fast, std = _both(value)
        assert fast == std, value
    loop: list = []
    loop.append(loop)
    assert _both([loop]) == [ValueError, ValueError]     # a cycle: the standard error
    assert _both({"c": _Color.RED})[1] is TypeError       # refused by the standard encoder


def test_the_writers_use_it() -> None:
    assert _stream._encode is _fast_encode
    assert _stream.encode({"a": [1, "é", 1e-5]}) == '{"a":[1,"é",1e-05]}'


def test_plain_documents_take_the_fast_path(monkeypatch) -> None:
    """Hex digests, `sha1:` keys, `e-` in words and scores like 7.5 are no reason to fall
    back (the fallback would be correct, only slow)."""
    doc = {"Id": "secpipe/x/5e0a3e16", "LocationKey": "secret-sha1:778e62f5ba611c50ed8",
           "Title": "re-use of a key", "Cvss": [{"BaseScore": 7.5}], "Normalized": 70,
           "Types": ["a", "b"], "Nested": [[1, 2.25], {"e": "1e5x"}]}
    expected = _std_encode(doc)

    def refuse(value):
        raise AssertionError("fell back to the standard encoder")

    monkeypatch.setattr(_stream, "_std_encode", refuse)
    assert _fast_encode(doc) == expected


def test_positive_exponents_skip_the_scan_only_where_orjson_writes_them_as_python() -> None:
    """With an orjson that writes `1e+16` (as Python does), the encoder skips the positive-
    exponent scan; every large magnitude then still gives the standard encoder's text."""
    import random

    if not _stream._PLUS_EXPONENT_SAME:
        pytest.skip("this orjson writes positive exponents its own way: the scan stays")
    assert not _stream._SCAN_POSITIVE
    rng = random.Random(15)
    numbers = [rng.uniform(1, 10) * 10.0 ** rng.randint(16, 307) for _ in range(20_000)]
    numbers += [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
                for _ in range(20_000)]
    for chunk in range(0, len(numbers), 50):
        part = numbers[chunk:chunk + 50]
        for value in (part, {"Cvss": [{"BaseScore": x} for x in part]}):
            assert _fast_encode(value) == _std_encode(value)


def _utf8_both(value):
    """(encode_utf8, the standard encoder's text as UTF-8), an exception by its type."""
    out = []
    for encode in (_stream.encode_utf8, lambda v: _std_encode(v).encode("utf-8")):
        try:
            out.append(encode(value))
        except Exception as exc:  # noqa: BLE001 - the exception is the result compared
            out.append(type(exc))
    return out


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_json, max_size=4), st.dictionaries(st.text(max_size=8), _json, max_size=4)))
def test_utf8_bytes_are_the_standard_encoders_text(value) -> None:
    """findings.asff.json / .ocsf.json are written as bytes by encode_utf8: the bytes the text
    files held, also where orjson's text differs (numbers, NaN, lone surrogates: an error)."""
    fast, std = _utf8_both(value)
    assert fast == std


def test_utf8_bytes_for_numbers_and_what_orjson_refuses() -> None:
    for value in ([1e-05], {"Score": 1e16}, [math.nan], {"n": None}, ["\ud800"], [2**64],
                  {1: "non-string key"}, [_Level.HIGH], {"é…": "…"}):
        fast, std = _utf8_both(value)
        assert fast == std, value


def _pieces_or_error(value, chunk):
    try:
        return b"".join(_stream.encode_utf8_pieces(value, chunk=chunk))
    except Exception as exc:  # noqa: BLE001 - the exception is the result compared
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_json, max_size=9), st.dictionaries(st.text(max_size=8), _json, max_size=4),
                 st.dictionaries(st.text(max_size=4), st.lists(_json, max_size=9), max_size=3)),
       st.integers(1, 4))
def test_pieces_join_to_the_whole_documents_bytes(value, chunk) -> None:
    """report.html's data block is encoded piece by piece into its compressor: the pieces
    make the bytes `encode_utf8` gives the whole (or the same error)."""
    whole = _utf8_both(value)[0]
    assert _pieces_or_error(value, chunk) == whole
    for odd in ([1e-05] * 5, {"a": [math.nan, 1, 2, 3, 4]}, {1: [1, 2, 3, 4, 5]}, ["\ud800"] * 5):
        assert _pieces_or_error(odd, 2) == _utf8_both(odd)[0], odd


def test_the_data_block_is_gzip_compress_of_the_whole_text() -> None:
    """The block compressed piece by piece is `gzip.compress(text, 6, mtime=0)` of the whole
    text: deflate's output does not depend on how its input was cut."""
    import base64
    import gzip
    import random
    import string

    from secpipe.outputs._html_data import to_script_json

    rng = random.Random(15)
    for size in (0, 1, 5000, 60_000):
        data = {"fields": ["where", "state"], "n": {"1": 1.5e-7},
                "strings": ["".join(rng.choice(string.printable + "…é") for _ in
                                    range(rng.randint(0, 60))) for _ in range(size // 2)],
                "findings": [[rng.randint(0, 10 ** rng.randint(1, 6)) for _ in range(13)]
                             for _ in range(size)]}
        old = gzip.compress(_stream.encode_utf8(data), compresslevel=6, mtime=0)
        assert to_script_json(data) == base64.encodebytes(old).decode("ascii")
