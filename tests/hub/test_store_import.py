"""BatchImportFindings semantics of the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from secpipe.hub.interface import InvalidInput, LimitExceeded
from tests.hub.builders import ARN, T0, finding, key

T1 = "2024-05-02T10:00:00.000Z"
T2 = "2024-05-03T10:00:00.000Z"


def one(store, fid="f-1"):
    docs, _ = store.get_findings({"Id": [{"Value": fid, "Comparison": "EQUALS"}]})
    assert len(docs) == 1
    return docs[0]


def set_workflow(store, doc, status):
    result = store.batch_update([key(doc)], {"Workflow": {"Status": status}})
    assert result.processed == [key(doc)]


def test_create_fills_in_what_security_hub_derives(store):
    result = store.batch_import([finding("a", Severity={"Normalized": 75})])
    assert (result.success_count, result.failed_count) == (1, 0)
    doc = one(store, "a")
    assert doc["Severity"] == {"Normalized": 75, "Label": "HIGH"}
    assert doc["RecordState"] == "ACTIVE" and doc["Workflow"] == {"Status": "NEW"}
    assert doc["ProductName"] == "Default" and doc["CompanyName"] == "Personal"
    assert doc["Region"] == "us-east-1"
    assert doc["FindingProviderFields"]["Severity"] == doc["Severity"]
    assert doc["CreatedAt"] == T0


@pytest.mark.parametrize("bad, message", [
    (finding("b", Title=None), "Title"),
    (finding("b", AwsAccountId="12"), "AwsAccountId"),
    (finding("b", Resources=[]), "Resources"),
    (finding("b", Resources=["x"]), "Resource"),
    (finding("b", Severity={"Label": "SEVERE"}), "Severity"),
    (finding("b", Types="Effects"), "Types"),
    (finding("b", Types=["Nonsense/x"]), "Type"),
    (finding("b", ProductArn="arn:aws:s3:::bucket"), "ProductArn"),
    (finding("b", UpdatedAt="yesterday"), "UpdatedAt"),
    (finding("b", Confidence=101), "Confidence"),
    (finding("b", ProductFields={"k": 1}), "ProductFields"),
    (finding("b", RecordState="DELETED"), "RecordState"),
    (finding("b", Workflow={"Status": "DONE"}), "Workflow"),
    (finding("b", Note="text"), "Note"),
    (finding("b", Remediation=["x"]), "Remediation"),
    (finding("b", SchemaVersion="2020-01-01"), "SchemaVersion"),
])
def test_one_bad_finding_never_fails_the_batch(store, bad, message):
    result = store.batch_import([finding("good-1"), bad, finding("good-2")])
    assert result.success_count == 2 and result.failed_count == 1
    failure = result.failed[0]
    assert failure["Id"] == "b" and failure["ErrorCode"] == "InvalidInput"
    if message:
        assert message in failure["ErrorMessage"]
    assert store.count_findings() == 2


def test_a_finding_that_is_not_an_object_is_a_failed_finding(store):
    result = store.batch_import(["nope", finding("ok")])
    assert result.success_count == 1
    assert result.failed == [{"Id": "", "ErrorCode": "InvalidInput",
                              "ErrorMessage": "a finding must be a JSON object"}]


def test_a_finding_over_240_kb_is_refused(store):
    big = finding("big", ProductFields={f"k{i}": "é" * 2048 for i in range(50)},
                  UserDefinedFields={f"u{i}": "ü" * 1024 for i in range(50)})
    result = store.batch_import([big])
    assert result.failed and "240 KB" in result.failed[0]["ErrorMessage"]


def test_more_than_100_findings_fail_the_whole_call(store):
    with pytest.raises(InvalidInput):
        store.batch_import([finding(f"f{i}") for i in range(101)])
    assert store.count_findings() == 0
    assert store.batch_import([finding(f"f{i}") for i in range(100)]).success_count == 100


def test_more_than_6_mb_fails_the_whole_call(store):
    fields = {f"k{i}": "x" * 2000 for i in range(50)}       # ~100 KB per finding
    with pytest.raises(LimitExceeded):
        store.batch_import([finding(f"f{i}", ProductFields=fields) for i in range(70)])
    assert store.count_findings() == 0


def test_newer_updated_at_updates_older_or_equal_is_ignored(store):
    store.batch_import([finding("a", UpdatedAt=T1, Title="first")])
    store.batch_import([finding("a", UpdatedAt=T0, Title="older")])
    store.batch_import([finding("a", UpdatedAt=T1, Title="same instant")])
    assert one(store, "a")["Title"] == "first"
    result = store.batch_import([finding("a", UpdatedAt=T2, Title="newer")])
    assert result.success_count == 1
    doc = one(store, "a")
    assert doc["Title"] == "newer" and doc["UpdatedAt"] == T2
    assert store.count_findings() == 1


def test_timestamps_compare_as_instants_not_text(store):
    store.batch_import([finding("a", UpdatedAt="2024-05-02T12:00:00+02:00", Title="first")])
    # 10:30Z is later than 12:00+02:00 (= 10:00Z) although it sorts lower as text
    store.batch_import([finding("a", UpdatedAt="2024-05-02T10:30:00Z", Title="later")])
    assert one(store, "a")["Title"] == "later"


def test_same_id_under_another_product_is_another_finding(store):
    other = "arn:aws:securityhub:us-east-1::product/aws/guardduty"
    store.batch_import([finding("a"), finding("a", ProductArn=other)])
    assert store.count_findings() == 2
    assert one_by_product(store, other)["ProductName"] == "GuardDuty"   # the registry's name


def one_by_product(store, arn):
    docs, _ = store.get_findings({"ProductArn": [{"Value": arn, "Comparison": "EQUALS"}]})
    return docs[0]


def test_created_at_stays_the_first_imports(store):
    store.batch_import([finding("a")])
    store.batch_import([finding("a", CreatedAt=T1, UpdatedAt=T1)])
    assert one(store, "a")["CreatedAt"] == T0


def test_import_cannot_change_the_customers_fields(store):
    doc = finding("a")
    store.batch_import([doc])
    store.batch_update([key(doc)], {"Note": {"Text": "triaged", "UpdatedBy": "alice"},
                                    "VerificationState": "TRUE_POSITIVE",
                                    "UserDefinedFields": {"ticket": "SEC-1"},
                                    "Workflow": {"Status": "NOTIFIED"}})
    store.batch_import([finding("a", UpdatedAt=T1, Note={"Text": "provider", "UpdatedBy": "p",
                                                         "UpdatedAt": T1},
                                VerificationState="FALSE_POSITIVE",
                                UserDefinedFields={"ticket": "none"},
                                Workflow={"Status": "SUPPRESSED"}, Title="changed")])
    after = one(store, "a")
    assert after["Title"] == "changed"
    assert after["Note"]["Text"] == "triaged"
    assert after["VerificationState"] == "TRUE_POSITIVE"
    assert after["UserDefinedFields"] == {"ticket": "SEC-1"}
    assert after["Workflow"]["Status"] == "NOTIFIED"
    hit, _ = store.get_findings({"UserDefinedFields": [
        {"Key": "ticket", "Value": "SEC-1", "Comparison": "EQUALS"}]})
    assert [d["Id"] for d in hit] == ["a"]


def test_import_sets_workflow_only_on_creation(store):
    store.batch_import([finding("a", Workflow={"Status": "NOTIFIED"})])
    assert one(store, "a")["Workflow"]["Status"] == "NOTIFIED"


def test_severity_changed_by_a_customer_survives_imports(store):
    store.batch_import([finding("a")])
    store.batch_update([key(finding("a"))], {"Severity": {"Label": "LOW"}})
    store.batch_import([finding("a", UpdatedAt=T1, Severity={"Label": "CRITICAL"})])
    doc = one(store, "a")
    assert doc["Severity"]["Label"] == "LOW"
    assert doc["FindingProviderFields"]["Severity"]["Label"] == "CRITICAL"
    store.batch_import([finding("b")])
    store.batch_import([finding("b", UpdatedAt=T1, Severity={"Label": "CRITICAL"})])
    assert one(store, "b")["Severity"]["Label"] == "CRITICAL"


@pytest.mark.parametrize("status, expected", [
    ("NOTIFIED", "NEW"), ("RESOLVED", "NEW"), ("SUPPRESSED", "SUPPRESSED"), ("NEW", "NEW"),
])
def test_archived_to_active_resets_workflow(store, status, expected):
    store.batch_import([finding("a", RecordState="ARCHIVED")])
    set_workflow(store, finding("a"), status)
    store.batch_import([finding("a", UpdatedAt=T1, RecordState="ACTIVE")])
    doc = one(store, "a")
    assert doc["RecordState"] == "ACTIVE" and doc["Workflow"]["Status"] == expected


@pytest.mark.parametrize("status", ["NOTIFIED", "RESOLVED", "SUPPRESSED"])
def test_active_staying_active_keeps_workflow(store, status):
    store.batch_import([finding("a")])
    set_workflow(store, finding("a"), status)
    store.batch_import([finding("a", UpdatedAt=T1, Title="rescanned")])
    assert one(store, "a")["Workflow"]["Status"] == status


@pytest.mark.parametrize("status, expected", [
    ("NEW", "RESOLVED"), ("NOTIFIED", "RESOLVED"), ("SUPPRESSED", "SUPPRESSED"),
    ("RESOLVED", "RESOLVED"),
])
def test_active_to_archived_resolves(store, status, expected):
    store.batch_import([finding("a")])
    set_workflow(store, finding("a"), status)
    store.batch_import([finding("a", UpdatedAt=T1, RecordState="ARCHIVED")])
    doc = one(store, "a")
    assert doc["RecordState"] == "ARCHIVED" and doc["Workflow"]["Status"] == expected


@pytest.mark.parametrize("status, expected", [
    ("NEW", "RESOLVED"), ("NOTIFIED", "RESOLVED"), ("SUPPRESSED", "SUPPRESSED"),
])
def test_compliance_becoming_passed_resolves(store, status, expected):
    store.batch_import([finding("a", Compliance={"Status": "FAILED"})])
    set_workflow(store, finding("a"), status)
    store.batch_import([finding("a", UpdatedAt=T1, Compliance={"Status": "PASSED"})])
    assert one(store, "a")["Workflow"]["Status"] == expected


@pytest.mark.parametrize("status, expected", [
    ("RESOLVED", "NEW"), ("NOTIFIED", "NEW"), ("SUPPRESSED", "SUPPRESSED"),
])
def test_compliance_leaving_passed_reopens(store, status, expected):
    store.batch_import([finding("a", Compliance={"Status": "PASSED"})])
    set_workflow(store, finding("a"), status)
    store.batch_import([finding("a", UpdatedAt=T1, Compliance={"Status": "FAILED"})])
    assert one(store, "a")["Workflow"]["Status"] == expected


def test_a_finding_born_passing_is_born_resolved(store):
    store.batch_import([finding("a", Compliance={"Status": "PASSED"})])
    assert one(store, "a")["Workflow"]["Status"] == "RESOLVED"


def test_automatic_workflow_changes_are_in_the_history(store):
    store.batch_import([finding("a")])
    store.batch_import([finding("a", UpdatedAt=T1, RecordState="ARCHIVED")])
    kinds = [(h["kind"], h.get("changes")) for h in store.finding_history("a")]
    assert ("auto", {"Workflow.Status": ["NEW", "RESOLVED"]}) in kinds


def test_within_one_batch_the_newest_update_wins(store):
    result = store.batch_import([finding("a", UpdatedAt=T2, Title="newest"),
                                 finding("a", UpdatedAt=T1, Title="older")])
    assert result.success_count == 2
    assert one(store, "a")["Title"] == "newest"


def test_updates_rewrite_the_side_tables(store):
    store.batch_import([finding("a", ProductFields={"tool": "x", "keep": "1"},
                                Types=["Effects/Data Exposure"])])
    store.batch_import([finding("a", UpdatedAt=T1, ProductFields={"tool": "y", "keep": "1"},
                                Types=["TTPs/Discovery"],
                                Resources=[{"Type": "AwsS3Bucket", "Id": "arn:b"}])])

    def ids(filters):
        return [d["Id"] for d in store.get_findings(filters)[0]]

    pf = "ProductFields"
    assert ids({pf: [{"Key": "tool", "Value": "x", "Comparison": "EQUALS"}]}) == []
    assert ids({pf: [{"Key": "tool", "Value": "y", "Comparison": "EQUALS"}]}) == ["a"]
    assert ids({pf: [{"Key": "keep", "Value": "1", "Comparison": "EQUALS"}]}) == ["a"]
    assert ids({"Type": [{"Value": "Effects/Data Exposure", "Comparison": "EQUALS"}]}) == []
    assert ids({"Type": [{"Value": "TTPs/Discovery", "Comparison": "EQUALS"}]}) == ["a"]
    assert ids({"ResourceType": [{"Value": "Other", "Comparison": "EQUALS"}]}) == []
    assert ids({"ResourceId": [{"Value": "arn:b", "Comparison": "EQUALS"}]}) == ["a"]


def test_unchanged_reimport_changes_nothing(store):
    docs = [finding(f"f{i}") for i in range(300)]
    store.bulk_import(docs, batch_size=128)
    before = store.get_findings(max_results=5)[0]
    result = store.bulk_import(docs, batch_size=128)
    assert result.success_count == 300 and not result.failed
    assert store.get_findings(max_results=5)[0] == before
    assert store.count_findings() == 300


def test_bulk_import_has_no_100_limit_and_consumes_iterables(store):
    result = store.bulk_import((finding(f"f{i}") for i in range(1234)), batch_size=500)
    assert result.success_count == 1234 and store.count_findings() == 1234


def test_long_product_field_values_are_filterable(store):
    long = "v" * 300 + "tail"
    store.batch_import([finding("a", ProductFields={"k": long}),
                        finding("b", ProductFields={"k": "v" * 300 + "other"})])
    hit, _ = store.get_findings({"ProductFields": [
        {"Key": "k", "Value": long, "Comparison": "EQUALS"}]})
    assert [d["Id"] for d in hit] == ["a"]
    hit, _ = store.get_findings({"ProductFields": [
        {"Key": "k", "Value": "tail", "Comparison": "CONTAINS"}]})
    assert [d["Id"] for d in hit] == ["a"]


def test_arn_constant_is_the_default_product(store):
    assert ARN.endswith("/default")
