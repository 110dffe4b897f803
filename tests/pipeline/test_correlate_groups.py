"""The secrets' grouping of `pipeline.correlate` holds a lone member as its index, not a list
(memory at the run's correlation's peak). Same issues and related Ids as a list per key: the
former `_secrets`, kept here as the reference, on generated secret findings where values,
files, lines, SHA-1-only reports and history findings collide in every way."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import pytest
from hypothesis import given, settings, strategies as st

from secpipe.model import Finding
from secpipe.pipeline import correlate as corr
from tests.pipeline.former_secret_index import FormerSecretValues, former_value_key
from tests.pipeline.test_correlate import _correlate, _secret

VALUES = ["AKIAQ7TESTW3XKEY9ZD2", "q8Vf2LrT0wXz5mNcB7yHk3JdP9sG4aE1", "Q7TESTW3XKEY",
          "ghp_made_up_token_000000000000000000", "hunter2hunter2"]


def _reference(findings: Sequence[Finding], idx: Sequence[int], uf: "corr._UnionFind",
               values: "corr.SecretValues") -> None:
    """`_secrets` before the lone member's index: a list per value and per (path, line), over
    the former index of the values (tests/pipeline/former_secret_index.py; the joining of a
    line's members, which did not change, is the module's own)."""
    index = FormerSecretValues(values.values)
    clear: list[str | None] = [None] * len(findings)
    by_value: dict[object, list[int]] = {}
    for i in idx:
        key, clear[i] = former_value_key(findings[i], index)
        if key is not None:
            by_value.setdefault(key, []).append(i)
    for members in by_value.values():
        uf.join(members)
    by_line: dict[tuple[str, int], list[int]] = {}
    for i in idx:
        f = findings[i]
        loc = f.location
        if loc is None or not loc.start_line or f.properties.get("commit"):
            continue
        by_line.setdefault((loc.path, loc.start_line), []).append(i)
    for members in by_line.values():
        if len(members) >= 2:
            corr._same_line(members, clear, uf)   # one line's joining: unchanged, shared


_one = st.tuples(st.sampled_from(["trufflehog3", "detect-secrets", "kingfisher"]),
                 st.sampled_from([*VALUES, None]), st.sampled_from(["a.py", "b.py", "c/d.tf"]),
                 st.integers(0, 4), st.booleans(), st.booleans())


def _findings(spec: list[tuple[str, str | None, str, int, bool, bool]]) -> list[Finding]:
    out = []
    for tool, value, path, line, sha1, history in spec:
        f = _secret(tool, f"rule-{tool}", value, line=line, path=path, sha1=sha1 and bool(value))
        out.append(replace(f, properties={**f.properties, "commit": "c0ffee"}) if history else f)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(_one, max_size=14), st.lists(st.sampled_from(VALUES), max_size=5))
def test_same_issues_as_a_list_per_key(spec, seen) -> None:
    findings = _findings(spec)
    got = [(f.issue_key, f.related) for f in _correlate(list(findings), seen)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corr, "_secrets", _reference)
        want = [(f.issue_key, f.related) for f in _correlate(list(findings), seen)]
    assert got == want


def test_a_lone_member_is_its_index_and_the_order_is_the_first_members() -> None:
    groups: dict[object, int | list[int]] = {}
    for key, i in [("b", 0), ("a", 1), ("b", 2), ("c", 3), ("b", 4), ("a", 5)]:
        corr._group(groups, key, i)
    assert groups == {"b": [0, 2, 4], "a": [1, 5], "c": 3}
    assert list(groups) == ["b", "a", "c"]
