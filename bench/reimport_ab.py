"""The hub's unchanged re-import, two source trees against each other, alternating in one run.

Issue 15's target "re-import of an unchanged 100k run <= 3 s" moves with the machine's load,
so a change is judged against the code before it on the same load: each side (--base and
--new, two `src/` folders) builds its own SQLite hub of the same N documents with its own code,
in a subprocess; then the timed `bulk_import` of those N documents again runs in a fresh
subprocess per round and side, alternating A B B A ..., and the medians are printed (wall and
the process's CPU, threads included).

The documents are `bench/hub_store.py`'s (the same generator, seed and UpdatedAt as its
`reimport_unchanged`), generated once with --new's code and handed to both sides as a pickle,
so both import exactly the same objects. As there, the import uses `bulk_import`'s default
batch size. What is not timed: starting the interpreter, importing secpipe, unpickling the
documents and `open_store`.

    .venv/bin/python bench/reimport_ab.py --base /tmp/base/src --new src [--count 100000]
        [--rounds 3]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run in a subprocess with one side's src on PYTHONPATH: argv = docs pickle, hub path, mode.
_CHILD = r"""
import gc, json, pickle, sys, time
from secpipe.hub.store import open_store
docs_path, hub, mode = sys.argv[1:4]
with open(docs_path, "rb") as fh:
    docs = pickle.load(fh)
gc.collect()
store = open_store(hub, account_id="123456789012")
t0, c0 = time.perf_counter(), time.process_time()
result = store.bulk_import(docs)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
store.close()
assert result.success_count == len(docs) and not result.failed, result.failed[:3]
print(json.dumps({"mode": mode, "wall": wall, "cpu": cpu}))
"""

_GENERATE = r"""
import pickle, sys
sys.path.insert(0, sys.argv[3])
from hub_store import BATCH, generate
count = int(sys.argv[2])
docs = [d for start in range(0, count, BATCH)
        for d in generate(start, min(BATCH, count - start), "2024-02-02T00:00:00.000Z",
                          seed=99)]
with open(sys.argv[1], "wb") as fh:
    pickle.dump(docs, fh, protocol=5)
"""


def _env(src: str, tag: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()),
               PYTHONPYCACHEPREFIX=str(Path(tempfile.gettempdir()) / f"secpipe-reimp-pyc-{tag}"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _child(src: str, tag: str, docs: Path, hub: Path, mode: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(docs), str(hub), mode],
                          env=_env(src, tag), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{tag} {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the base tree's src folder")
    ap.add_argument("--new", default=str(ROOT / "src"), help="the new tree's src folder "
                    "(default: this checkout's)")
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    sides = {"base": args.base, "new": args.new}
    work = Path(tempfile.mkdtemp(prefix="secpipe-reimport-ab-"))
    try:
        docs = work / "docs.pickle"
        subprocess.run([sys.executable, "-c", _GENERATE, str(docs), str(args.count),
                        str(ROOT / "bench")], env=_env(args.new, "new"), check=True)
        hubs = {tag: work / f"{tag}.db" for tag in sides}
        for tag, src in sides.items():
            built = _child(src, tag, docs, hubs[tag], "build")
            print(f"{tag}: hub of {args.count} built in {built['wall']:.2f} s", flush=True)
        got: dict[str, list[dict[str, float]]] = {tag: [] for tag in sides}
        order = list(sides)
        for r in range(args.rounds):
            for tag in order if r % 2 == 0 else order[::-1]:       # A B, B A, A B ...
                res = _child(sides[tag], tag, docs, hubs[tag], "reimport")
                got[tag].append(res)
                print(f"round {r + 1} {tag}: {res['wall']:.3f} s wall, {res['cpu']:.3f} s CPU "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
        med = {tag: {k: statistics.median(x[k] for x in v) for k in ("wall", "cpu")}
               for tag, v in got.items()}
        print(f"median of {args.rounds} unchanged re-imports of {args.count}: "
              + ", ".join(f"{tag} {m['wall']:.3f} s wall / {m['cpu']:.3f} s CPU"
                          for tag, m in med.items())
              + f"; new/base wall {med['new']['wall'] / med['base']['wall']:.3f}, "
              f"CPU {med['new']['cpu'] / med['base']['cpu']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
