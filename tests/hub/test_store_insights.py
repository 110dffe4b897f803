"""Insights, the hub record, access keys and dashboard users, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from secpipe.hub.interface import (
    InvalidAccess,
    InvalidInput,
    Partition,
    ResourceConflict,
    ResourceNotFound,
)
from tests.hub.builders import finding

DATA = [
    finding("a", Severity={"Label": "HIGH"}, Resources=[{"Type": "Container", "Id": "web"}]),
    finding("b", Severity={"Label": "HIGH"}, Resources=[{"Type": "Container", "Id": "api"},
                                                        {"Type": "Other", "Id": "Dockerfile"}]),
    finding("c", Severity={"Label": "LOW"}, Resources=[{"Type": "Other", "Id": "Dockerfile"}],
            Types=["Effects/Data Exposure", "TTPs/Discovery"]),
    finding("d", Severity={"Label": "CRITICAL"}, RecordState="ARCHIVED",
            Resources=[{"Type": "Container", "Id": "web"}]),
]
ACTIVE = {"RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]}


def values(result):
    return {v["GroupByAttributeValue"]: v["Count"] for v in result["ResultValues"]}


@pytest.fixture
def hub(store):
    store.batch_import(DATA)
    return store


@pytest.mark.parametrize("group_by, expected", [
    ("ResourceType", {"Container": 2, "Other": 2}),
    ("SeverityLabel", {"HIGH": 2, "LOW": 1}),
    ("ProductName", {"Default": 3}),
    ("ResourceId", {"Dockerfile": 2, "web": 1, "api": 1}),
    ("Type", {"Software and Configuration Checks/Vulnerabilities/CVE": 2,
              "Effects/Data Exposure": 1, "TTPs/Discovery": 1}),
])
def test_insight_results_group_the_filtered_findings(hub, group_by, expected):
    arn = hub.create_insight(f"by {group_by}", ACTIVE, group_by)
    result = hub.get_insight_results(arn)
    assert result["InsightArn"] == arn and result["GroupByAttribute"] == group_by
    assert values(result) == expected
    counts = [v["Count"] for v in result["ResultValues"]]
    assert counts == sorted(counts, reverse=True)


def test_insight_lifecycle(hub):
    arn = hub.create_insight("open by severity", ACTIVE, "SeverityLabel")
    assert re.fullmatch(r"arn:aws:securityhub:us-east-1:123456789012:insight/123456789012/"
                        r"custom/[0-9a-f-]{36}", arn)
    insights, token = hub.get_insights([arn])
    assert insights == [{"InsightArn": arn, "Name": "open by severity", "Filters": ACTIVE,
                         "GroupByAttribute": "SeverityLabel"}] and token is None
    hub.update_insight(arn, name="everything", filters={}, group_by="ResourceType")
    assert hub.get_insights([arn])[0][0]["Name"] == "everything"
    assert values(hub.get_insight_results(arn)) == {"Container": 3, "Other": 2}
    assert hub.delete_insight(arn) == arn
    with pytest.raises(ResourceNotFound):
        hub.get_insight_results(arn)
    with pytest.raises(ResourceNotFound):
        hub.delete_insight(arn)
    with pytest.raises(ResourceNotFound):
        hub.update_insight(arn, name="x")


def test_insight_listing_pages(hub):
    arns = [hub.create_insight(f"i{i}", {}, "SeverityLabel") for i in range(5)]
    page, token = hub.get_insights(max_results=2)
    seen = [i["InsightArn"] for i in page]
    while token:
        page, token = hub.get_insights(max_results=2, next_token=token)
        seen += [i["InsightArn"] for i in page]
    assert seen == arns


@pytest.mark.parametrize("name, filters, group_by", [
    ("x", {"Bogus": [{"Value": "x", "Comparison": "EQUALS"}]}, "SeverityLabel"),
    ("x", {}, "CreatedAt"),
    ("", {}, "SeverityLabel"),
    ("x", [], "SeverityLabel"),
])
def test_bad_insights_are_invalid_input(hub, name, filters, group_by):
    with pytest.raises(InvalidInput):
        hub.create_insight(name, filters, group_by)


def test_enable_and_describe_hub(store):
    # the first open enabled the store's own account and region; another region is not
    assert store.describe_hub()["HubArn"] == \
        "arn:aws:securityhub:us-east-1:123456789012:hub/default"
    west = Partition("123456789012", "us-west-2")
    with pytest.raises(InvalidAccess, match="Account 123456789012 is not subscribed"):
        store.describe_hub(partition=west)
    store.enable_hub({"team": "sec"}, partition=west)
    hub = store.describe_hub(partition=west)
    assert hub["HubArn"] == "arn:aws:securityhub:us-west-2:123456789012:hub/default"
    assert hub["AutoEnableControls"] is True and hub["SubscribedAt"].endswith("Z")
    with pytest.raises(ResourceConflict):
        store.enable_hub(partition=west)


def test_access_keys(store, monkeypatch):
    akid, secret = store.create_access_key("ci")
    assert re.fullmatch(r"SPK[A-Z2-7]{17}", akid) and len(secret) == 40
    assert store.secret_for(akid) == secret
    assert store.secret_for("SPKNOSUCHKEY00000000") is None
    assert store.list_access_keys()[0]["AccessKeyId"] == akid
    assert "secret" not in str(store.list_access_keys()).lower().replace("secretaccess", "")
    monkeypatch.setenv("SECPIPE_HUB_ACCESS_KEY_ID", "SPKFROMENVIRONMENT00")
    monkeypatch.setenv("SECPIPE_HUB_SECRET_ACCESS_KEY", "e" * 40)
    assert store.secret_for("SPKFROMENVIRONMENT00") == "e" * 40
    assert store.secret_for(akid) == secret
    store.revoke_access_key(akid)
    assert store.secret_for(akid) is None
    with pytest.raises(ResourceNotFound):
        store.revoke_access_key("SPKNOSUCHKEY00000000")


def test_dashboard_passwords(store):
    assert store.check_user_password("admin", "whatever1") is False
    store.set_user_password("admin", "correct horse")
    assert store.check_user_password("admin", "correct horse") is True
    assert store.check_user_password("admin", "wrong horse") is False
    store.set_user_password("admin", "battery staple")
    assert store.check_user_password("admin", "correct horse") is False
    assert store.check_user_password("admin", "battery staple") is True
    with pytest.raises(InvalidInput):
        store.set_user_password("admin", "short")
