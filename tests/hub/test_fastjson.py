"""`hub.fastjson.encode` (orjson where exact) must give the standard encoder's text, or its
refusal, for everything a document can hold: what the hub stores and the errors import
reports do not depend on orjson being installed."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math

import pytest

from secpipe.hub import fastjson


class Sub(str):
    pass


@dataclasses.dataclass
class Data:
    a: int = 1


def nested(depth: int) -> list:
    root: list = []
    node = root
    for _ in range(depth):
        node.append([])
        node = node[0]
    return root


SAME = [{"a": 1, "b": [1.5, "é", None, True, False]}, {"x": float("nan")},
        {"x": [float("inf"), -math.inf]}, {"s": Sub("q")}, {"k": 2 ** 70}, {1: "a"},
        {"u": "\ud800"}, {"t": (1, 2)}, {"f": 1e16}, {"f": -0.0}, {"e": "\u2028\x00\x1f"},
        nested(400), {"big": "x" * 300_000}]


@pytest.mark.parametrize("doc", SAME, ids=range(len(SAME)))
def test_same_text_as_the_standard_encoder(doc) -> None:
    assert fastjson.encode(doc) == fastjson.std_encode(doc)


@pytest.mark.parametrize("doc", [{"d": datetime.datetime(2024, 1, 1)}, {"d": Data()},
                                 {"s": {1, 2}}, {"b": b"x"}])
def test_refused_as_the_standard_encoder_refuses(doc) -> None:
    with pytest.raises(TypeError):
        fastjson.std_encode(doc)
    with pytest.raises(TypeError):
        fastjson.encode(doc)


def test_loads_rows_reads_lookup_rows() -> None:
    rows = [["id\u0001é", "arn:aws:securityhub:us-east-1::product/a/b", 2 ** 62, "2024", None]]
    text = fastjson.std_encode(rows)
    assert fastjson.loads_rows(text) == json.loads(text) == rows
    assert math.isnan(fastjson.loads_rows("[NaN]")[0])                    # as json.loads


# --- encode_screened: the importer skips its surrogate screen on the texts it flags --------
from hypothesis import given, settings, strategies as st  # noqa: E402

from secpipe.hub.common import SURROGATES  # noqa: E402


def _has_surrogate(obj) -> bool:
    if isinstance(obj, str):
        return SURROGATES.search(obj) is not None
    if isinstance(obj, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return any(map(_has_surrogate, obj))
    return False


def _check_screened(doc) -> None:
    try:
        expected = fastjson.encode(doc)
    except (TypeError, ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)):
            fastjson.encode_screened(doc)
        return
    text, clean = fastjson.encode_screened(doc)
    assert text == expected
    raw, clean_too = fastjson.encode_utf8_screened(doc)    # the same text, maybe as UTF-8
    assert clean_too is clean
    assert (raw.decode() if type(raw) is bytes else raw) == expected
    if type(raw) is bytes:
        assert clean and raw == expected.encode("utf-8")
    if clean:       # what the importer relies on: no surrogate in the text, nor in the doc
        assert SURROGATES.search(text) is None
        assert not _has_surrogate(doc)


@pytest.mark.parametrize("doc", SAME, ids=range(len(SAME)))
def test_screened_text_is_encodes_and_flags_no_surrogate_wrongly(doc) -> None:
    _check_screened(doc)


def test_a_surrogate_anywhere_is_never_flagged_clean() -> None:
    for doc in ({"u": "\ud800"}, {"\udfff": "x"}, {"a": [{"b": "ok\ud83d\ude00"}]},
                {"a": "x", "n": None, "s": "\udc80"}, ["\ud800", float("nan")]):
        assert fastjson.encode_screened(doc)[1] is False


_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12) | \
    st.sampled_from(["\ud800", "\udfff", "a\udc00b", "…", "\x00", "null"])
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_screened_matches_encode_on_any_document(doc) -> None:
    _check_screened(doc)
