"""secpipe's fixed cost per run: `secpipe --help` and an empty run (issue 15: start-up < 0.3 s).

The empty run is `secpipe run` on a one-file tree whose three tools (trufflehog3,
detect-secrets, checkov) are tiny scripts reporting nothing (bench/own_cpu.py's fakes), with a
local hub that exists already (a project's second run), with a new hub (a first run), and
without a hub. Printed per case: wall time and CPU (the child's user+system time; for runs
also summary.json's secpipe_cpu_s, the process itself), minimum and median over --runs.

`--against SRC` alternates every measurement with another checkout's `src` (e.g. main's), so a
loaded machine weighs on both sides alike, and prints the ratio of the medians.

    .venv/bin/python bench/startup.py --runs 9
    .venv/bin/python bench/startup.py --runs 9 --against /tmp/main/src
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import own_cpu  # noqa: E402


def _measure(argv: list[str], env: dict[str, str], summary: Path | None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr.decode(errors="replace")[-2000:])
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if summary is not None:
        cpu = json.loads(summary.read_text())["secpipe_cpu_s"]
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--against", metavar="SRC", help="another checkout's src to alternate with")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="secpipe-startup-"))
    try:
        repo, env, _ = own_cpu.setup(work, 0)
        trees = {"this": str(ROOT / "src")}
        if args.against:
            trees["against"] = str(Path(args.against).resolve())
        envs = {}
        for tag, src in trees.items():
            # bytecode per tree, out of both checkouts, compiled before any measurement
            envs[tag] = dict(env, PYTHONPATH=src,
                             PYTHONPYCACHEPREFIX=str(work / f"pyc-{tag}"))
            subprocess.run([sys.executable, "-m", "compileall", "-q", src], env=envs[tag],
                           capture_output=True)
            subprocess.run([sys.executable, "-m", "secpipe", "--help"], env=envs[tag],
                           capture_output=True, check=True)
            subprocess.run([sys.executable, "-c", "import sys; from secpipe.hub.store import "
                            "open_store; open_store(sys.argv[1])", str(work / f"hub-{tag}.db")],
                           env=envs[tag], check=True)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        cases = ["--help", "empty run, existing hub", "empty run, new hub", "empty run, --no-hub"]
        for i in range(args.runs):
            for tag in (list(trees) if i % 2 == 0 else list(reversed(trees))):
                for case in cases:
                    out = work / f"out-{tag}-{i}-{cases.index(case)}"
                    run = [sys.executable, "-m", "secpipe", "run", str(repo), "--no-progress",
                           "--out", str(out)]
                    if case == "--help":
                        argv, summary = [sys.executable, "-m", "secpipe", "--help"], None
                    elif case == "empty run, existing hub":
                        argv = run + ["--hub", str(work / f"hub-{tag}.db")]
                        summary = out / "runs" / "latest" / "summary.json"
                    elif case == "empty run, new hub":
                        argv, summary = run, out / "runs" / "latest" / "summary.json"
                    else:
                        argv, summary = run + ["--no-hub"], out / "runs" / "latest" / "summary.json"
                    results.setdefault((tag, case), []).append(_measure(argv, envs[tag], summary))
                    shutil.rmtree(out, ignore_errors=True)
        print(f"{args.runs} runs each, load average now "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        for case in cases:
            print(f"\n{case}:")
            med = {}
            for tag in trees:
                walls = [w for w, _ in results[(tag, case)]]
                cpus = [c for _, c in results[(tag, case)]]
                med[tag] = (statistics.median(walls), statistics.median(cpus))
                print(f"  {tag:<8} wall min {min(walls):.3f} s median {med[tag][0]:.3f} s   "
                      f"CPU min {min(cpus):.3f} s median {med[tag][1]:.3f} s   ({trees[tag]})")
            if "against" in med:
                print(f"  this/against: wall {med['this'][0] / med['against'][0]:.2f}, "
                      f"CPU {med['this'][1] / med['against'][1]:.2f}")
            if case == "--help":
                print(f"  target secpipe --help < 0.3 s: median {med['this'][0]:.3f} s "
                      f"{'MET' if med['this'][0] < 0.3 else 'MISSED'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
