"""The unchanged re-import shortcut: a document the hub already accepted, sent again with an
UpdatedAt that is not newer, is ignored without being validated again, and every outcome is
the one the full path gives (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from secpipe.hub import importer
from secpipe.hub.interface import RunRecord
from tests.hub.builders import SCOPE, T0, example_run, finding, key

T1 = "2024-05-02T10:00:00.000Z"


def run(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, repo="example/web", branch="main", commit=run_id,
                     started_at=T0, finished_at=T0, status="failed", exit_code=1, summary={},
                     scope=SCOPE)


@pytest.fixture
def checks(monkeypatch):
    """How many documents the importer validated in full."""
    seen: list[str] = []
    real = importer.check

    def counting(obj):
        seen.append(obj.get("Id") if isinstance(obj, dict) else "?")
        return real(obj)

    monkeypatch.setattr(importer, "check", counting)
    return seen


def stored(store, fid):
    docs, _ = store.get_findings({"Id": [{"Value": fid, "Comparison": "EQUALS"}]})
    assert len(docs) == 1
    return docs[0]


def test_identical_reimport_is_skipped_and_keeps_triage(store, checks):
    docs = [finding("a"), finding("b", Note=None)]
    assert store.batch_import(docs).success_count == 2
    assert checks == ["a", "b"]
    store.batch_update([key(docs[0])], {"Workflow": {"Status": "NOTIFIED"},
                                        "Note": {"Text": "looking", "UpdatedBy": "me"}})
    before = stored(store, "a")
    checks.clear()
    result = store.batch_import([finding("a"), finding("b", Note=None)])
    assert (result.success_count, result.failed_count) == (2, 0)
    assert checks == []                                   # neither was validated again
    assert stored(store, "a") == before                    # triage and ProcessedAt untouched
    bulk = store.bulk_import([finding("a"), finding("b", Note=None)])
    assert (bulk.success_count, bulk.failed) == (2, [])
    assert checks == []


def test_any_difference_takes_the_full_path(store, checks):
    store.batch_import([finding("a")])
    checks.clear()
    reordered = dict(reversed(list(finding("a").items())))           # same content, other order
    bad = finding("a", Confidence=101)                                 # same UpdatedAt, invalid
    result = store.batch_import([reordered])
    assert result.success_count == 1 and checks == ["a"]
    result = store.batch_import([bad])
    assert result.success_count == 0 and result.failed[0]["Id"] == "a"   # still refused
    newer = finding("a", UpdatedAt=T1, Title="a new title")
    assert store.batch_import([newer]).success_count == 1
    assert stored(store, "a")["Title"] == "a new title"
    checks.clear()
    assert store.batch_import([finding("a")]).success_count == 1      # the old one: ignored
    assert checks == ["a"]                                              # (digest is newer's)
    assert stored(store, "a")["Title"] == "a new title"
    assert store.batch_import([newer]).success_count == 1 and checks == ["a"]


def test_integers_floats_and_booleans_are_told_apart(store, checks):
    store.batch_import([finding("a", Confidence=50)])
    checks.clear()
    store.batch_import([finding("a", Confidence=50.0)])
    assert checks == ["a"]


def test_tuples_and_lists_are_told_apart(store, checks):
    """The digest's bytes keep every built-in type apart (orjson's would not: it writes a
    tuple as a list): a tuple where a list was accepted takes the full path."""
    store.batch_import([finding("a")])
    checks.clear()
    doc = finding("a")
    doc["Types"] = tuple(doc["Types"])
    store.bulk_import([doc])
    assert checks == ["a"]


def test_documents_of_other_than_built_in_types_take_the_full_path(store, checks):
    """A dict or str subclass, a UUID: no digest (pickle would have to reduce them), so
    nothing such a document holds can pass for one the hub accepted."""
    import uuid

    class Doc(dict):
        pass

    class Text(str):
        pass

    store.batch_import([finding("a")])
    uid = str(uuid.UUID(int=7))
    store.batch_import([finding("b", Note={"Text": uid, "UpdatedBy": "me",
                                           "UpdatedAt": T0})])
    checks.clear()
    store.bulk_import([Doc(finding("a")), finding("a", Title=Text(finding("a")["Title"])),
                       finding("b", Note={"Text": uuid.UUID(int=7), "UpdatedBy": "me",
                                          "UpdatedAt": T0})])
    assert checks == ["a", "a", "b"]
    for doc in (Doc(finding("a")), {"x": uuid.UUID(int=7)}, {"x": len}):
        assert importer.digest(doc) is None
    cyclic: dict = {}
    cyclic["self"] = cyclic
    assert importer.digest(cyclic) is None


def test_equal_documents_have_equal_digests_however_their_objects_are_shared():
    title = "shared " + "title"
    doc = finding("a", Title=title, Types=[title])
    again = finding("a", Title="".join(["shared ", "title"]), Types=["shared title"])
    assert doc == again and doc["Title"] is doc["Types"][0]
    assert importer.digest(doc) == importer.digest(again)
    assert len(importer.digest(doc)) == 32


def test_a_stale_shortcut_is_checked_in_full_under_the_write_lock(store, checks):
    """Between the read that found the digest and the write, another import replaced the row:
    the item is validated after all (and fails if it is not valid)."""
    doc = finding("a")
    store.batch_import([doc])
    with store._read() as conn:
        before = importer.known(conn, [doc], store.partition)
    good, failed = importer.check_all([doc], before)
    assert failed == [] and good[0].unchanged
    store.batch_import([finding("a", UpdatedAt=T1, Title="newer")])    # the race
    checks.clear()
    forged = importer.Checked(finding("b", Title=None), None, importer.canon_time(T0),
                              digest="0" * 32, unchanged=True)
    with store._write() as conn:
        written = importer.write(conn, [*good, forged], partition=store.partition)
    assert checks == ["a", "b"]
    assert written.ignored == 1 and written.created == 0
    assert [f["Id"] for f in written.failed] == ["b"]
    assert stored(store, "a")["Title"] == "newer"


def test_duplicates_in_one_batch_and_new_findings_beside_skipped_ones(store, checks):
    store.batch_import([finding("a")])
    checks.clear()
    result = store.batch_import([finding("a"), finding("c"), finding("a", UpdatedAt=T1,
                                                                    Title="t2")])
    assert result.success_count == 3
    assert stored(store, "a")["Title"] == "t2" and stored(store, "c")["Id"] == "c"


def test_a_finding_the_hub_archived_stays_archived_when_sent_again(store):
    """A run archives a fixed finding (a provider-side change made by the hub, stamped now):
    re-sending the scanner's old document is ignored, as on the full path."""
    first = example_run("2024-05-01T10:00:00Z", "r1")
    store.record_run(run("r1"),
                     first)
    store.record_run(run("r2"),
                     example_run("2024-05-02T10:00:00Z", "r2", skip=("trivy",)))
    trivy = next(d for d in first if d["ProductFields"]["secpipe/Tool"] == "trivy")
    assert stored(store, trivy["Id"])["RecordState"] == "ARCHIVED"
    assert store.batch_import([trivy]).success_count == 1
    assert stored(store, trivy["Id"])["RecordState"] == "ARCHIVED"


def test_unchanged_run_records_the_same_observations(store, checks):
    docs = example_run("2024-05-01T10:00:00Z", "r1")
    store.record_run(run("r1"),
                     docs)
    checks.clear()
    diff = store.record_run(run("r1-again"), docs)
    assert checks == []
    assert sorted(diff.recurring) == sorted(d["Id"] for d in docs)
    assert diff.new == [] and diff.fixed == []
    assert {s for s in diff.by_stage} == {"lint", "iac", "image", "secrets"}


def test_request_size_and_json_rules_hold_beside_the_shortcut(store):
    from secpipe.hub.interface import InvalidInput, LimitExceeded

    odd = finding("x", Resources=[{"Type": "Other", "Id": "r", "Details": {"Other": {1, 2}}}])
    with pytest.raises(InvalidInput, match="not JSON"):
        store.batch_import([finding("a"), odd])
    loop: dict = {"Type": "Other", "Id": "r"}
    loop["Details"] = {"Other": loop}
    with pytest.raises(InvalidInput, match="not JSON"):
        store.batch_import([finding("b", Resources=[loop])])
    import json

    from secpipe.hub.store import MAX_IMPORT_BYTES

    def size(docs):
        return sum(len(json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode())
                   for d in docs)

    big = [finding(f"big-{i}", ProductFields={f"k{j}": "é" * 1040 for j in range(30)})
           for i in range(99)]
    pad = finding("pad", Description="")
    room = MAX_IMPORT_BYTES - size(big) - size([pad])
    assert 2000 < room < 240 * 1024
    pad["Description"] = "d" * (room - 1)               # one byte under the limit: fits
    result = store.batch_import(big + [pad])
    assert result.success_count == 99 and result.failed[0]["Id"] == "pad"   # too long
    pad["Description"] += "dd"                          # one byte over
    with pytest.raises(LimitExceeded):
        store.batch_import([dict(d, Id="o" + d["Id"]) for d in big] + [pad])
    assert store.count_findings() == 99


def test_an_unchanged_item_is_the_one_the_dataclass_makes():
    """`check_all` makes its `unchanged` items without `Checked`'s __init__
    (`importer._accepted`): every field as the keyword constructor sets it."""
    from dataclasses import fields

    doc = finding("a")
    sent = importer.digest(doc)
    stored = {(doc["Id"], doc["ProductArn"]): (7, "9999-01-01T00:00:00.000000Z", sent)}
    good, failed = importer.check_all([doc], stored)
    assert failed == [] and len(good) == 1
    made = importer.Checked(doc, None, importer.canon_time(doc["UpdatedAt"]), digest=sent,
                            unchanged=True, pk=7)
    assert good[0] == made
    for f in fields(importer.Checked):
        assert getattr(good[0], f.name) == getattr(made, f.name), f.name
        assert type(getattr(good[0], f.name)) is type(getattr(made, f.name)), f.name


def test_a_checked_item_is_the_one_the_dataclass_makes():
    """`check_all` makes the items it checks in full without `Checked`'s __init__ too
    (`importer._checked`): with and without side rows, a key stored or not, no lookup."""
    from dataclasses import fields

    doc = finding("a")
    key = (doc["Id"], doc["ProductArn"])
    for stored, side in [(None, False), (None, True), ({}, True), ({key: (7, "x", "d")}, True),
                         ({("other", "arn"): (7, "x", "d")}, False)]:
        good, failed = importer.check_all([doc], stored, side=side)
        assert failed == [] and len(good) == 1
        item = good[0]
        absent = stored is not None and key not in stored
        made = importer.Checked(item.doc, item.text, importer.canon_time(doc["UpdatedAt"]),
                                digest=importer.digest(doc),
                                side=importer.side_rows_of(item.doc)
                                if side and (not stored or key not in stored) else None,
                                absent=absent)
        assert item == made
        for f in fields(importer.Checked):
            assert getattr(item, f.name) == getattr(made, f.name), f.name
            assert type(getattr(item, f.name)) is type(getattr(made, f.name)), f.name
