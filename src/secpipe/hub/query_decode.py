"""Decoding a GetFindings page's stored documents: orjson where it gives exactly json.loads.

A page is up to 100 documents of ~2-3 KB; `json.loads` took 3.5 ms of the client's ~7 ms of
CPU per GetFindings at 1M findings on PostgreSQL (bench/hub_store.py mix), orjson about a
third of that. The two agree on every document the hub stores, except where orjson reads
differently or refuses, and each of those goes to `json.loads`:
- an integer literal beyond 64 bits (orjson returns a float, silently): every such literal
  has at least 19 digits in a row, so a document holding a run of 19 digits anywhere (in a
  string too) is read by `json.loads`;
- NaN, +-Infinity, a number that overflows to infinity, a lone surrogate, nesting deeper
  than orjson's limit: orjson raises, `json.loads` decides (it accepts the first ones);
- a `str` that is not valid UTF-8 (a lone surrogate character) cannot be encoded: the same.
Floats are read correctly rounded by both, duplicate keys keep the last value in both, and
key order is the text's. Without orjson (a declared dependency; speed only) `json.loads`
reads everything. tests/hub/test_query_decode.py compares both on generated documents.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

try:
    import orjson as _orjson
except ImportError:      # pragma: no cover - a declared dependency; speed only without it
    _orjson = None

_DIGITS = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19          # 19 digits in a row: maybe an integer orjson reads as a float


def load_doc(text: str | bytes) -> Any:
    """`json.loads(text)`, by orjson where that is provably the same (module docstring)."""
    if _orjson is None:
        return json.loads(text)
    try:
        raw = text.encode() if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError:          # a lone surrogate: json.loads decides
        return json.loads(text)
    if _LONG_RUN in raw.translate(_DIGITS):
        return json.loads(text)
    try:
        return _orjson.loads(raw)
    except ValueError:                  # orjson.JSONDecodeError: NaN, Infinity, overflow...
        return json.loads(text)


def load_docs(texts: Iterable[str | bytes]) -> list[Any]:
    return [load_doc(t) for t in texts]
