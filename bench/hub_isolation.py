"""GetFindings latency on a real `secpipe hub serve` process, quiet and during floods: a
1,000-query OSV batch flood, a Falco flood, both, with an importer running alongside.

    PYTHONPATH=src python bench/hub_isolation.py [--db postgresql://...] [--samples 200]
        [--osv 4] [--falco 4] [--seconds 60]

Prints p50/p95/max per scenario and what the floods got back. The flood clients run in
their own processes at the lowest CPU priority (see tests/hub/flood_workers.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]


def main() -> None:
    from secpipe.hub.store import open_store
    from secpipe.vulndb import VulnDB
    from tests.hub.isolation_support import measure_during_floods
    from tests.hub.test_api_support import make_finding
    from tests.reliability.hub_support import HubProcess
    from tests.vulndb.conftest import FIXTURES

    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--osv", type=int, default=4)
    ap.add_argument("--falco", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="secpipe-isolation-"))
    db = args.db or str(tmp / "hub.db")
    vulndb = VulnDB(tmp / "vulndb.sqlite")
    vulndb.import_path(FIXTURES)
    with open_store(db) as store:
        store.bulk_import(make_finding("isolation", n) for n in range(2000))
    hub = HubProcess(db, tmp, extra_args=("--rate-limit", "0", "--public-osv",
                                          "--vulndb", str(vulndb.path))).start()
    try:
        for name, osv, falco, imports in (("quiet", 0, 0, 0), ("osv flood", args.osv, 0, 1),
                                           ("falco flood", 0, args.falco, 1),
                                           ("both floods", args.osv, args.falco, 1)):
            out = measure_during_floods(hub.url, tmp / name.replace(" ", "-"), osv=osv,
                                        falco=falco, imports=imports, samples=args.samples,
                                        seconds=args.seconds)
            print(f"{name:12} GetFindings p50 {out.p50:7.1f} ms  p95 {out.p95:7.1f} ms  "
                  f"max {out.max:7.1f} ms  ({len(out.samples)} samples)  floods: {out.answers}",
                  flush=True)
    finally:
        hub.stop()


if __name__ == "__main__":
    main()
