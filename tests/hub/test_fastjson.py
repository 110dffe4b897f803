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
