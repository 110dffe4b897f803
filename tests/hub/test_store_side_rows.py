"""Side-table rows built ahead by `bulk_import`'s checking thread (`validate.side_rows_of`,
bound to the pk by the writer) must be exactly the rows of the document as stored, as those
`batch_import` builds in the writer: on both databases, and also when an automation rule
changes the document between the checks and the write."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from secpipe.hub.common import loads
from secpipe.hub.schema import finding_map, finding_resources, finding_types, findings
from secpipe.hub.validate import side_rows
from tests.hub.filter_data import findings as rich_findings


def _side_tables(store) -> tuple[dict[int, dict[str, Any]], set, set, set]:
    with store.engine.connect() as conn:
        docs = {pk: loads(doc) for pk, doc in conn.execute(select(findings.c.pk, findings.c.doc))}
        types = {tuple(r) for r in conn.execute(select(finding_types))}
        res = {tuple(r) for r in conn.execute(select(finding_resources))}
        maps = {tuple(r) for r in conn.execute(select(finding_map))}
    return docs, types, res, maps


def _expected(docs: dict[int, dict[str, Any]]) -> tuple[set, set, set]:
    types, res, maps = set(), set(), set()
    for pk, doc in docs.items():
        t, r, m = side_rows(pk, doc)
        types.update(t)
        res.update(r)
        maps.update(m)
    return types, res, maps


def _columns_match(store) -> None:
    docs, *got = _side_tables(store)
    want = _expected(docs)
    for name, g, w in zip(("types", "resources", "map"), got, want):
        assert g == w, name


def test_bulk_and_batch_import_store_the_side_rows_of_the_stored_documents(store) -> None:
    docs = rich_findings(240)
    result = store.bulk_import(docs[:200], batch_size=64)
    assert not result.failed
    for i in range(200, 240, 20):
        assert not store.batch_import(docs[i:i + 20]).failed
    _columns_match(store)


def test_a_rule_that_changes_side_inputs_is_seen_in_the_side_tables(store) -> None:
    store.create_automation_rule({
        "RuleOrder": 1, "RuleName": "tag", "Description": "adds side inputs",
        "Criteria": {},
        "Actions": [{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {
            "UserDefinedFields": {"team": "payments"},
            "Types": ["Software and Configuration Checks/Ruled"]}}]})
    docs = rich_findings(30)
    assert not store.bulk_import(docs, batch_size=10).failed
    _columns_match(store)
    got = store.get_findings({"UserDefinedFields": [
        {"Key": "team", "Value": "payments", "Comparison": "EQUALS"}]}, max_results=100)[0]
    assert len(got) == len({(d["Id"], d["ProductArn"]) for d in docs})
    typed = store.count_findings({"Type": [
        {"Value": "Software and Configuration Checks/Ruled", "Comparison": "EQUALS"}]})
    assert typed == len(got)
