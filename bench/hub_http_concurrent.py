"""One hub worker under concurrent BatchImportFindings calls, in this one process: signed
requests (botocore's SigV4, 100 new findings each) replayed straight into the hub's ASGI app
by `--concurrency` callers at once, as `hub serve` sees the connections the dispatcher hands
one worker. No clients and no sockets on the cores, so the figures are the hub's.

Reported per new finding: the process's CPU, the wall time the SQLite write lock was held and
the holder's own CPU while it held it (the lock is what every worker of `hub serve --workers
N` serialises on, so its wall time per finding bounds the hub whatever the cores: a holder
waiting for the GIL or for a core stretches it), and how many calls shared a transaction
(`groupcommit`, where the code has it). Run it against another checkout's code, alternating
(`--against /path/to/src`), for a same-run A/B on a shared machine.

    .venv/bin/python bench/hub_http_concurrent.py --findings 4000 --concurrency 2 --repeat 3
    .venv/bin/python bench/hub_http_concurrent.py --against ../main/src
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def _instrument_gate(tally: list[float]) -> None:
    """Add the outermost write-gate hold of every thread to `tally` (wall s, CPU s, count)."""
    from secpipe.hub import writegate

    held = writegate.WriteGate.held

    @contextmanager
    def timed(self: Any) -> Iterator[None]:
        outer = not getattr(self._local, "depth", 0)
        with held(self):
            w, c = time.perf_counter(), time.thread_time()
            try:
                yield
            finally:
                if outer:
                    tally[0] += time.perf_counter() - w
                    tally[1] += time.thread_time() - c
                    tally[2] += 1

    writegate.WriteGate.held = timed       # type: ignore[method-assign]


async def _replay(app: Any, requests: list, concurrency: int) -> int:
    from hub_http_path import replay

    shares = [requests[i::concurrency] for i in range(concurrency)]
    done = await asyncio.gather(*(replay(app, share) for share in shares))
    return sum(done)


def one_run(count: int, concurrency: int, seed: int) -> dict[str, Any]:
    from hub_http_path import KEY_ID, SECRET, signed_requests
    from hub_store import generate

    from secpipe.hub.api.app import create_app
    from secpipe.hub.api.isolation import UNLIMITED
    from secpipe.hub.api.server import SWITCH_INTERVAL, settle_gc, warm
    from secpipe.hub.store import open_store

    os.environ["SECPIPE_HUB_ACCESS_KEY_ID"] = KEY_ID
    os.environ["SECPIPE_HUB_SECRET_ACCESS_KEY"] = SECRET
    docs = generate(seed * 10_000_000, count, "2024-03-03T00:00:00.000Z", run_id=f"c{seed}",
                    seed=seed)
    for d in docs:
        d["Id"] = f"conc{seed}/{d['Id']}"
    requests = signed_requests(docs)
    tally = [0.0, 0.0, 0]
    _instrument_gate(tally)
    with tempfile.TemporaryDirectory(prefix="secpipe-bench-conc-") as work:
        store = open_store(f"sqlite:///{work}/hub.db")
        app = create_app(store, limits=UNLIMITED, extra_routes=())
        warm()
        settle_gc()
        sys.setswitchinterval(SWITCH_INTERVAL)              # as `hub serve` runs
        c0, w0 = time.process_time(), time.perf_counter()
        ok = asyncio.run(_replay(app, requests, concurrency))
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        assert ok == count, ok
        group = store.__dict__.get("_group_commit")
        store.close()
    return {"cpu_us": cpu * 1e6 / count, "wall_us": wall * 1e6 / count,
            "held_us": tally[0] * 1e6 / count, "held_cpu_us": tally[1] * 1e6 / count,
            "calls_per_txn": (group.grouped / group.groups) if group and group.groups else 1.0}


def _child(src: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, __file__, "--findings", str(args.findings),
                          "--concurrency", str(args.concurrency), "--repeat", "1",
                          "--seed", str(seed), "--json"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=300)
    ap.add_argument("--against", metavar="SRC", help="alternate with this code (a src dir)")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.json:
        print(json.dumps(one_run(args.findings, args.concurrency, args.seed)))
        return
    this = str(ROOT / "src")
    sides = {"this": this, **({"against": args.against} if args.against else {})}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in sides}
    for r in range(args.repeat):
        for name, src in sides.items():
            res = _child(src, args, args.seed + r)
            runs[name].append(res)
            print(json.dumps({name: {k: round(v, 1) for k, v in res.items()},
                              "load": os.getloadavg()[0]}), flush=True)
    for name, got in runs.items():
        best = {k: round(min(g[k] for g in got), 1) for k in got[0]}
        print(f"{name:8s} ({sides[name]}), {args.concurrency} concurrent calls, best of "
              f"{len(got)}: CPU {best['cpu_us']} µs per new finding, wall {best['wall_us']} µs; "
              f"write lock held {best['held_us']} µs (its holder's CPU {best['held_cpu_us']} "
              f"µs); calls per transaction {max(g['calls_per_txn'] for g in got):.2f}")


if __name__ == "__main__":
    main()
