"""Every AwsSecurityFindingFilters key, every comparison its kind allows, and sorting on every
single-valued key: GetFindings' answers against an independent evaluation
(tests/hub/filter_oracle.py) on ~300 varied findings, on SQLite and PostgreSQL.

The findings are imported once per backend through a real server (the `hub` fixture); every
case is asked of the store's `get_findings` (all pages), and a slice of them through the
unmodified boto3 client with its paginator. The oracle reads the documents as the hub stores
them (import fills in ProductName, Region, Severity.Normalized...).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from secpipe.hub import filterspec
from secpipe.hub.interface import InvalidInput
from tests.hub import filter_data, filter_oracle
from tests.hub.test_api_support import Hub, hub  # noqa: F401

botocore = pytest.importorskip("botocore")
from botocore.exceptions import ClientError  # noqa: E402


def _all(store: Any, filters: dict | None, sort: list | None = None, page: int = 100
         ) -> list[dict]:
    out, token = [], None
    while True:
        docs, token = store.get_findings(filters, sort, page, token)
        out.extend(docs)
        if not token:
            return out


@pytest.fixture(scope="module")
def loaded(hub: Hub) -> list[dict]:  # noqa: F811
    account = hub.store.account_id
    client = hub.client()
    docs = filter_data.findings(account=account)
    for i in range(0, len(docs), 100):
        answer = client.batch_import_findings(Findings=docs[i:i + 100])
        assert answer["FailedCount"] == 0, answer["FailedFindings"][:3]
    stored = _all(hub.store, None)
    assert len(stored) == len(docs)
    return stored


def test_every_filter_case_agrees_with_the_oracle(hub: Hub, loaded: list[dict]) -> None:  # noqa: F811
    wrong, cases = [], list(filter_oracle.cases(loaded))
    assert {label.split()[0] for label, _ in cases} == set(filterspec.KEYS)
    for label, filters in cases:
        try:
            got = sorted(d["Id"] for d in _all(hub.store, filters))
        except InvalidInput as exc:
            wrong.append((label, f"rejected: {exc}"))
            continue
        want = sorted(d["Id"] for d in loaded if filter_oracle.match(d, filters))
        if got != want:
            wrong.append((label, f"{len(got)} found, {len(want)} expected, e.g. "
                                 f"extra {sorted(set(got) - set(want))[:2]} "
                                 f"missing {sorted(set(want) - set(got))[:2]}"))
    assert not wrong, f"{len(wrong)} of {len(cases)} cases wrong:\n" + "\n".join(
        f"{a}: {b}" for a, b in wrong[:40])


def test_combined_keys_are_anded(hub: Hub, loaded: list[dict]) -> None:  # noqa: F811
    filters = {
        "ResourceType": [{"Comparison": "EQUALS", "Value": "AwsEc2Instance"}],
        "ResourceAwsEc2InstanceIpV4Addresses": [{"Cidr": "10.0.0.0/8"}],
        "SeverityLabel": [{"Comparison": "NOT_EQUALS", "Value": "LOW"}],
        "Title": [{"Comparison": "CONTAINS_WORD", "Value": "s3"}],
        "VulnerabilitiesFixAvailable": [{"Comparison": "NOT_EQUALS", "Value": "NO"}],
    }
    for drop in [None, *filters]:
        f = {k: v for k, v in filters.items() if k != drop}
        got = sorted(d["Id"] for d in _all(hub.store, f))
        assert got == sorted(d["Id"] for d in loaded if filter_oracle.match(d, f)), drop


def test_a_slice_through_boto3(hub: Hub, loaded: list[dict]) -> None:  # noqa: F811
    client = hub.client()
    cases = list(filter_oracle.cases(loaded))[::9]
    for label, filters in cases:
        got = []
        for page in client.get_paginator("get_findings").paginate(
                Filters=filters, PaginationConfig={"PageSize": 100}):
            got.extend(f["Id"] for f in page["Findings"])
        want = [d["Id"] for d in loaded if filter_oracle.match(d, filters)]
        assert sorted(got) == sorted(want), label


def _sort_value(doc: dict, key: str) -> Any:
    """The oracle's sort key: missing values first (ascending), labels by rank, dates as
    instants, ResourceId/ResourceType by the first resource."""
    if key in ("ResourceId", "ResourceType"):
        return (1, doc["Resources"][0][key[len("Resource"):]])
    kind, path = filter_oracle.PATHS.get(key, ("D", key))
    found = filter_oracle.get(doc, path)
    if kind == "B":
        return (1, bool(found and found[0]))       # an absent Sample is false
    if not found:
        return (0, 0)
    value = found[0]
    if key == "SeverityLabel":
        value = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"].index(value)
    elif kind == "D":
        value = filter_oracle.when(value)
    return (1, value)


SORT_KEYS = sorted({*filterspec.SORTABLE, "ResourceId", "ResourceType"})


def test_sortable_keys_are_every_single_valued_scalar() -> None:
    for key in ("Description", "NetworkDestinationPort", "SeverityProduct", "NoteUpdatedAt",
                "ProcessName", "Sample", "WorkflowState", "AwsAccountName"):
        assert key in SORT_KEYS
    assert "ResourceTags" not in SORT_KEYS and "MalwareName" not in SORT_KEYS


def test_sorting_on_every_sortable_key(hub: Hub, loaded: list[dict]) -> None:  # noqa: F811
    wrong = []
    for key in SORT_KEYS:
        for order in ("asc", "desc"):
            try:
                docs = _all(hub.store, None, [{"Field": key, "SortOrder": order}], page=37)
            except InvalidInput as exc:
                wrong.append(f"{key} {order}: rejected: {exc}")
                continue
            if sorted(d["Id"] for d in docs) != sorted(d["Id"] for d in loaded):
                wrong.append(f"{key} {order}: pages lost or repeated findings")
                continue
            values = [_sort_value(d, key) for d in docs]
            if values != sorted(values, reverse=order == "desc"):
                wrong.append(f"{key} {order}: out of order")
    assert not wrong, "\n".join(wrong)


def test_sorting_through_boto3_on_document_keys(hub: Hub, loaded: list[dict]) -> None:  # noqa: F811
    client = hub.client()
    for key in ("Description", "NetworkDestinationPort", "SeverityProduct", "NoteUpdatedAt"):
        got = []
        for page in client.get_paginator("get_findings").paginate(
                SortCriteria=[{"Field": key, "SortOrder": "desc"}],
                PaginationConfig={"PageSize": 50}):
            got.extend(page["Findings"])
        by_id = {d["Id"]: d for d in loaded}
        values = [_sort_value(by_id[f["Id"]], key) for f in got]
        assert len(got) == len(loaded) and values == sorted(values, reverse=True), key


@pytest.mark.parametrize("filters,message", [
    ({"MalwareName": [{"Comparison": "LIKE", "Value": "x"}]}, "Comparison must be one of"),
    ({"NetworkSourceIpV6": [{"Cidr": "2001:db8::/129"}]}, "not a valid CIDR"),
    ({"ProcessLaunchedAt": [{"End": "2024-13-45"}]}, "not an ISO 8601"),
    ({"ResourceDetailsOther": [{"Key": "k", "Comparison": "PREFIX", "Value": "v"}]},
     "EQUALS, NOT_EQUALS"),
    ({"Title": [{"Comparison": "CONTAINS_WORD", "Value": "x" * 257}]}, "a word"),
])
def test_bad_filters_are_invalid_input_exception(hub: Hub, loaded: list[dict],  # noqa: F811
                                                 filters: dict, message: str) -> None:
    with pytest.raises(ClientError) as err:
        hub.client().get_findings(Filters=filters)
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert message in err.value.response["Error"]["Message"]
    with pytest.raises(InvalidInput, match=message):
        hub.store.get_findings(filters)


def test_an_unknown_key_is_invalid_input(hub: Hub) -> None:  # noqa: F811
    """(boto3 refuses it before sending; another client would reach the hub.)"""
    with pytest.raises(InvalidInput, match="not a supported filter attribute"):
        hub.store.get_findings({"NoSuchKey": [{"Comparison": "EQUALS", "Value": "x"}]})


def test_date_range_older_than_is_not_within(hub: Hub, loaded: list[dict]) -> None:  # noqa: F811
    within = {d["Id"] for d in _all(hub.store, {"CreatedAt": [
        {"DateRange": {"Value": 10, "Unit": "DAYS", "Comparison": "WITHIN"}}]})}
    older = {d["Id"] for d in _all(hub.store, {"CreatedAt": [
        {"DateRange": {"Value": 10, "Unit": "DAYS", "Comparison": "OLDER_THAN"}}]})}
    assert within and older and not within & older
    assert within | older == {d["Id"] for d in loaded}
    assert datetime.now(timezone.utc)       # (the oracle computes "now" itself)


def test_the_column_keys_are_the_ones_query_answers_from_columns() -> None:
    from secpipe.hub import query

    assert filterspec.COLUMN_STRINGS == {*query.STRINGS, *query.SIDE_STRINGS}


def test_migration_0006_backfills_the_value_rows(tmp_path) -> None:
    """Findings stored before 0006 get their nested values indexed (kind "X" rows)."""
    import importlib

    from sqlalchemy import text

    from secpipe.hub import open_store

    backfill = importlib.import_module(
        "secpipe.hub.migrations.versions.0006_filters")._backfill
    store = open_store(tmp_path / "hub.db", account_id=filter_data.ACCOUNT)
    store.batch_import(filter_data.findings(60))
    filters = {"MalwareName": [{"Comparison": "EQUALS", "Value": "EICAR"}]}
    before = sorted(d["Id"] for d in _all(store, filters))
    with store.engine.begin() as conn:
        rows = conn.execute(text("SELECT finding_pk, key, v FROM finding_map "
                                 "WHERE kind = 'X' ORDER BY 1, 2, 3")).all()
        conn.execute(text("DELETE FROM finding_map WHERE kind = 'X'"))
    assert before and rows and _all(store, filters) == []   # the rows drive the filter
    with store.engine.begin() as conn:
        backfill(conn)
        assert conn.execute(text("SELECT finding_pk, key, v FROM finding_map WHERE kind = 'X' "
                                 "ORDER BY 1, 2, 3")).all() == rows
    assert sorted(d["Id"] for d in _all(store, filters)) == before
    store.close()


MB = 1024 * 1024
HOSTILE = [
    {"MalwareName": [{"Comparison": "EQUALS", "Value": "x" * MB}]},
    {"MalwareName": [{"Comparison": "PREFIX", "Value": "\"\\'" * 1000}]},
    {"NoteText": [{"Comparison": "CONTAINS_WORD", "Value": "(a+)+$[\\" * 30}]},
    {"Title": [{"Comparison": "CONTAINS_WORD", "Value": "x" * 256}]},
    {"ResourceDetailsOther": [{"Key": "k\"\\'" * 30000, "Comparison": "EQUALS", "Value": "v"}]},
    {"ResourceDetailsOther": [{"Key": "a", "Comparison": "NOT_CONTAINS", "Value": "%_" * 1000}]},
    {"Keyword": [{"Value": "y" * MB}]},
    {"ProcessPid": [{"Gte": 1e308, "Lte": -1e308}]},
    {"NetworkSourceIpV6": [{"Cidr": "::/0"}]},
]


@pytest.mark.parametrize("filters", HOSTILE, ids=[next(iter(f)) + str(i)
                                                  for i, f in enumerate(HOSTILE)])
def test_hostile_values_on_document_keys_are_answered(store, filters: dict) -> None:
    """Huge, quoted, regex-looking values reach SQL as data: an answer, never a DB error."""
    store.batch_import(filter_data.findings(20, account=store.account_id))
    docs, _ = store.get_findings(filters)
    assert [d["Id"] for d in docs] == [d["Id"] for d in docs if filter_oracle.match(d, filters)]
