"""The writers' gate in front of SQLite's write lock (`secpipe.hub.writegate`): one writer at
a time across threads and processes, in arrival order within a process, re-entrant, and every
concurrent import still lands."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path

from secpipe.hub import writegate
from secpipe.hub.store import open_store
from tests.hub.builders import finding


def test_fifo_lock_hands_over_in_arrival_order():
    lock = writegate.FifoLock()
    assert lock.acquire(1)
    order: list[str] = []

    def waiter(name: str, ready: threading.Event) -> None:
        ready.set()
        assert lock.acquire(30)
        order.append(name)
        lock.release()

    threads = []
    for name in ("first", "second", "third"):
        ready = threading.Event()
        t = threading.Thread(target=waiter, args=(name, ready))
        t.start()
        ready.wait()
        while len(lock._queue) < len(threads) + 1:      # it is queued before the next starts
            time.sleep(0.001)
        threads.append(t)
    lock.release()
    for t in threads:
        t.join()
    assert order == ["first", "second", "third"]
    assert lock.acquire(0.01)                         # free again
    lock.release()


def test_fifo_lock_times_out_and_leaves_the_queue():
    lock = writegate.FifoLock()
    assert lock.acquire(1)
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(0.05)))
    t.start()
    t.join()
    assert got == [False] and not lock._queue
    lock.release()
    assert lock.acquire(0.01)
    lock.release()


def _child(path: str, log: str) -> None:
    gate = writegate.WriteGate(Path(path))
    with gate.held():
        with open(log, "a") as out:
            out.write("child\n")


def test_the_gate_excludes_another_process(tmp_path):
    db = tmp_path / "hub.db"
    log = tmp_path / "order.txt"
    gate = writegate.WriteGate(db)
    with gate.held():
        with gate.held():                    # re-entrant: the same writer
            proc = mp.get_context("spawn").Process(target=_child, args=(str(db), str(log)))
            proc.start()
            time.sleep(0.5)                  # let the child reach the gate (order, not time)
            log.write_text("parent\n")
    proc.join(60)
    assert proc.exitcode == 0
    assert log.read_text().splitlines() == ["parent", "child"]
    assert (tmp_path / "hub.db-writer").exists()


def import_concurrently(stores: list) -> list[BaseException]:
    """Three threads per store, each importing 5 x 20 new findings; what they raised."""
    errors: list[BaseException] = []

    def importer(store, base: int) -> None:
        try:
            for n in range(5):
                docs = [finding(f"g-{base}-{n}-{i}") for i in range(20)]
                assert store.batch_import(docs).success_count == 20
        except BaseException as exc:   # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=importer, args=(stores[k % len(stores)], k))
               for k in range(3 * len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_imports_through_two_stores_all_land(tmp_path):
    """Two stores on one file (as two `hub serve` workers), three threads each."""
    path = tmp_path / "hub.db"
    stores = [open_store(path), open_store(path)]
    assert not import_concurrently(stores)
    assert stores[0].count_findings() == 6 * 5 * 20
    assert sum(1 for r in stores[1].audit_log(limit=100)
               if r["action"] == "BatchImportFindings") == 30
    for s in stores:
        s.close()


def test_no_gate_for_postgresql_or_memory():
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    with writegate.for_engine(engine):
        pass
    assert not any(k in ("", ":memory:") for k in writegate._GATES)


def _try_flock(path: Path) -> bool:
    """Whether a fresh descriptor of `path` gets the exclusive flock now (released at once)."""
    import fcntl
    import os

    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_blocked_writer_wakes_when_the_holder_lets_go(tmp_path):
    import fcntl
    import os

    side = tmp_path / "hub.db-writer"
    holder = os.open(side, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    waiter = os.open(side, os.O_RDWR)
    threading.Timer(0.2, os.close, args=(holder,)).start()
    got = writegate._blocking_flock(waiter, time.monotonic() + 30)
    assert got == waiter
    assert not _try_flock(side)                  # the waiter holds it now
    os.close(waiter)
    assert _try_flock(side)


def test_a_writer_gives_up_at_its_deadline_and_never_keeps_the_lock(tmp_path):
    import fcntl
    import os

    side = tmp_path / "hub.db-writer"
    holder = os.open(side, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    waiter = os.open(side, os.O_RDWR)
    assert writegate._blocking_flock(waiter, time.monotonic() + 0.1) is None
    os.close(holder)               # the abandoned wait takes the lock, then lets it go
    for _ in range(500):
        if _try_flock(side):
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the abandoned waiter kept the lock (its descriptor unclosed)")
