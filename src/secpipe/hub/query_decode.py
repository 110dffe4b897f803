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

from secpipe.hub.fastjson import SLOW, _orjson, loads_exact


def load_doc(text: str | bytes) -> Any:
    """`json.loads(text)`, by orjson where that is provably the same (module docstring)."""
    if _orjson is None:
        return json.loads(text)
    try:
        raw = text.encode() if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError:          # a lone surrogate: json.loads decides
        return json.loads(text)
    doc = loads_exact(raw)
    return json.loads(text) if doc is SLOW else doc


def load_docs(texts: Iterable[str | bytes]) -> list[Any]:
    return [load_doc(t) for t in texts]
