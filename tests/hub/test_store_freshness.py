"""`bulk_import` skips the second key lookup of an unchanged re-import only while its check's
lookup provably holds (`hub.freshness`): a row another connection deleted between two of the
import's transactions, after the check read it, is created again rather than counted as
ignored; without such a change the re-import ignores every finding with its stored pk."""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager

import pytest

from secpipe.hub import freshness, importer
from secpipe.hub.store import open_store
from tests.hub.builders import finding

T1 = "2024-05-02T10:00:00.000Z"


def docs(n: int) -> list[dict]:
    return [finding(f"f{i}", UpdatedAt=T1) for i in range(n)]


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "hub.db") as s:
        yield s


def test_unchanged_reimport_trusts_the_checks_lookup(store, monkeypatch) -> None:
    batch = docs(2400)
    assert not store.bulk_import(batch, batch_size=400).failed
    lookups: list[int] = []
    real = importer._lookup
    monkeypatch.setattr(importer, "_lookup",
                        lambda conn, keys, partition=None: lookups.append(len(keys))
                        or real(conn, keys, partition))
    result = store.bulk_import(batch, batch_size=400)
    assert result.success_count == 2400 and not result.failed
    # the checks looked up each key once; the writer only those read before its first lock
    assert 2400 <= sum(lookups) < 2 * 2400
    assert store.count_findings() == 2400


def test_a_row_deleted_between_transactions_is_created_again(store, tmp_path,
                                                             monkeypatch) -> None:
    batch = docs(2000)
    assert not store.bulk_import(batch, batch_size=500).failed
    known_calls: list[int] = []
    real_known = importer.known

    def known(conn, findings, partition=None):
        out = real_known(conn, findings, partition)
        known_calls.append(len(out))
        return out

    monkeypatch.setattr(importer, "known", known)
    real_write = store._write
    writes = 0
    victim = "f1900"                      # in the last transaction

    @contextmanager
    def write(held=None):
        nonlocal writes
        writes += 1
        if writes == 3:                    # between transactions 2 and 3: the checks of the
            deadline = time.monotonic() + 60     # last part have read the victim's row
            while len(known_calls) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            other = sqlite3.connect(tmp_path / "hub.db", timeout=30)
            with other:
                pk = other.execute("SELECT pk FROM findings WHERE id = ?",
                                   (victim,)).fetchone()[0]
                for table, col in (("finding_types", "finding_pk"),
                                   ("finding_resources", "finding_pk"),
                                   ("finding_map", "finding_pk"),
                                   ("finding_events", "finding_pk"), ("findings", "pk")):
                    other.execute(f"DELETE FROM {table} WHERE {col} = ?", (pk,))
            other.close()
        with real_write(held) as conn:
            yield conn

    monkeypatch.setattr(store, "_write", write)
    result = store.bulk_import(batch, batch_size=500)
    assert result.success_count == 2000 and not result.failed
    assert store.count_findings() == 2000          # the deleted finding is back
    got, _ = store.get_findings({"Id": [{"Value": victim, "Comparison": "EQUALS"}]})
    assert len(got) == 1


def test_guard_is_conservative() -> None:
    class Conn:
        total_changes = 0

        def __init__(self, version: int) -> None:
            self.version = version

        def execute(self, _sql):
            return self

        def fetchone(self):
            return (self.version,)

    fresh = freshness.Freshness(True)
    assert fresh.trusted(0) is None                      # read before any lock
    conn = Conn(1)
    fresh.begin(conn)
    fresh.wrote([("a", "p")])
    fresh.end(conn)
    assert fresh.trusted(1)(("b", "p")) and not fresh.trusted(1)(("a", "p"))
    conn.version = 2                                     # another connection committed
    fresh.begin(conn)
    assert fresh.trusted(1) is None and fresh.trusted(2)(("a", "p")) is True
    fresh.end(conn)
    conn.total_changes = 5                               # someone used the same connection
    fresh.begin(conn)
    assert fresh.trusted(2) is None and fresh.trusted(3) is not None
    fresh.end(conn)
    fresh.begin(Conn(2))                                 # another connection
    assert fresh.trusted(3) is None
    assert freshness.Freshness(False).trusted(5) is None


def test_a_new_import_trusts_the_checks_lookup_of_absent_keys(store, monkeypatch) -> None:
    lookups: list[int] = []
    real = importer._lookup
    monkeypatch.setattr(importer, "_lookup",
                        lambda conn, keys, partition=None: lookups.append(len(keys))
                        or real(conn, keys, partition))
    result = store.bulk_import(docs(2400), batch_size=400)
    assert result.success_count == 2400 and not result.failed
    # the checks looked up each key once; the writer only those read before its first lock
    assert 2400 <= sum(lookups) < 2 * 2400
    assert store.count_findings() == 2400


def test_a_row_created_between_transactions_is_updated_not_created_twice(
        store, tmp_path, monkeypatch) -> None:
    """The checks read the victim's key as absent; another connection then creates it
    before the writer's transaction: the writer must look again and update it."""
    known_calls: list[int] = []
    real_known = importer.known

    def known(conn, findings, partition=None):
        out = real_known(conn, findings, partition)
        known_calls.append(len(findings))
        return out

    monkeypatch.setattr(importer, "known", known)
    real_write = store._write
    writes = 0
    victim = "f1900"                      # in the last transaction

    @contextmanager
    def write(held=None):
        nonlocal writes
        writes += 1
        if writes == 3:                    # every check has read by now (the victim absent)
            deadline = time.monotonic() + 60
            while sum(known_calls) < 2000 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert sum(known_calls) == 2000
            with open_store(tmp_path / "hub.db") as other:
                assert not other.batch_import([finding(victim, Title="theirs")]).failed
        with real_write(held) as conn:
            yield conn

    monkeypatch.setattr(store, "_write", write)
    result = store.bulk_import(docs(2000), batch_size=500)
    assert result.success_count == 2000 and not result.failed
    assert store.count_findings() == 2000          # one row for the victim
    got, _ = store.get_findings({"Id": [{"Value": victim, "Comparison": "EQUALS"}]})
    assert len(got) == 1 and got[0]["UpdatedAt"] == T1      # the import's newer document


def test_a_key_the_import_itself_just_wrote_is_looked_up_again(store, monkeypatch) -> None:
    """The next transaction's checks read its keys as absent while the first transaction
    was writing them: the writer must not trust that (it would create them twice)."""
    T2 = "2024-05-03T10:00:00.000Z"
    first = docs(300)
    again = [finding(f"f{i}", UpdatedAt=T2, Title="newer") for i in range(300)]
    known_calls: list[int] = []
    real_known = importer.known

    def known(conn, findings, partition=None):
        out = real_known(conn, findings, partition)
        known_calls.append(len(findings))
        return out

    real_write = importer.write

    def write(conn, batch, **kw):
        if not known_calls or sum(known_calls) < 600:       # the first part: wait until the
            deadline = time.monotonic() + 60                 # second batch is checked
            while sum(known_calls) < 600 and time.monotonic() < deadline:
                time.sleep(0.01)
        return real_write(conn, batch, **kw)

    monkeypatch.setattr(importer, "known", known)
    monkeypatch.setattr(importer, "write", write)
    result = store.bulk_import(first + again, batch_size=300)
    assert result.success_count == 600 and not result.failed
    assert store.count_findings() == 300
    got, _ = store.get_findings({"Id": [{"Value": "f7", "Comparison": "EQUALS"}]})
    assert [d["Title"] for d in got] == ["newer"]
