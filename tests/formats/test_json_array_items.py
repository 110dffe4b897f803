"""`_common.json_array_items` reads a report's array item by item: for any bytes it must give
what `expect(load_json(...), list)` gives (the same items, in order) or raise the same error
with the same message."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from secpipe.formats import _jsonwalk
from secpipe.formats._common import expect, json_array_items, load_json

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12)
_space = st.sampled_from(["", " ", "\n", "\t", " \r\n ", "\u00a0", "\x0c"])


@st.composite
def _documents(draw) -> bytes:
    """A JSON document spelt with odd whitespace, often an array, sometimes broken."""
    value = draw(st.one_of(st.lists(_values, max_size=5), _values))
    if isinstance(value, list) and draw(st.booleans()):
        parts = [json.dumps(v, ensure_ascii=draw(st.booleans())) for v in value]
        text = (draw(_space) + "[" + draw(_space)
                + (draw(_space) + "," + draw(_space)).join(parts) + draw(_space) + "]"
                + draw(_space))
    else:
        text = json.dumps(value)
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    edit = draw(st.sampled_from(["none", "cut", "insert", "trailing"]))
    if edit == "cut" and data:
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif edit == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(
            [b",", b"]", b"[", b"x", b"\\ud800", b'"\\ud800"', b"\xff", b" ", b"NaN"])) + data[at:]
    elif edit == "trailing":
        data += draw(st.sampled_from([b" x", b",", b"]", b"[]", b"\n"]))
    return data


def _outcome(read) -> tuple:
    try:
        return ("ok", repr(read()))   # repr: NaN is no NaN's equal
    except Exception as exc:
        return (type(exc).__name__, str(exc))


@settings(max_examples=600, deadline=None)
@given(_documents())
def test_items_are_load_json_s(data: bytes) -> None:
    former = _outcome(lambda: expect(load_json(data, "r"), list, "r", "the report"))
    now = _outcome(lambda: list(json_array_items(data, "r")))
    assert now == former


def test_a_lone_surrogate_is_replaced_as_load_json_does() -> None:
    data = b'[{"a": "\\ud800x"}, 1]'
    assert list(json_array_items(data, "r")) == load_json(data, "r") == [{"a": "\ufffdx"}, 1]


def test_nan_and_big_documents_read_alike() -> None:
    data = json.dumps([{"n": i, "s": "x" * (i % 7)} for i in range(3000)]).encode()
    assert list(json_array_items(data, "r")) == load_json(data, "r")
    assert list(json_array_items(b"[NaN, -Infinity]", "r"))[1] == float("-inf")


@pytest.mark.parametrize("data", [
    b"[1 2]", b"[1x2]", b"[1,]", b"[,1]", b"[1,,2]", b"[1]]", b"[[1]", b"[1] x", b" [ ] ",
    b"[]", b"\xef\xbb\xbf[1]", b"[1,2", b"{}", b'"x"', b"", b"  ", b'["\\ud800"]', b"[1]\x00",
    b"[1,\xff]", b"[\x0c1]", b"[1]\n\n", b"[{\"a\":1} , {\"b\":[2,3]}]", b"[" * 5000 + b"]" * 5000,
])
def test_malformed_and_edge_arrays_read_alike(data: bytes) -> None:
    former = _outcome(lambda: expect(load_json(data, "r"), list, "r", "the report"))
    assert _outcome(lambda: list(json_array_items(data, "r"))) == former


@settings(max_examples=300, deadline=None)
@given(_documents(), st.sampled_from([1, 2, 5, 16]))
def test_items_read_a_small_window_at_a_time_are_load_json_s(data: bytes, chunk: int) -> None:
    """The same with the cursor decoding a few bytes at a time (tokens run past its window)."""
    former = _outcome(lambda: expect(load_json(data, "r"), list, "r", "the report"))
    saved, _jsonwalk.CHUNK = _jsonwalk.CHUNK, chunk
    try:
        assert _outcome(lambda: list(json_array_items(data, "r"))) == former
    finally:
        _jsonwalk.CHUNK = saved
