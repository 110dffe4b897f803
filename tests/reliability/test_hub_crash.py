"""`kill -9` of the hub server in the middle of imports: every acknowledged batch survives, no
batch is ever half there, and the database stays consistent. On SQLite and PostgreSQL.

The server is `python -m secpipe hub serve` in its own process. Eight importer threads (boto3,
SigV4) send BatchImportFindings calls without pause; each call is one "group" of 20-100
findings that all carry the group's version marker, either a new group or the next version of
one of the thread's own groups (a newer UpdatedAt, other severity, types, resources and
ProductFields: the update path rewrites the side tables). A ledger records, per group, the
newest version sent and the newest acknowledged (HTTP 200, every finding counted in
SuccessCount).

Once imports are flowing the server gets SIGKILL — several times per database, each time with
calls in flight — and is started again on the same database. Then, reading the database
itself: SQLite's `PRAGMA integrity_check` is ok; every side-table row is exactly what its
finding's document implies (no leftovers of a torn update, no orphans); each group is either
absent (never acknowledged) or complete at ONE version between its last acknowledged and its
last sent one, each finding equal to what was sent. The restarted server must then take the
next round of imports.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.reliability.hub_support import (HubProcess, client, finding, side_counts, stamp,
                                           sqlite_integrity, table_state)

pytest.importorskip("boto3")

THREADS = 8
KILLS = 3                # per database
MIN_ACKS = 6             # acknowledged calls per round before the kill may come


class Ledger:
    """What the importers sent and what the hub acknowledged, per group."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.size: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self.acked: dict[str, int] = {}
        self.round_acks = 0
        self.truncated = 0
        self.failures: list[str] = []

    def send(self, group: str, version: int, size: int) -> None:
        with self.lock:
            self.size[group] = size
            self.sent[group] = version

    def ack(self, group: str, version: int) -> None:
        with self.lock:
            self.acked[group] = version
            self.round_acks += 1

    def in_flight(self) -> list[str]:
        with self.lock:
            return [g for g, v in self.sent.items() if self.acked.get(g) != v]


def group_docs(group: str, version: int, size: int) -> list[dict]:
    return [finding(f"rel/crash/{group}/{k:03d}", stamp(version), f"{group}@v{version}",
                    variant=version) for k in range(size)]


def importer(url: str, thread: int, ledger: Ledger, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    hub = client(url, timeout=30)
    mine = [g for g in ledger.sent if g.startswith(f"t{thread}-")]
    while not stop.is_set():
        if not mine or rng.random() < 0.4:
            group = f"t{thread}-g{len(mine):04d}-{seed}"
            mine.append(group)
            size = rng.randint(20, 100)
        else:
            group = rng.choice(mine)
            size = ledger.size[group]
        version = ledger.sent.get(group, 0) + 1
        ledger.send(group, version, size)
        try:
            got = hub.batch_import_findings(Findings=group_docs(group, version, size))
        except Exception:    # noqa: BLE001 - the server was killed under us: stop
            return
        if "SuccessCount" not in got:
            # The kill cut the answer after its headers: botocore parses the missing body as
            # {}. Not an acknowledgement; the outcome is unknown, like a reset connection.
            ledger.truncated += 1
            return
        if got["SuccessCount"] != size or got["FailedCount"]:
            ledger.failures.append(f"{group}@v{version}: {got['FailedFindings'][:2]}")
            return
        ledger.ack(group, version)


def check_database(db: str, ledger: Ledger) -> dict[str, int]:
    """The promises, read from the database itself; returns the version stored per group
    (0: absent)."""
    if "://" not in db:
        assert sqlite_integrity(db) == [], "SQLite integrity check failed"
    state = table_state(db)
    assert state.problems == []
    assert state.rows == len(state.docs)
    stored: dict[str, list[dict]] = defaultdict(list)
    for fid, doc in state.docs.items():
        stored[fid.split("/")[2]].append(doc)
    assert set(stored) <= set(ledger.sent), "findings of a group nobody sent"
    found: dict[str, int] = {}
    for group, sent in ledger.sent.items():
        docs = stored.get(group, [])
        acked = ledger.acked.get(group)
        if not docs:
            assert acked is None, f"{group}: acknowledged v{acked} is gone"
            found[group] = 0
            continue
        versions = {d["ProductFields"]["rel/Marker"] for d in docs}
        assert len(versions) == 1, f"{group}: half batch, versions {sorted(versions)}"
        version = int(versions.pop().rsplit("@v", 1)[1])
        assert len(docs) == ledger.size[group], f"{group}: {len(docs)} of {ledger.size[group]}"
        assert (acked or 0) <= version <= sent, f"{group}: v{version}, acked {acked}, sent {sent}"
        want = {d["Id"]: d for d in group_docs(group, version, ledger.size[group])}
        assert all(d == want[d["Id"]] for d in docs), f"{group}: stored documents differ"
        found[group] = version
    counts = [side_counts(d) for d in state.docs.values()]
    assert state.side == {"finding_types": sum(c[0] for c in counts),
                          "finding_resources": sum(c[1] for c in counts),
                          "finding_map": sum(c[2] for c in counts)}
    return found


def test_kill_9_during_imports_loses_no_acknowledged_batch(hub_db: str, tmp_path: Path) -> None:
    ledger = Ledger()
    server = HubProcess(hub_db, tmp_path).start()
    rng = random.Random(7)
    committed = rolled_back = acknowledged = 0
    try:
        for kill in range(KILLS):
            stop = threading.Event()
            ledger.round_acks = 0
            threads = [threading.Thread(target=importer, daemon=True,
                                        args=(server.url, t, ledger, stop, kill * 100 + t))
                       for t in range(THREADS)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while ledger.round_acks < MIN_ACKS and time.monotonic() < deadline:
                time.sleep(0.02)
            assert ledger.round_acks >= MIN_ACKS, f"imports stalled: {ledger.failures[:3]}"
            time.sleep(rng.uniform(0.0, 0.4))
            server.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=60)
            assert not any(t.is_alive() for t in threads)
            assert ledger.failures == []
            flying = {g: ledger.sent[g] for g in ledger.in_flight()}
            server.start()                       # recovery happens on this open
            found = check_database(hub_db, ledger)
            committed += sum(1 for g, v in flying.items() if found[g] == v)
            rolled_back += sum(1 for g, v in flying.items() if found[g] < v)
            # what is stored now counts as sent-and-settled for the next round's check
            for group, version in found.items():
                if version:
                    ledger.sent[group] = max(ledger.sent[group], version)
        acknowledged = len(ledger.acked)
        # The restarted hub still takes imports, and the checks still hold after them.
        got = client(server.url).batch_import_findings(Findings=group_docs("after", 1, 10))
        assert got["SuccessCount"] == 10
        ledger.send("after", 1, 10)
        ledger.ack("after", 1)
    finally:
        server.stop()
    found = check_database(hub_db, ledger)
    print(f"\n{'postgresql' if '://' in hub_db else 'sqlite'}: {KILLS} x kill -9; calls in flight "
          f"at the kills: {committed} committed whole, {rolled_back} rolled back whole "
          f"({ledger.truncated} answers cut by the kill); {acknowledged} groups acknowledged, "
          f"all present; {sum(1 for v in found.values() if v)} groups, "
          f"{sum(ledger.size[g] for g, v in found.items() if v)} findings stored")
    assert committed + rolled_back > 0, "no kill landed with a call in flight"
