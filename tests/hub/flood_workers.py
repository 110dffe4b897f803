"""Flood clients for the isolation test (tests/hub/test_api_isolation.py), each run as its own
process so its CPU and GIL are not the measuring client's:

    python -m tests.hub.flood_workers osv|falco|import URL STOPFILE SECONDS MAX_REQUESTS

Every loop is bounded twice (a request count and a duration) and also stops when STOPFILE
exists. The worker prints one JSON line at the end: {"kind", "requests", "statuses"}.
Environment: FLOOD_KEY_ID / FLOOD_SECRET (a hub access key, for falco and import).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

OSV_BATCH = [{"package": {"name": "jinja2", "ecosystem": "PyPI"}, "version": f"2.{i % 12}.{i % 5}"}
             for i in range(1000)]


def _falco_alert(n: int) -> bytes:
    now = datetime.now(timezone.utc).isoformat()
    return json.dumps({
        "time": now, "rule": f"Flood rule {n % 10}", "priority": "Notice", "source": "syscall",
        "output": "flood", "hostname": "node-1", "tags": ["container"],
        "output_fields": {"container.id": f"c{n % 3}", "proc.name": "bash",
                          "container.image.repository": "registry.example.com/web"},
    }).encode()


def _import_body(n: int) -> bytes:
    from tests.hub.test_api_support import make_finding

    return json.dumps({"Findings": [make_finding("flood-import", n * 10 + i)
                                    for i in range(10)]}).encode()


def main(kind: str, url: str, stop: str, seconds: float, limit: int) -> None:
    # The flood's own CPU stands for other machines': on the test's 2 cores it must not take
    # the hub's CPU at the operating system's level (that is no pool's business), so it runs
    # at the lowest priority. The hub still gets every request of the flood. (The importer is
    # light, 20 calls/s at most, and must get its calls in: normal priority.)
    if kind != "import":
        os.nice(19)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    key_id, secret = os.environ.get("FLOOD_KEY_ID", ""), os.environ.get("FLOOD_SECRET", "")
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    n = 0
    client = None
    if kind == "import":
        import boto3
        from botocore.config import Config
        client = boto3.client("securityhub", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id=key_id, aws_secret_access_key=secret,
                              config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    while n < limit and time.monotonic() < deadline and not Path(stop).exists():
        if kind == "osv":
            conn.request("POST", "/v1/querybatch", body=json.dumps({"queries": OSV_BATCH}),
                         headers={"Content-Type": "application/json"})
        elif kind == "falco":
            basic = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
            conn.request("POST", "/falco", body=_falco_alert(n),
                         headers={"Content-Type": "application/json",
                                  "Authorization": f"Basic {basic}"})
        else:
            assert client is not None
            findings = json.loads(_import_body(n))["Findings"]
            try:
                client.batch_import_findings(Findings=findings)
                statuses[200] += 1
            except client.exceptions.ClientError as err:
                statuses[err.response["ResponseMetadata"]["HTTPStatusCode"]] += 1
            n += 1
            time.sleep(0.05)
            continue
        resp = conn.getresponse()
        resp.read()
        statuses[resp.status] += 1
        n += 1
    conn.close()
    print(json.dumps({"kind": kind, "requests": n, "statuses": dict(statuses)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
