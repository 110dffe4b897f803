"""`validate_fast.surely_valid` is a sufficient condition of `validate_asff` finding nothing:
where it says True, `validate_asff` returns no problem, and `validate.check` gives the same
document or the same BadFinding message with the fast path as without it. Checked on the
filter fixtures (valid, rich documents) and on documents with members replaced by generated
values near every limit and of every JSON type (mostly invalid ones, which must still be
refused with the same words)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secpipe.hub import validate
from secpipe.hub.validate import BadFinding, check
from secpipe.hub.validate_fast import surely_valid
from secpipe.model.asff import validate_asff
from tests.hub.filter_data import findings

DOCS = findings(60)


def _slow(obj: Any) -> Any:
    """`check` without the fast path."""
    real = validate.surely_valid
    validate.surely_valid = lambda doc: False
    try:
        return _outcome(obj)
    finally:
        validate.surely_valid = real


def _outcome(obj: Any) -> Any:
    """`check`'s answer from `surely_valid` on (validate_plain's one pass, which would answer
    first, has its own test: test_validate_plain.py)."""
    plain = validate._plain_check
    validate._plain_check = lambda obj: None
    try:
        return check(obj)
    except BadFinding as exc:
        return ("refused", str(exc))
    finally:
        validate._plain_check = plain


def _agree(obj: Any) -> None:
    normalized = None
    try:
        validate.check_types(obj)
        normalized = validate.normalize(obj)
    except (BadFinding, Exception):
        pass
    if normalized is not None and surely_valid(normalized):
        assert validate_asff(normalized) == []
    assert _outcome(copy.deepcopy(obj)) == _slow(copy.deepcopy(obj))


def test_every_fixture_takes_the_fast_path_and_agrees() -> None:
    for doc in DOCS:
        assert surely_valid(validate.normalize(doc))
        _agree(doc)


def _text(n: int) -> str:
    return "a" * n


LIMIT_TEXTS = st.sampled_from([0, 1, 12, 64, 65, 128, 256, 257, 512, 513, 1024, 1025]).map(_text)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 200), st.floats(allow_nan=False), LIMIT_TEXTS,
    st.text(max_size=20),
    st.sampled_from(["123456789012", "12345678901", "１２３４５６７８９０１２", "2024-01-01T00:00:00Z",
                     "2024-01-01T00:00:00.5+02:00", "2024-01-01 00:00:00", "2024-01-01T00:00:00Z\n",
                     "HIGH", "high", "CRITICAL", "Software and Configuration Checks/Vulns",
                     "Nope/x", "Effects/a/b/c", "TTPs", "ACTIVE", "NEW"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["Type", "Id", "Label", "Original", "Text", "Status",
                                     "Recommendation", "Url", "k"]), inner, max_size=4)),
    max_leaves=8)
PATHS = [("Id",), ("GeneratorId",), ("Title",), ("Description",), ("AwsAccountId",),
         ("SchemaVersion",), ("ProductArn",), ("CreatedAt",), ("UpdatedAt",),
         ("FirstObservedAt",), ("LastObservedAt",), ("Severity",), ("Severity", "Label"),
         ("Severity", "Original"), ("Severity", "Normalized"), ("Types",), ("Types", 0),
         ("Resources",), ("Resources", 0), ("Resources", 0, "Type"), ("Resources", 0, "Id"),
         ("Remediation",), ("Remediation", "Recommendation"),
         ("Remediation", "Recommendation", "Text"), ("Note",), ("Note", "Text"),
         ("ProductFields",), ("Workflow",), ("RecordState",)]


def _set(doc: dict, path: tuple, value: Any, delete: bool) -> None:
    node: Any = doc
    for step in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(step, {})
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return
    last = path[-1]
    if isinstance(node, dict):
        if delete:
            node.pop(last, None)
        else:
            node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value


EDGES = ([_text(n) for n in (0, 1, 11, 12, 13, 64, 65, 128, 129, 256, 257, 512, 513, 1024, 1025)]
         + [None, True, 0, 7, 1.5, [], {}, ["x"], {"Text": "t"}, "HIGH", "123456789012",
            "１２３４５６７８９０１２", "2024-01-01T00:00:00Z\n", "Nope/x", "TTPs/a/b/c", "Effects/a"])


def test_every_member_at_every_edge_gets_the_same_verdict_and_words() -> None:
    for path in PATHS:
        for value in EDGES:
            for delete in (False, True):
                doc = copy.deepcopy(DOCS[len(path) % len(DOCS)])
                _set(doc, path, copy.deepcopy(value), delete)
                _agree(doc)
                if delete:
                    break


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(DOCS) - 1),
       st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(LIMIT_TEXTS, VALUES),
                          st.booleans()), min_size=1,
                max_size=3))
def test_mutated_documents_get_the_same_verdict_and_words(i: int, edits: list) -> None:
    doc = copy.deepcopy(DOCS[i])
    for path, value, delete in edits:
        _set(doc, path, value, delete)
    _agree(doc)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([p[0] for p in PATHS]), VALUES, max_size=12))
def test_generated_documents_get_the_same_verdict_and_words(doc: dict) -> None:
    _agree(doc)


@pytest.mark.parametrize("label", [["HIGH"], {"x": 1}])
def test_an_unhashable_label_is_left_to_validate_asff(label: Any) -> None:
    doc = copy.deepcopy(DOCS[0])
    doc["Severity"] = {"Label": label}
    assert not surely_valid(doc)
    _agree(doc)
