"""Soak of the hub server: imports and queries for N minutes, throughput over time and the
server's memory growth.

`python -m secpipe hub serve` runs in its own process (on a temporary SQLite file, or with
--pg on a PostgreSQL server this script starts itself, or on --db). Importer threads send
BatchImportFindings calls of 100 findings through boto3 (SigV4): new findings and newer
versions of earlier ones, so the table grows and the update path runs too. Query threads
send GetFindings with varied filters and sorts, following NextToken for a few pages. Every
interval a line reports findings imported per second, queries per second, p50/p95 latency of
each, errors, the server's RSS and the database size; the end gives the totals and the memory
growth after warm-up (RSS after the first interval vs the last).

    .venv/bin/python bench/hub_soak.py                    # 10 minutes, SQLite   (make soak)
    .venv/bin/python bench/hub_soak.py --minutes 3 --pg   # on PostgreSQL
    .venv/bin/python bench/hub_soak.py --minutes 2 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.reliability.hub_support import HubProcess, client, finding  # noqa: E402

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")


class Stats:
    """Latencies and counts since the last report, plus running totals; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()
        self.total = {"imported": 0, "import_calls": 0, "queries": 0, "errors": 0}

    def reset(self) -> None:
        self.imported = 0
        self.import_ms: list[float] = []
        self.query_ms: list[float] = []
        self.errors: list[str] = []

    def add_import(self, n: int, ms: float) -> None:
        with self.lock:
            self.imported += n
            self.import_ms.append(ms)
            self.total["imported"] += n
            self.total["import_calls"] += 1

    def add_query(self, ms: float) -> None:
        with self.lock:
            self.query_ms.append(ms)
            self.total["queries"] += 1

    def add_error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)
            self.total["errors"] += 1

    def take(self) -> tuple[int, list[float], list[float], list[str]]:
        with self.lock:
            out = (self.imported, self.import_ms, self.query_ms, self.errors)
            self.reset()
            return out


def now_iso() -> str:
    t = datetime.now(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def importer(url: str, n: int, stats: Stats, stop: threading.Event, batch: int,
             new_share: float) -> None:
    rng = random.Random(n)
    hub = client(url)
    created = 0
    while not stop.is_set():
        docs = []
        for _ in range(batch):
            if created == 0 or rng.random() < new_share:
                fid, created = f"soak/{n}/{created:07d}", created + 1
            else:
                fid = f"soak/{n}/{rng.randrange(created):07d}"
            if fid in {d["Id"] for d in docs}:
                continue
            docs.append(finding(fid, now_iso(), f"importer-{n}", variant=rng.randrange(12)))
        began = time.perf_counter()
        try:
            got = hub.batch_import_findings(Findings=docs)
        except Exception as exc:  # noqa: BLE001 - counted and reported, the soak goes on
            stats.add_error(f"import: {type(exc).__name__}: {exc}"[:200])
            time.sleep(0.5)
            continue
        ms = (time.perf_counter() - began) * 1000
        if got.get("FailedCount"):
            stats.add_error(f"import: {got['FailedFindings'][:1]}")
        stats.add_import(got.get("SuccessCount", 0), ms)


def queries(rng: random.Random) -> dict[str, Any]:
    pick = rng.randrange(5)
    if pick == 0:
        return {"Filters": {"SeverityLabel": [{"Value": rng.choice(SEVERITIES),
                                               "Comparison": "EQUALS"}]},
                "SortCriteria": [{"Field": "UpdatedAt", "SortOrder": "desc"}]}
    if pick == 1:
        return {"Filters": {"ProductFields": [{"Key": "rel/Marker", "Comparison": "EQUALS",
                                               "Value": f"importer-{rng.randrange(4)}"}]}}
    if pick == 2:
        return {"Filters": {"Id": [{"Value": f"soak/{rng.randrange(4)}/00{rng.randrange(10)}",
                                    "Comparison": "PREFIX"}]}}
    if pick == 3:
        return {"Filters": {"Title": [{"Value": "importer-1", "Comparison": "CONTAINS"}],
                            "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]},
                "MaxResults": 50}
    return {"SortCriteria": [{"Field": "SeverityNormalized", "SortOrder": "desc"}]}


def querier(url: str, n: int, stats: Stats, stop: threading.Event, pages: int) -> None:
    rng = random.Random(1000 + n)
    hub = client(url)
    while not stop.is_set():
        request = queries(rng)
        for _ in range(pages):
            began = time.perf_counter()
            try:
                got = hub.get_findings(**request)
            except Exception as exc:  # noqa: BLE001
                stats.add_error(f"query: {type(exc).__name__}: {exc}"[:200])
                time.sleep(0.5)
                break
            stats.add_query((time.perf_counter() - began) * 1000)
            if not got.get("NextToken"):
                break
            request = {**request, "NextToken": got["NextToken"]}


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def db_size(db: str) -> int:
    """The SQLite file itself (its WAL, up to 128 MB by the hub's pragmas, is not counted)."""
    path = Path(db)
    return 0 if "://" in db or not path.exists() else path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between report lines")
    ap.add_argument("--importers", type=int, default=4)
    ap.add_argument("--queriers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100, help="findings per BatchImportFindings")
    ap.add_argument("--new-share", type=float, default=0.6,
                    help="share of new findings in a batch (the rest update older ones)")
    ap.add_argument("--pages", type=int, default=3, help="pages followed per query")
    ap.add_argument("--db", help="SQLite path or postgresql:// URL (default: a temp SQLite)")
    ap.add_argument("--pg", action="store_true", help="start a throwaway PostgreSQL for it")
    ap.add_argument("--json", help="write the per-interval figures and the summary here")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="secpipe-soak-"))
    pg = None
    if args.pg:
        from hub_pg import PgServer

        pg = PgServer()
        db = pg.new_db("soak")
    else:
        db = args.db or str(work / "hub.db")
    server = HubProcess(db, work).start()
    stats, stop = Stats(), threading.Event()
    threads = [threading.Thread(target=importer, daemon=True, args=(
        server.url, n, stats, stop, args.batch, args.new_share)) for n in range(args.importers)]
    threads += [threading.Thread(target=querier, daemon=True, args=(
        server.url, n, stats, stop, args.pages)) for n in range(args.queriers)]
    backend = "postgresql" if "://" in db else "sqlite"
    print(f"soak: {args.minutes:g} min on {backend}, {args.importers} importers x "
          f"{args.batch} findings/call, {args.queriers} queriers; server pid {server.pid}, "
          f"RSS {server.rss_kb() / 1024:.0f} MB at start")
    print(f"{'t(s)':>6} {'imported/s':>10} {'imp p50':>8} {'imp p95':>8} {'queries/s':>9} "
          f"{'q p50':>7} {'q p95':>7} {'errors':>6} {'RSS MB':>7} {'anon MB':>7} {'DB MB':>7} "
          f"{'findings':>9}")
    rows: list[dict[str, Any]] = []
    began = time.monotonic()
    rss_start, anon_start = server.rss_kb(), server.rss_kb("RssAnon")
    try:
        for t in threads:
            t.start()
        end = began + args.minutes * 60
        last = began
        while time.monotonic() < end:
            time.sleep(max(0.0, min(args.interval, end - time.monotonic())))
            tick = time.monotonic()
            imported, imp_ms, q_ms, errors = stats.take()
            span = tick - last
            last = tick
            row = {"t": round(tick - began, 1), "imported_per_s": imported / span,
                   "import_p50_ms": pct(imp_ms, 0.5), "import_p95_ms": pct(imp_ms, 0.95),
                   "queries_per_s": len(q_ms) / span, "query_p50_ms": pct(q_ms, 0.5),
                   "query_p95_ms": pct(q_ms, 0.95), "errors": len(errors),
                   "rss_mb": server.rss_kb() / 1024,
                   "anon_mb": server.rss_kb("RssAnon") / 1024, "db_mb": db_size(db) / 1e6,
                   "findings": stats.total["imported"]}
            rows.append(row)
            print(f"{row['t']:6.0f} {row['imported_per_s']:10.0f} {row['import_p50_ms']:8.0f} "
                  f"{row['import_p95_ms']:8.0f} {row['queries_per_s']:9.1f} "
                  f"{row['query_p50_ms']:7.0f} {row['query_p95_ms']:7.0f} {row['errors']:6d} "
                  f"{row['rss_mb']:7.1f} {row['anon_mb']:7.1f} {row['db_mb']:7.1f} "
                  f"{row['findings']:9d}", flush=True)
            for e in errors[:3]:
                print(f"       error: {e}")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.stop()
        if pg is not None:
            pg.stop()
    summary: dict[str, Any] = {"backend": backend, "minutes": args.minutes, **stats.total}
    if rows:
        warm, anon_warm = rows[0]["rss_mb"], rows[0]["anon_mb"]
        summary.update({
            "rss_start_mb": rss_start / 1024, "rss_after_first_interval_mb": warm,
            "rss_end_mb": rows[-1]["rss_mb"], "rss_max_mb": max(r["rss_mb"] for r in rows),
            "anon_start_mb": anon_start / 1024, "anon_after_first_interval_mb": anon_warm,
            "anon_end_mb": rows[-1]["anon_mb"], "anon_max_mb": max(r["anon_mb"] for r in rows),
            "anon_growth_after_warmup_mb": rows[-1]["anon_mb"] - anon_warm,
            "imported_per_s_first": rows[0]["imported_per_s"],
            "imported_per_s_last": rows[-1]["imported_per_s"],
            "imported_per_s_mean": statistics.mean(r["imported_per_s"] for r in rows),
            "queries_per_s_mean": statistics.mean(r["queries_per_s"] for r in rows),
            "query_p95_ms_last": rows[-1]["query_p95_ms"],
            "db_mb_end": rows[-1]["db_mb"],
        })
        print(f"\n{summary['imported']} findings in {summary['import_calls']} calls, "
              f"{summary['queries']} queries, {summary['errors']} errors; imports "
              f"{summary['imported_per_s_first']:.0f}/s first interval -> "
              f"{summary['imported_per_s_last']:.0f}/s last (mean "
              f"{summary['imported_per_s_mean']:.0f}/s), queries "
              f"{summary['queries_per_s_mean']:.1f}/s (mean)")
        print(f"server memory: RSS {summary['rss_start_mb']:.0f} MB at start, {warm:.0f} after "
              f"the first interval, {summary['rss_end_mb']:.0f} at the end (max "
              f"{summary['rss_max_mb']:.0f}); heap (RssAnon) {summary['anon_start_mb']:.0f} -> "
              f"{anon_warm:.0f} -> {summary['anon_end_mb']:.0f} MB (max "
              f"{summary['anon_max_mb']:.0f}, growth after warm-up "
              f"{summary['anon_growth_after_warmup_mb']:+.1f} MB)")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "intervals": rows},
                                              indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if stats.total["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
