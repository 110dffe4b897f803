"""GetFindingHistory and UpdateFindings through the unmodified boto3 client: what creation,
triage (BatchUpdateFindings, UpdateFindings) and provider updates (BatchImportFindings) leave
in a finding's history, in Security Hub's record shape, with time windows and paging."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.hub.family_support import FamilyHub, fhub  # noqa: F401
from tests.hub.test_api_shapes import Recorder, shape_problems
from tests.hub.test_api_support import iso, make_finding, repo_filter

botocore = pytest.importorskip("botocore")
from botocore.exceptions import ClientError  # noqa: E402


def _ident(f: dict) -> dict:
    return {"Id": f["Id"], "ProductArn": f["ProductArn"]}


def _history(client, f: dict, **kw) -> list[dict]:
    out = []
    for page in client.get_paginator("get_finding_history").paginate(
            FindingIdentifier=_ident(f), **kw):
        out += page["Records"]
    return out


def _fields(record: dict) -> dict[str, tuple]:
    return {u["UpdatedField"]: (u.get("OldValue"), u.get("NewValue"))
            for u in record["Updates"]}


def test_creation_triage_and_provider_updates(fhub: FamilyHub) -> None:  # noqa: F811
    client = fhub.client()
    f = make_finding("hist", 1, days_ago=0.01)
    client.batch_import_findings(Findings=[f])
    [created] = _history(client, f)
    assert created["FindingCreated"] is True and created["Updates"] == []
    assert created["UpdateSource"] == {"Type": "BATCH_IMPORT_FINDINGS",
                                       "Identity": f["ProductArn"]}
    assert created["FindingIdentifier"] == _ident(f)

    client.batch_update_findings(FindingIdentifiers=[_ident(f)], Workflow={"Status": "NOTIFIED"},
                                 Note={"Text": "looking", "UpdatedBy": "alice"})
    again = dict(f, UpdatedAt=iso(), Title="a new title")     # the provider changes a field
    again["Severity"] = {"Label": "HIGH", "Original": "HIGH"}
    client.batch_import_findings(Findings=[again])
    only_time = dict(again, UpdatedAt=iso(), LastObservedAt=iso())   # timestamps and the
    only_time["ProductFields"] = {**again["ProductFields"], "secpipe/RunId": "run-2",
                                  "secpipe/Commit": "beef"}             # run provenance alone
    client.batch_import_findings(Findings=[only_time])
    archived = dict(only_time, UpdatedAt=iso(), RecordState="ARCHIVED")
    client.batch_import_findings(Findings=[archived])

    records = _history(client, f)
    assert [r["FindingCreated"] for r in records] == [True, False, False, False, False]
    triage, provider, auto, archive = records[1:]
    assert triage["UpdateSource"] == {"Type": "BATCH_UPDATE_FINDINGS", "Identity": fhub.key_id}
    changed = _fields(triage)
    assert changed["Workflow.Status"] == ("NEW", "NOTIFIED")
    assert changed["Note.Text"] == (None, "looking")
    assert changed["Note.UpdatedBy"] == (None, "alice")
    assert provider["UpdateSource"] == {"Type": "BATCH_IMPORT_FINDINGS", "Identity": fhub.key_id}
    changed = _fields(provider)
    assert changed["Title"] == (f["Title"], "a new title")
    assert changed["Severity.Label"] == ("MEDIUM", "HIGH")
    assert not any(k in changed for k in ("UpdatedAt", "ProcessedAt", "LastObservedAt"))
    assert _fields(auto) == {"Workflow.Status": ("NOTIFIED", "RESOLVED")}
    assert _fields(archive) == {"RecordState": ("ACTIVE", "ARCHIVED")}
    times = [r["UpdateTime"] for r in records]
    assert times == sorted(times)


def test_update_findings_legacy(fhub: FamilyHub) -> None:  # noqa: F811
    client = fhub.client()
    findings = [make_finding("legacy", n) for n in range(3)]
    client.batch_import_findings(Findings=findings)
    client.update_findings(Filters=repo_filter("legacy"), Note={"Text": "seen by ops",
                                                               "UpdatedBy": "ops"},
                           RecordState="ARCHIVED")
    got = client.get_findings(Filters=repo_filter("legacy"))["Findings"]
    assert len(got) == 3
    for g in got:
        assert g["RecordState"] == "ARCHIVED" and g["Note"]["Text"] == "seen by ops"
        assert g["Workflow"]["Status"] == "RESOLVED"
        assert g["UpdatedAt"] == next(f["UpdatedAt"] for f in findings if f["Id"] == g["Id"])
    # the filter index follows the change (NoteText is answered from index rows)
    noted = [{"Comparison": "EQUALS", "Value": "seen by ops"}]
    assert len(client.get_findings(Filters={"NoteText": noted})["Findings"]) == 3
    client.update_findings(Filters=repo_filter("legacy"), Note={"Text": "rechecked",
                                                               "UpdatedBy": "ops"})
    assert client.get_findings(Filters={"NoteText": noted})["Findings"] == []
    assert len(client.get_findings(Filters={"NoteText": [
        {"Comparison": "EQUALS", "Value": "rechecked"}]})["Findings"]) == 3
    last = _history(client, findings[0])[-2]
    assert last["UpdateSource"]["Type"] == "BATCH_UPDATE_FINDINGS"
    assert _fields(last)["RecordState"] == ("ACTIVE", "ARCHIVED")
    assert _fields(last)["Workflow.Status"] == ("NEW", "RESOLVED")
    # back to ACTIVE reopens it, as an import would
    client.update_findings(Filters=repo_filter("legacy"), RecordState="ACTIVE")
    got = client.get_findings(Filters=repo_filter("legacy"))["Findings"]
    assert {g["Workflow"]["Status"] for g in got} == {"NEW"}
    with pytest.raises(ClientError) as err:
        client.update_findings(Filters=repo_filter("no-such-repo"), RecordState="ACTIVE")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        client.update_findings(Filters=repo_filter("legacy"))
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    reader_id, reader_secret = fhub.store.create_access_key("reader", role="read")
    with pytest.raises(ClientError) as err:
        fhub.client(key_id=reader_id, secret=reader_secret).update_findings(
            Filters=repo_filter("legacy"), RecordState="ARCHIVED")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"


def test_paging_and_time_windows(fhub: FamilyHub) -> None:  # noqa: F811
    client = fhub.client()
    f = make_finding("pages", 1, days_ago=0.01)
    client.batch_import_findings(Findings=[f])
    for n in range(5):
        client.batch_update_findings(FindingIdentifiers=[_ident(f)],
                                     Note={"Text": f"note {n}", "UpdatedBy": "bob"})
    everything = _history(client, f)
    assert len(everything) == 6
    first = client.get_finding_history(FindingIdentifier=_ident(f), MaxResults=2)
    assert len(first["Records"]) == 2 and first["NextToken"]
    paged = _history(client, f, PaginationConfig={"PageSize": 2})
    assert paged == everything
    texts = [_fields(r)["Note.Text"][1] for r in everything[1:]]
    assert texts == [f"note {n}" for n in range(5)]
    now = datetime.now(timezone.utc)
    assert _history(client, f, EndTime=now - timedelta(days=1)) == []
    assert _history(client, f, StartTime=now + timedelta(minutes=5)) == []
    after_creation = _history(client, f, StartTime=now - timedelta(minutes=5), EndTime=now
                              + timedelta(minutes=1))
    assert [r["FindingCreated"] for r in after_creation] == [False] * 5
    with pytest.raises(ClientError) as err:
        client.get_finding_history(FindingIdentifier=_ident(f), StartTime=now,
                                   EndTime=now - timedelta(days=1))
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    with pytest.raises(ClientError) as err:
        client.get_finding_history(FindingIdentifier=_ident(f), NextToken="bm9wZQ")
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    unknown = {"Id": "secpipe/none/0", "ProductArn": f["ProductArn"]}
    assert client.get_finding_history(FindingIdentifier=unknown)["Records"] == []


def test_answers_fit_the_output_shapes(fhub: FamilyHub) -> None:  # noqa: F811
    from secpipe.hub.api.shapes import output_shape

    client = fhub.client()
    f = make_finding("hshape", 1)
    client.batch_import_findings(Findings=[f])
    client.batch_update_findings(FindingIdentifiers=[_ident(f)], Confidence=50,
                                 UserDefinedFields={"k": "v"}, Types=[
                                     "Software and Configuration Checks/Vulnerabilities/CVE"])
    rec = Recorder(client)
    client.get_finding_history(FindingIdentifier=_ident(f), MaxResults=1)
    client.get_finding_history(FindingIdentifier=_ident(f))
    client.update_findings(Filters=repo_filter("hshape"), RecordState="ARCHIVED")
    assert set(rec.bodies) == {"GetFindingHistory", "UpdateFindings"}
    for op, bodies in rec.bodies.items():
        for body in bodies:
            assert shape_problems(json.loads(body or b"{}"), output_shape(op)) == [], op


def test_update_findings_by_a_scoped_key_is_all_or_nothing(fhub: FamilyHub) -> None:  # noqa: F811
    from secpipe.hub.authz import Scope

    client = fhub.client()
    mine, other = make_finding("scoped-a", 1), make_finding("scoped-b", 1)
    client.batch_import_findings(Findings=[mine, other])
    key, secret = fhub.store.create_access_key("triage a", role="triage",
                                               scope=Scope.of(repos=["scoped-a"]))
    triage = fhub.client(key_id=key, secret=secret)
    both = {"Id": [{"Value": mine["Id"], "Comparison": "EQUALS"},
                   {"Value": other["Id"], "Comparison": "EQUALS"}]}
    with pytest.raises(ClientError) as err:
        triage.update_findings(Filters=both, RecordState="ARCHIVED")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    states = {f["Id"]: f["RecordState"] for f in client.get_findings(Filters=both)["Findings"]}
    assert states == {mine["Id"]: "ACTIVE", other["Id"]: "ACTIVE"}       # nothing half done
    triage.update_findings(Filters=repo_filter("scoped-a"), RecordState="ARCHIVED")
    assert client.get_findings(Filters=repo_filter("scoped-a"))["Findings"][0][
        "RecordState"] == "ARCHIVED"


def test_update_findings_rolls_back_across_chunks(store, monkeypatch) -> None:
    """The refusal comes in the second chunk; the first chunk's change is rolled back."""
    from secpipe.hub import legacy_update
    from secpipe.hub.authz import Principal, Scope

    monkeypatch.setattr(legacy_update, "CHUNK", 1)
    mine, other = make_finding("chunk-a", 1), make_finding("chunk-b", 1)
    store.batch_import([mine])
    store.batch_import([other])           # a later pk: the second chunk
    scoped = Principal("sigv4", "AKSCOPED", role="triage", scope=Scope.of(repos=["chunk-a"]))
    both = {"Id": [{"Value": mine["Id"], "Comparison": "EQUALS"},
                   {"Value": other["Id"], "Comparison": "EQUALS"}]}
    from secpipe.hub.interface import AccessDenied

    with pytest.raises(AccessDenied):
        store.update_findings(both, record_state="ARCHIVED", principal=scoped)
    assert {f["RecordState"] for f in store.get_findings(both)[0]} == {"ACTIVE"}
    assert store.update_findings(both, record_state="ARCHIVED") == 2
    assert {f["RecordState"] for f in store.get_findings(both)[0]} == {"ARCHIVED"}
