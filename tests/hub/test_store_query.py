"""GetFindings: every filter comparison, sorting and paging, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from secpipe.hub.interface import InvalidInput
from tests.hub.builders import every_page_ids, finding, key

RECENT = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

DATA = [
    finding("a", Title="SQL injection in login", GeneratorId="semgrep/sqli",
            Severity={"Label": "HIGH"}, Confidence=80, Criticality=50,
            Types=["Software and Configuration Checks/Vulnerabilities/CWE"],
            Resources=[{"Type": "Other", "Id": "src/login.py", "Tags": {"env": "prod"}}],
            ProductFields={"secpipe/Tool": "semgrep", "secpipe/Stage": "sast"},
            CreatedAt="2024-01-01T00:00:00Z", UpdatedAt="2024-01-05T00:00:00Z",
            FirstObservedAt="2024-01-01T00:00:00Z"),
    finding("b", Title="Hardcoded AWS key", GeneratorId="detect-secrets/aws",
            Severity={"Label": "CRITICAL"}, Confidence=95,
            Types=["Sensitive Data Identifications/Security/Credentials", "Effects/Data Exposure"],
            Resources=[{"Type": "Other", "Id": "src/config.js", "Tags": {"env": "dev"}}],
            ProductFields={"secpipe/Tool": "detect-secrets", "secpipe/Stage": "secrets"},
            CreatedAt="2024-02-01T00:00:00Z", UpdatedAt="2024-02-05T00:00:00Z",
            FirstObservedAt="2024-02-01T00:00:00Z", Workflow={"Status": "NOTIFIED"}),
    finding("c", Title="Container runs as root", GeneratorId="checkov/CKV_K8S_20",
            Severity={"Label": "MEDIUM"}, RecordState="ARCHIVED",
            Types=["Software and Configuration Checks/Industry and Regulatory Standards"],
            Resources=[{"Type": "AwsEksCluster", "Id": "arn:aws:eks:us-east-1:1:cluster/x"}],
            ProductFields={"secpipe/Tool": "checkov", "secpipe/Stage": "iac"},
            CreatedAt="2024-03-01T00:00:00Z", UpdatedAt="2024-03-05T00:00:00Z"),
    finding("d", Title="Outdated openssl 1.1 (50%_off)", GeneratorId="trivy/CVE-2023-0001",
            Severity={"Label": "LOW"}, Sample=True, Criticality=10,
            Types=["Software and Configuration Checks/Vulnerabilities/CVE"],
            Resources=[{"Type": "Container", "Id": "web:1.0"},
                       {"Type": "Other", "Id": "Dockerfile"}],
            ProductFields={"secpipe/Tool": "trivy", "secpipe/Stage": "image"},
            CreatedAt="2024-04-01T00:00:00Z", UpdatedAt=RECENT, LastObservedAt=RECENT),
    finding("e", Title="informational note", GeneratorId="semgrep/info",
            Severity={"Label": "INFORMATIONAL"},
            Resources=[{"Type": "Other", "Id": "README.md"}],
            ProductFields={"secpipe/Tool": "semgrep", "secpipe/Stage": "sast"},
            CreatedAt="2024-05-01T00:00:00Z", UpdatedAt="2024-05-05T00:00:00Z"),
]


@pytest.fixture
def hub(store):
    assert store.batch_import(DATA).success_count == len(DATA)
    store.batch_update([key(finding("d"))], {"Workflow": {"Status": "SUPPRESSED"},
                                             "UserDefinedFields": {"owner": "team-web"}})
    store.batch_update([key(finding("e"))], {"Workflow": {"Status": "RESOLVED"}})
    return store


def ids(store, filters, **kw) -> list[str]:
    docs, _ = store.get_findings(filters, **kw)
    return sorted(d["Id"] for d in docs)


def s(value, comparison="EQUALS"):
    return {"Value": value, "Comparison": comparison}


@pytest.mark.parametrize("filters, expected", [
    ({"Title": [s("Hardcoded AWS key")]}, ["b"]),
    ({"Title": [s("Container", "PREFIX")]}, ["c"]),
    ({"Title": [s("container", "PREFIX")]}, []),                      # case-sensitive
    ({"Title": [s("Outdated openssl 1.1 (50%_", "PREFIX")]}, ["d"]),   # no LIKE wildcards
    ({"Title": [s("Outdated openssl 1.1 (5_%", "PREFIX")]}, []),
    ({"Title": [s("Hardcoded AWS key", "NOT_EQUALS")]}, ["a", "c", "d", "e"]),
    ({"Title": [s("SQL", "PREFIX_NOT_EQUALS")]}, ["b", "c", "d", "e"]),
    ({"Title": [s("in", "CONTAINS")]}, ["a", "c", "e"]),
    ({"Title": [s("in", "NOT_CONTAINS")]}, ["b", "d"]),
    ({"Title": [s("injection", "CONTAINS"), s("root", "CONTAINS")]}, ["a", "c"]),
    ({"Title": [s("in", "NOT_CONTAINS"), s("AWS", "NOT_CONTAINS")]}, ["d"]),
    ({"Id": [s("a"), s("b")]}, ["a", "b"]),                              # positives OR'd
    ({"GeneratorId": [s("semgrep/", "PREFIX"), s("trivy/", "PREFIX")]}, ["a", "d", "e"]),
    ({"GeneratorId": [s("semgrep/", "PREFIX"), s("semgrep/info", "NOT_EQUALS")]}, ["a"]),
    ({"GeneratorId": [s("s", "PREFIX"), s("semgrep/info", "NOT_EQUALS"),
                      s("semgrep/sq", "PREFIX_NOT_EQUALS")]}, []),
    ({"SeverityLabel": [s("HIGH"), s("CRITICAL")]}, ["a", "b"]),
    ({"WorkflowStatus": [s("NEW")]}, ["a"]),          # c was born ARCHIVED, so RESOLVED
    ({"WorkflowStatus": [s("SUPPRESSED"), s("RESOLVED")]}, ["c", "d", "e"]),
    ({"RecordState": [s("ARCHIVED")]}, ["c"]),
    ({"RecordState": [s("ACTIVE")], "WorkflowStatus": [s("NEW"), s("NOTIFIED")]}, ["a", "b"]),
    ({"ProductName": [s("Default")]}, ["a", "b", "c", "d", "e"]),
    ({"ProductName": [s("Default", "NOT_EQUALS")]}, []),
    ({"ComplianceStatus": [s("PASSED", "NOT_EQUALS")]}, ["a", "b", "c", "d", "e"]),
    ({"Description": [s("descr", "CONTAINS")]}, ["a", "b", "c", "d", "e"]),
])
def test_string_filters_on_columns(hub, filters, expected):
    assert ids(hub, filters) == expected


@pytest.mark.parametrize("filters, expected", [
    ({"ResourceType": [s("Other")]}, ["a", "b", "d", "e"]),               # any resource
    ({"ResourceType": [s("Other", "NOT_EQUALS")]}, ["c"]),                # no resource
    ({"ResourceType": [s("Aws", "PREFIX")]}, ["c"]),
    ({"ResourceType": [s("Aws", "PREFIX_NOT_EQUALS")]}, ["a", "b", "d", "e"]),
    ({"ResourceType": [s("tain", "CONTAINS")]}, ["d"]),
    ({"ResourceType": [s("tain", "NOT_CONTAINS")]}, ["a", "b", "c", "e"]),
    ({"ResourceId": [s("src/", "PREFIX")]}, ["a", "b"]),
    ({"ResourceId": [s("Dockerfile"), s("README.md")]}, ["d", "e"]),
    ({"Type": [s("Effects/Data Exposure")]}, ["b"]),
    ({"Type": [s("Software and Configuration Checks/Vulnerabilities", "PREFIX")]},
     ["a", "d", "e"]),
    ({"Type": [s("Software and Configuration Checks", "PREFIX_NOT_EQUALS")]}, ["b"]),
    ({"Type": [s("Credentials", "CONTAINS")]}, ["b"]),
    ({"Type": [s("Vulnerabilities", "NOT_CONTAINS")]}, ["b", "c"]),
])
def test_string_filters_on_multi_valued_keys(hub, filters, expected):
    assert ids(hub, filters) == expected


@pytest.mark.parametrize("filters, expected", [
    ({"SeverityNormalized": [{"Gte": 40}]}, ["a", "b", "c"]),
    ({"SeverityNormalized": [{"Lt": 40}]}, ["d", "e"]),
    ({"SeverityNormalized": [{"Eq": 70}]}, ["a"]),
    ({"SeverityNormalized": [{"Gt": 70}]}, ["b"]),
    ({"SeverityNormalized": [{"Lte": 1}]}, ["d", "e"]),
    ({"SeverityNormalized": [{"Gte": 40, "Lte": 70}]}, ["a", "c"]),
    ({"SeverityNormalized": [{"Eq": 0}, {"Eq": 90}]}, ["b", "e"]),
    ({"Confidence": [{"Gte": 90}]}, ["b"]),
    ({"Confidence": [{"Lt": 90}]}, ["a"]),                                # NULL never matches
    ({"Criticality": [{"Gt": 20}]}, ["a"]),
    ({"Criticality": [{"Lte": 10.5}]}, ["d"]),
])
def test_number_filters(hub, filters, expected):
    assert ids(hub, filters) == expected


@pytest.mark.parametrize("filters, expected", [
    ({"CreatedAt": [{"Start": "2024-02-01T00:00:00Z", "End": "2024-03-01T00:00:00Z"}]},
     ["b", "c"]),
    ({"CreatedAt": [{"Start": "2024-04-01T00:00:00Z"}]}, ["d", "e"]),
    ({"CreatedAt": [{"End": "2024-01-31T23:59:59+00:00"}]}, ["a"]),
    ({"CreatedAt": [{"End": "2024-02-01T03:00:00+02:00"}]}, ["a", "b"]),   # zones honoured
    ({"UpdatedAt": [{"DateRange": {"Value": 7, "Unit": "DAYS"}}]}, ["d"]),
    ({"UpdatedAt": [{"DateRange": {"Value": 7, "Unit": "DAYS"}},
                    {"End": "2024-01-31T00:00:00Z"}]}, ["a", "d"]),
    ({"FirstObservedAt": [{"Start": "2000-01-01T00:00:00Z"}]}, ["a", "b"]),
    ({"FirstObservedAt": [{"End": "2030-01-01T00:00:00Z"}]}, ["a", "b"]),  # NULL never matches
    ({"LastObservedAt": [{"DateRange": {"Value": 3, "Unit": "DAYS"}}]}, ["d"]),
])
def test_date_filters(hub, filters, expected):
    assert ids(hub, filters) == expected


def m(key_, value, comparison="EQUALS"):
    return {"Key": key_, "Value": value, "Comparison": comparison}


@pytest.mark.parametrize("filters, expected", [
    ({"ProductFields": [m("secpipe/Tool", "semgrep")]}, ["a", "e"]),
    ({"ProductFields": [m("secpipe/Tool", "semgrep", "NOT_EQUALS")]}, ["b", "c", "d"]),
    ({"ProductFields": [m("secpipe/Tool", "secret", "CONTAINS")]}, ["b"]),
    ({"ProductFields": [m("secpipe/Tool", "e", "NOT_CONTAINS")]}, ["d"]),
    ({"ProductFields": [m("secpipe/Tool", "trivy"), m("secpipe/Stage", "iac")]}, ["c", "d"]),
    ({"ProductFields": [m("secpipe/Stage", "sast"), m("secpipe/Tool", "semgrep")],
      "SeverityLabel": [s("HIGH")]}, ["a"]),
    ({"ProductFields": [m("secpipe/Missing", "x", "NOT_EQUALS")]}, ["a", "b", "c", "d", "e"]),
    ({"ResourceTags": [m("env", "prod")]}, ["a"]),
    ({"ResourceTags": [m("env", "prod", "NOT_EQUALS")]}, ["b", "c", "d", "e"]),
    ({"UserDefinedFields": [m("owner", "team-", "CONTAINS")]}, ["d"]),
    ({"UserDefinedFields": [m("owner", "team-web")]}, ["d"]),
])
def test_map_filters(hub, filters, expected):
    assert ids(hub, filters) == expected


def test_boolean_filter(hub):
    assert ids(hub, {"Sample": [{"Value": True}]}) == ["d"]
    assert ids(hub, {"Sample": [{"Value": False}]}) == ["a", "b", "c", "e"]


@pytest.mark.parametrize("filters", [
    {"Nope": [s("x")]},
    {"Title": [s("x", "LIKE")]},
    {"Title": [s("x"), s("y", "NOT_EQUALS")]},
    {"Title": [s("x"), s("y", "PREFIX_NOT_EQUALS")]},
    {"Title": [s("x", "CONTAINS"), s("y")]},
    {"Title": [s("x", "NOT_CONTAINS"), s("y", "NOT_EQUALS")]},
    {"Title": [s(f"t{i}") for i in range(21)]},
    {key_: [s("x")] for key_ in ("Id", "Title", "ProductArn", "ProductName", "CompanyName",
                                 "GeneratorId", "Region", "AwsAccountId", "SeverityLabel",
                                 "WorkflowStatus", "RecordState")},
    {"Title": s("x")},
    {"Title": [{"Value": 3, "Comparison": "EQUALS"}]},
    {"SeverityNormalized": [{"Above": 3}]},
    {"SeverityNormalized": [{"Gte": "3"}]},
    {"CreatedAt": [{"Start": "last week"}]},
    {"CreatedAt": [{"DateRange": {"Value": 3, "Unit": "WEEKS"}}]},
    {"ProductFields": [{"Key": "k", "Value": "v", "Comparison": "PREFIX"}]},
    {"Sample": [{"Value": "yes"}]},
])
def test_bad_filters_are_invalid_input(hub, filters):
    with pytest.raises(InvalidInput):
        hub.get_findings(filters)


def test_twenty_values_and_ten_attributes_are_allowed(hub):
    assert ids(hub, {"Id": [s(f"x{i}") for i in range(19)] + [s("a")]}) == ["a"]
    ten = {k: [s("", "PREFIX")] for k in ("Id", "Title", "ProductArn", "ProductName",
                                          "CompanyName", "GeneratorId", "Region",
                                          "AwsAccountId", "SeverityLabel", "WorkflowStatus")}
    assert len(ids(hub, ten)) == 5


def test_default_sort_is_updated_at_descending(hub):
    docs, token = hub.get_findings()
    assert [d["Id"] for d in docs] == ["d", "e", "c", "b", "a"] and token is None


@pytest.mark.parametrize("sort, expected", [
    ([{"Field": "SeverityLabel", "SortOrder": "desc"}], ["b", "a", "c", "d", "e"]),
    ([{"Field": "SeverityLabel", "SortOrder": "asc"}], ["e", "d", "c", "a", "b"]),
    ([{"Field": "Title", "SortOrder": "asc"}], ["c", "b", "d", "a", "e"]),
    ([{"Field": "CreatedAt", "SortOrder": "asc"}], ["a", "b", "c", "d", "e"]),
    ([{"Field": "Confidence", "SortOrder": "desc"}], ["b", "a", "e", "d", "c"]),
    ([{"Field": "WorkflowStatus", "SortOrder": "asc"}, {"Field": "Title", "SortOrder": "desc"}],
     ["a", "b", "e", "c", "d"]),
    ([{"Field": "ResourceType", "SortOrder": "asc"}, {"Field": "Id", "SortOrder": "desc"}],
     ["c", "d", "e", "b", "a"]),
])
def test_sort_criteria(hub, sort, expected):
    docs, _ = hub.get_findings(sort=sort)
    assert [d["Id"] for d in docs] == expected


def test_bad_sort_and_page_size_are_invalid_input(hub):
    for sort in ([{"Field": "Nope"}], [{"Field": "Title", "SortOrder": "up"}], ["Title"]):
        with pytest.raises(InvalidInput):
            hub.get_findings(sort=sort)
    for size in (0, 101, "10"):
        with pytest.raises(InvalidInput):
            hub.get_findings(max_results=size)


def _many(n: int, prefix: str = "p") -> list[dict]:
    # several findings share each UpdatedAt so the pk tie-breaker is exercised
    return [finding(f"{prefix}{i:03d}", UpdatedAt=f"2024-06-{1 + i // 20:02d}T00:00:00Z",
                    Severity={"Label": ("LOW", "MEDIUM", "HIGH")[i % 3]},
                    Title=f"title {i % 7}") for i in range(n)]


@pytest.mark.parametrize("sort", [
    None,
    [{"Field": "Title", "SortOrder": "asc"}],
    [{"Field": "SeverityLabel", "SortOrder": "desc"}, {"Field": "UpdatedAt", "SortOrder": "asc"}],
])
def test_paging_through_250_findings(store, sort):
    store.bulk_import(_many(250))
    seen, token, pages = [], None, 0
    while True:
        docs, token = store.get_findings(sort=sort, max_results=100, next_token=token)
        seen += [d["Id"] for d in docs]
        pages += 1
        if token is None:
            break
    assert pages == 3 and len(seen) == 250 and len(set(seen)) == 250
    everything = []
    token = None
    while True:   # the same order in one big walk of pages of 7
        docs, token = store.get_findings(sort=sort, max_results=7, next_token=token)
        everything += [d["Id"] for d in docs]
        if token is None:
            break
    assert everything == seen


def test_paging_is_stable_under_concurrent_inserts(store):
    store.bulk_import(_many(250))
    first, token = store.get_findings(sort=[{"Field": "Title", "SortOrder": "asc"}],
                                      max_results=100)
    store.bulk_import(_many(50, prefix="new"))          # titles interleave with the old ones
    rest = []
    while token:
        docs, token = store.get_findings(sort=[{"Field": "Title", "SortOrder": "asc"}],
                                         max_results=100, next_token=token)
        rest += [d["Id"] for d in docs]
    old_seen = [i for i in [d["Id"] for d in first] + rest if i.startswith("p")]
    assert sorted(old_seen) == [f"p{i:03d}" for i in range(250)]      # none lost, none twice


def test_a_token_only_fits_its_own_request(hub):
    _, token = hub.get_findings(max_results=2)
    with pytest.raises(InvalidInput):
        hub.get_findings({"Id": [s("a")]}, max_results=2, next_token=token)
    with pytest.raises(InvalidInput):
        hub.get_findings(max_results=2, next_token="garbage!")
    docs, _ = hub.get_findings(max_results=2, next_token=token)
    assert [d["Id"] for d in docs] == ["c", "b"]


def test_text_search_is_case_insensitive_over_title_description_resources(hub):
    assert ids(hub, None, text="sql INJECTION") == ["a"]
    assert ids(hub, None, text="dockerfile") == ["d"]
    assert ids(hub, None, text="50%_") == ["d"]
    assert ids(hub, {"SeverityLabel": [s("LOW")]}, text="description") == ["d"]
    assert hub.count_findings(text="src/") == 2


def test_counts_and_groups(hub):
    open_ = {"RecordState": [s("ACTIVE")], "WorkflowStatus": [s("NEW"), s("NOTIFIED")]}
    assert hub.count_findings() == 5 and hub.count_findings(open_) == 2
    assert hub.group_counts("SeverityLabel", open_) == [
        {"GroupByAttributeValue": "CRITICAL", "Count": 1},
        {"GroupByAttributeValue": "HIGH", "Count": 1}]
    by_stage = hub.group_counts("ProductFields.secpipe/Stage")
    assert by_stage[0] == {"GroupByAttributeValue": "sast", "Count": 2}
    assert {g["GroupByAttributeValue"]: g["Count"] for g in hub.group_counts("ResourceType")} \
        == {"Other": 4, "AwsEksCluster": 1, "Container": 1}


def test_product_fields_kept_out_of_the_side_table_still_filter(store):
    store.batch_import([finding("a", ProductFields={"secpipe/Fingerprint": "abc123",
                                                    "secpipe/Tool": "x"}),
                        finding("b", ProductFields={"secpipe/Fingerprint": "def456"}),
                        finding("c")])
    pf = "ProductFields"
    assert ids(store, {pf: [m("secpipe/Fingerprint", "abc123")]}) == ["a"]
    assert ids(store, {pf: [m("secpipe/Fingerprint", "abc123"),
                            m("secpipe/Tool", "nope")]}) == ["a"]
    assert ids(store, {pf: [m("secpipe/Fingerprint", "456", "CONTAINS"),
                            m("secpipe/Tool", "x")]}) == ["a", "b"]
    assert ids(store, {pf: [m("secpipe/Fingerprint", "abc123", "NOT_EQUALS")]}) == ["b", "c"]
    assert ids(store, {pf: [m("secpipe/Fingerprint", "c1", "NOT_CONTAINS")]}) == ["b", "c"]
    assert store.group_counts("ProductFields.secpipe/Fingerprint") == [
        {"GroupByAttributeValue": "abc123", "Count": 1},
        {"GroupByAttributeValue": "def456", "Count": 1}]


@pytest.mark.parametrize("filters, expected", [
    ({"ResourceType": [s("Other")]}, ["a", "b", "d", "e"]),
    ({"ResourceId": [s("src/", "PREFIX")], "SeverityLabel": [s("HIGH")]}, ["a"]),
    ({"Type": [s("Effects/Data Exposure")]}, ["b"]),
    ({"ProductFields": [m("secpipe/Tool", "semgrep")]}, ["a", "e"]),
    ({"SeverityLabel": [s("HIGH"), s("LOW")], "UpdatedAt": [{"Start": "2024-01-01T00:00:00Z"}],
      "Title": [s("SQL", "PREFIX"), s("Out", "PREFIX")]}, ["a", "d"]),
    ({"WorkflowStatus": [s("NEW")], "SeverityNormalized": [{"Gte": 70}]}, ["a"]),
])
def test_every_plan_answers_the_same(hub, monkeypatch, filters, expected):
    from secpipe.hub import pages

    baseline = ids(hub, filters)
    monkeypatch.setattr(pages, "COUNT_CAP", 1)           # the store counts as "large"
    for sort in (None, [{"Field": "Title", "SortOrder": "asc"}]):
        got = {tuple(sorted(d["Id"] for d in hub.get_findings(filters, sort=sort)[0]))}
        assert got == {tuple(baseline)} and list(baseline) == expected


def test_grouping_a_side_table_filtered_on_the_same_table(hub):
    groups = hub.group_counts("ResourceType", {"ResourceId": [s("Dockerfile")]})
    assert groups == [{"GroupByAttributeValue": "Container", "Count": 1},
                      {"GroupByAttributeValue": "Other", "Count": 1}]
    assert hub.group_counts("ResourceType", None, text="dockerfile") == groups


@pytest.mark.parametrize("filters", [
    {"SeverityLabel": [s("LOW"), s("HIGH")]},                                 # common: scan
    {"Title": [s("title 3")], "SeverityLabel": [s("LOW"), s("MEDIUM"), s("HIGH")]},  # drive
])
def test_paging_with_every_plan(store, monkeypatch, filters):
    from secpipe.hub import pages

    store.bulk_import(_many(250))
    expected = sorted(d["Id"] for d in _many(250)
                      if d["Title"] in [f["Value"] for f in filters.get("Title", [])] or
                      ("Title" not in filters and d["Severity"]["Label"] in ("LOW", "HIGH")))
    monkeypatch.setattr(pages, "COUNT_CAP", 40)
    for sort in (None, [{"Field": "Title", "SortOrder": "asc"}],
                 [{"Field": "SeverityLabel", "SortOrder": "desc"},
                  {"Field": "CreatedAt", "SortOrder": "asc"}]):
        seen = every_page_ids(store, filters, sort, page=9)
        assert sorted(seen) == expected and len(seen) == len(set(seen))
