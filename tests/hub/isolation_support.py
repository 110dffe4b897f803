"""GetFindings latency during floods, for tests/hub/test_api_isolation.py and
bench/hub_isolation.py (no pytest here).

The hub is a `secpipe hub serve` process (tests/reliability/hub_support.HubProcess) with the
environment's access key; each flood is a process of its own (tests/hub/flood_workers.py).
The measuring client sends one pre-signed GetFindings again and again on a kept-alive
connection (SigV4 accepts a replay within 15 minutes), so what is timed is the server.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.reliability.hub_support import KEY_ID, REGION, ROOT, SECRET

# The dashboard's first page: the 50 most recently updated findings. (A RecordState=ACTIVE
# filter over 2,000 findings costs ~45 ms of CPU on its own in the store today; that is the
# store's speed, not isolation, and is left out of this measurement.)
QUERY = json.dumps({"MaxResults": 50}).encode()


@dataclass
class Measured:
    samples: list[float] = field(default_factory=list)          # ms
    answers: dict[str, dict[int, int]] = field(default_factory=dict)   # kind -> status -> n

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.samples, n=20)[-1]

    @property
    def max(self) -> float:
        return max(self.samples)


def signed(url: str, path: str = "/findings", body: bytes = QUERY) -> tuple[str, dict[str, str]]:
    req = AWSRequest(method="POST", url=url + path, data=body,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "securityhub", REGION).add_auth(req)
    return req.url, dict(req.headers.items())


def flood(kind: str, url: str, stop: Path, seconds: float, limit: int) -> subprocess.Popen:
    env = {**os.environ, "FLOOD_KEY_ID": KEY_ID, "FLOOD_SECRET": SECRET,
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT),
                                          os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "tests.hub.flood_workers", kind, url,
                             str(stop), str(seconds), str(limit)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def measure_during_floods(url: str, stop: Path, *, osv: int, falco: int, imports: int,
                          samples: int = 200, seconds: float = 90, warmup: float = 3.0
                          ) -> Measured:
    """Start the floods, wait `warmup` s, time `samples` GetFindings, stop the floods."""
    out = Measured()
    target, headers = signed(url)
    parts = urlsplit(target)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def get_findings() -> float:
        began = time.perf_counter()
        conn.request("POST", parts.path, body=QUERY, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        took = (time.perf_counter() - began) * 1000
        if resp.status != 200 or len(json.loads(data)["Findings"]) != 50:
            raise AssertionError(f"GetFindings answered {resp.status}: {data[:300]!r}")
        return took

    procs: list[subprocess.Popen] = []
    try:
        for _ in range(10):
            get_findings()                                  # warm: connection, caches
        procs = [flood("osv", url, stop, seconds, 200) for _ in range(osv)]
        procs += [flood("falco", url, stop, seconds, 50000) for _ in range(falco)]
        procs += [flood("import", url, stop, seconds, 5000) for _ in range(imports)]
        if procs:
            time.sleep(warmup)
        for _ in range(samples):
            out.samples.append(get_findings())
            time.sleep(0.01)
    finally:
        conn.close()
        stop.touch()
        for proc in procs:
            result = json.loads(proc.communicate(timeout=300)[0].strip().splitlines()[-1])
            bucket = out.answers.setdefault(result["kind"], {})
            for status, n in result["statuses"].items():
                bucket[int(status)] = bucket.get(int(status), 0) + n
    return out
