"""secpipe's own CPU, this tree against another checkout, alternating on one loaded machine.

CPU seconds drift with the machine's load; alternating the two trees run by run, on the same
generated reports (bench/own_cpu.py's fake tools), gives a ratio that means something even
when the absolute figures do not. Each run records into a hub that exists already.

    .venv/bin/python bench/own_cpu_ab.py --base /path/to/other/checkout/src --findings 5000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import own_cpu  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def one(src: str, tag: str, findings: int, hub: bool) -> tuple[float, float]:
    work = Path(tempfile.mkdtemp(prefix=f"secpipe-ab-{tag}-"))
    try:
        repo, env, _ = own_cpu.setup(work, findings)
        # bytecode kept apart per tree, and out of the other checkout
        env = dict(env, PYTHONPATH=src, PYTHONPYCACHEPREFIX=str(Path(tempfile.gettempdir())
                                                                / f"secpipe-ab-pyc-{tag}"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        out = work / "out"
        if hub:
            subprocess.run([sys.executable, "-c", "import sys; from secpipe.hub.store import "
                            "open_store; open_store(sys.argv[1])", str(out / "hub.db")],
                           env=env, check=True)
        cmd = [sys.executable, "-m", "secpipe", "run", str(repo), "--no-progress", "--out",
               str(out)] + ([] if hub else ["--no-hub"])
        done, rss = own_cpu.measure(cmd, env)
        if done.returncode not in (0, 1):
            raise SystemExit(done.stderr.decode(errors="replace")[-2000:])
        return done.cpu, rss  # type: ignore[attr-defined]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the other checkout's src directory")
    ap.add_argument("--findings", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-hub", action="store_true")
    args = ap.parse_args()
    trees = {"base": args.base, "this": str(ROOT / "src")}
    for tag, src in trees.items():
        one(src, tag, 100, not args.no_hub)   # warm-up: bytecode, page cache
    got: dict[str, list[float]] = {tag: [] for tag in trees}
    for r in range(args.rounds):
        for tag, src in trees.items():
            cpu, rss = one(src, tag, args.findings, not args.no_hub)
            got[tag].append(cpu)
            print(f"round {r + 1} {tag}: {cpu:.2f} s CPU, {rss:.0f} MB peak "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    med = {tag: sorted(v)[len(v) // 2] for tag, v in got.items()}
    print(f"median own CPU at {args.findings} findings{' (--no-hub)' if args.no_hub else ''}: "
          f"base {med['base']:.2f} s, this tree {med['this']:.2f} s, "
          f"ratio {med['this'] / med['base']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
