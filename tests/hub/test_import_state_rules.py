"""BatchImportFindings' audit digests and automation rules after the import path stopped
re-reading what it wrote (SQLite and PostgreSQL).

- The audit row's `after` is now computed from the rows read for `before` with the written
  ones put in; it must equal what the old path computed, `audit.findings_state` read back from
  the store right after the call (and `before` what it read right before), for new, rewritten,
  ignored and refused findings, duplicate keys in one call and the same key in another
  partition.
- `rules_apply.load` reuses rules parsed from identical rows: a rule created, changed,
  disabled or deleted through another store on the same database applies (or stops applying)
  to the very next import, never a stale copy.
"""

from __future__ import annotations

import time
from typing import Any

from secpipe.hub import audit, rules_apply
from secpipe.hub.authz import Principal
from secpipe.hub.interface import Partition
from secpipe.hub.store import open_store
from tests.hub.builders import finding

CI = Principal("sigv4", "SPKCIKEY0000000000001", role="admin")
T0, T1, T2 = "2024-05-01T10:00:00.000Z", "2024-05-02T10:00:00.000Z", "2024-05-03T10:00:00.000Z"
WEST = Partition("123456789012", "us-west-2")


def _keys(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["Id"], d["ProductArn"]) for d in docs if isinstance(d.get("Id"), str)]


def _state(store, docs) -> str:
    with store._read() as conn:
        return audit.findings_state(conn, _keys(docs))


def _import_checked(store, docs, partition=None) -> dict[str, Any]:
    """One call; its audit row's digests against the old path's reads before and after."""
    before = _state(store, docs)
    result = store.batch_import(docs, principal=CI, partition=partition)
    row = next(r for r in store.audit_log(limit=5) if r["action"] == "BatchImportFindings")
    assert row["before"] == before
    assert row["after"] == _state(store, docs)
    return {"ok": result.success_count, "failed": len(result.failed), "row": row}


def test_after_digest_equals_the_state_read_back(store) -> None:
    store.enable_hub(partition=WEST)
    new = [finding(f"s-{n}", UpdatedAt=T0, CreatedAt=T0) for n in range(6)]
    got = _import_checked(store, new)
    assert got["ok"] == 6 and got["row"]["after"] and not got["row"]["before"]
    # the same documents again (ignored), newer versions of some, older of one, a new one,
    # a bad one and a key sent twice (the newer copy wins)
    again = _import_checked(store, new)
    assert again["row"]["after"] == again["row"]["before"] == got["row"]["after"]
    mixed = [finding("s-0", UpdatedAt=T1, CreatedAt=T0, Title="changed"),
             finding("s-1", UpdatedAt="2024-04-01T00:00:00.000Z", CreatedAt=T0),
             finding("s-2", UpdatedAt=T1, CreatedAt=T0, Title="first copy"),
             finding("s-2", UpdatedAt=T2, CreatedAt=T0, Title="second copy"),
             finding("s-new", UpdatedAt=T1, CreatedAt=T1),
             finding("s-bad", Severity={"Label": "NOPE"}),
             new[3]]
    got = _import_checked(store, mixed)
    assert got["failed"] == 1 and got["row"]["before"] != got["row"]["after"]
    # the same keys in another partition: both partitions' rows are in each digest
    west = _import_checked(store, [finding("s-0", UpdatedAt=T2, CreatedAt=T0, Region="us-west-2"),
                                   finding("s-5", UpdatedAt=T0, CreatedAt=T0, Region="us-west-2")],
                           partition=WEST)
    assert west["ok"] == 2 and west["row"]["before"]
    assert west["row"]["before"] != west["row"]["after"]
    back = _import_checked(store, [finding("s-0", UpdatedAt=T2, CreatedAt=T0, Title="east again"),
                                   finding("s-5", UpdatedAt=T0, CreatedAt=T0)])
    assert back["ok"] == 2


def test_written_state_puts_the_written_rows_in() -> None:
    before = {1: ("a", "arn", "{}"), 2: ("b", "arn", "{\"x\":1}")}
    assert audit.written_state(before, {}) is before
    after = audit.written_state(before, {2: ("b", "arn", "{\"x\":2}"), 7: ("c", "arn", "{}")})
    assert after == {1: ("a", "arn", "{}"), 2: ("b", "arn", "{\"x\":2}"), 7: ("c", "arn", "{}")}
    assert audit.state_digest([]) == "" and audit.state_digest(after.values(), 1) == \
        audit.digest(sorted(after.values()))


def _rule(store, name: str, order: int, fields: dict[str, Any], status: str = "ENABLED") -> str:
    return store.create_automation_rule({
        "RuleOrder": order, "RuleName": name, "Description": name, "RuleStatus": status,
        "Criteria": {"Title": [{"Value": "ruled ", "Comparison": "PREFIX"}]},
        "Actions": [{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": fields}]})


def _stored(store, fid: str) -> dict[str, Any]:
    found, _ = store.get_findings({"Id": [{"Value": fid, "Comparison": "EQUALS"}]})
    assert len(found) == 1
    return found[0]


def test_rules_changed_by_another_store_apply_to_the_next_import(store_url) -> None:
    first = open_store(store_url, account_id="123456789012")
    second = open_store(store_url, account_id="123456789012")
    try:
        def imported(n: int) -> dict[str, Any]:
            doc = finding(f"r-{n}", Title=f"ruled {n}", UpdatedAt=T0, CreatedAt=T0)
            assert first.batch_import([doc], principal=CI).success_count == 1
            return _stored(first, doc["Id"])

        assert imported(0).get("Confidence") is None          # no rule yet (and loaded so)
        arn = _rule(second, "conf", 5, {"Confidence": 41})
        assert imported(1)["Confidence"] == 41
        assert second.batch_update_automation_rules(
            [{"RuleArn": arn, "Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                                          "FindingFieldsUpdate": {"Confidence": 42}}]}])[0]
        assert imported(2)["Confidence"] == 42
        # an earlier rule in order now: its change lands first, the later one's after it
        _rule(second, "note", 1, {"Confidence": 7, "Note": {"Text": "seen", "UpdatedBy": "x"}})
        got = imported(3)
        assert got["Confidence"] == 42 and got["Note"]["Text"] == "seen"
        assert second.batch_update_automation_rules(
            [{"RuleArn": arn, "RuleStatus": "DISABLED"}])[0]
        got = imported(4)
        assert got["Confidence"] == 7 and got["Note"]["Text"] == "seen"
        rules, _ = second.list_automation_rules()
        second.batch_delete_automation_rules([r["RuleArn"] for r in rules])
        got = imported(5)
        assert got.get("Confidence") is None and "Note" not in got
        # a Note is stamped when the rules are loaded for an import, not when first parsed
        stamps = [_stored(first, f"r-{n}")["Note"]["UpdatedAt"] for n in (3, 4)]
        assert stamps[0] < stamps[1]
    finally:
        first.close()
        second.close()


def test_parsed_rules_are_reused_only_for_identical_timeless_rows(store) -> None:
    _rule(store, "conf", 5, {"Confidence": 41})
    with store._read() as conn:
        one = rules_apply.load(conn, partition=store.partition)
        two = rules_apply.load(conn, partition=store.partition)
        every = rules_apply.load(conn)
    assert one.rules == two.rules and one.rules[0] is two.rules[0] and one is not two
    assert one.rules[0].region is None and every.rules[0].region == store.region
    # parsed on every load: a Note's stamp and a DateRange's edge are the load's "now"
    rules, _ = store.list_automation_rules()
    store.batch_delete_automation_rules([r["RuleArn"] for r in rules])
    _rule(store, "note", 1, {"Note": {"Text": "t", "UpdatedBy": "x"}})
    store.create_automation_rule({
        "RuleOrder": 2, "RuleName": "recent", "Description": "d",
        "Criteria": {"UpdatedAt": [{"DateRange": {"Value": 3, "Unit": "DAYS"}}]},
        "Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                     "FindingFieldsUpdate": {"Confidence": 3}}]})
    with store._read() as conn:
        one = rules_apply.load(conn, partition=store.partition)
        time.sleep(0.002)
        two = rules_apply.load(conn, partition=store.partition)
    assert [r.arn for r in one.rules] == [r.arn for r in two.rules]
    assert all(a is not b for a, b in zip(one.rules, two.rules))
    assert one.rules[0].changes["Note"]["UpdatedAt"] < two.rules[0].changes["Note"]["UpdatedAt"]
