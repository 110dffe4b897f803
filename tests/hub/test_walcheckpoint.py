"""`hub serve`'s WAL checkpoints beside the writers (`secpipe.hub.walcheckpoint`): SQLite's
automatic checkpoint only as a backstop there, a thread that checkpoints after writes, the same
findings and audit trail whoever checkpoints, and writers of two stores (two workers) still
serialised while their checkpointers run."""

from __future__ import annotations

import logging
import sqlite3
import time

from secpipe.hub import walcheckpoint
from secpipe.hub.store import open_store
from tests.hub.builders import finding
from tests.hub.test_writegate import import_concurrently


def _autocheckpoint(store) -> int:
    raw = store.engine.raw_connection()
    try:
        return raw.cursor().execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    finally:
        raw.close()


def _wait(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_a_store_checkpoints_in_the_commit_unless_asked(tmp_path):
    store = open_store(tmp_path / "hub.db")
    try:
        assert store.checkpointer is None
        assert _autocheckpoint(store) == walcheckpoint.AUTOCHECKPOINT
    finally:
        store.close()


def test_background_checkpoints_follow_the_writes(tmp_path):
    path = tmp_path / "hub.db"
    store = open_store(path, background_checkpoint=True)
    try:
        assert store.checkpointer is not None
        assert _autocheckpoint(store) == walcheckpoint.BACKSTOP
        runs = store.checkpointer.runs
        assert store.batch_import([finding(f"c-{i}") for i in range(20)]).success_count == 20
        assert _wait(lambda: store.checkpointer.runs > runs)
        thread = store.checkpointer._thread
        assert thread is not None and thread.is_alive()
    finally:
        store.close()
    assert not thread.is_alive()                    # close() stopped it
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM findings").fetchone()[0] == 20
    finally:
        conn.close()


def test_no_checkpointer_for_memory_or_postgresql_urls():
    store = open_store("sqlite://", background_checkpoint=True)
    try:
        assert store.checkpointer is None
    finally:
        store.close()


def test_a_failed_checkpoint_is_reported_and_the_next_write_tries_again(tmp_path, caplog):
    store = open_store(tmp_path / "hub.db", background_checkpoint=True)
    cp = store.checkpointer
    real = cp.checkpoint
    calls: list[int] = []

    def failing(raw) -> tuple[int, int, int]:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return real(raw)

    cp.checkpoint = failing              # type: ignore[method-assign]
    cp._period = 0.0
    try:
        with caplog.at_level(logging.WARNING, logger="secpipe.hub.walcheckpoint"):
            store.batch_import([finding("x-1")])
            assert _wait(lambda: len(calls) >= 1)
            store.batch_import([finding("x-2")])
            assert _wait(lambda: cp.runs >= 1)
        assert any("checkpoint failed" in r.getMessage() and "disk I/O error" in r.getMessage()
                   for r in caplog.records)
    finally:
        store.close()


def test_two_checkpointing_stores_import_concurrently_and_all_lands(tmp_path):
    """Two stores on one file (as two `hub serve` workers), three threads each, each store
    checkpointing after every write (period 0): every import lands, once, with its audit row,
    and the file is sound."""
    path = tmp_path / "hub.db"
    stores = [open_store(path, background_checkpoint=True) for _ in range(2)]
    for s in stores:
        s.checkpointer._period = 0.0
    errors = import_concurrently(stores)
    try:
        assert not errors
        assert stores[0].count_findings() == 6 * 5 * 20
        assert sum(1 for r in stores[1].audit_log(limit=100)
                   if r["action"] == "BatchImportFindings") == 30
        assert sum(s.checkpointer.runs for s in stores) >= 1
    finally:
        for s in stores:
            s.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_one_process_checkpoints_and_another_takes_over_when_it_closes(tmp_path):
    """The election (`<db>-checkpointer`'s flock) between two workers' checkpointers: one
    checkpoints, the other only once the first has let go."""
    path = tmp_path / "hub.db"
    first, second = (open_store(path, background_checkpoint=True) for _ in range(2))
    try:
        assert first.checkpointer._elected()
        assert not second.checkpointer._elected()
        first.close()
        assert second.checkpointer._elected()
        second.checkpointer._period = 0.0
        runs = second.checkpointer.runs
        second.batch_import([finding("t-1")])
        assert _wait(lambda: second.checkpointer.runs > runs)
    finally:
        first.close()
        second.close()
