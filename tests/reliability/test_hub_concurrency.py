"""50 concurrent importers against one hub: nothing lost, nothing doubled, newest UpdatedAt wins.

Fifty threads, each with its own boto3 `securityhub` client (SigV4 over real HTTP), import
1,000 findings each in BatchImportFindings calls of 100, in their own random order, into one
`secpipe hub serve` process. The Ids overlap on purpose: 50,000 imports over 5,000 Ids, every
Id written by ~10 importers at once with a distinct UpdatedAt each (successive versions also
change severity, types, resources and ProductFields, so the side tables are rewritten).

The expected final table is computed from what was sent, without the hub's code: per Id the
version with the greatest UpdatedAt, stored exactly as sent (the findings are built in the
hub's stored form). The whole table is then read from the database and compared, and every
side-table row is checked against its document. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from secpipe.hub.validate import check
from tests.reliability.hub_support import (HubProcess, client, finding, side_counts, stamp,
                                           sqlite_integrity, table_state)

pytest.importorskip("boto3")

IMPORTERS = 50
PER_IMPORTER = 1000
UNIVERSE = 5000          # distinct Ids: each is written by ~IMPORTERS * PER_IMPORTER / UNIVERSE
BATCH = 100              # BatchImportFindings' own maximum
SEED = 20240601


@cache
def plan(seed: int = SEED) -> tuple[list[list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Each importer's findings (in its sending order) and the expected final state."""
    rng = random.Random(seed)
    ids = [f"rel/concurrency/{n:05d}" for n in range(UNIVERSE)]
    used: dict[str, set[int]] = {fid: set() for fid in ids}
    work: list[list[dict[str, Any]]] = []
    expected: dict[str, dict[str, Any]] = {}
    for importer in range(IMPORTERS):
        mine = []
        for fid in rng.sample(ids, PER_IMPORTER):
            while True:   # a distinct UpdatedAt per (Id, importer): one newest version per Id
                ms = rng.randrange(20 * 86400 * 1000)
                if ms not in used[fid]:
                    used[fid].add(ms)
                    break
            doc = finding(fid, stamp(ms / 1000), f"importer-{importer}",
                          variant=rng.randrange(12))
            mine.append(doc)
            best = expected.get(fid)
            if best is None or doc["UpdatedAt"] > best["UpdatedAt"]:   # same format: sortable
                expected[fid] = doc
        rng.shuffle(mine)
        work.append(mine)
    return work, expected


def test_builder_makes_findings_in_stored_form() -> None:
    """The oracle's premise: the hub stores these documents unchanged."""
    for variant in range(12):
        doc = finding("rel/x", stamp(1.5), "m", variant=variant)
        assert check(doc) == doc


def test_fifty_concurrent_importers_lose_nothing(hub_db: str, tmp_path: Path) -> None:
    work, expected = plan()
    server = HubProcess(hub_db, tmp_path).start()
    clients = [client(server.url) for _ in range(IMPORTERS)]   # one session each
    start = threading.Barrier(IMPORTERS)
    answers: list[list[tuple[int, int, list]]] = [[] for _ in range(IMPORTERS)]

    def importer(n: int) -> None:
        hub, mine = clients[n], work[n]
        start.wait()
        for i in range(0, len(mine), BATCH):
            got = hub.batch_import_findings(Findings=mine[i:i + BATCH])
            answers[n].append((got["SuccessCount"], got["FailedCount"], got["FailedFindings"]))

    began = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=IMPORTERS) as pool:
            for fut in [pool.submit(importer, n) for n in range(IMPORTERS)]:
                fut.result()
        elapsed = time.monotonic() - began
        # The hub answers for the whole table through the API too.
        seen = 0
        for page in clients[0].get_paginator("get_findings").paginate(
                Filters={"GeneratorId": [{"Value": "secpipe-reliability",
                                          "Comparison": "EQUALS"}]}):
            seen += len(page["Findings"])
    finally:
        server.stop()

    sent = IMPORTERS * PER_IMPORTER
    print(f"\n{hub_db.split('://')[0] if '://' in hub_db else 'sqlite'}: {sent} findings from "
          f"{IMPORTERS} importers in {elapsed:.1f} s ({sent / elapsed:.0f}/s), "
          f"{len(expected)} distinct Ids")
    for n, calls in enumerate(answers):
        assert len(calls) == PER_IMPORTER // BATCH, f"importer {n} made {len(calls)} calls"
        for ok, failed, failures in calls:
            assert (ok, failed) == (BATCH, 0), f"importer {n}: {failures[:3]}"
    assert seen == len(expected)

    state = table_state(hub_db)
    assert state.problems == []
    assert state.rows == len(state.docs) == len(expected), "no duplicate and no missing Id"
    assert set(state.docs) == set(expected)
    lost = [fid for fid, doc in expected.items() if state.docs[fid] != doc]
    assert not lost, (f"{len(lost)} Ids do not hold their newest version, e.g. {lost[0]}: "
                      f"stored {state.docs[lost[0]]['UpdatedAt']} "
                      f"{state.docs[lost[0]]['ProductFields']}, expected "
                      f"{expected[lost[0]]['UpdatedAt']} {expected[lost[0]]['ProductFields']}")
    counts = [side_counts(doc) for doc in expected.values()]
    assert state.side == {"finding_types": sum(c[0] for c in counts),
                          "finding_resources": sum(c[1] for c in counts),
                          "finding_map": sum(c[2] for c in counts)}
    if "://" not in hub_db:
        assert sqlite_integrity(hub_db) == []
