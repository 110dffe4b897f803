"""Benchmark: the Security Hub sink vs the seed's one-call-per-finding import.

10,000 findings (secpipe's own ASFF, as `secpipe run` writes them) go to secpipe's hub API
(real uvicorn, SigV4, a SQLite store in a temp dir) through an unmodified boto3 client:

- sink:     `SecurityHubSink.send` (batches of 100, limits, retries),
- baseline: what the seed's Lambda did, `batch_import_findings(Findings=[f])` once per finding.

Each side gets a fresh store. Calls are counted at the HTTP layer (botocore's before-send
event), wall time around the whole import. Prints both and the ratios.

    .venv/bin/python bench/securityhub_sink.py                  # 10,000 findings
    .venv/bin/python bench/securityhub_sink.py --findings 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from secpipe.hub.api import create_app, running_server  # noqa: E402
from secpipe.hub.store import open_store  # noqa: E402
from secpipe.sinks.securityhub import SecurityHubSink  # noqa: E402
from tests.aws.support import CallCounter, findings  # noqa: E402

ACCOUNT = "111122223333"


def _measure(n: int, label: str, send: Callable[[Any, list[dict]], int]) -> dict[str, Any]:
    batch = findings(n, repo=f"bench-{label}")
    with tempfile.TemporaryDirectory(prefix=f"secpipe-bench-{label}-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'hub.db'}")
        key_id, secret = store.create_access_key("bench")
        try:
            with running_server(create_app(store, token="bench")) as url:
                client = boto3.client(
                    "securityhub", endpoint_url=url, region_name="us-east-1",
                    aws_access_key_id=key_id, aws_secret_access_key=secret,
                    config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
                counter = CallCounter(client)
                t0 = time.perf_counter()
                imported = send(client, batch)
                wall = time.perf_counter() - t0
                stored, _ = store.get_findings({}, [], 1, None)
        finally:
            store.close()
    assert stored, "the hub holds the findings"
    return {"approach": label, "findings": n, "imported": imported, "calls": counter.count,
            "wall_s": round(wall, 2), "findings_per_s": round(n / wall, 1)}


def _sink(client: Any, batch: list[dict]) -> int:
    report = SecurityHubSink(client, account_id=ACCOUNT).send(batch)
    assert report.ok, report.failed[:3]
    return report.imported


def _seed(client: Any, batch: list[dict]) -> int:
    """The seed's Lambda: one BatchImportFindings per finding, no batching, no retry."""
    imported = 0
    for f in batch:
        imported += client.batch_import_findings(Findings=[f])["SuccessCount"]
    return imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    sink = _measure(args.findings, "sink", _sink)
    seed = _measure(args.findings, "seed", _seed)
    ratio = {"calls": round(seed["calls"] / sink["calls"], 1),
             "wall_time": round(seed["wall_s"] / sink["wall_s"], 1)}
    if args.json:
        print(json.dumps({"sink": sink, "seed": seed, "seed_over_sink": ratio}, indent=2))
        return
    print(f"{'approach':<10}{'findings':>10}{'imported':>10}{'calls':>8}{'wall s':>9}"
          f"{'findings/s':>12}")
    for row in (sink, seed):
        print(f"{row['approach']:<10}{row['findings']:>10}{row['imported']:>10}{row['calls']:>8}"
              f"{row['wall_s']:>9}{row['findings_per_s']:>12}")
    print(f"seed/sink: {ratio['calls']}x the calls, {ratio['wall_time']}x the wall time")


if __name__ == "__main__":
    main()
