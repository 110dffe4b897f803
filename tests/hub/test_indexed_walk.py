"""`filtermatch.indexed_values` walks every nested path of a document as one trie (the import
path's speed): its rows must be exactly those of walking each key's path on its own
(`_leaves_at`, the definition), for documents holding every value-indexed path, their twins
and Details.Other, with values of every JSON type, lists where maps belong and the reverse."""

from __future__ import annotations

import random
from typing import Any

from secpipe.hub import filterspec as fs
from secpipe.hub import filtermatch as fm


def reference(doc: dict[str, Any], limit: int) -> dict[tuple[str, str, str], str | None]:
    """indexed_values as specified: one walk per key (and per twin), then the Other map."""
    out: dict[tuple[str, str, str], str | None] = {}
    for key in fs.VALUE_INDEXED:
        leaves = fm._leaves_at(doc, fm._steps(key))
        if key in fs.TWINS:
            twin = fm._leaves_at(doc, fm._steps(fs.TWINS[key]))
            if {v for v in leaves if type(v) is str} == {v for v in twin if type(v) is str}:
                continue
            out[(fs.DIVERGENT_KIND, key, "")] = None
        for leaf in leaves:
            v = fm.encode(fs.KEYS[key].kind, leaf)
            if v is not None:
                out[(fs.VALUE_KIND, key, v[:limit])] = None
    if "Resources" in doc:
        for other in fm._leaves_at(doc, fm._steps(fs.OTHER_KEY)):
            if type(other) is dict:
                for k, v in other.items():
                    if type(v) is str and type(k) is str and len(k) <= fs.OTHER_KEY_MAX:
                        out.setdefault((fs.OTHER_KIND, k, v[:limit]),
                                       v if len(v) > limit else None)
    return out


def leaf(rng: random.Random) -> Any:
    return rng.choice(["", "a", "b" * 40, "2024-05-01T10:00:00Z", "10.0.0.1", "::1", 0, 7.5,
                       -3, True, None, ["a", "b"], {"k": "v"}, 1e308 * 10])


def put(doc: dict[str, Any], steps: tuple[tuple[str, bool], ...], rng: random.Random) -> None:
    """Set a value at `steps` (lists of one to three elements where the path has `[]`)."""
    node: Any = doc
    for i, (name, many) in enumerate(steps):
        last = i == len(steps) - 1
        if type(node) is not dict:
            return
        if rng.random() < 0.05:          # the wrong shape here: a leaf instead of a container
            node[name] = leaf(rng)
            return
        if many:
            items = node.get(name)
            if type(items) is not list:
                items = node[name] = [leaf(rng) if last else {}
                                      for _ in range(rng.randint(1, 3))]
            node = rng.choice(items)
            if last:
                return
        elif last:
            node[name] = leaf(rng)
        else:
            node = node.setdefault(name, {})


def documents(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    paths = [fm._steps(k) for k in fs.VALUE_INDEXED]
    paths += [fm._steps(t) for t in fs.TWINS.values()] + [fm._steps(fs.OTHER_KEY)]
    docs = []
    for _ in range(n):
        doc: dict[str, Any] = {}
        for steps in rng.sample(paths, rng.randint(0, min(len(paths), 12))):
            put(doc, steps, rng)
        for other in fm._leaves_at(doc, fm._steps(fs.OTHER_KEY)):
            if type(other) is dict and rng.random() < 0.7:
                other.update({"k": "v", "long": "x" * 300, "n": 5, "k" * 200: "too long key"})
        if rng.random() < 0.3:            # FindingProviderFields as import fills it in
            doc["FindingProviderFields"] = {k: doc[k] for k in ("Severity", "Types")
                                            if k in doc}
        docs.append(doc)
    return docs


def test_trie_walk_gives_the_per_key_rows() -> None:
    docs = documents(3000, seed=5)
    assert sum(bool(reference(d, 256)) for d in docs) > 2000      # the documents have rows
    for doc in docs:
        assert fm.indexed_values(doc, 256) == reference(doc, 256), doc
        assert fm.indexed_values(doc, 4) == reference(doc, 4), doc


def test_plain_findings_keep_their_rows() -> None:
    doc = {"Severity": {"Label": "HIGH", "Product": 7}, "Types": ["a/b"],
           "FindingProviderFields": {"Severity": {"Label": "LOW"}, "Types": ["a/b"]},
           "Resources": [{"Type": "Other", "Id": "r", "Details": {"Other": {"k": "v"}}}]}
    rows = fm.indexed_values(doc, 256)
    assert rows == reference(doc, 256)
    assert (fs.OTHER_KIND, "k", "v") in rows
    assert (fs.DIVERGENT_KIND, "FindingProviderFieldsSeverityLabel", "") in rows
    assert not any(k[1] == "FindingProviderFieldsTypes" for k in rows)
