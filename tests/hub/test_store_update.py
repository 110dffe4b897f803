"""BatchUpdateFindings on the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from secpipe.hub.interface import InvalidInput
from tests.hub.builders import ARN, T0, finding, key


@pytest.fixture
def hub(store):
    store.batch_import([finding("a", UserDefinedFields={"keep": "1", "drop": "2"}),
                        finding("b")])
    return store


def get(store, fid):
    docs, _ = store.get_findings({"Id": [{"Value": fid, "Comparison": "EQUALS"}]})
    return docs[0]


def test_every_customer_field_changes_and_updated_at_does_not(hub):
    result = hub.batch_update([key(finding("a"))], {
        "Note": {"Text": "looked at it", "UpdatedBy": "alice"},
        "Severity": {"Label": "LOW"},
        "VerificationState": "FALSE_POSITIVE",
        "Confidence": 10,
        "Criticality": 99,
        "Types": ["TTPs/Discovery"],
        "UserDefinedFields": {"ticket": "SEC-9", "drop": ""},
        "Workflow": {"Status": "SUPPRESSED"},
        "RelatedFindings": [{"ProductArn": ARN, "Id": "b"}],
    }, updated_by="alice")
    assert result.processed == [key(finding("a"))] and result.unprocessed == []
    doc = get(hub, "a")
    assert doc["UpdatedAt"] == T0
    assert doc["Note"]["Text"] == "looked at it" and doc["Note"]["UpdatedBy"] == "alice"
    assert doc["Note"]["UpdatedAt"].endswith("Z")
    assert doc["Severity"]["Label"] == "LOW" and doc["Severity"]["Normalized"] == 1
    assert doc["VerificationState"] == "FALSE_POSITIVE"
    assert (doc["Confidence"], doc["Criticality"]) == (10, 99)
    assert doc["Types"] == ["TTPs/Discovery"]
    assert doc["UserDefinedFields"] == {"keep": "1", "ticket": "SEC-9"}
    assert doc["Workflow"]["Status"] == "SUPPRESSED"
    assert doc["RelatedFindings"] == [{"ProductArn": ARN, "Id": "b"}]
    # the indexed columns follow, and UpdatedAt filters/sorts as before
    same = {"UpdatedAt": [{"Start": T0, "End": T0}], "SeverityLabel": [
        {"Value": "LOW", "Comparison": "EQUALS"}], "Type": [
        {"Value": "TTPs/Discovery", "Comparison": "EQUALS"}], "Confidence": [{"Eq": 10}],
        "UserDefinedFields": [{"Key": "ticket", "Value": "SEC-9", "Comparison": "EQUALS"}]}
    assert [d["Id"] for d in hub.get_findings(same)[0]] == ["a"]
    assert hub.get_findings({"UserDefinedFields": [
        {"Key": "drop", "Value": "2", "Comparison": "EQUALS"}]})[0] == []


def test_severity_from_normalized(hub):
    hub.batch_update([key(finding("a"))], {"Severity": {"Normalized": 95}})
    assert get(hub, "a")["Severity"]["Label"] == "CRITICAL"


def test_unknown_and_duplicate_identifiers_are_unprocessed(hub):
    ghost = {"Id": "ghost", "ProductArn": ARN}
    result = hub.batch_update([key(finding("a")), ghost, key(finding("a"))],
                              {"Workflow": {"Status": "NOTIFIED"}})
    assert result.processed == [key(finding("a"))]
    codes = [(u["FindingIdentifier"]["Id"], u["ErrorCode"]) for u in result.unprocessed]
    assert codes == [("ghost", "FindingNotFound"), ("a", "DuplicatedFindingIdentifier")]
    assert get(hub, "a")["Workflow"]["Status"] == "NOTIFIED"


@pytest.mark.parametrize("changes", [
    {"Workflow": {"Status": "CLOSED"}},
    {"Severity": {"Label": "SEVERE"}},
    {"Severity": {}},
    {"Confidence": 101},
    {"Criticality": "high"},
    {"VerificationState": "MAYBE"},
    {"Types": ["Bogus/x"]},
    {"Note": {"UpdatedBy": "x"}},
    {"Note": {"Text": "x" * 513, "UpdatedBy": "x"}},
    {"UserDefinedFields": {"k": 1}},
    {"RelatedFindings": [{"Id": "x"}]},
    {"Title": "not the customer's"},
])
def test_a_bad_change_fails_the_whole_call(hub, changes):
    with pytest.raises(InvalidInput):
        hub.batch_update([key(finding("a"))], {"Workflow": {"Status": "NOTIFIED"}, **changes})
    assert get(hub, "a")["Workflow"]["Status"] == "NEW"


def test_identifier_limits(hub):
    with pytest.raises(InvalidInput):
        hub.batch_update([], {"Workflow": {"Status": "NOTIFIED"}})
    with pytest.raises(InvalidInput):
        hub.batch_update([{"Id": f"x{i}", "ProductArn": ARN} for i in range(101)],
                         {"Workflow": {"Status": "NOTIFIED"}})
    with pytest.raises(InvalidInput):
        hub.batch_update([{"Id": "a"}], {"Workflow": {"Status": "NOTIFIED"}})
    many = hub.batch_update([{"Id": f"x{i}", "ProductArn": ARN} for i in range(100)],
                            {"Workflow": {"Status": "NOTIFIED"}})
    assert len(many.unprocessed) == 100


def test_history_keeps_who_when_what(hub):
    hub.batch_update([key(finding("a"))], {"Workflow": {"Status": "SUPPRESSED"},
                                           "Note": {"Text": "accepted risk", "UpdatedBy": "bob"}},
                     updated_by="bob")
    hub.batch_update([key(finding("a"))], {"Workflow": {"Status": "SUPPRESSED"}},
                     updated_by="carol")                       # no change: no history row
    events = [h for h in hub.finding_history("a") if h["kind"] == "update"]
    assert len(events) == 1
    assert events[0]["actor"] == "bob" and events[0]["at"].endswith("Z")
    assert events[0]["changes"]["Workflow"] == [{"Status": "NEW"}, {"Status": "SUPPRESSED"}]
    assert events[0]["changes"]["Note"][1]["Text"] == "accepted risk"
