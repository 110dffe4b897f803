"""`query_decode.load_doc` reads every text exactly as `json.loads` does (values and types)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secpipe.hub import query_decode


def same(a, b) -> bool:
    """Equal values of equal types all the way down (NaN equals NaN, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                     math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def check(text: str) -> None:
    want = json.loads(text)
    assert same(query_decode.load_doc(text), want), text
    try:
        raw = text.encode()
    except UnicodeEncodeError:          # a lone surrogate character: no UTF-8 bytes
        return
    assert same(query_decode.load_doc(raw), want), raw


scalars = (st.none() | st.booleans() | st.floats() | st.text()
           | st.integers(min_value=-2**70, max_value=2**70)
           | st.integers(min_value=-2**63 - 2, max_value=-2**63 + 2)
           | st.integers(min_value=2**64 - 2, max_value=2**64 + 2))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                         max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(documents, st.booleans())
def test_generated_documents_read_as_json_loads(doc, ascii_only):
    check(json.dumps(doc, ensure_ascii=ascii_only))


@pytest.mark.parametrize("text", [
    "[18446744073709551615]", "[18446744073709551616]", "[-9223372036854775808]",
    "[-9223372036854775809]", "[123456789012345678901234567890]", "[1e400]", "[-1e400]",
    "[1.7976931348623159e308]", "[5e-324]", "[1e-400]", "[-0]", "[-0.0]", "[NaN]",
    "[Infinity]", "[-Infinity]", '{"a": 1, "a": 2}', '["\\ud800"]', '["\\udc00x"]',
    '{"Id": "1234567890123456789"}', '{"x": 1.0000000000000000000000001}',
    "[9007199254740993.0]", '{"k": "caf\u00e9 \u2603"}', "[0.1, 1E5, 123.456e-5]",
])
def test_edge_cases_read_as_json_loads(text):
    check(text)


def test_a_lone_surrogate_character_reads_as_json_loads():
    check('["\ud800"]')


def test_an_ordinary_document_takes_the_fast_path(monkeypatch):
    if query_decode._orjson is None:
        pytest.skip("orjson is not installed")
    doc = {"SchemaVersion": "2018-10-08", "Id": "arn:x/1", "Severity": {"Label": "HIGH",
           "Normalized": 70}, "Resources": [{"Type": "Other", "Id": "r\u00e9"}]}
    text = json.dumps(doc, ensure_ascii=False)

    def refuse(_):
        raise AssertionError("json.loads was asked")

    monkeypatch.setattr(query_decode.json, "loads", refuse)
    assert query_decode.load_docs([text]) == [doc]
