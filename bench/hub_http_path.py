"""What the HTTP path costs around the store, per new finding: BatchImportFindings requests
signed by botocore (SigV4, 100 findings each) replayed one after another straight into the
hub's ASGI app (auth, rate limiter, body parsing, authorization, worker pool, store, audit,
answer), against the same findings imported by `store.batch_import` directly on a fresh
store, called as the endpoint calls it (the key's principal, the SigV4 region's partition, the
request's size), so the difference is the HTTP path alone. CPU time of this one process, no clients and no sockets on the same cores, so the
figure moves little with the machine's load (the best of `--repeat` runs is kept).

    .venv/bin/python bench/hub_http_path.py --findings 3000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from hub_store import generate  # noqa: E402

KEY_ID, SECRET, REGION = "SPKBENCHPATH00000001", "bench-path-secret-0000000000000000000", \
    "us-east-1"
CALL = 100


def signed_requests(docs: list[dict[str, Any]]) -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    """(headers, body) of each BatchImportFindings call, signed as botocore signs them."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials(KEY_ID, SECRET)
    out = []
    for i in range(0, len(docs), CALL):
        body = json.dumps({"Findings": docs[i:i + CALL]}).encode()
        req = AWSRequest("POST", "http://127.0.0.1:8443/findings/import", data=body,
                         headers={"Content-Type": "application/json"})
        SigV4Auth(creds, "securityhub", REGION).add_auth(req)
        headers = [(k.lower().encode(), v.encode() if isinstance(v, str) else v)
                   for k, v in req.headers.items()]
        headers += [(b"host", b"127.0.0.1:8443"), (b"content-length", str(len(body)).encode())]
        out.append((headers, body))
    return out


async def replay(app: Any, requests: list) -> int:
    ok = 0
    for headers, body in requests:
        sent = False
        answer: dict[str, Any] = {}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"] = answer.get("body", b"") + message.get("body", b"")

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/findings/import",
                 "raw_path": b"/findings/import", "query_string": b"", "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 40000),
                 "server": ("127.0.0.1", 8443)}
        await app(scope, receive, send)
        if answer.get("status") != 200:
            raise SystemExit(f"import answered {answer}")
        ok += json.loads(answer["body"])["SuccessCount"]
    return ok


def _endpoint_caller(store: Any) -> tuple[Any, Any]:
    """The principal and partition the endpoint hands `batch_import` for the bench's key."""
    from secpipe.hub.authz import Principal
    from secpipe.hub.interface import Partition

    rec = store.key_record(KEY_ID)
    caller = Principal("sigv4", rec.akid, REGION, rec.role, rec.scope, "127.0.0.1")
    return caller, Partition(store.account_id, REGION)


def one_run(count: int, seed: int, settle: bool = True) -> dict[str, float]:
    from secpipe.hub.api.app import create_app
    from secpipe.hub.api.isolation import UNLIMITED
    from secpipe.hub.store import open_store

    os.environ["SECPIPE_HUB_ACCESS_KEY_ID"] = KEY_ID
    os.environ["SECPIPE_HUB_SECRET_ACCESS_KEY"] = SECRET
    docs = generate(seed * 10_000_000, count, "2024-03-03T00:00:00.000Z", run_id=f"p{seed}",
                    seed=seed)
    for d in docs:
        d["Id"] = f"path{seed}/{d['Id']}"
    requests = signed_requests(docs)
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="secpipe-bench-path-") as work:
        store = open_store(f"sqlite:///{work}/direct.db")
        # the store called as the endpoint calls it: the signing key's principal (held to
        # import_rules, named in the audit row), the SigV4 region's partition, the request's
        # size as received; what the HTTP figure adds to this is the path alone
        caller, part = _endpoint_caller(store)
        calls = [(docs[i:i + CALL], len(body)) for i, (_h, body) in
                 zip(range(0, count, CALL), requests)]
        c0 = time.process_time()
        for chunk, size in calls:
            store.batch_import(chunk, principal=caller, partition=part, request_bytes=size)
        result["store_us"] = (time.process_time() - c0) * 1e6 / count
        store.close()
        store = open_store(f"sqlite:///{work}/http.db")
        app = create_app(store, limits=UNLIMITED, extra_routes=())
        try:
            from secpipe.hub.api.server import settle_gc
        except ImportError:                    # code before settle_gc existed
            settle = False
        if settle:
            settle_gc()                        # as `hub serve` does, where it does
        from secpipe.hub.api.server import warm
        warm()
        collecting = [0.0, 0.0]

        def timed(phase: str, _info: dict) -> None:
            if phase == "start":
                collecting[1] = time.process_time()
            else:
                collecting[0] += time.process_time() - collecting[1]

        gc.callbacks.append(timed)
        c0 = time.process_time()
        try:
            ok = asyncio.run(replay(app, requests))
        finally:
            gc.callbacks.remove(timed)
        result["http_us"] = (time.process_time() - c0) * 1e6 / count
        result["http_gc_us"] = collecting[0] * 1e6 / count     # of which the cyclic GC
        assert ok == count, ok
        store.close()
    result["path_us"] = result["http_us"] - result["store_us"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-settle-gc", action="store_true",
                    help="leave the collector as Python sets it (to measure settle_gc)")
    args = ap.parse_args()
    runs = [one_run(args.findings, 100 + r, not args.no_settle_gc) for r in range(args.repeat)]
    best = {k: round(min(r[k] for r in runs), 1) for k in runs[0]}
    print(json.dumps({"http_path": best, "runs": runs}))
    print(f"BatchImportFindings CPU per new finding ({args.findings} findings, best of "
          f"{args.repeat}): through HTTP {best['http_us']} µs, store.batch_import alone "
          f"{best['store_us']} µs, the path around it (per run, best) {best['path_us']} µs; "
          f"load average {os.getloadavg()[0]:.1f}; cyclic GC inside the HTTP figure: "
          f"{best['http_gc_us']} µs")


if __name__ == "__main__":
    main()
