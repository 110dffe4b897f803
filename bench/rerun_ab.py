"""Incremental re-runs, this checkout against another, alternating in one run (same load).

On the generated repository of bench/generated_repo.py (2,000 commits, 3,000 files), each side
(this checkout's src/ and --against's) gets its own scan cache and output folder (a hub each)
and one cold run to fill them; then the unchanged re-run and the one-file change (a committed
edit) alternate between the two sides, A B B A ..., and the medians are printed: wall time,
CPU of secpipe and its tools (the children's rusage: far less sensitive than wall time to a
machine shared with other work) and secpipe's own CPU (summary.json).

Run: .venv/bin/python bench/rerun_ab.py --against /path/to/other/src [--runs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from generated_repo import generate  # noqa: E402


def _run(repo: Path, out: Path, env: dict[str, str]) -> dict:
    argv = [sys.executable, "-m", "secpipe", "run", str(repo), "--no-progress", "--out",
            str(out), "--stage", "secrets", "--stage", "dockerfile", "--stage", "iac"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        print(proc.stdout.decode()[-2000:], proc.stderr.decode()[-2000:])
        raise SystemExit(f"secpipe run failed with exit {proc.returncode}")
    summary = json.loads((out / "runs" / "latest" / "summary.json").read_text())
    findings = sum(sum((t.get("counts") or {}).values())
                   for s in summary["stages"] for t in s["tools"])
    return {"wall": wall, "findings": findings, "own": float(summary["secpipe_cpu_s"]),
            "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}


def _edit(repo: Path, n: int) -> None:
    target = sorted(repo.glob("svc*/pkg*/mod*.py"))[1]
    target.write_text(target.read_text() + f"\nEXTRA_{n} = {n}\n")
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=b@example.invalid", "-c",
                    "user.name=b", "commit", "-qam", f"edit {n}"], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--against", required=True, help="the other checkout's src/ folder")
    ap.add_argument("--runs", type=int, default=4, help="measured runs per side and mode")
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--files", type=int, default=3000)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from secpipe.tools import tool_env

    base = dict(tool_env())
    base.pop("PYTHONDONTWRITEBYTECODE", None)   # an installed secpipe has its .pyc files
    sides = {"this": str(ROOT / "src"), "other": str(Path(args.against).resolve())}
    work = Path(tempfile.mkdtemp(prefix="secpipe-rerun-ab-"))
    try:
        repo = work / "repo"
        generate(repo, commits=args.commits, files=args.files)
        envs = {side: {**base, "PYTHONPATH": src,
                       "SECPIPE_SCAN_CACHE": str(work / f"cache-{side}")}
                for side, src in sides.items()}
        outs = {side: work / f"out-{side}" for side in sides}
        colds = {}
        for side in sides:
            cold = colds[side] = _run(repo, outs[side], envs[side])
            print(f"cold {side}: wall {cold['wall']:.1f} s, CPU {cold['cpu']:.1f} s, "
                  f"findings {cold['findings']}", flush=True)
        edits = 0
        for mode in ("unchanged", "one-file change"):
            got: dict[str, list[dict]] = {side: [] for side in sides}
            for i in range(args.runs):
                for side in (("this", "other") if i % 2 == 0 else ("other", "this")):
                    if mode != "unchanged":
                        edits += 1
                        _edit(repo, edits)
                    m = _run(repo, outs[side], envs[side])
                    got[side].append(m)
                    print(f"  {mode:<16} {side:<5} wall {m['wall']:6.2f} s  CPU {m['cpu']:5.2f} s"
                          f"  own {m['own']:5.2f} s  findings {m['findings']}  "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)
            for side in sides:
                med = {k: statistics.median(m[k] for m in got[side])
                       for k in ("wall", "cpu", "own")}
                # the targets' ratio, to this side's own cold run (one run: it moves with load)
                print(f"{mode} {side} ({sides[side]}): median wall {med['wall']:.2f} s, "
                      f"CPU {med['cpu']:.2f} s, own CPU {med['own']:.2f} s; "
                      f"to its cold run: wall {med['wall'] / colds[side]['wall']:.3f}, "
                      f"CPU {med['cpu'] / colds[side]['cpu']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
