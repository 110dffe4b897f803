"""A creation's rows prepared by `bulk_import`'s checking thread (`secpipe.hub.prepared`) and
written with the pk added by SQLite (`bulk.insert_offset`) are exactly the rows the writer
builds itself: compared table by table with BatchImportFindings calls (the slow path), with
the prepared path proven taken, and its fallbacks (a workflow flip, a rule, a screened or
refused finding, an update) proven to still store the same rows."""

from __future__ import annotations

import sqlite3

import pytest

from secpipe.hub import bulk, importer, overlap, prepared
from tests.hub.builders import T0, finding
from tests.hub.test_store_bulk_parts import rows, second_url  # noqa: F401  (a fixture)

T1 = "2024-05-02T10:00:00.000Z"


def creations(n: int, stamp: str = T0, flips: bool = False) -> list[dict]:
    """Findings exercising every side table (values cut to the indexed width, several
    resources, product and user-defined fields, repeated types) and a few refusals."""
    docs = []
    for i in range(n):
        extra: dict = {"UpdatedAt": stamp, "Types": [
            "Software and Configuration Checks/Vulnerabilities/CVE",
            "Software and Configuration Checks/Vulnerabilities/CVE",
            f"Effects/Data Exposure/{i % 7}"][: 1 + i % 3]}
        if i % 3 == 0:
            extra["Resources"] = [
                {"Type": "Container", "Id": f"img{i}", "Tags": {"team": "a", "long": "x" * 256}},
                {"Type": "Other", "Id": f"res{i}", "Tags": {"team": "b"}, "Partition": "aws",
                 "Region": "eu-west-1"}]
        if i % 4 == 0:
            extra["ProductFields"] = {"secpipe/Tool": f"t{i % 3}", "big": "y" * 400,
                                      "secpipe/Fingerprint": f"fp{i}"}
        if i % 5 == 0:
            extra["UserDefinedFields"] = {"owner": f"o{i % 4}", "note": "z" * 300}
        if i % 6 == 0:
            extra["Confidence"] = 80
            extra["Compliance"] = {"Status": "FAILED"}
        if i % 29 == 0:
            extra["Title"] = None                             # refused (FailedFindings)
        if flips and i % 13 == 0:
            extra["RecordState"] = "ARCHIVED"                 # born RESOLVED: a flip
        docs.append(finding(f"c{i:05d}", **extra))
    return docs


@pytest.fixture
def counted(monkeypatch):
    """How many writes created from prepared rows and how many built them."""
    seen = {"prepared": 0, "built": 0}
    real_prepared, real_built = importer._create_prepared, importer._create

    def spy_prepared(*args, **kwargs):
        seen["prepared"] += 1
        return real_prepared(*args, **kwargs)

    def spy_built(*args, **kwargs):
        seen["built"] += 1
        return real_built(*args, **kwargs)

    monkeypatch.setattr(importer, "_create_prepared", spy_prepared)
    monkeypatch.setattr(importer, "_create", spy_built)
    return seen


def _same_as_slow(store, slow, docs, counted, batch_size=300):
    """Bulk-import `docs` into `store` and in calls of 100 into `slow`; `counted` is left
    with the bulk import's counts alone."""
    counted.update(prepared=0, built=0)
    fast = store.bulk_import(docs, batch_size=batch_size)
    seen = dict(counted)
    ok, failed = 0, []
    for i in range(0, len(docs), 100):
        r = slow.batch_import(docs[i:i + 100])
        ok += r.success_count
        failed += r.failed
    assert fast.success_count == ok
    assert sorted(f["Id"] for f in fast.failed) == sorted(f["Id"] for f in failed)
    assert rows(store) == rows(slow)
    counted.update(seen)


def test_prepared_creations_store_the_rows_of_the_slow_path(store, second_url,  # noqa: F811
                                                            counted, monkeypatch):
    from secpipe.hub.store import open_store

    monkeypatch.setattr(overlap, "PART", 64)
    slow = open_store(second_url, account_id="123456789012")
    try:
        _same_as_slow(store, slow, creations(500), counted)
        if store.dialect == "sqlite":
            assert counted["prepared"] > 0 and counted["built"] == 0
        # updates of every finding (no creation) and new ones beside them
        _same_as_slow(store, slow, creations(600, T1), counted)
        if store.dialect == "sqlite":
            assert counted["prepared"] > 0          # the parts holding only new keys
    finally:
        slow.close()


def test_a_part_with_a_workflow_flip_builds_its_rows(store, second_url,  # noqa: F811
                                                     counted, monkeypatch):
    from secpipe.hub.store import open_store

    monkeypatch.setattr(overlap, "PART", 10)
    slow = open_store(second_url, account_id="123456789012")
    try:
        _same_as_slow(store, slow, creations(200, flips=True), counted)
        if store.dialect == "sqlite":
            assert counted["prepared"] > 0 and counted["built"] > 0
    finally:
        slow.close()


def test_an_enabled_rule_builds_the_rows(store, counted):
    from tests.hub.test_store_side_rows import _columns_match

    store.create_automation_rule({
        "RuleOrder": 1, "RuleName": "tag", "Description": "changes side inputs",
        "Criteria": {}, "Actions": [{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {
            "UserDefinedFields": {"team": "payments"}}}]})
    result = store.bulk_import(creations(150), batch_size=64)
    assert result.success_count == 150 - 6 and counted["prepared"] == 0
    _columns_match(store)                     # the side rows of the documents as ruled
    got, _ = store.get_findings({"Id": [{"Value": "c00001", "Comparison": "EQUALS"}]})
    assert got[0]["UserDefinedFields"] == {"team": "payments"}


def test_prepared_rows_are_used_only_in_part_order():
    docs = creations(4)[1:]
    good, failed = importer.check_all(docs, {}, side=True)
    assert failed == [] and [it.prep.idx for it in good] == [0, 1, 2]
    assert prepared.usable(good, ruled=False)
    assert not prepared.usable(good, ruled=True)
    assert not prepared.usable(good[1:], ruled=False)         # one screened out before
    assert not prepared.usable([good[0], good[2]], ruled=False)
    assert not prepared.usable(good[::-1], ruled=False)
    plain, _ = importer.check_all(docs, {})                   # not asked for: none built
    assert all(it.prep is None for it in plain) and not prepared.usable(plain, False)
    flip, _ = importer.check_all([finding("x", RecordState="ARCHIVED")], {}, side=True)
    assert flip[0].prep is None


@pytest.mark.parametrize("rows_per", [1, 3, 2048])
def test_insert_offset_adds_the_base_in_sql(rows_per, monkeypatch):
    from sqlalchemy import create_engine

    monkeypatch.setattr(bulk, "_SQLITE_ROWS", rows_per)
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (pk INTEGER, k TEXT, v TEXT)")
        flat = [v for i in range(7) for v in (i % 3, f"k{i}", None if i % 2 else "v")]
        bulk.insert_offset(conn, "t", ("pk", "k", "v"), 40, flat)
        got = [tuple(r) for r in conn.exec_driver_sql("SELECT pk, typeof(pk), k, v FROM t")]
    assert got == [(40 + i % 3, "integer", f"k{i}", None if i % 2 else "v") for i in range(7)]
    assert sqlite3.sqlite_version_info >= (3, 0, 0)
