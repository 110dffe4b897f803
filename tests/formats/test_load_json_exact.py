"""`load_json` reads a report with orjson only where that gives exactly what json.loads gives.

Every check compares `load_json(data)` with the standard reading (`json.loads` of the text,
lone surrogates replaced) by `repr`, which tells an int from a float, -0.0 from 0.0 and shows
key order; and every text the standard reading refuses must still be refused with the same
message.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from secpipe.formats import ReportFormatError
from secpipe.formats._common import SLOW, load_json, loads_exact, without_surrogates


def _standard(data: bytes) -> object:
    text = data.decode("utf-8-sig")
    return without_surrogates(json.loads(text), text)


def _same(data: bytes) -> None:
    try:
        want = _standard(data)
    except (ValueError, RecursionError):
        with pytest.raises(ReportFormatError):
            load_json(data, "r.json")
        return
    assert repr(load_json(data, "r.json")) == repr(want)


SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.sampled_from([None, 0, 2]))
def test_any_document_reads_as_json_loads_reads_it(value: object, indent: int | None) -> None:
    _same(json.dumps(value, indent=indent, ensure_ascii=False).encode("utf-8"))
    _same(json.dumps(value, indent=indent).encode("utf-8"))   # \\u escapes, pairs too


@pytest.mark.parametrize("data", [
    b'{"a":1,"a":2,"b":3}',                      # duplicate keys: the last wins, first's place
    b'[-0, -0.0, 0.0, 1E5, 1.0e+2, 5e-324, 1.7976931348623157e308, 0.30000000000000004]',
    b'[9223372036854775807, -9223372036854775808, 18446744073709551616, 1234567890123456789]',
    b'["1234567890123456789012 in a string"]',   # a digit run anywhere: the standard reading
    b'[1e400, -1e400]', b'[NaN, Infinity, -Infinity]',
    b'["\\ud83d\\ude00", "\\uDBFF\\uDFFF", "a\\u00e9\\u0000\\/"]',
    b'{"lone": "\\ud800", "\\udc00": "swapped \\ude00\\ud83d"}',
    b'\xef\xbb\xbf{"bom": true}', b' \n\t[1]\r\n ', b'["\x7f \xc3\xa9"]',
])
def test_edges(data: bytes) -> None:
    _same(data)


@pytest.mark.parametrize("data", [
    b'{"a": "x\ty"}', b'"\x01"', b'[1,]', b'{"a" 1}', b'[1] [2]', b'\xff[1]', b'[',
    b'["\xed\xa0\x80"]', b'[' * 5000 + b']' * 5000,
])
def test_refused_texts_are_refused_as_before(data: bytes) -> None:
    with pytest.raises(ReportFormatError) as got:
        load_json(data, "r.json")
    try:
        _standard(data)
    except UnicodeDecodeError:
        assert "not UTF-8" in str(got.value)
    except json.JSONDecodeError as exc:
        assert f"{exc.msg} at line {exc.lineno} column {exc.colno}" in str(got.value)
    except RecursionError:
        assert "nested too deeply" in str(got.value)
    else:
        pytest.fail("the standard reading accepted it")


def test_orjson_takes_the_plain_reports_and_not_the_others() -> None:
    assert loads_exact(b'{"results": [{"line": 3, "score": 7.5}]}') == {
        "results": [{"line": 3, "score": 7.5}]}
    for data in (b'[NaN]', b'\xef\xbb\xbf[1]', b'["\\ud800"]', b'[12345678901234567890]'):
        assert loads_exact(data) is SLOW
    assert math.isinf(load_json(b'[1e400]', "r.json")[0])
