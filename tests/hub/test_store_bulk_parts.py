"""`bulk_import` checks a transaction's findings part by part while it writes the previous
part (`secpipe.hub.overlap`): the stored rows must be exactly those of the slow path
(BatchImportFindings calls of 100), on SQLite and PostgreSQL, for creates and updates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secpipe.hub import overlap
from secpipe.hub.importer import provider_key
from secpipe.hub.store import open_store
from tests.hub.builders import T0, finding

T1 = "2024-05-02T10:00:00.000Z"
T2 = "2024-05-03T10:00:00.000Z"
TABLES = {
    "findings": "SELECT * FROM findings ORDER BY pk",
    "finding_types": "SELECT * FROM finding_types ORDER BY finding_pk, type",
    "finding_resources": "SELECT * FROM finding_resources ORDER BY finding_pk, idx",
    "finding_map": "SELECT * FROM finding_map ORDER BY finding_pk, kind, key, v",
    "finding_events": "SELECT finding_pk, kind, actor, run_id, changes FROM finding_events "
                      "ORDER BY finding_pk, seq",
}


def varied(n: int, stamp: str) -> list[dict]:
    """Findings exercising every side table, the automatic workflow, and refusals."""
    docs = []
    for i in range(n):
        extra: dict = {"UpdatedAt": stamp, "Types": [
            "Software and Configuration Checks/Vulnerabilities/CVE",
            "Software and Configuration Checks/Vulnerabilities/CVE",   # repeated: stored once
            f"Effects/Data Exposure/{i % 7}"][: 1 + i % 3]}
        if i % 5 == 0:
            extra["Resources"] = [
                {"Type": "Container", "Id": f"img{i}", "Tags": {"team": "a", "long": "x" * 300}},
                {"Type": "Other", "Id": f"res{i}", "Tags": {"team": "a"}, "Partition": "aws"}]
        if i % 7 == 0:
            extra["ProductFields"] = {"secpipe/Tool": f"t{i % 3}", "big": "y" * 400,
                                      "secpipe/Fingerprint": f"fp{i}"}
        if i % 11 == 0:
            extra["UserDefinedFields"] = {"owner": f"o{i % 4}"}
        if i % 13 == 0:
            extra["RecordState"] = "ARCHIVED"                 # born RESOLVED
        if i % 17 == 0 and stamp != T0:
            extra["Compliance"] = {"Status": "PASSED"}        # update: NEW -> RESOLVED
        if i % 97 == 0:
            extra["Title"] = None                             # refused (FailedFindings)
        docs.append(finding(f"f{i:05d}", **extra))
    return docs


def rows(store) -> dict[str, list[tuple]]:
    """Every row of the findings tables, without the hub's own clock (ProcessedAt)."""
    out = {}
    with store.engine.connect() as conn:
        for table, sql in TABLES.items():
            got = [tuple(r) for r in conn.exec_driver_sql(sql)]
            if table == "findings":
                cols = list(conn.exec_driver_sql(sql).keys())
                skip = {cols.index("processed_at")}
                doc = cols.index("doc")
                got = [tuple(v for j, v in enumerate(r) if j not in skip and j != doc)
                       + (_without_processed(r[doc]),) for r in got]
            out[table] = got
    return out


def _without_processed(text: str) -> str:
    import json

    doc = json.loads(text)
    doc.pop("ProcessedAt", None)
    return json.dumps(doc, sort_keys=True)


@pytest.fixture
def second_url(backend, tmp_path, request):
    if backend == "sqlite":
        yield str(tmp_path / "slow.db")
        return
    server = request.getfixturevalue("pg_server")
    url = server.new_url()
    try:
        yield url
    finally:
        server.drop(url)


def test_bulk_parts_store_the_rows_of_the_slow_path(store, second_url, monkeypatch):
    monkeypatch.setattr(overlap, "PART", 64)         # many parts per transaction
    slow = open_store(second_url, account_id="123456789012")
    try:
        for stamp in (T0, T1, T0, T2):               # create, update, stale (ignored), update
            docs = varied(700, stamp)
            fast_result = store.bulk_import(docs, batch_size=300)
            slow_ok, slow_failed = 0, []
            for i in range(0, len(docs), 100):
                r = slow.batch_import(docs[i:i + 100])
                slow_ok += r.success_count
                slow_failed += r.failed
            assert fast_result.success_count == slow_ok
            assert sorted(f["Id"] for f in fast_result.failed) == \
                sorted(f["Id"] for f in slow_failed) != []
            assert rows(store) == rows(slow)
    finally:
        slow.close()


def test_a_batch_whose_keys_repeat_is_one_part():
    docs = [finding("a"), finding("b"), finding("a", UpdatedAt=T1)]
    assert overlap.parts_of(docs, 1) == [docs]
    assert overlap.parts_of(docs[:2], 1) == [docs[:1], docs[1:2]]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.fixed_dictionaries({}, optional={"Id": st.one_of(st.sampled_from(["a", "b", "c"]),
                                                        st.integers(0, 2), st.none(),
                                                        st.lists(st.integers(), max_size=1)),
                                        "ProductArn": st.sampled_from(["p", "q", 1, None])}),
    st.just([1]), st.just("a"), st.none()), max_size=8))
def test_repeats_is_the_key_comparison(batch):
    """`overlap._repeats` compares Ids first; its answer is the keys' comparison's (Ids
    unhashable or not strings, ProductArns apart, documents that are no dicts)."""
    keys = [k for k in map(provider_key, batch) if k is not None]
    assert overlap._repeats(batch) == (len(set(keys)) != len(keys))


def test_a_repeated_key_keeps_the_later_document_on_a_tie(store, monkeypatch):
    monkeypatch.setattr(overlap, "PART", 2)
    docs = [finding("a", Title="first"), finding("b"), finding("c"),
            finding("a", Title="second")]                 # same UpdatedAt: the later wins
    assert store.bulk_import(docs, batch_size=10).success_count == 4
    got, _ = store.get_findings({"Id": [{"Value": "a", "Comparison": "EQUALS"}]})
    assert [d["Title"] for d in got] == ["second"]


def test_a_check_that_raises_reaches_the_caller():
    def check(part):
        if part[0] == 3:
            raise RuntimeError("boom")
        return part

    batches = overlap.checked_batches(range(10), 5, check, part=3)
    first = next(batches)
    assert next(first) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="boom"):
        next(first)
    batches.close()                                  # stops and joins the checking thread


def test_an_in_memory_hub_imports_many_parts():
    """One shared connection (StaticPool) cannot read while it writes: checked inline."""
    with open_store("sqlite:///:memory:", account_id="123456789012") as hub:
        docs = [finding(f"m{i}") for i in range(overlap.PART * 2 + 5)]
        assert hub.bulk_import(docs).success_count == len(docs)
        assert hub.count_findings() == len(docs)


def test_the_first_part_may_be_smaller():
    docs = [finding(f"p{i}") for i in range(7)]
    assert overlap.parts_of(docs, 3, 1) == [docs[:1], docs[1:4], docs[4:7]]
    assert overlap.parts_of(docs, 3, 9) == [docs[:3], docs[3:6], docs[6:]]   # at most `part`
    assert overlap.parts_of(docs[:1], 3, 1) == [docs[:1]]
    repeated = docs[:3] + [finding("p0", UpdatedAt=T1)]
    assert overlap.parts_of(repeated, 3, 1) == [repeated]


def test_the_last_part_is_cut_smaller_and_nothing_is_lost():
    docs = [finding(f"q{i}") for i in range(11)]
    # the last `part` (4) findings in parts of 2
    assert overlap.parts_of(docs, 4, 1, 2) == [docs[:1], docs[1:5], docs[5:7],
                                               docs[7:9], docs[9:11]]
    assert overlap.parts_of(docs, 4, 3, 3) == [docs[:3], docs[3:7], docs[7:10], docs[10:]]
    for n in range(1, 12):
        for part, first, last in ((4, 1, 2), (3, 3, 1), (5, 2, 5), (2, 1, 1)):
            pieces = overlap.parts_of(docs[:n], part, first, last)
            assert [d for p in pieces for d in p] == docs[:n]
            assert all(0 < len(p) <= part for p in pieces)


def test_bulk_import_pauses_the_cyclic_gc_and_restores_it(store, monkeypatch):
    import gc

    from secpipe import gcpause
    from secpipe.hub import importer

    seen = []
    real = importer.write

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "write", spy)
    was = gc.isenabled()
    try:
        gc.enable()
        assert store.bulk_import([finding("g1"), finding("g2")]).success_count == 2
        assert seen and not any(seen) and gc.isenabled()
        gc.disable()                        # a caller that had it off keeps it off
        with gcpause.paused():
            with gcpause.paused():
                assert not gc.isenabled()
        assert not gc.isenabled()
        with pytest.raises(RuntimeError):   # an error inside still restores it
            gc.enable()
            with gcpause.paused():
                raise RuntimeError("x")
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_the_switch_interval_is_short_while_checking_and_restored_after():
    import sys

    before = sys.getswitchinterval()
    seen = []

    def check(part):
        seen.append(sys.getswitchinterval())
        if part[0] == 6:
            raise RuntimeError("boom")
        return part

    assert [list(b) for b in overlap.checked_batches(range(6), 3, check, part=3)] == \
        [[[0, 1, 2]], [[3, 4, 5]]]
    assert seen == [overlap.SWITCH_INTERVAL] * 2 and sys.getswitchinterval() == before
    with pytest.raises(RuntimeError, match="boom"):
        for b in overlap.checked_batches(range(9), 3, check, part=3):
            list(b)
    assert sys.getswitchinterval() == before
    with overlap.quick_switch():                  # nested users: the outer one restores
        with overlap.quick_switch():
            pass
        assert sys.getswitchinterval() == overlap.SWITCH_INTERVAL
    assert sys.getswitchinterval() == before


def test_each_part_is_checked_with_its_own_lookup_read_one_part_ahead():
    """`lookup` runs in a thread of its own, one part ahead of the checks: every part is
    checked with the lookup of that same part, in order, threaded or inline."""
    import threading

    reads: list[tuple[list, str]] = []

    def lookup(part):
        reads.append((list(part), threading.current_thread().name))
        return sum(part)

    def check(part, looked):
        assert looked == sum(part)
        return (part, looked)

    for threaded in (True, False):
        reads.clear()
        got = [list(b) for b in overlap.checked_batches(range(7), 5, check, part=2,
                                                         threaded=threaded, lookup=lookup)]
        assert got == [[([0, 1], 1), ([2, 3], 5), ([4], 4)], [([5, 6], 11)]]
        assert [r for r, _ in reads] == [[0, 1], [2, 3], [4], [5, 6]]
        assert all(name.startswith("hub-lookup") for _, name in reads) == threaded


def test_a_lookup_that_raises_reaches_the_caller():
    def lookup(part):
        if part[0] == 4:
            raise RuntimeError("read failed")
        return None

    batches = overlap.checked_batches(range(10), 5, lambda part, _: part, part=2,
                                      lookup=lookup)
    first = next(batches)
    assert next(first) == [0, 1] and next(first) == [2, 3]
    with pytest.raises(RuntimeError, match="read failed"):
        next(first)
    batches.close()
