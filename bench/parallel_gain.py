"""secpipe run vs the same tools one after another, on a repository where several tools cost
about the same: the case where running stages and tools in parallel must pay.

On the bundled example one tool (checkov) is the whole critical path, so parallelism can only
hide the small tools (bench/pipeline_vs_serial.py). Here the repository is the generated one of
bench/generated_repo.py (default 2,000 commits, 3,000 files): detect-secrets and trufflehog3
read every file, checkov every IaC file, git-secrets and kingfisher the history, so four or
more tools each take seconds. Both sides run cold: secpipe with --no-cache (no reuse of an
earlier scan) and bench/serial.sh (the same scanner commands, one after another).

Prints each tool's running time in secpipe's run (summary.json), their sum, both wall times
and the ratio serial/secpipe with the issue's target (>= 1.5x on a repository with >= 4 tools
of similar cost). Run: .venv/bin/python bench/parallel_gain.py [--runs 3 --commits 2000 --files 3000]
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
sys.path.insert(0, str(ROOT / "bench"))

from generated_repo import generate  # noqa: E402  (bench/ is not a package)


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _secpipe(repo: Path, out: Path, env: dict[str, str]) -> tuple[float, dict]:
    argv = [sys.executable, "-m", "secpipe", "run", str(repo), "--no-progress", "--no-cache",
            "--out", str(out), "--stage", "secrets", "--stage", "dockerfile", "--stage", "iac"]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        print(proc.stdout.decode()[-3000:], proc.stderr.decode()[-3000:])
        raise SystemExit(f"secpipe run failed with exit {proc.returncode}")
    return wall, json.loads((out / "runs" / "latest" / "summary.json").read_text())


def _serial(repo: Path, out: Path, env: dict[str, str], istio: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the serial script (its tools are waited-for children)."""
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run([str(ROOT / "bench" / "serial.sh"), str(repo), str(out), str(istio)],
                   env=env, capture_output=True, check=True)
    return time.perf_counter() - t0, _children_cpu() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="alternating pairs of runs (median)")
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from secpipe.scanners.checkov import ISTIO_POLICY_DIR
    from secpipe.tools import tool_env

    env = dict(tool_env())
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    work = Path(tempfile.mkdtemp(prefix="secpipe-gain-"))
    try:
        repo = work / "repo"
        generate(repo, commits=args.commits, files=args.files)
        print(f"generated {args.commits} commits, {args.files} files; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        walls, serial, serial_cpu, tools = [], [], [], {}
        for i in range(args.runs):
            wall, summary = _secpipe(repo, work / f"out-{i}", env)
            walls.append(wall)
            for st in summary.get("stages", []):
                for t in st.get("tools", []):
                    tools.setdefault(t.get("tool") or t.get("name"), []).append(
                        float(t.get("duration_s") or 0.0))
            wall_s, cpu_s = _serial(repo, work / f"serial-{i}", env, ISTIO_POLICY_DIR)
            serial.append(wall_s)
            serial_cpu.append(cpu_s)
            print(f"run {i + 1}: secpipe {walls[-1]:.1f} s (own CPU "
                  f"{summary.get('secpipe_cpu_s', 0):.2f} s), serial {serial[-1]:.1f} s",
                  flush=True)
        print("\ntools' running time in secpipe's runs (median):")
        medians = {name: statistics.median(d) for name, d in tools.items()}
        for name, d in sorted(medians.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<16} {d:7.1f} s")
        top = sorted(medians.values(), reverse=True)
        similar = [d for d in top if d >= top[0] / 4] if top else []
        print(f"  sum {sum(top):.1f} s; {len(similar)} tools within 4x of the longest")
        med_w, med_s = statistics.median(walls), statistics.median(serial)
        ratio = med_s / med_w
        print(f"\nmedian over {args.runs}: secpipe {med_w:.1f} s, serial script {med_s:.1f} s, "
              f"ratio serial/secpipe {ratio:.2f}x")
        # Several tools already use more than one core when run alone (detect-secrets and
        # checkov start worker processes), so the serial script keeps part of the second core
        # busy too: no schedule can finish before all the tools' CPU time spread over every
        # core, which bounds the ratio on this machine whatever secpipe does.
        cores = len(os.sched_getaffinity(0))
        med_cpu = statistics.median(serial_cpu)
        bound = med_s / max(med_cpu / cores, 1e-9)
        print(f"  the serial script's tools used {med_cpu:.1f} s of CPU in {med_s:.1f} s "
              f"({med_cpu / med_s:.2f} cores on average): on {cores} cores no schedule beats "
              f"{bound:.2f}x; secpipe reached {ratio / bound:.0%} of that bound")
        print(f"  target serial/secpipe with >= 4 tools of similar cost >= 1.5: {ratio:.2f}x  "
              f"{'MET' if ratio >= 1.5 else 'MISSED'} (load average now "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")
    finally:
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
