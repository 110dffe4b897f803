"""The request body parser's fast path (orjson) gives exactly what `json.loads` gives: the
same values, the same types (an integer beyond 64 bits stays an integer), the same key order,
and the same refusals."""

from __future__ import annotations

import json
import marshal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secpipe.hub.api import validate
from secpipe.hub.api.validate import parse_body
from secpipe.hub.interface import InvalidInput


def exact(value: object) -> bytes:
    """Equal bytes only for equal values of equal types in equal order (1 != 1.0 != True,
    0.0 != -0.0, key order counts)."""
    return marshal.dumps(value, 2)


def slow(body: bytes) -> object:
    return json.loads(body)


# what a stored finding may hold (NUL and lone surrogates are refused whichever path parses)
TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
scalars = (st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
           | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
           | st.text(TEXT))
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=5)
                      | st.dictionaries(st.text(TEXT, max_size=8), kids, max_size=5),
                      max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(TEXT, max_size=8), values, max_size=6), st.booleans())
def test_fast_path_is_json_loads(doc: dict, ascii_only: bool) -> None:
    body = json.dumps(doc, ensure_ascii=ascii_only).encode()
    assert exact(parse_body(body)) == exact(slow(body))


@pytest.mark.parametrize("number", [2**64 - 1, 2**64, -2**63, -2**63 - 1, 10**25,
                                    -(10**40), 123456789012345678901234567890])
def test_integers_beyond_64_bits_stay_integers(number: int) -> None:
    body = json.dumps({"Findings": [{"Big": number, "Float": 1.5}]}).encode()
    got = parse_body(body)["Findings"][0]
    assert type(got["Big"]) is int and got["Big"] == number
    assert exact(got) == exact(slow(body)["Findings"][0])


def test_duplicate_keys_keep_the_first_place_and_last_value() -> None:
    body = b'{"a": 1, "b": 2, "a": 3}'
    assert list(parse_body(body).items()) == [("a", 3), ("b", 2)]


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}',
                                  b'{"a": "\\ud800"}', b'{"a": "\\u0000"}', b'{"a": 1',
                                  b'[1, 2]', b'{"a": "\xff"}', b'"text"'])
def test_refusals_are_unchanged(body: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_body(body)


def test_other_encodings_and_bom_take_the_slow_path() -> None:
    doc = {"Findings": [{"Title": "caf\u00e9 \u2603"}]}
    for body in (json.dumps(doc).encode("utf-16"), b"\xef\xbb\xbf" + json.dumps(doc).encode()):
        assert validate._fast_loads(body) is validate._SLOW
        assert parse_body(body) == doc


def test_a_plain_import_body_takes_the_fast_path() -> None:
    body = json.dumps({"Findings": [{"Id": "x", "Severity": {"Normalized": 40}}]}).encode()
    assert validate._fast_loads(body) == json.loads(body)
