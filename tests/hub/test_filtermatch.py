"""`filtermatch.matches` against the independent evaluation (tests/hub/filter_oracle.py) on
~300 varied findings, for every filter key and every comparison its kind allows; the key
table against botocore's model; the validation errors."""

from __future__ import annotations

import pytest

from secpipe.hub import filtermatch, filterspec
from secpipe.hub.interface import InvalidInput
from secpipe.hub.validate import normalize
from tests.hub import filter_data, filter_oracle

# as import fills them in (ProductName, Region, Severity.Normalized...): what rules will see
DOCS = [normalize(d) for d in filter_data.findings()]
CASES = list(filter_oracle.cases(DOCS))


def test_the_key_table_is_botocores_filter_list() -> None:
    model = filterspec.model_filter_kinds()
    assert set(model) == set(filterspec.KEYS), "keys AWS has and the table lacks, or stale"
    assert {k: s.kind for k, s in filterspec.KEYS.items()} == model
    assert set(filter_oracle.PATHS) == set(model)      # the test covers every key


def test_every_key_and_comparison_is_exercised() -> None:
    covered = {label.split()[0] for label, _ in CASES}
    assert covered == set(filterspec.KEYS)
    comps = {f[k][0].get("Comparison") for _, f in CASES for k in f}
    assert {"CONTAINS_WORD", "PREFIX_NOT_EQUALS", "NOT_CONTAINS"} <= comps


@pytest.mark.parametrize("label,filters", CASES, ids=[c[0] for c in CASES])
def test_matches_agrees_with_the_independent_evaluation(label: str, filters: dict) -> None:
    got = [d["Id"] for d in DOCS if filtermatch.matches(filters, d)]
    want = [d["Id"] for d in DOCS if filter_oracle.match(d, filters)]
    assert got == want


def test_nonempty_results_for_most_cases() -> None:
    """The generated data is rich enough that most positive filters select something (else
    the comparison above would be vacuous)."""
    positive = [(label, f) for label, f in CASES if "no such" not in label
                and "NOT" not in label and not any(c in label for c in ("/48", "/32", "/0"))]
    empty = [label for label, f in positive if not any(filter_oracle.match(d, f) for d in DOCS)]
    assert len(empty) < len(positive) // 20, empty


def test_combined_attributes_are_anded() -> None:
    filters = {"ResourceType": [{"Comparison": "EQUALS", "Value": "AwsEc2Instance"}],
               "NetworkDestinationPort": [{"Gte": 443}]}
    got = {d["Id"] for d in DOCS if filtermatch.matches(filters, d)}
    assert got == {d["Id"] for d in DOCS if filter_oracle.match(d, filters)}


@pytest.mark.parametrize("filters,message", [
    ({"NoSuchKey": [{"Comparison": "EQUALS", "Value": "x"}]}, "not a supported filter"),
    ({"Title": [{"Comparison": "LIKE", "Value": "x"}]}, "Comparison must be one of"),
    ({"Title": [{"Comparison": "EQUALS", "Value": "x"}, {"Comparison": "NOT_EQUALS",
                                                         "Value": "y"}]}, "cannot be combined"),
    ({"NetworkSourceIpV4": [{"Cidr": "10.0.0.0/33"}]}, "not a valid CIDR"),
    ({"NoteUpdatedAt": [{"Start": "yesterday"}]}, "not an ISO 8601"),
    ({"NoteUpdatedAt": [{"DateRange": {"Value": 3, "Unit": "DAYS", "Comparison": "AFTER"}}]},
     "WITHIN or OLDER_THAN"),
    ({"ProcessPid": [{"Gte": "3"}]}, "must be a number"),
    ({"Sample": [{"Value": "true"}]}, "must be a boolean"),
    ({"ResourceDetailsOther": [{"Key": "a", "Comparison": "PREFIX", "Value": "b"}]},
     "EQUALS, NOT_EQUALS"),
    ({"Keyword": [{"Value": ""}]}, "non-empty"),
])
def test_bad_filters_are_invalid_input(filters: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        filtermatch.matches(filters, DOCS[0])
