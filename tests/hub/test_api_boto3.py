"""The unmodified boto3 `securityhub` client against the real server on a real SQLite store.

Each test keeps its findings apart by a repo name of its own (ProductFields secpipe/Repo), so
the tests share one server but never each other's data.
"""

from __future__ import annotations

import pytest

from secpipe.model import Severity
from tests.hub.test_api_support import Hub, hub, iso, make_finding, repo_filter  # noqa: F401

botocore = pytest.importorskip("botocore")
from botocore.exceptions import ClientError  # noqa: E402


def _ids(findings: list[dict]) -> set[str]:
    return {f["Id"] for f in findings}


def _get_all(client, filters: dict, sort: list | None = None) -> list[dict]:
    kwargs = {"Filters": filters}
    if sort:
        kwargs["SortCriteria"] = sort
    out = []
    for page in client.get_paginator("get_findings").paginate(**kwargs):
        out.extend(page["Findings"])
    return out


def test_import_reports_one_invalid_finding_and_keeps_the_rest(hub: Hub) -> None:
    client = hub.client()
    good = [make_finding("imp", n) for n in range(3)]
    bad = make_finding("imp", 99)
    bad["AwsAccountId"] = "not-an-account"        # passes botocore's checks, not Security Hub's
    answer = client.batch_import_findings(Findings=[good[0], bad, *good[1:]])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["SuccessCount"] == 3 and answer["FailedCount"] == 1
    [failed] = answer["FailedFindings"]
    assert failed["Id"] == bad["Id"] and failed["ErrorCode"] and failed["ErrorMessage"]
    stored = _get_all(client, repo_filter("imp"))
    assert _ids(stored) == _ids(good)
    assert stored[0]["SchemaVersion"] == "2018-10-08"


@pytest.fixture(scope="module")
def filter_set(hub: Hub) -> list[dict]:
    """A small, varied population for the filter tests."""
    specs = [
        ("bandit", "B101", Severity.LOW, 0, "Assert used"),
        ("bandit", "B602", Severity.HIGH, 0, "Subprocess with shell=True"),
        ("bandit", "B105", Severity.CRITICAL, 45, "Hardcoded password string"),
        ("semgrep", "python.eval", Severity.HIGH, 2, "Eval of user input"),
        ("semgrep", "python.pickle", Severity.MEDIUM, 60, "Unsafe pickle load"),
        ("hadolint", "DL3007", Severity.INFORMATIONAL, 1, "Using latest tag"),
        ("checkov", "CKV_AWS_20", Severity.MEDIUM, 10, "S3 bucket public read"),
    ]
    findings = [make_finding("flt", n, tool=tool, rule=rule, severity=sev, days_ago=age,
                             title=title, confidence=10 * n)
                for n, (tool, rule, sev, age, title) in enumerate(specs)]
    answer = hub.client().batch_import_findings(Findings=findings)
    assert answer["FailedCount"] == 0, answer["FailedFindings"]
    return findings


def _expect(findings: list[dict], pred) -> set[str]:
    return {f["Id"] for f in findings if pred(f)}


@pytest.mark.parametrize("name, criteria, pred", [
    ("EQUALS", {"SeverityLabel": [{"Value": "HIGH", "Comparison": "EQUALS"}]},
     lambda f: f["Severity"]["Label"] == "HIGH"),
    ("EQUALS OR'd", {"SeverityLabel": [{"Value": "HIGH", "Comparison": "EQUALS"},
                                       {"Value": "CRITICAL", "Comparison": "EQUALS"}]},
     lambda f: f["Severity"]["Label"] in ("HIGH", "CRITICAL")),
    ("PREFIX", {"GeneratorId": [{"Value": "semgrep/", "Comparison": "PREFIX"}]},
     lambda f: f["GeneratorId"].startswith("semgrep/")),
    ("NOT_EQUALS", {"SeverityLabel": [{"Value": "MEDIUM", "Comparison": "NOT_EQUALS"}]},
     lambda f: f["Severity"]["Label"] != "MEDIUM"),
    ("PREFIX_NOT_EQUALS AND'd",
     {"GeneratorId": [{"Value": "bandit/", "Comparison": "PREFIX_NOT_EQUALS"},
                      {"Value": "semgrep/", "Comparison": "PREFIX_NOT_EQUALS"}]},
     lambda f: f["GeneratorId"].split("/")[0] not in ("bandit", "semgrep")),
    ("CONTAINS", {"Title": [{"Value": "pickle", "Comparison": "CONTAINS"}]},
     lambda f: "pickle" in f["Title"]),
    ("NOT_CONTAINS", {"Title": [{"Value": "o", "Comparison": "NOT_CONTAINS"}]},
     lambda f: "o" not in f["Title"].lower()),
    ("ResourceId", {"ResourceId": [{"Value": "src/m3.py", "Comparison": "EQUALS"}]},
     lambda f: f["Resources"][0]["Id"] == "src/m3.py"),
    ("MapFilter ProductFields",
     {"ProductFields": [{"Key": "secpipe/Tool", "Value": "bandit", "Comparison": "EQUALS"}]},
     lambda f: f["ProductFields"]["secpipe/Tool"] == "bandit"),
    ("NumberFilter Gte", {"SeverityNormalized": [{"Gte": 70}]},
     lambda f: f["Severity"]["Normalized"] >= 70),
    ("NumberFilter Gt/Lt", {"Confidence": [{"Gt": 10, "Lt": 50}]},
     lambda f: 10 < f.get("Confidence", -1) < 50),
    ("DateFilter DateRange", {"UpdatedAt": [{"DateRange": {"Value": 30, "Unit": "DAYS"}}]},
     lambda f: f["ProductFields"]["secpipe/RuleId"] not in ("B105", "python.pickle")),
])
def test_get_findings_filters(hub: Hub, filter_set: list[dict], name: str, criteria: dict,
                              pred) -> None:
    # Scoped by Description so that criteria on ProductFields do not replace the scope.
    filters = {"Description": [{"Value": " of flt", "Comparison": "CONTAINS"}], **criteria}
    got = _get_all(hub.client(), filters)
    expected = _expect(filter_set, pred)
    assert expected, f"{name}: the population must exercise the filter"
    assert _ids(got) == expected, name


def test_date_filter_start_end(hub: Hub, filter_set: list[dict]) -> None:
    filters = {**repo_filter("flt"),
               "CreatedAt": [{"Start": iso(50), "End": iso(30)}]}
    got = _get_all(hub.client(), filters)
    assert {f["ProductFields"]["secpipe/RuleId"] for f in got} == {"B105"}


def test_sort_and_paginate_with_botos_paginator(hub: Hub) -> None:
    client = hub.client()
    findings = [make_finding("page", n, title=f"title {n:03d}") for n in range(23)]
    assert client.batch_import_findings(Findings=findings)["SuccessCount"] == 23
    pages = list(client.get_paginator("get_findings").paginate(
        Filters=repo_filter("page"), SortCriteria=[{"Field": "Title", "SortOrder": "desc"}],
        PaginationConfig={"PageSize": 5}))
    assert [len(p["Findings"]) for p in pages] == [5, 5, 5, 5, 3]
    assert all("NextToken" in p for p in pages[:-1]) and "NextToken" not in pages[-1]
    titles = [f["Title"] for p in pages for f in p["Findings"]]
    assert titles == sorted((f["Title"] for f in findings), reverse=True)
    first = client.get_findings(Filters=repo_filter("page"), MaxResults=4,
                                SortCriteria=[{"Field": "Title", "SortOrder": "asc"}])
    assert [f["Title"] for f in first["Findings"]] == [f"title {n:03d}" for n in range(4)]


def test_batch_update_suppresses_with_note_and_import_keeps_it(hub: Hub) -> None:
    client = hub.client()
    findings = [make_finding("triage", n, severity=Severity.HIGH) for n in range(3)]
    client.batch_import_findings(Findings=findings)
    target = [{"Id": f["Id"], "ProductArn": f["ProductArn"]} for f in findings[:2]]
    missing = {"Id": "secpipe/none/nothing", "ProductArn": findings[0]["ProductArn"]}
    answer = client.batch_update_findings(
        FindingIdentifiers=[*target, missing], Workflow={"Status": "SUPPRESSED"},
        Note={"Text": "accepted risk until the Q3 rewrite", "UpdatedBy": "alice"})
    assert sorted(p["Id"] for p in answer["ProcessedFindings"]) == sorted(t["Id"] for t in target)
    [unprocessed] = answer["UnprocessedFindings"]
    assert unprocessed["FindingIdentifier"]["Id"] == missing["Id"]
    assert unprocessed["ErrorCode"]

    suppressed = _get_all(client, {**repo_filter("triage"), "WorkflowStatus": [
        {"Value": "SUPPRESSED", "Comparison": "EQUALS"}]})
    assert _ids(suppressed) == {t["Id"] for t in target}
    for f in suppressed:
        assert f["Note"]["Text"] == "accepted risk until the Q3 rewrite"
        assert f["Note"]["UpdatedBy"] == "alice"

    # A later import of the same findings cannot undo triage (Security Hub's rule).
    again = [make_finding("triage", n, severity=Severity.HIGH) for n in range(3)]
    assert client.batch_import_findings(Findings=again)["SuccessCount"] == 3
    still = _get_all(client, {**repo_filter("triage"), "WorkflowStatus": [
        {"Value": "SUPPRESSED", "Comparison": "EQUALS"}]})
    assert _ids(still) == {t["Id"] for t in target}


def test_insight_lifecycle(hub: Hub, filter_set: list[dict]) -> None:
    client = hub.client()
    arn = client.create_insight(Name="flt by severity", Filters=repo_filter("flt"),
                                GroupByAttribute="SeverityLabel")["InsightArn"]
    assert arn.startswith("arn:aws:securityhub:") and ":insight/" in arn

    results = client.get_insight_results(InsightArn=arn)["InsightResults"]
    assert results["InsightArn"] == arn and results["GroupByAttribute"] == "SeverityLabel"
    counts = {v["GroupByAttributeValue"]: v["Count"] for v in results["ResultValues"]}
    expected: dict[str, int] = {}
    for f in filter_set:
        expected[f["Severity"]["Label"]] = expected.get(f["Severity"]["Label"], 0) + 1
    assert counts == expected

    [insight] = client.get_insights(InsightArns=[arn])["Insights"]
    assert insight["Name"] == "flt by severity" and insight["Filters"] == repo_filter("flt")
    assert arn in {i["InsightArn"] for i in client.get_insights()["Insights"]}

    client.update_insight(InsightArn=arn, Name="flt bandit by severity", Filters={
        **repo_filter("flt"), "GeneratorId": [{"Value": "bandit/", "Comparison": "PREFIX"}]})
    [insight] = client.get_insights(InsightArns=[arn])["Insights"]
    assert insight["Name"] == "flt bandit by severity"
    counts = {v["GroupByAttributeValue"]: v["Count"]
              for v in client.get_insight_results(InsightArn=arn)["InsightResults"]["ResultValues"]}
    assert counts == {"LOW": 1, "HIGH": 1, "CRITICAL": 1}

    assert client.delete_insight(InsightArn=arn)["InsightArn"] == arn
    with pytest.raises(ClientError) as err:
        client.get_insight_results(InsightArn=arn)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_insight(InsightArn=arn)


def test_enable_and_describe_hub(hub: Hub) -> None:
    # the hub enabled its own region on first start; eu-central-1 is this test's alone
    client = hub.client(region="eu-central-1")
    with pytest.raises(ClientError) as err:
        client.describe_hub()
    assert err.value.response["Error"]["Code"] == "InvalidAccessException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert client.enable_security_hub(Tags={"team": "appsec"},
                                      EnableDefaultStandards=False)["ResponseMetadata"][
        "HTTPStatusCode"] == 200
    described = client.describe_hub()
    assert described["HubArn"].startswith("arn:aws:securityhub:eu-central-1:")
    assert described["SubscribedAt"]
    assert client.describe_hub(HubArn=described["HubArn"])["HubArn"] == described["HubArn"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_hub(HubArn=described["HubArn"] + "-other")
    with pytest.raises(client.exceptions.ResourceConflictException):
        client.enable_security_hub()


def test_wrong_secret_key_gets_403(hub: Hub) -> None:
    with pytest.raises(ClientError) as err:
        hub.client(secret="wrong" + hub.secret).get_findings()
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "InvalidSignatureException"
    assert "signature" in response["Error"]["Message"].lower()


def test_unknown_access_key_gets_403(hub: Hub) -> None:
    with pytest.raises(ClientError) as err:
        hub.client(key_id="SPKUNKNOWNKEY000000").batch_import_findings(
            Findings=[make_finding("nokey", 0)])
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert not _get_all(hub.client(), repo_filter("nokey"))


def test_revoked_key_gets_403(hub: Hub) -> None:
    key_id, secret = hub.store.create_access_key("short-lived")
    client = hub.client(key_id=key_id, secret=secret)
    assert client.get_findings(MaxResults=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
    hub.store.revoke_access_key(key_id)
    with pytest.raises(ClientError) as err:
        client.get_findings(MaxResults=1)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_101_findings_is_invalid_input_for_the_whole_call(hub: Hub) -> None:
    client = hub.client()
    findings = [make_finding("many", n) for n in range(101)]
    with pytest.raises(ClientError) as err:
        client.batch_import_findings(Findings=findings)
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not _get_all(client, repo_filter("many"))
    assert client.batch_import_findings(Findings=findings[:100])["SuccessCount"] == 100


def test_over_6_mb_is_refused(hub: Hub) -> None:
    client = hub.client()
    findings = [make_finding("big", n) for n in range(100)]
    for f in findings:
        f["ProductFields"]["secpipe/Padding"] = "x" * 64 * 1024   # botocore checks no maximum
    with pytest.raises(ClientError) as err:
        client.batch_import_findings(Findings=findings)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert not _get_all(client, repo_filter("big"))


def test_max_results_out_of_range_is_invalid_input(hub: Hub) -> None:
    with pytest.raises(hub.client().exceptions.InvalidInputException):
        hub.client().get_findings(MaxResults=101)
