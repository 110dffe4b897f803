"""Automation rules through the unmodified boto3 client against the real server, on SQLite and
PostgreSQL: CRUD, rule order, IsTerminal, every FINDING_FIELDS_UPDATE field applied on import
(new findings and provider updates), the 100-rule quota, and who may manage rules.

Each test's rules match only its own findings (a Title prefix of its own) and are deleted at the
end, so the tests share one server without applying each other's rules.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from tests.hub.test_api_support import Hub, hub, iso, make_finding, signed_request  # noqa: F401

botocore = pytest.importorskip("botocore")
from botocore.exceptions import ClientError  # noqa: E402

UPDATE_ALL = {
    "Workflow": {"Status": "SUPPRESSED"},
    "Severity": {"Label": "CRITICAL"},
    "Note": {"Text": "accepted risk, see TICKET-7", "UpdatedBy": "secops"},
    "Types": ["Software and Configuration Checks/Vulnerabilities/CVE"],
    "Confidence": 77,
    "Criticality": 88,
    "UserDefinedFields": {"team": "payments", "secpipe:ExpiresAt": "2999-01-01T00:00:00Z"},
    "VerificationState": "BENIGN_POSITIVE",
    "RelatedFindings": [{"ProductArn": "arn:aws:securityhub:us-east-1::product/x/y",
                         "Id": "related-1"}],
}


def _finding(prefix: str, n: int, **kw: Any) -> dict[str, Any]:
    return make_finding(prefix, n, title=f"{prefix} finding {n}", **kw)


def _title(prefix: str) -> dict[str, Any]:
    return {"Title": [{"Value": f"{prefix} ", "Comparison": "PREFIX"}]}


def _rule(client, prefix: str, order: int, fields: dict[str, Any], *, name: str = "r",
          terminal: bool = False, criteria: dict | None = None, **kw: Any) -> str:
    return client.create_automation_rule(
        RuleOrder=order, RuleName=name, Description=f"{prefix} rule {name}",
        Criteria=criteria if criteria is not None else _title(prefix), IsTerminal=terminal,
        Actions=[{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": fields}], **kw,
    )["RuleArn"]


@pytest.fixture
def rules(hub: Hub) -> Iterator[list[str]]:
    """ARNs a test creates; deleted afterwards whatever happened."""
    made: list[str] = []
    yield made
    for i in range(0, len(made), 100):
        hub.client().batch_delete_automation_rules(AutomationRulesArns=made[i:i + 100])


def _get(client, finding: dict[str, Any]) -> dict[str, Any]:
    found = client.get_findings(Filters={"Id": [{"Value": finding["Id"],
                                                 "Comparison": "EQUALS"}]})["Findings"]
    assert len(found) == 1, found
    return found[0]


def test_crud_tags_order_and_paging(hub: Hub, rules: list[str]) -> None:
    client = hub.client()
    second = _rule(client, "crud", 20, {"Confidence": 5}, name="second",
                   Tags={"owner": "secops"})
    first = _rule(client, "crud", 10, {"Confidence": 6}, name="first", RuleStatus="DISABLED")
    rules += [second, first]
    assert second.startswith("arn:aws:securityhub:us-east-1:000000000000:automation-rule/")
    got = client.batch_get_automation_rules(AutomationRulesArns=[second, "arn:nope"])
    [rule] = got["Rules"]
    assert rule["RuleArn"] == second and rule["RuleOrder"] == 20 and rule["RuleName"] == "second"
    assert rule["RuleStatus"] == "ENABLED" and rule["IsTerminal"] is False
    assert rule["Criteria"] == _title("crud")
    assert rule["Actions"][0]["FindingFieldsUpdate"] == {"Confidence": 5}
    assert rule["CreatedBy"] == hub.key_id and rule["CreatedAt"] and rule["UpdatedAt"]
    assert got["UnprocessedAutomationRules"][0]["RuleArn"] == "arn:nope"
    assert hub.store.automation_rule_tags(second) == {"owner": "secops"}

    listed = client.list_automation_rules()["AutomationRulesMetadata"]
    assert [r["RuleArn"] for r in listed] == [first, second]   # rule order, not creation
    assert listed[0]["RuleStatus"] == "DISABLED"
    page = client.list_automation_rules(MaxResults=1)
    assert len(page["AutomationRulesMetadata"]) == 1 and page["NextToken"]
    rest = client.list_automation_rules(MaxResults=1, NextToken=page["NextToken"])
    assert [r["RuleArn"] for r in rest["AutomationRulesMetadata"]] == [second]
    assert "NextToken" not in rest

    done = client.batch_update_automation_rules(UpdateAutomationRulesRequestItems=[
        {"RuleArn": first, "RuleOrder": 30, "RuleStatus": "ENABLED", "IsTerminal": True},
        {"RuleArn": "arn:aws:securityhub:us-east-1:000000000000:automation-rule/none"}])
    assert done["ProcessedAutomationRules"] == [first]
    assert done["UnprocessedAutomationRules"][0]["ErrorCode"] == 404
    listed = client.list_automation_rules()["AutomationRulesMetadata"]
    assert [r["RuleArn"] for r in listed] == [second, first]
    assert listed[1]["IsTerminal"] is True and listed[1]["RuleStatus"] == "ENABLED"

    gone = client.batch_delete_automation_rules(AutomationRulesArns=[first, second])
    assert sorted(gone["ProcessedAutomationRules"]) == sorted([first, second])
    rules.clear()
    assert client.list_automation_rules()["AutomationRulesMetadata"] == []
    again = client.batch_delete_automation_rules(AutomationRulesArns=[first])
    assert again["ProcessedAutomationRules"] == []
    assert again["UnprocessedAutomationRules"][0]["RuleArn"] == first


@pytest.mark.parametrize("change, message", [
    ({"RuleOrder": 0}, "RuleOrder"),
    ({"RuleOrder": 1001}, "RuleOrder"),
    ({"RuleStatus": "ON"}, "RuleStatus"),
    ({"Criteria": {"ProductFields": [{"Key": "a", "Value": "b", "Comparison": "EQUALS"}]}},
     "Criteria.ProductFields"),
    ({"Criteria": {"Title": [{"Value": "x", "Comparison": "ABOUT"}]}}, "Comparison"),
    ({"Actions": [{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {}}]}, "Actions"),
    ({"Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                   "FindingFieldsUpdate": {"Workflow": {"Status": "DONE"}}}]}, "Workflow"),
    ({"Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                   "FindingFieldsUpdate": {"Confidence": 101}}]}, "Confidence"),
    ({"Description": None}, "Description"),
])
def test_bad_requests_are_invalid_input(hub: Hub, change: dict, message: str) -> None:
    body = {"RuleOrder": 1, "RuleName": "bad", "Description": "bad rule",
            "Criteria": _title("bad"),
            "Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                         "FindingFieldsUpdate": {"Confidence": 1}}]}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    status, headers, answer = signed_request(hub, "POST", "/automationrules/create",
                                             json.dumps(body).encode())
    assert status == 400, answer
    assert headers["x-amzn-errortype"].startswith("InvalidInputException")
    assert message in answer["Message"], answer
    assert hub.client().list_automation_rules()["AutomationRulesMetadata"] == []


def test_every_action_field_applies_on_import_and_lands_in_history(hub: Hub,
                                                                   rules: list[str]) -> None:
    client = hub.client()
    arn = _rule(client, "every", 5, UPDATE_ALL,
                criteria={**_title("every"),
                          "SeverityLabel": [{"Value": "MEDIUM", "Comparison": "EQUALS"}]})
    rules.append(arn)
    hit, miss = _finding("every", 1), _finding("every", 2)
    miss["Severity"] = {"Label": "LOW", "Original": "LOW"}
    other = _finding("others", 3)
    answer = client.batch_import_findings(Findings=[hit, miss, other])
    assert answer["FailedCount"] == 0, answer
    got = _get(client, hit)
    assert got["Workflow"]["Status"] == "SUPPRESSED"
    assert got["Severity"]["Label"] == "CRITICAL"
    assert got["Note"]["Text"] == "accepted risk, see TICKET-7"
    assert got["Note"]["UpdatedBy"] == "secops"
    assert got["Types"] == UPDATE_ALL["Types"]
    assert got["Confidence"] == 77 and got["Criticality"] == 88
    assert got["UserDefinedFields"]["team"] == "payments"
    assert got["VerificationState"] == "BENIGN_POSITIVE"
    assert got["RelatedFindings"] == UPDATE_ALL["RelatedFindings"]
    for untouched in (miss, other):
        doc = _get(client, untouched)
        assert doc["Workflow"]["Status"] == "NEW" and "Note" not in doc
    history = hub.store.finding_history(hit["Id"])
    [event] = [e for e in history if e["kind"] == "rule"]
    assert event["actor"] == arn
    assert event["changes"]["Workflow"][1]["Status"] == "SUPPRESSED"
    # a filter on the rule's changes finds it: the columns were written, not only the document
    sup = client.get_findings(Filters={**_title("every"), "WorkflowStatus": [
        {"Value": "SUPPRESSED", "Comparison": "EQUALS"}]})["Findings"]
    assert [f["Id"] for f in sup] == [hit["Id"]]


def test_rules_apply_to_provider_updates_not_to_triage(hub: Hub, rules: list[str]) -> None:
    client = hub.client()
    before = _finding("upd", 1, days_ago=1)
    client.batch_import_findings(Findings=[before])
    assert _get(client, before)["Workflow"]["Status"] == "NEW"
    rules.append(_rule(client, "upd", 5, {"Workflow": {"Status": "SUPPRESSED"},
                                          "Severity": {"Label": "LOW"}}))
    # triage is not an import: the rule does not fire on BatchUpdateFindings
    client.batch_update_findings(FindingIdentifiers=[{"Id": before["Id"],
                                                      "ProductArn": before["ProductArn"]}],
                                 Note={"Text": "looked at it", "UpdatedBy": "me"})
    assert _get(client, before)["Workflow"]["Status"] == "NEW"
    newer = {**before, "UpdatedAt": iso(0)}
    assert client.batch_import_findings(Findings=[newer])["SuccessCount"] == 1
    got = _get(client, newer)
    assert got["Workflow"]["Status"] == "SUPPRESSED" and got["Severity"]["Label"] == "LOW"
    assert got["Note"]["Text"] == "looked at it"
    # the rule's severity is the customer's now: a provider update does not take it back
    rules_off = client.batch_update_automation_rules(UpdateAutomationRulesRequestItems=[
        {"RuleArn": rules[0], "RuleStatus": "DISABLED"}])
    assert rules_off["ProcessedAutomationRules"] == rules
    latest = {**before, "UpdatedAt": iso(0), "Severity": {"Label": "HIGH", "Original": "9"}}
    client.batch_import_findings(Findings=[latest])
    assert _get(client, latest)["Severity"]["Label"] == "LOW"


def test_rule_order_and_terminal_rules(hub: Hub, rules: list[str]) -> None:
    client = hub.client()
    rules.append(_rule(client, "ord", 2, {"Note": {"Text": "second", "UpdatedBy": "r2"},
                                          "Confidence": 2}, name="two"))
    rules.append(_rule(client, "ord", 1, {"Note": {"Text": "first", "UpdatedBy": "r1"},
                                          "Criticality": 1}, name="one"))
    one = _finding("ord", 1)
    client.batch_import_findings(Findings=[one])
    got = _get(client, one)
    # both applied, lowest RuleOrder first: the later rule's note stands
    assert got["Note"]["Text"] == "second" and got["Confidence"] == 2 and got["Criticality"] == 1
    history = [e["actor"] for e in hub.store.finding_history(one["Id"]) if e["kind"] == "rule"]
    assert history == [rules[1], rules[0]]

    client.batch_update_automation_rules(UpdateAutomationRulesRequestItems=[
        {"RuleArn": rules[1], "IsTerminal": True}])
    two = _finding("ord", 2)
    client.batch_import_findings(Findings=[two])
    got = _get(client, two)
    assert got["Note"]["Text"] == "first" and got["Criticality"] == 1
    assert got.get("Confidence") != 2
    # a terminal rule that does not match stops nothing
    client.batch_update_automation_rules(UpdateAutomationRulesRequestItems=[
        {"RuleArn": rules[1], "Criteria": {"Title": [{"Value": "nothing like it",
                                                      "Comparison": "EQUALS"}]}}])
    three = _finding("ord", 3)
    client.batch_import_findings(Findings=[three])
    got = _get(client, three)
    assert got["Note"]["Text"] == "second" and "Criticality" not in got


def test_the_101st_rule_exceeds_the_quota(hub: Hub, rules: list[str]) -> None:
    client = hub.client()
    never = {"Title": [{"Value": "quota: never matches", "Comparison": "EQUALS"}]}
    for n in range(100):
        rules.append(_rule(client, "quota", 1 + n % 1000, {"Confidence": 1}, name=f"q{n}",
                           criteria=never))
    with pytest.raises(ClientError) as err:
        _rule(client, "quota", 1, {"Confidence": 1}, criteria=never)
    assert err.value.response["Error"]["Code"] == "LimitExceededException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_rules_are_kept_per_account_and_region(store) -> None:
    """The store part on both databases: a partition's rules, quota and ARNs are its own."""
    from secpipe.hub.interface import Partition

    request = {"RuleOrder": 1, "RuleName": "p", "Description": "partition rule",
               "Criteria": {}, "Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                                            "FindingFieldsUpdate": {"Confidence": 1}}]}
    west = Partition("123456789012", "us-west-2")
    here = store.create_automation_rule(request)
    there = store.create_automation_rule(request, partition=west)
    assert here.startswith("arn:aws:securityhub:us-east-1:123456789012:automation-rule/")
    assert there.startswith("arn:aws:securityhub:us-west-2:123456789012:automation-rule/")
    assert [r["RuleArn"] for r in store.list_automation_rules()[0]] == [here]
    assert [r["RuleArn"] for r in store.list_automation_rules(partition=west)[0]] == [there]
    got, missing = store.batch_get_automation_rules([there])
    assert got == [] and missing[0]["RuleArn"] == there
    for _ in range(99):
        store.create_automation_rule(request, partition=west)
    from secpipe.hub.interface import LimitExceeded

    with pytest.raises(LimitExceeded):
        store.create_automation_rule(request, partition=west)
    store.create_automation_rule(request)          # us-east-1 still has room


@pytest.mark.parametrize("role, may_write, may_read", [
    ("ci", False, False), ("read", False, True), ("runtime", False, False),
    ("triage", True, True),
])
def test_who_may_manage_rules(hub: Hub, rules: list[str], role: str, may_write: bool,
                              may_read: bool) -> None:
    key_id, secret = hub.store.create_access_key(f"rules {role}", role=role)
    client = hub.client(key_id=key_id, secret=secret)
    try:
        arn = _rule(client, "who", 1, {"Workflow": {"Status": "SUPPRESSED"}})
        rules.append(arn)
        assert may_write
    except ClientError as err:
        assert not may_write and err.response["Error"]["Code"] == "AccessDeniedException"
    admin_arn = _rule(hub.client(), "who", 2, {"Confidence": 3})
    rules.append(admin_arn)
    for call in (lambda: client.list_automation_rules(),
                 lambda: client.batch_get_automation_rules(AutomationRulesArns=[admin_arn])):
        try:
            call()
            assert may_read
        except ClientError as err:
            assert not may_read and err.response["Error"]["Code"] == "AccessDeniedException"
    for call in (lambda: client.batch_delete_automation_rules(AutomationRulesArns=[admin_arn]),
                 lambda: client.batch_update_automation_rules(UpdateAutomationRulesRequestItems=[
                     {"RuleArn": admin_arn, "RuleStatus": "DISABLED"}])):
        try:
            call()
            assert may_write
        except ClientError as err:
            assert not may_write and err.response["Error"]["Code"] == "AccessDeniedException"


def test_every_criterion_of_the_model_is_accepted(store) -> None:
    """Criteria are AutomationRulesFindingFilters: each of its keys (from botocore's model),
    all at once too (a rule is not held to GetFindings' 10 attributes)."""
    from secpipe.hub.rules import _criteria_members

    sample = {"StringFilterList": {"Value": "x", "Comparison": "EQUALS"},
              "DateFilterList": {"DateRange": {"Value": 1, "Unit": "DAYS"}},
              "NumberFilterList": {"Gte": 0},
              "MapFilterList": {"Key": "k", "Value": "v", "Comparison": "EQUALS"}}
    members = _criteria_members()
    assert len(members) >= 41
    criteria = {key: [sample[shape.name]] for key, shape in members.items()}
    request = {"RuleOrder": 1, "RuleName": "all", "Description": "every criterion",
               "Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                            "FindingFieldsUpdate": {"Confidence": 1}}]}
    arn = store.create_automation_rule({**request, "Criteria": criteria})
    [got], _ = store.batch_get_automation_rules([arn])
    assert got["Criteria"] == criteria
    # and the rule still runs on import: nothing matches every one of those at once
    from tests.hub.test_api_support import make_finding

    doc = make_finding("allkeys", 1)
    assert store.batch_import([doc]).success_count == 1
    assert "Confidence" not in store.get_finding(doc["Id"]) or \
        store.get_finding(doc["Id"])["Confidence"] != 1


def test_the_gate_view_trusts_only_triage_roles_and_reopens_expired(store) -> None:
    """`hub_suppressions` (what `secpipe run` asks the hub), on both databases: a suppression
    counts when whoever made it may triage, and an expired one is reopened in history."""
    from datetime import datetime, timezone

    from secpipe.hub.authz import Principal
    from tests.hub.test_api_support import make_finding

    def rule(title: str, expires: str) -> dict[str, Any]:
        return {"RuleOrder": 1, "RuleName": title, "Description": "gate view",
                "Criteria": {"Title": [{"Value": title, "Comparison": "EQUALS"}]},
                "Actions": [{"Type": "FINDING_FIELDS_UPDATE", "FindingFieldsUpdate": {
                    "Workflow": {"Status": "SUPPRESSED"},
                    "Note": {"Text": f"because {title}", "UpdatedBy": "rules"},
                    "UserDefinedFields": {"secpipe:ExpiresAt": expires}}}]}

    triage = Principal("sigv4", "AKIATRIAGE", role="triage")
    ci = Principal("sigv4", "AKIACI", role="ci")      # the API would refuse it; the gate too
    trusted = store.create_automation_rule(rule("t1", "2999-01-01T00:00:00Z"), principal=triage)
    store.create_automation_rule(rule("t2", "2999-01-01T00:00:00Z"), principal=ci)
    store.create_automation_rule(rule("t3", "2030-01-01T00:00:00+02:00"), principal=triage)
    docs = [make_finding("gateview", n, title=f"t{n}") for n in (1, 2, 3, 4)]
    assert store.batch_import(docs).success_count == 4
    store.batch_update([{"Id": docs[3]["Id"], "ProductArn": docs[3]["ProductArn"]}],
                       {"Workflow": {"Status": "SUPPRESSED"},
                        "Note": {"Text": "by hand", "UpdatedBy": "bob"}}, principal=triage)
    assert {store.get_finding(d["Id"])["Workflow"]["Status"] for d in docs} == {"SUPPRESSED"}

    honoured, expired = store.hub_suppressions("gateview",
                                               now=datetime(2029, 1, 1, tzinfo=timezone.utc))
    by_id = {s.id: s for s in honoured}
    assert set(by_id) == {docs[0]["Id"], docs[2]["Id"], docs[3]["Id"]}   # not the ci rule's
    assert by_id[docs[0]["Id"]].actor == trusted and by_id[docs[0]["Id"]].kind == "rule"
    assert by_id[docs[0]["Id"]].note == "because t1"
    assert by_id[docs[3]["Id"]].actor == "AKIATRIAGE" and by_id[docs[3]["Id"]].role == "triage"
    assert by_id[docs[3]["Id"]].expires is None and expired == []

    later = datetime(2030, 1, 1, 12, tzinfo=timezone.utc)      # past t3's expiry
    honoured, expired = store.hub_suppressions("gateview", now=later)
    assert [s.id for s in expired] == [docs[2]["Id"]]
    assert docs[2]["Id"] not in {s.id for s in honoured}
    reopened = store.get_finding(docs[2]["Id"])
    assert reopened["Workflow"]["Status"] == "NEW"
    assert "secpipe:ExpiresAt" not in reopened.get("UserDefinedFields", {})
    assert store.finding_history(docs[2]["Id"])[-1]["actor"] == \
        "secpipe gate (suppression expired)"
    # the rules' preview (a run's findings before they are recorded) agrees
    fresh = make_finding("gateview", 5, title="t1")
    spared = store.rule_suppressions([fresh, make_finding("gateview", 6, title="t2")])
    assert [(s.id, s.actor) for s in spared] == [(fresh["Id"], trusted)]


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/automationrules/list?NextToken=bm90LWpzb24", None),
    ("GET", "/automationrules/list?NextToken=eyJhdCI6ICJ4In0", None),
    ("GET", "/automationrules/list?MaxResults=0", None),
    ("PATCH", "/automationrules/update", {"UpdateAutomationRulesRequestItems": [
        {"RuleArn": "a", "RuleOrder": "1"}]}),
    ("PATCH", "/automationrules/update", {"UpdateAutomationRulesRequestItems": [
        {"RuleArn": "a", "Criteria": {"CreatedAt": [{"Start": "yesterday"}]}}]}),
    ("POST", "/automationrules/get", {"AutomationRulesArns": [1]}),
    ("POST", "/automationrules/delete", {"AutomationRulesArns": []}),
    ("POST", "/v1/suppressions", {"repo": 7}),
    ("POST", "/v1/suppressions/rules", {"findings": [{"ProductFields": []}, 3, {"Id": {}}]}),
])
def test_malformed_requests_are_4xx_never_500(hub: Hub, method: str, path: str,
                                              body: dict | None) -> None:
    status, _, answer = signed_request(hub, method, path,
                                       json.dumps(body).encode() if body else b"")
    if path == "/v1/suppressions/rules":
        assert status == 200 and answer == {"suppressions": []}, answer
    else:
        assert status == 400, answer


def test_has_enabled_rules_follows_status_and_partition(store) -> None:
    """The gate asks this before building its view of a run (no rules: nothing to spare)."""
    from secpipe.hub.authz import Principal
    from secpipe.hub.interface import Partition

    triage = Principal("sigv4", "AKIATRIAGE", role="triage")
    assert store.has_enabled_rules() is False
    arn = store.create_automation_rule({
        "RuleOrder": 1, "RuleName": "any", "Description": "d", "RuleStatus": "DISABLED",
        "Criteria": {"Title": [{"Value": "x", "Comparison": "EQUALS"}]},
        "Actions": [{"Type": "FINDING_FIELDS_UPDATE",
                     "FindingFieldsUpdate": {"Note": {"Text": "n", "UpdatedBy": "u"}}}]},
        principal=triage)
    assert store.has_enabled_rules() is False                  # disabled rules change nothing
    store.batch_update_automation_rules([{"RuleArn": arn, "RuleStatus": "ENABLED"}],
                                        principal=triage)
    assert store.has_enabled_rules() is True
    assert store.has_enabled_rules(Partition(store.account_id, "eu-north-1")) is False
