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
BASE = 10_000          # bare_load: distinct findings generated (one rare plant each)
RARE_ARN = "arn:aws:securityhub:us-east-1::product/rare/scanner"
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
    if rare:      # the provider's values differ from the top level; a rare Details.Other
        doc["FindingProviderFields"] = {
            "Severity": {"Label": "INFORMATIONAL", "Original": "9.9"}, "Types": ["Rare/FPF"],
            "Confidence": 7, "Criticality": 99,
            "RelatedFindings": [{"ProductArn": RARE_ARN, "Id": "rare-related"}]}
        doc["Resources"][0].setdefault("Details", {}).setdefault("Other", {})["owner"] = \
            "rare-owner"
        doc["SourceUrl"] = "https://rare.example/keyword"
        doc["Severity"] = {"Label": "HIGH", "Original": "HIGH"}
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
    ("FPF SeverityLabel EQUALS (common, twin)",
     {"FindingProviderFieldsSeverityLabel": [{"Comparison": "EQUALS", "Value": "HIGH"}]}),
    ("FPF SeverityOriginal EQUALS (rare)",
     {"FindingProviderFieldsSeverityOriginal": [{"Comparison": "EQUALS", "Value": "9.9"}]}),
    ("FPF Types EQUALS (rare)",
     {"FindingProviderFieldsTypes": [{"Comparison": "EQUALS", "Value": "Rare/FPF"}]}),
    ("FPF Confidence Eq (rare)", {"FindingProviderFieldsConfidence": [{"Eq": 7}]}),
    ("FPF Criticality Gte (rare)", {"FindingProviderFieldsCriticality": [{"Gte": 99}]}),
    ("FPF RelatedFindingsId EQUALS (rare)",
     {"FindingProviderFieldsRelatedFindingsId": [{"Comparison": "EQUALS",
                                                  "Value": "rare-related"}]}),
    ("FPF RelatedFindingsProductArn EQUALS (rare)",
     {"FindingProviderFieldsRelatedFindingsProductArn": [{"Comparison": "EQUALS",
                                                          "Value": RARE_ARN}]}),
    ("FPF SeverityLabel INFORMATIONAL + SeverityLabel HIGH (rare)",
     {"FindingProviderFieldsSeverityLabel": [{"Comparison": "EQUALS",
                                              "Value": "INFORMATIONAL"}],
      "SeverityLabel": [{"Comparison": "EQUALS", "Value": "HIGH"}]}),
    ("ResourceDetailsOther EQUALS (rare)",
     {"ResourceDetailsOther": [{"Key": "owner", "Comparison": "EQUALS",
                                "Value": "rare-owner"}]}),
    ("Keyword (rare; document scan)", {"Keyword": [{"Value": "https://rare.example/keyword"}]}),
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
    ap.add_argument("--keep", type=Path, help="build the SQLite hub at this path (reused if "
                    "it exists) and fill PostgreSQL by copying its rows (hub_pg.copy_hub: the "
                    "exact rows the store wrote, COPY instead of the import path)")
    ap.add_argument("--bare", action="store_true", help="with --keep: build the SQLite hub "
                    "from the exact rows the store writes, by executemany (bare_load)")
    ap.add_argument("--only", default="", help="run only the queries whose label has this")
    args = ap.parse_args()
    QUERIES[:] = [q for q in QUERIES if args.only in q[0]]
    if args.keep:
        copy_built(args)
        return
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


def bare_load(path: Path, total: int) -> tuple[Any, float]:
    """The SQLite hub at `path` filled with the exact rows `bulk_import` writes (hub_store's
    bare_rows: check_all, on_create, finding_row, side_rows), by sqlite3.executemany: a 1M
    build in minutes on this shared machine, where the import path takes most of an hour.
    BASE findings are generated (generating is what is slow); the others are copies of their
    rows under new pks and Ids (doc text included), so 1 in 10,000 is a rare plant."""
    import sqlite3

    from hub_store import bare_rows

    from secpipe.hub.importer import INSERT_COLS, MAP_COLS, RESOURCE_COLS, TYPE_COLS

    open_store(str(path), account_id="123456789012").close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")

    def sql(table: str, cols: Any) -> str:
        return (f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                f'VALUES ({", ".join("?" for _ in cols)})')

    statements = [sql("findings", INSERT_COLS), sql("finding_types", TYPE_COLS),
                  sql("finding_resources", RESOURCE_COLS), sql("finding_map", MAP_COLS)]
    t0 = time.perf_counter()
    base = min(total, BASE)          # distinct findings; the rest are copies of their rows
    built: list[list] = [[], [], [], []]
    next_pk = 1
    for docs in batches(base):
        rows, *side, next_pk = bare_rows(docs, next_pk)
        rows = [r[:-2] + ("123456789012", "us-east-1") for r in rows]   # the store's partition
        for acc, part in zip(built, [rows, *side]):
            acc += part
    for copy in range(-(-total // base)):
        n = min(base, total - copy * base)
        shift = copy * base
        rows = [(r[0] + shift, r[1], f"{r[2]}~{copy}", *r[3:28],
                 r[28].replace(f'"Id":"{r[2]}"', f'"Id":"{r[2]}~{copy}"', 1), *r[29:])
                for r in built[0][:n]] if copy else built[0][:n]
        side = [[(r[0] + shift, *r[1:]) for r in rs if r[0] <= n] for rs in built[1:]]
        conn.execute("BEGIN IMMEDIATE")
        for statement, chunk in zip(statements, [rows, *side]):
            conn.executemany(statement, chunk)
        conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return open_store(str(path), account_id="123456789012"), time.perf_counter() - t0


def copy_built(args: argparse.Namespace) -> None:
    """SQLite hub kept at args.keep (built once through bulk_import); PostgreSQL filled with
    its rows by COPY (a 1M import through the real path takes over 20 minutes there)."""
    if args.keep.exists():
        store, secs = open_store(str(args.keep), account_id="123456789012"), float("nan")
    elif args.bare:
        store, secs = bare_load(args.keep, args.size)
    else:
        store, secs = load(str(args.keep), args.size)
    total = store.count_findings()
    if not args.no_sqlite:
        report("SQLite", total, secs, time_queries(store), {})
    store.close()
    if not args.no_pg:
        from hub_pg import PgServer, copy_hub

        server = PgServer()
        try:
            url = server.new_db("filters")
            t0 = time.perf_counter()
            copy_hub(args.keep, url)
            secs = time.perf_counter() - t0
            store = open_store(url, account_id="123456789012")
            report("PostgreSQL (rows copied from the SQLite hub)", total, secs,
                   time_queries(store), {})
            store.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
