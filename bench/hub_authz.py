"""What authorization costs an import: BatchImportFindings through boto3 against a real hub
(SQLite), 100 findings per call, as an admin key (no scope checks) and as a ci key scoped to a
repository (ProductArn/repo screening of incoming and stored findings), fresh and re-imported
with a newer UpdatedAt. Every call also writes its audit row with before/after digests.

    PYTHONPATH=src python bench/hub_authz.py [--calls 30]

Prints milliseconds per call (median and p95); no assertion - timings are for people.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
from botocore.config import Config

from secpipe.hub.api import create_app, running_server
from secpipe.hub.authz import Scope
from secpipe.hub.store import open_store
from secpipe.model import Finding, Location, Severity, SourceContext
from secpipe.model.asff import to_asff


def batch(repo: str, call: int, shift: float) -> list[dict]:
    stamp = (datetime.now(timezone.utc) - timedelta(hours=1) + timedelta(seconds=shift)
             ).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ctx = SourceContext(repo=repo, branch="main", commit="c", run_id="r", stage="sast")
    return [to_asff(Finding(tool="bandit", rule_id="B101", title=f"f {call}-{n}",
                            severity=Severity.HIGH, location=Location(f"m{n}.py", n),
                            location_key=f"{repo}-{call}-{n}"), ctx, updated_at=stamp)
            for n in range(100)]


def timed(client, batches: list[list[dict]]) -> list[float]:
    out = []
    for docs in batches:
        t = time.perf_counter()
        answer = client.batch_import_findings(Findings=docs)
        out.append((time.perf_counter() - t) * 1000)
        assert answer["SuccessCount"] == 100, answer["FailedFindings"][:1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "hub.db")
        keys = {"admin": store.create_access_key("admin", role="admin"),
                "ci": store.create_access_key("ci", role="ci",
                                              scope=Scope.of(["acme/ci"], ["feature/*"]))}
        with running_server(create_app(store)) as url:
            for who, repo in (("admin", "acme/admin"), ("ci", "acme/ci")):
                akid, secret = keys[who]
                client = boto3.client("securityhub", endpoint_url=url, region_name="us-east-1",
                                      aws_access_key_id=akid, aws_secret_access_key=secret,
                                      config=Config(retries={"max_attempts": 1}))
                for phase, shift in (("create", 0.0), ("update", 60.0)):
                    ms = timed(client, [batch(repo, c, shift) for c in range(args.calls)])
                    q = statistics.quantiles(ms, n=20)
                    print(f"{who:5} {phase:6} {args.calls} x 100 findings: median "
                          f"{statistics.median(ms):6.1f} ms  p95 {q[18]:6.1f} ms")
        store.close()


if __name__ == "__main__":
    main()
