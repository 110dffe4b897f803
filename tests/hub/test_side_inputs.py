"""`validate.side_inputs`: the importer skips rebuilding a re-imported finding's side rows
(finding_types, finding_resources, finding_map) when its side inputs are unchanged. That is only
right if every member side_rows reads is among the side inputs: changing any other member of a
rich document must leave side_rows as they were, and changing a side input must be seen."""

from __future__ import annotations

import copy

from secpipe.hub.validate import UNINDEXED_PRODUCT_FIELDS, side_inputs, side_rows
from tests.hub.filter_data import findings


def _other(value: object) -> object:
    """A different value of the same shape (strings changed everywhere inside)."""
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, dict):
        return {k: _other(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_other(v) for v in value] + ([_other(value[0])] if value else [])
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return value


def test_members_outside_the_side_inputs_never_change_side_rows() -> None:
    docs = findings(120)
    checked = 0
    for doc in docs:
        for member in doc:
            changed = copy.deepcopy(doc)
            changed[member] = _other(doc[member])
            if side_inputs(changed) == side_inputs(doc):
                assert side_rows(7, changed) == side_rows(7, doc), member
                checked += 1
            changed = copy.deepcopy(doc)
            del changed[member]
            if side_inputs(changed) == side_inputs(doc):
                assert side_rows(7, changed) == side_rows(7, doc), member
    assert checked > 0


def test_a_changed_side_input_is_seen() -> None:
    docs = findings(60)
    for doc in docs:
        rows = side_rows(7, doc)
        for member in doc:
            changed = copy.deepcopy(doc)
            changed[member] = _other(doc[member])
            if side_rows(7, changed) != rows:
                assert side_inputs(changed) != side_inputs(doc), member


def test_unindexed_product_fields_are_not_side_inputs() -> None:
    doc = copy.deepcopy(findings(1)[0])
    doc.setdefault("ProductFields", {})
    before = side_inputs(doc)
    for name in UNINDEXED_PRODUCT_FIELDS:
        doc["ProductFields"][name] = "run-specific"
    assert side_inputs(doc) == before
    doc["ProductFields"]["secpipe/Stage"] = "other"
    assert side_inputs(doc) != before
