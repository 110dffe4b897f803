"""What keeping findings per account and region costs GetFindings (migration 0008).

Builds one hub (SQLite, and PostgreSQL with --pg URL) with N findings in the configured
partition and N/10 in a second region, then times the same GetFindings pages (bench/hub_store.py's
queries) with the partition condition (what the API runs) and without it (pages.findings_page
with no scope: the query before 0008), interleaved so the machine's load hits both alike.
Prints p50/p95 wall and (SQLite) CPU milliseconds for each.

    .venv/bin/python bench/hub_partition.py --findings 100000
    .venv/bin/python bench/hub_partition.py --findings 100000 --pg postgresql://.../db --no-sqlite
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from hub_store import QUERIES, batches  # noqa: E402

from secpipe.hub import pages, partitions  # noqa: E402
from secpipe.hub.interface import Partition  # noqa: E402
from secpipe.hub.store import open_store  # noqa: E402


def _pct(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values), values[max(0, int(len(values) * 0.95) - 1)]


def measure(store, n: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(11)
    scoped = partitions.visible(store.partition)
    out: dict[str, list[float]] = {"with partition": [], "without": [],
                                   "with partition cpu": [], "without cpu": []}
    for i in range(n):
        filters = QUERIES[i % len(QUERIES)](rng)
        sort = None if i % 3 else [{"Field": "SeverityLabel", "SortOrder": "desc"}]
        for name, scope in (("with partition", scoped), ("without", None)) if i % 2 else (
                ("without", None), ("with partition", scoped)):
            t0, c0 = time.perf_counter(), time.process_time()
            with store._read() as conn:
                pages.findings_page(conn, filters, sort, 100, None, None, scope)
            out[name].append((time.perf_counter() - t0) * 1000)
            out[name + " cpu"].append((time.process_time() - c0) * 1000)
    return {k: _pct(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--pg", help="a PostgreSQL database URL (empty) to measure too")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = ([] if args.no_sqlite else [("sqlite", str(Path(tmp) / "hub.db"))]) + (
            [("postgresql", args.pg)] if args.pg else [])
        for name, url in targets:
            with open_store(url, account_id="123456789012") as store:
                t0 = time.perf_counter()
                store.bulk_import(itertools.chain.from_iterable(batches(args.findings)))
                west = Partition(store.account_id, "us-west-2")
                store.enable_hub(partition=west)
                store.bulk_import(itertools.chain.from_iterable(batches(args.findings // 10)),
                                  partition=west)
                print(f"{name}: {args.findings} + {args.findings // 10} findings imported in "
                      f"{time.perf_counter() - t0:.0f} s")
                for label, (p50, p95) in measure(store, args.samples).items():
                    print(f"{name}: GetFindings {label}: p50 {p50:.2f} ms, p95 {p95:.2f} ms")


if __name__ == "__main__":
    main()
