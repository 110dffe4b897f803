"""`validate.side_rows` builds its rows with the pk in one pass (`_side`) instead of binding
`side_rows_of`'s rows: both must give exactly the rows, in the order, of the code before
(`_reference_of` below, frozen, and `bind_side` over it), on the rich fixture findings and on
generated documents with tags, long values, repeated Types, several resources, unindexed
ProductFields and UserDefinedFields."""

from __future__ import annotations

import random
from typing import Any

from secpipe.hub import filtermatch
from secpipe.hub.schema import MAP_VALUE_INDEXED
from secpipe.hub.validate import (UNINDEXED_PRODUCT_FIELDS, bind_side, side_rows,
                                  side_rows_of)
from tests.hub.filter_data import findings as rich_findings
from tests.hub.test_indexed_walk import documents as nested_documents


def _reference_of(doc: dict[str, Any]) -> tuple[list, list, list]:
    """side_rows_of as it was before `_side` (ffdceba), verbatim."""
    types = doc.get("Types")
    types = list(dict.fromkeys(types)) if types else []
    resources = []
    maps: list[tuple] = []
    limit = MAP_VALUE_INDEXED
    tagged: dict[tuple[str, str], str | None] | None = None
    for idx, r in enumerate(doc["Resources"]):
        resources.append((idx, r["Type"], r["Id"], r.get("Partition"), r.get("Region")))
        tags = r.get("Tags")
        if tags:
            if tagged is None:
                tagged = {}
            for k, v in tags.items():
                tagged.setdefault((k, v[:limit]), v if len(v) > limit else None)
    if tagged:
        maps += [("T", k, v, full) for (k, v), full in tagged.items()]
    fields = doc.get("ProductFields")
    if fields:
        maps += [("P", k, v, None) if len(v) <= limit else ("P", k, v[:limit], v)
                 for k, v in fields.items() if k not in UNINDEXED_PRODUCT_FIELDS]
    udf = doc.get("UserDefinedFields")
    if udf:
        maps += [("U", k, v, None) if len(v) <= limit else ("U", k, v[:limit], v)
                 for k, v in udf.items()]
    indexed = filtermatch.indexed_values(doc, limit)
    if indexed:
        maps += [(kind, k, v, full) for (kind, k, v), full in indexed.items()]
    return types, resources, maps


def _text(rng: random.Random) -> str:
    return rng.choice(["", "a", "b", "v" * (MAP_VALUE_INDEXED - 1), "w" * MAP_VALUE_INDEXED,
                       "x" * (MAP_VALUE_INDEXED + 1), "x" * (MAP_VALUE_INDEXED + 7), "é€"])


def _generated(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    docs = []
    for base in nested_documents(n, seed):
        doc = dict(base)
        doc["Resources"] = [{"Type": f"T{i}", "Id": f"r{i}", **({"Partition": "aws"}
                            if rng.random() < 0.5 else {}), **({"Region": "eu-west-1"}
                            if rng.random() < 0.5 else {}),
                             **({"Tags": {rng.choice("kl"): _text(rng) for _ in range(3)}}
                                if rng.random() < 0.5 else {})}
                            for i in range(rng.randint(1, 3))]
        if isinstance(base.get("Resources"), list) and base["Resources"] and \
                isinstance(base["Resources"][0], dict):
            doc["Resources"][0] = {**base["Resources"][0], **doc["Resources"][0]}
        if rng.random() < 0.6:
            doc["Types"] = [rng.choice(["a/b", "c/d/e", "a/b"]) for _ in range(rng.randint(0, 4))]
        else:                           # a checked finding's Types are strings
            doc.pop("Types", None)
        if rng.random() < 0.7:
            names = ["secpipe/Tool", "secpipe/RunId", "secpipe/Fingerprint", "x", "y"]
            doc["ProductFields"] = {k: _text(rng) for k in rng.sample(names, rng.randint(0, 5))}
        if rng.random() < 0.4:
            doc["UserDefinedFields"] = {k: _text(rng) for k in ("u", "v")[:rng.randint(0, 2)]}
        docs.append(doc)
    return docs


def test_side_rows_are_those_before() -> None:
    docs = list(rich_findings()) + _generated(2000, seed=15)
    assert sum(bool(_reference_of(d)[2]) for d in docs) > 1000
    for pk, doc in enumerate(docs, start=1):
        want = _reference_of(doc)
        assert side_rows_of(doc) == want, doc
        assert side_rows(pk, doc) == bind_side(pk, want), doc
        for got, exp in zip(side_rows(pk, doc), bind_side(pk, want)):
            assert [type(r) for r in got] == [type(r) for r in exp]
