"""Benchmark: GetFindings filters on un-indexed nested keys at scale (issue 13's 2 s target).

Loads N findings (default 1M) into a SQLite hub and into a PostgreSQL hub this script
starts itself, through `SqlHubStore.bulk_import`. The findings are bench/hub_store.py's
realistic pipeline output, enriched with what the nested filter keys read: Network (ports,
IPv4/IPv6, direction) on every finding, EC2 instance details on a fifth of the resources, a
Process on a tenth, Malware on 1%, with a few rare values planted. Then it times the first
GetFindings page (default sort, UpdatedAt desc) of nested-key filters, rare and common, and
the existing GetFindings p95 mix of bench/hub_store.py (which must not regress), and prints
each figure against the 2 s target.

    .venv/bin/python bench/hub_filters.py                     # 1M, SQLite + PostgreSQL
    .venv/bin/python bench/hub_filters.py --size 200000 --no-pg
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from hub_store import BATCH, generate, query_latency, stamp_for  # noqa: E402

from secpipe.hub.store import open_store  # noqa: E402

TARGET_S = 2.0
EC2_TYPES = [f"{fam}.{size}" for fam in ("t3", "m5", "c6g", "r5") for size in
             ("micro", "small", "large", "xlarge", "2xlarge")]


def enrich(doc: dict[str, Any], i: int, rng: random.Random) -> dict[str, Any]:
    """Nested members on the generated finding; rare values every 10,000th finding."""
    rare = i % 10_000 == 5
    doc["Network"] = {"Direction": rng.choice(["IN", "OUT"]), "Protocol": "TCP",
                      "DestinationPort": 3389 if rare else rng.choice([22, 80, 443, 8080]),
                      "DestinationIpV4": "10.99.0.5" if rare else
                      f"10.{rng.randrange(50)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                      "SourceIpV6": f"2001:db8:{rng.randrange(100):x}::{rng.randrange(1, 9999):x}"}
    if i % 5 == 0:
        res = doc["Resources"][0]
        res.setdefault("Details", {})["AwsEc2Instance"] = {
            "Type": "x1e.32xlarge" if rare else rng.choice(EC2_TYPES),
            "IpV4Addresses": [f"172.16.{rng.randrange(256)}.{rng.randrange(1, 255)}"],
            "VpcId": f"vpc-{rng.randrange(40)}"}
    if i % 10 == 0 or rare:
        doc["Process"] = {"Name": "xmrig-hidden" if rare else rng.choice(["sshd", "python3"]),
                          "Pid": rng.randrange(1, 60000)}
    if i % 100 == 0 or rare:
        doc["Malware"] = [{"Name": "EICAR-RARE" if rare else "EICAR", "Type": "TROJAN"}]
    return doc


def batches(total: int) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(5)
    for start in range(0, total, BATCH):
        n = min(BATCH, total - start)
        docs = generate(start, n, stamp_for(start // 10000))
        yield [enrich(d, start + k, rng) for k, d in enumerate(docs)]


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("EC2 instance type EQUALS (rare, 0.01%)",
     {"ResourceAwsEc2InstanceType": [{"Comparison": "EQUALS", "Value": "x1e.32xlarge"}]}),
    ("Malware name EQUALS (rare)",
     {"MalwareName": [{"Comparison": "EQUALS", "Value": "EICAR-RARE"}]}),
    ("Malware name EQUALS (1%)", {"MalwareName": [{"Comparison": "EQUALS", "Value": "EICAR"}]}),
    ("Network destination port Eq (rare)", {"NetworkDestinationPort": [{"Eq": 3389}]}),
    ("Network destination IPv4 in CIDR (rare)",
     {"NetworkDestinationIpV4": [{"Cidr": "10.99.0.0/16"}]}),
    ("Process name PREFIX (rare)", {"ProcessName": [{"Comparison": "PREFIX", "Value": "xmrig"}]}),
    ("Process name CONTAINS (rare; value rows)",
     {"ProcessName": [{"Comparison": "CONTAINS", "Value": "rig-hid"}]}),
    ("Network direction EQUALS (common, 50%)",
     {"NetworkDirection": [{"Comparison": "EQUALS", "Value": "IN"}]}),
    ("EC2 VPC EQUALS + SeverityLabel HIGH",
     {"ResourceAwsEc2InstanceVpcId": [{"Comparison": "EQUALS", "Value": "vpc-7"}],
      "SeverityLabel": [{"Comparison": "EQUALS", "Value": "HIGH"}]}),
]


def load(url: str, total: int) -> tuple[Any, float]:
    store = open_store(url, account_id="123456789012")
    t0 = time.perf_counter()
    for batch in batches(total):
        result = store.bulk_import(batch, batch_size=BATCH)
        assert not result.failed, result.failed[:2]
    return store, time.perf_counter() - t0


def time_queries(store: Any, repeat: int = 3) -> list[tuple[str, float, float, int]]:
    out = []
    for label, filters in QUERIES:
        times, found = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            docs, _token = store.get_findings(filters, max_results=100)
            times.append(time.perf_counter() - t0)
            found = len(docs)
        out.append((label, statistics.median(times), max(times), found))
    return out


def report(name: str, total: int, load_s: float, rows: list, p95: dict) -> None:
    print(f"\n== {name}: {total:,} findings (loaded in {load_s:.0f} s, "
          f"{total / load_s:,.0f}/s)")
    for label, med, worst, found in rows:
        ok = "met" if worst < TARGET_S else "NOT met"
        print(f"  {label:45s} median {med * 1000:8.1f} ms  max {worst * 1000:8.1f} ms  "
              f"({found} on page 1)  < {TARGET_S:.0f} s: {ok}")
    print(f"  bench/hub_store.py GetFindings mix: {p95}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="secpipe-bench-filters-") as tmp:
            store, secs = load(str(Path(tmp) / "hub.db"), args.size)
            report("SQLite", args.size, secs, time_queries(store), query_latency(store, 100))
            store.close()
    if not args.no_pg:
        from hub_pg import PgServer

        server = PgServer()
        try:
            store, secs = load(server.new_db("filters"), args.size)
            report("PostgreSQL", args.size, secs, time_queries(store),
                   query_latency(store, 100))
            store.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
