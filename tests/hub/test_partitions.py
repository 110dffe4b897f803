"""Findings and insights per account and region, and keys scoped to member accounts: the
unmodified boto3 client in two regions against the real server (uvicorn on loopback), on
SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import pytest

from secpipe.hub.api import create_app, running_server
from secpipe.hub.api.isolation import UNLIMITED
from secpipe.hub.authz import Scope
from secpipe.hub.interface import InvalidInput, Partition
from secpipe.hub.store import open_store
from tests.hub.test_api_support import Hub, make_finding, repo_filter

botocore = pytest.importorskip("botocore")
from botocore.exceptions import ClientError  # noqa: E402

ACCOUNT = "111122223333"          # the hub's own (administrator) account
MEMBER = "444455556666"
OTHER = "777788889999"
EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Hub]:
    pg = None
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("partitions") / "hub.db")
    else:
        pg = request.getfixturevalue("pg_server")
        url = pg.new_url()
    store = open_store(url, account_id=ACCOUNT)
    key_id, secret = store.create_access_key("admin", role="admin")
    app = create_app(store, limits=UNLIMITED)
    try:
        with running_server(app) as base:
            hub = Hub(base, store, key_id, secret)
            hub.client(region=WEST).enable_security_hub()
            yield hub
    finally:
        store.close()
        if pg is not None:
            pg.drop(url)


def _key(hub: Hub, role: str, **scope: Any) -> tuple[str, str]:
    return hub.store.create_access_key(f"{role} test", role=role, scope=Scope.of(**scope))


def _client(hub: Hub, key: tuple[str, str], region: str = EAST) -> Any:
    return hub.client(key_id=key[0], secret=key[1], region=region)


def _all(client: Any, filters: dict) -> list[dict]:
    out = []
    for page in client.get_paginator("get_findings").paginate(Filters=filters):
        out += page["Findings"]
    return out


def test_a_region_sees_only_its_own_findings(hub: Hub) -> None:
    east, west = hub.client(region=EAST), hub.client(region=WEST)
    first = make_finding("regions", 1, title="seen in the east")
    same_key = copy.deepcopy(first)
    same_key["Title"] = "seen in the west"
    only_east = make_finding("regions", 2)
    assert east.batch_import_findings(Findings=[first, only_east])["SuccessCount"] == 2
    assert west.batch_import_findings(Findings=[same_key])["SuccessCount"] == 1

    got_east = {f["Id"]: f["Title"] for f in _all(east, repo_filter("regions"))}
    got_west = {f["Id"]: f["Title"] for f in _all(west, repo_filter("regions"))}
    assert got_east == {first["Id"]: "seen in the east", only_east["Id"]: only_east["Title"]}
    assert got_west == {first["Id"]: "seen in the west"}      # same (ProductArn, Id), own row

    ident = [{"Id": first["Id"], "ProductArn": first["ProductArn"]}]
    done = west.batch_update_findings(FindingIdentifiers=ident,
                                      Workflow={"Status": "SUPPRESSED"})
    assert done["ProcessedFindings"] == ident
    assert [f["Workflow"]["Status"] for f in _all(east, repo_filter("regions"))
            if f["Id"] == first["Id"]] == ["NEW"]
    missing = west.batch_update_findings(
        FindingIdentifiers=[{"Id": only_east["Id"], "ProductArn": only_east["ProductArn"]}],
        Workflow={"Status": "NOTIFIED"})
    assert missing["UnprocessedFindings"][0]["ErrorCode"] == "FindingNotFound"

    # the store's own partition (None) is the configured account and us-east-1
    assert hub.store.count_findings(repo_filter("regions")) == 2
    assert hub.store.count_findings(repo_filter("regions"),
                                    partition=Partition(ACCOUNT, WEST)) == 1


def test_insights_and_arns_belong_to_the_calling_region(hub: Hub) -> None:
    east, west = hub.client(region=EAST), hub.client(region=WEST)
    west.batch_import_findings(Findings=[make_finding("ins-west", n) for n in range(3)])
    east.batch_import_findings(Findings=[make_finding("ins-west", 9)])
    arn = west.create_insight(Name="west only", Filters=repo_filter("ins-west"),
                              GroupByAttribute="SeverityLabel")["InsightArn"]
    assert arn.startswith(f"arn:aws:securityhub:{WEST}:{ACCOUNT}:insight/{ACCOUNT}/custom/")
    [result] = west.get_insight_results(InsightArn=arn)["InsightResults"]["ResultValues"]
    assert result["Count"] == 3
    assert arn in {i["InsightArn"] for i in west.get_insights()["Insights"]}
    assert arn not in {i["InsightArn"] for i in east.get_insights()["Insights"]}
    for call in (lambda: east.get_insights(InsightArns=[arn]),
                 lambda: east.get_insight_results(InsightArn=arn),
                 lambda: east.delete_insight(InsightArn=arn)):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert west.describe_hub()["HubArn"] == f"arn:aws:securityhub:{WEST}:{ACCOUNT}:hub/default"
    assert east.describe_hub()["HubArn"] == f"arn:aws:securityhub:{EAST}:{ACCOUNT}:hub/default"


def test_a_member_scoped_key_imports_reads_and_updates_only_its_accounts(hub: Hub) -> None:
    mine = [make_finding("members", n) for n in range(2)]
    theirs = make_finding("members", 5)
    for f in mine:
        f["AwsAccountId"] = MEMBER
    theirs["AwsAccountId"] = OTHER

    ci = _client(hub, _key(hub, "ci", accounts=[MEMBER]))
    answer = ci.batch_import_findings(Findings=[*mine, theirs])
    assert answer["SuccessCount"] == 2
    [refused] = answer["FailedFindings"]
    assert refused["Id"] == theirs["Id"] and refused["ErrorCode"] == "AccessDenied"
    admin = hub.client()
    assert admin.batch_import_findings(Findings=[theirs])["SuccessCount"] == 1

    # admin (the administrator account) sees every member's findings
    assert {f["AwsAccountId"] for f in _all(admin, repo_filter("members"))} == {MEMBER, OTHER}
    triage = _client(hub, _key(hub, "triage", accounts=["4444555566??"]))
    seen = _all(triage, repo_filter("members"))
    assert {f["Id"] for f in seen} == {f["Id"] for f in mine}
    arn = triage.create_insight(Name="members", Filters=repo_filter("members"),
                                GroupByAttribute="AwsAccountId")["InsightArn"]
    values = triage.get_insight_results(InsightArn=arn)["InsightResults"]["ResultValues"]
    assert values == [{"GroupByAttributeValue": MEMBER, "Count": 2}]

    idents = [{"Id": f["Id"], "ProductArn": f["ProductArn"]} for f in (mine[0], theirs)]
    result = triage.batch_update_findings(FindingIdentifiers=idents,
                                          Workflow={"Status": "NOTIFIED"})
    assert result["ProcessedFindings"] == idents[:1]
    [denied] = result["UnprocessedFindings"]
    assert denied["FindingIdentifier"] == idents[1] and denied["ErrorCode"] == "AccessDenied"
    stored = {f["Id"]: f["Workflow"]["Status"] for f in _all(admin, repo_filter("members"))}
    assert stored[theirs["Id"]] == "NEW" and stored[mine[0]["Id"]] == "NOTIFIED"


def test_member_account_globs_are_checked(tmp_path: Path) -> None:
    with open_store(tmp_path / "hub.db") as store:
        for bad in ("1234-5678", "acme", "1" * 13, "[0-9]*"):
            with pytest.raises(InvalidInput):
                store.create_access_key("x", role="ci", scope=Scope.of(accounts=[bad]))
        akid, _ = store.create_access_key("x", role="ci", scope=Scope.of(accounts=["4444*"]))
        [key] = store.list_access_keys()
        assert key["Scope"]["accounts"] == ["4444*"]
        assert store.key_record(akid).scope.accounts == ("4444*",)
