"""HTTP import throughput of the hub: BatchImportFindings through `secpipe hub serve` (the
Starlette app under uvicorn, in its own process) from four concurrent boto3 clients.

Each client is its own process (boto3's request building is CPU work of its own, and clients
in threads would share one GIL) with its own botocore session, SigV4-signing every call like
any AWS SDK. Findings are the realistic pipeline output of `bench/hub_store.py` (2 KB of
ASFF each), generated before the clock starts; every call carries 100 findings (Security
Hub's maximum). The figure is findings accepted per second of wall time from the moment all
clients start until the last answer, for new findings and then for the same calls again
(unchanged re-import). Client-side parameter validation is off, as the figure is the hub's:
botocore's validation of 100 nested findings costs the client more CPU than the hub's own
checks, on the same two cores.

The clients share the hub's cores, so each round also reports the clients' own CPU (each
process's CPU time over its calls) beside the hub's, and the rate all cores could sustain at
that combined cost: when boto3's request building is most of it, the clients bound the figure,
and the ratio to the bare endpoint in the same run (same clients, a server doing nothing) is
the measure of the hub.

    .venv/bin/python bench/hub_http.py                      # SQLite, 4 clients x 10k findings
    .venv/bin/python bench/hub_http.py --pg --per-client 5000
    .venv/bin/python bench/hub_http.py --workers 1 --no-bare --profile /tmp/hub.spy  # py-spy
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from hub_store import generate  # noqa: E402
from tests.reliability.hub_support import (  # noqa: E402
    KEY_ID, REGION, SECRET, HubProcess, free_port)

CALL = 100


def boto_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                                    region_name=REGION)
    return session.client("securityhub", endpoint_url=url, config=Config(
        retries={"max_attempts": 1, "mode": "standard"}, read_timeout=300,
        parameter_validation=False))


def _client_proc(url: str, index: int, count: int, rounds: int, start: Any, ready: Any,
                 out: Any) -> None:
    docs = generate(index * 10_000_000, count, "2024-03-03T00:00:00.000Z",
                    run_id=f"http{index}", seed=1000 + index)
    for d in docs:                        # the bench generator's Ids repeat across seeds
        d["Id"] = f"http{index}/{d['Id']}"
    hub = boto_client(url)
    calls = [docs[i:i + CALL] for i in range(0, len(docs), CALL)]
    hub.batch_import_findings(Findings=calls[0][:1])        # connect, warm up (counted below)
    for r in range(rounds):
        ready.put(index)
        start.wait()
        ok = failed = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for call in calls:
            resp = hub.batch_import_findings(Findings=call)
            ok += resp["SuccessCount"]
            failed += resp["FailedCount"]
        out.put((r, index, ok, failed, time.perf_counter() - t0, time.process_time() - c0))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of process `pid` and its live child processes (the
    workers of `hub serve --workers N` or `uvicorn --workers N`), from Linux /proc."""
    return sum(cpu_by_process(pid).values())


def cpu_by_process(pid: int) -> dict[int, float]:
    """{pid: CPU seconds so far} of `pid` and each of its live child processes."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
    return found


def cpu_bound(findings: int, server_cpu: float, client_cpu: float) -> int | None:
    """Findings per second the machine's cores could sustain at the CPU this round cost the
    server and the clients together (they share the same cores): the rate with every core
    busy on this work and nothing else. When the clients' share is large, this bound (and the
    bare endpoint's rate) says the clients, not the hub, limit the figure."""
    total = server_cpu + client_cpu
    return round(findings * (os.cpu_count() or 1) / total) if total else None


class BareServer:
    """`bench/bare_import_app.py` under uvicorn with `workers` processes: the physical limit."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> "BareServer":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bare_import_app:app", "--app-dir",
             str(ROOT / "bench"), "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(self.workers), "--no-access-log", "--log-level", "warning"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    time.sleep(1.0 if self.workers > 1 else 0.2)   # let every worker start
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("bare uvicorn endpoint did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def drive(url: str, pid: int, clients: int, per_client: int,
          labels: tuple[str, ...] = ("new", "unchanged")) -> dict[str, Any]:
    """Run `clients` boto3 client processes against `url` for each round of `labels`."""
    ctx = mp.get_context("spawn")
    ready, out = ctx.Queue(), ctx.Queue()
    starts = [ctx.Event(), ctx.Event()]
    procs = []
    result: dict[str, Any] = {"clients": clients, "findings": clients * per_client}
    try:
        for i in range(clients):
            p = ctx.Process(target=_round_runner, args=(url, i, per_client, starts,
                                                        ready, out))
            p.start()
            procs.append(p)
        for r, label in enumerate(labels):
            for _ in range(clients):
                ready.get(timeout=900)
            t0, c0 = time.perf_counter(), cpu_by_process(pid)
            starts[r].set()
            got = [out.get(timeout=1800) for _ in range(clients)]
            c1 = cpu_by_process(pid)
            wall, cpu = time.perf_counter() - t0, sum(c1.values()) - sum(c0.values())
            # how the work spread over the server's processes (parent first)
            spread = [round(c1[p] - c0.get(p, 0.0), 2) for p in sorted(c1)]
            ok = sum(g[2] for g in got)
            client_cpu = sum(g[5] for g in got)
            # the server's own CPU per finding: what one free core would sustain, whatever
            # else the machine is doing (wall time on a shared machine is not the hub's)
            result[label] = {"seconds": round(wall, 2), "per_s": round(ok / wall),
                             "accepted": ok, "failed": sum(g[3] for g in got),
                             "server_cpu_s": round(cpu, 2),
                             "per_server_cpu_s": round(ok / cpu) if cpu else None,
                             "process_cpu_s": spread,
                             "client_cpu_s": round(client_cpu, 2),
                             "cpu_bound_per_s": cpu_bound(ok, cpu, client_cpu),
                             "load_avg": round(os.getloadavg()[0], 1)}
        if len(labels) < 2:
            starts[1].set()
    finally:
        for p in procs:
            p.join(timeout=600)
            if p.is_alive():
                p.terminate()
    return result


def profiler(pid: int, out: str | None, gil: bool = True) -> subprocess.Popen | None:
    """py-spy (`pip install py-spy`, its own binary: nothing inside the hub changes) sampling
    the server and its workers while the clients run, as raw stacks in `out` (fold them with
    any flame-graph tool). --gil: only what holds the GIL, i.e. the server's Python CPU;
    `gil=False` samples every running thread, native SQLite work without the GIL included."""
    if not out:
        return None
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--subprocesses",
                             *(["--gil"] if gil else []), "--nonblocking", "--rate", "250", "--format", "raw",
                             "--output", out], stdout=subprocess.DEVNULL)


def http_import(db: str, clients: int = 4, per_client: int = 10_000, workers: int = 1,
                bare: bool = True, profile: str | None = None, profile_gil: bool = True
                ) -> dict[str, Any]:
    """{new: ..., unchanged: ..., bare: ...} for `clients` concurrent boto3 clients against
    `hub serve --workers N` and, in the same run, against the bare endpoint."""
    work = Path(tempfile.mkdtemp(prefix="secpipe-bench-http-"))
    server = HubProcess(db, work, ("--rate-limit", "0", "--workers", str(workers))).start()
    spy = None
    try:
        if workers > 1:
            time.sleep(1.0)                      # /health answered by one: let all start
        spy = profiler(server.pid, profile, profile_gil)
        result = drive(server.url, server.pid, clients, per_client)
        result["workers"] = workers
        for label in ("new", "unchanged"):
            print(json.dumps({"http_import": {label: result[label]}}), flush=True)
    finally:
        server.stop()
        if spy is not None:
            spy.wait(timeout=60)                 # it stops when the server has exited
        shutil.rmtree(work, ignore_errors=True)
    if bare:
        endpoint = BareServer(workers).start()
        try:
            both = drive(endpoint.url, endpoint.pid, clients, per_client)
            result["bare"] = both["new"]
            print(json.dumps({"http_import": {"bare": result["bare"]}}), flush=True)
        finally:
            endpoint.stop()
    return result


def _round_runner(url: str, index: int, count: int, starts: list, ready: Any,
                  out: Any) -> None:
    """Two rounds (new findings, then the same again) behind their own start events."""

    class Gate:
        def __init__(self) -> None:
            self.round = 0

        def wait(self) -> None:
            starts[self.round].wait()
            self.round += 1

    _client_proc(url, index, count, 2, Gate(), ready, out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--per-client", type=int, default=10_000)
    ap.add_argument("--workers", default="auto", help="hub serve --workers (default: auto, "
                    "one per core); the bare endpoint runs with as many")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare-endpoint baseline")
    ap.add_argument("--pg", action="store_true", help="on a PostgreSQL server started here")
    ap.add_argument("--profile", metavar="FILE", help="py-spy raw stacks of the hub's Python "
                    "CPU while the clients run (warm-up included), written to FILE")
    ap.add_argument("--profile-all-threads", action="store_true", help="--profile samples "
                    "every running thread (native database work included), not only the GIL")
    args = ap.parse_args()
    workers = max(1, os.cpu_count() or 1) if args.workers == "auto" else int(args.workers)
    work = Path(tempfile.mkdtemp(prefix="secpipe-bench-http-db-"))
    server = None
    try:
        if args.pg:
            from hub_pg import PgServer

            server = PgServer()
            db = server.new_db("http")
        else:
            db = str(work / "hub.db")
        res = http_import(db, args.clients, args.per_client, workers, bare=not args.no_bare,
                          profile=args.profile, profile_gil=not args.profile_all_threads)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(res, indent=2))
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs shared with other work, load average {load[0]:.1f} "
          f"/ {load[1]:.1f} / {load[2]:.1f}: wall times are noisy; the ratio to the bare "
          "endpoint is measured in the same run, and the server's CPU per finding is not noisy")
    bare = res.get("bare")
    for label in ("new", "unchanged"):
        r = res[label]
        ratio = (f"; {r['per_s'] / bare['per_s']:.0%} of the bare endpoint's {bare['per_s']}/s "
                 f"(it used {bare['server_cpu_s']} s CPU, its clients "
                 f"{bare['client_cpu_s']} s)") if bare else ""
        print(f"  HTTP import >= 5000 findings/s, {args.clients} boto3 clients, {workers} "
              f"workers, {label:9s} {'met' if r['per_s'] >= 5000 else 'NOT met':8s} "
              f"{r['per_s']}/s wall ({r['seconds']} s){ratio}; the hub used "
              f"{r['server_cpu_s']} s CPU = {r['per_server_cpu_s']} findings per "
              "server-CPU-second")
        print(f"    CPU per finding: hub {_us(r['server_cpu_s'], r['accepted'])} µs, boto3 "
              f"clients {_us(r['client_cpu_s'], r['accepted'])} µs (on the same cores); "
              f"all {os.cpu_count()} cores on this work alone would sustain "
              f"{r['cpu_bound_per_s']}/s" + (
                  f" (the bare endpoint: {bare['cpu_bound_per_s']}/s)" if bare else "")
              + f"; hub CPU s per process {r['process_cpu_s']}")


def _us(seconds: float, findings: int) -> int:
    return round(seconds * 1e6 / findings) if findings else 0


if __name__ == "__main__":
    main()
