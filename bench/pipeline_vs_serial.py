"""secpipe run vs the same tools run one after another (the seed's serial CodeBuild way).

Prints, over --runs repetitions, the median wall time of each, their ratio, and secpipe's own
CPU time outside the tools (from summary.json's secpipe_cpu_s). Needs the scanners installed
(`secpipe tools install`). Run: .venv/bin/python bench/pipeline_vs_serial.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _copy_example(dest: Path) -> Path:
    repo = dest / "repo"
    shutil.copytree(ROOT / "examples" / "web", repo,
                    ignore=shutil.ignore_patterns("node_modules", "build", ".secpipe"))
    git = ["git", "-C", str(repo), "-c", "user.email=b@example.invalid", "-c", "user.name=b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], check=True)
    return repo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from secpipe.scanners.checkov import ISTIO_POLICY_DIR
    from secpipe.tools import tool_env

    env = dict(tool_env())
    # an installed secpipe has its .pyc files; PYTHONDONTWRITEBYTECODE=1 (set in some shells
    # and CI images) would add the compiling of secpipe's modules to every measured run
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    work = Path(tempfile.mkdtemp(prefix="secpipe-bench-"))
    repo = _copy_example(work)
    # the static stages: the tools bench/serial.sh runs (deploy and DAST have no serial twin)
    secpipe = [sys.executable, "-m", "secpipe", "run", str(repo), "--no-progress",
               "--stage", "secrets", "--stage", "dockerfile", "--stage", "iac"]
    walls, cpus, serial = [], [], []
    for i in range(args.runs):
        out = work / f"out-{i}"
        t0 = time.perf_counter()
        proc = subprocess.run([*secpipe, "--out", str(out)], env=env, capture_output=True)
        walls.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            print(proc.stdout.decode()[-2000:], proc.stderr.decode()[-2000:])
            raise SystemExit(f"secpipe run failed with exit {proc.returncode}")
        summary = json.loads((out / "runs" / "latest" / "summary.json").read_text())
        cpus.append(summary["secpipe_cpu_s"])
        t0 = time.perf_counter()
        subprocess.run([str(ROOT / "bench" / "serial.sh"), str(repo), str(work / f"serial-{i}"),
                        str(ISTIO_POLICY_DIR)],
                       env=env, capture_output=True, check=True)
        serial.append(time.perf_counter() - t0)
        print(f"run {i + 1}: secpipe {walls[-1]:.2f}s (own CPU {cpus[-1]:.2f}s), serial {serial[-1]:.2f}s",
              flush=True)
    med_w, med_s, med_c = statistics.median(walls), statistics.median(serial), statistics.median(cpus)
    print(f"\nmedian over {args.runs} runs: secpipe {med_w:.2f}s, serial script {med_s:.2f}s, "
          f"ratio serial/secpipe {med_s / med_w:.2f}x")
    print(f"secpipe's own CPU (outside the tools): median {med_c:.2f}s "
          f"({100 * med_c / med_w:.0f}% of its wall time)")
    ratio = med_s / med_w
    print(f"  target serial/secpipe on the example >= 1.0: {ratio:.2f}x  "
          f"{'MET' if ratio >= 1.0 else 'MISSED'} (load average now "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
