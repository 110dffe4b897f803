"""`secpipe hub serve --workers 2`: two server processes on one port, concurrent boto3
importers, nothing lost or doubled and the newest UpdatedAt wins, on SQLite and PostgreSQL;
the workers really are two processes sharing the load; the dashboard (whose sessions live in
one process) is not served; SIGTERM to the hub stops every worker.

Same oracle as test_hub_concurrency (computed from what was sent, without the hub's code),
on a smaller plan: 8 importers x 400 findings over 800 Ids.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.hub_support import (HubProcess, client, finding, side_counts, stamp,
                                           sqlite_integrity, table_state)

pytest.importorskip("boto3")

IMPORTERS, PER_IMPORTER, UNIVERSE, BATCH = 8, 400, 800, 100


def plan(seed: int = 7) -> tuple[list[list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    rng = random.Random(seed)
    ids = [f"rel/workers/{n:04d}" for n in range(UNIVERSE)]
    work, expected, used = [], {}, {fid: set() for fid in ids}
    for importer in range(IMPORTERS):
        mine = []
        for fid in rng.sample(ids, PER_IMPORTER):
            ms = rng.randrange(20 * 86400 * 1000)
            while ms in used[fid]:
                ms = rng.randrange(20 * 86400 * 1000)
            used[fid].add(ms)
            doc = finding(fid, stamp(ms / 1000), f"importer-{importer}",
                          variant=rng.randrange(12))
            mine.append(doc)
            if fid not in expected or doc["UpdatedAt"] > expected[fid]["UpdatedAt"]:
                expected[fid] = doc
        work.append(mine)
    return work, expected


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def test_two_workers_serve_concurrent_importers_exactly(hub_db: str, tmp_path: Path) -> None:
    work, expected = plan()
    server = HubProcess(hub_db, tmp_path, ("--rate-limit", "0", "--workers", "2")).start()
    try:
        deadline = time.monotonic() + 30
        while len(children(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = children(server.pid)
        assert len(workers) == 2, workers
        cpu_before = {pid: _cpu(pid) for pid in workers}
        clients = [client(server.url) for _ in range(IMPORTERS)]
        start = threading.Barrier(IMPORTERS)

        def importer(n: int) -> list[tuple[int, int]]:
            start.wait()
            return [(got["SuccessCount"], got["FailedCount"]) for got in (
                clients[n].batch_import_findings(Findings=work[n][i:i + BATCH])
                for i in range(0, PER_IMPORTER, BATCH))]

        with ThreadPoolExecutor(max_workers=IMPORTERS) as pool:
            answers = [f.result() for f in [pool.submit(importer, n) for n in range(IMPORTERS)]]
        # both processes did part of the work (the parent hands connections to the least busy)
        assert all(_cpu(pid) > cpu_before[pid] for pid in workers)
        # the dashboard is not served by several processes (in-memory sessions)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + "/ui/", timeout=10)
        assert err.value.code == 404
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)
        assert server.proc.returncode == 0
        for pid in workers:                      # no worker outlives the hub
            assert not Path(f"/proc/{pid}").exists() or \
                Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    finally:
        server.stop()
    assert all(a == (BATCH, 0) for calls in answers for a in calls)
    state = table_state(hub_db)
    assert state.problems == []
    assert state.rows == len(state.docs) == len(expected)
    assert {fid: doc for fid, doc in state.docs.items()} == expected
    counts = [side_counts(doc) for doc in expected.values()]
    assert state.side == {"finding_types": sum(c[0] for c in counts),
                          "finding_resources": sum(c[1] for c in counts),
                          "finding_map": sum(c[2] for c in counts)}
    if "://" not in hub_db:
        assert sqlite_integrity(hub_db) == []


def _cpu(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_workers_must_be_a_positive_number_or_auto(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from secpipe.cli import main

    result = CliRunner().invoke(main, ["hub", "serve", "--hub", str(tmp_path / "h.db"),
                                       "--workers", "0"])
    assert result.exit_code == 2 and "--workers" in result.output
