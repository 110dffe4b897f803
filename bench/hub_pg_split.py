"""GetFindings on PostgreSQL, split: where each page of bench/hub_store.py's mix spends its time.

On a machine other work loads, the wall-clock p95 of `hub_store.py --query-pg` mostly measures
the scheduler. This replays the same requests (same seed, same second pages) and splits each:
- build: the client's CPU to build the statement (`pages.page_query`);
- plan / exec: the server's planning and execution of that very statement, from EXPLAIN
  (ANALYZE, BUFFERS, TIMING OFF), the minimum of --reps runs, with the shared buffers it
  touched (hit + read; `read` > 0 means a block came from outside shared_buffers);
- run: the statement as the store sends it (wall: round trip, execution, transfer);
- decode: the client's CPU to decode the page's documents (`query_decode.load_docs`).
`--set "random_page_cost=4"` runs the EXPLAINs under other session settings, for a same-run
comparison with the hub's own (`--set ""` twice runs both: each setting is a column).

    PYTHONPATH=src python bench/hub_pg_split.py postgresql://postgres@127.0.0.1:PORT/fpf1m \
        --reps 3 --set "" --set "random_page_cost=4"
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hub_store  # noqa: E402

from secpipe.hub import pages, partitions  # noqa: E402
from secpipe.hub.common import encode_token  # noqa: E402
from secpipe.hub.query_decode import load_docs  # noqa: E402
from secpipe.hub.store import open_store  # noqa: E402


def requests(n: int = 200):
    """(label, filters, sort, page number) of the mix, as `hub_store.query_latency` sends it."""
    rng = random.Random(11)
    for i in range(n):
        filters = hub_store.QUERIES[i % len(hub_store.QUERIES)](rng)
        sort = None if i % 3 else [{"Field": "SeverityLabel", "SortOrder": "desc"}]
        label = f"q{i % len(hub_store.QUERIES)}/{'severity' if sort else 'updated'}"
        yield label, filters, sort, 2 if i % 5 == 0 else 1


def explain(conn, sql: str, settings: str, reps: int) -> dict[str, float]:
    best: dict[str, float] | None = None
    conn.exec_driver_sql("RESET ALL")
    for setting in filter(None, settings.split(";")):
        conn.exec_driver_sql("SET " + setting)
    for _ in range(reps):
        out = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) " + sql).scalar()[0]
        top = out["Plan"]
        got = {"plan": out["Planning Time"], "exec": out["Execution Time"],
               "hit": top.get("Shared Hit Blocks", 0), "read": top.get("Shared Read Blocks", 0)}
        if best is None or got["plan"] + got["exec"] < best["plan"] + best["exec"]:
            best = got
    conn.exec_driver_sql("RESET ALL")
    assert best is not None
    return best


def measure(url: str, reps: int, settings: list[str]) -> list[dict[str, Any]]:
    store = open_store(url, account_id="123456789012")
    scope = partitions.visible(partitions.of(store, None), None)
    rows: list[dict[str, Any]] = []
    for label, filters, sort, page_count in requests():
        token = None
        for page_no in range(page_count):
            with store._read_one() as conn:
                c0 = time.process_time()
                q, digest = pages.page_query(conn, filters, sort, 100, token, None, scope)
                build = time.process_time() - c0
                t0 = time.perf_counter()
                got = conn.execute(q).all()
                run = time.perf_counter() - t0
                c0 = time.process_time()
                load_docs([r[0] for r in got[:100]])
                decode = time.process_time() - c0
                sql = str(q.compile(dialect=conn.dialect,
                                    compile_kwargs={"literal_binds": True})).replace("%", "%%")
                row: dict[str, Any] = {"label": label, "page": page_no, "build": build * 1e3,
                                       "run": run * 1e3, "decode": decode * 1e3}
                for s in settings:
                    row[s] = explain(conn, sql, s, reps)
            rows.append(row)
            if len(got) <= 100:
                break
            token = encode_token({"q": digest, "k": list(got[99][1:])})
    store.close()
    return rows


def pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * q // 100) - 1)]


def report(rows: list[dict[str, Any]], settings: list[str]) -> None:
    labels = sorted({r["label"] for r in rows})
    print("per label, p50 / p95 in ms (server: min of the reps); buffers p50 / max")
    for label in [*labels, "all"]:
        mine = [r for r in rows if label in ("all", r["label"])]
        parts = [f"{label:12s} n {len(mine):3d}"]
        for key in ("build", "run", "decode"):
            v = [r[key] for r in mine]
            parts.append(f"{key} {pct(v, 50):5.1f} / {pct(v, 95):5.1f}")
        for s in settings:
            ex = [r[s]["plan"] + r[s]["exec"] for r in mine]
            buf = [r[s]["hit"] + r[s]["read"] for r in mine]
            reads = sum(r[s]["read"] for r in mine)
            parts.append(f"[{s or 'hub'}] server {pct(ex, 50):5.1f} / {pct(ex, 95):5.1f} "
                         f"max {max(ex):5.1f} buf {pct(buf, 50):5d} / {max(buf):5d} "
                         f"read {reads}")
        print("  ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--set", action="append", dest="settings",
                    help="session settings for the EXPLAINs ('a=1;b=2'; '' = the hub's)")
    args = ap.parse_args()
    settings = args.settings if args.settings is not None else [""]
    report(measure(args.url, args.reps, settings), settings)


if __name__ == "__main__":
    main()
