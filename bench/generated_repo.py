"""A generated git repository at real-repository scale, for the incremental-scan and history
benchmarks (`make bench`), and its measurements.

The repository is written with `git fast-import` (seconds for 20k commits): a tree of N files
(Python modules, Dockerfiles, Terraform, Kubernetes manifests, a Helm chart) with a few
planted AWS-shaped keys, then C commits that each edit one or two files; some commits add a
key and a later one removes it again, so history holds secrets the tree no longer does.

Measured (each printed with its target and ratio):
- the static stages (secrets, dockerfile, iac) on the 2,000-commit / 3,000-file repository:
  cold (empty cache), re-run on the unchanged tree, re-run after a one-file change, with the
  default pipeline (kingfisher reads the history) and with the previous default (trufflehog3
  walks the history) for comparison;
  wall time, secpipe's own CPU (summary.json) and findings count;
- the secrets stage's history scan over the 20,000-commit repository, cold, with each history
  engine (trufflehog3 and kingfisher).

Run: .venv/bin/python bench/generated_repo.py [--commits 2000 --files 3000 --history 20000]
The machine may be shared: figures are wall times under whatever load it has.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def fake_key(rng: random.Random) -> tuple[str, str]:
    """An AWS-shaped access key id and secret (not the documented EXAMPLE ones)."""
    key_id = "AKIA" + "".join(rng.choice(_ALNUM) for _ in range(16))
    secret = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/+")
                     for _ in range(40))
    return key_id, secret


def _file_content(path: str, rng: random.Random, rev: int) -> str:
    if path.endswith("Dockerfile"):
        return (f"FROM python:3.{rng.randint(8, 12)}\nRUN apt-get update && apt-get install -y "
                f"curl\nADD app /app\nUSER root\n# rev {rev}\n")
    if path.endswith(".tf"):
        return (f'resource "aws_s3_bucket" "b{rev}" {{\n  bucket = "bucket-{rng.randint(0, 10**6)}"\n'
                f'  acl    = "public-read"\n}}\n')
    if path.endswith(".yaml"):
        return ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p%d\nspec:\n  containers:\n"
                "  - name: c\n    image: nginx:latest\n" % rev)
    body = "\n".join(f"def f{i}_{rev}(x):\n    return x * {rng.randint(1, 999)}\n"
                     for i in range(rng.randint(2, 6)))
    return f'"""Module {path} revision {rev}."""\n\n{body}\n'


def layout(n_files: int) -> list[str]:
    """File paths: mostly Python, about 1% Dockerfiles, 2% Terraform, 2% manifests."""
    paths = []
    for i in range(n_files):
        d = f"svc{i // 100:03d}"
        kind = i % 100
        if kind == 0:
            paths.append(f"{d}/Dockerfile")
        elif kind in (1, 2):
            paths.append(f"{d}/infra/main{kind}.tf")
        elif kind in (3, 4):
            paths.append(f"{d}/k8s/pod{kind}.yaml")
        else:
            paths.append(f"{d}/pkg{kind % 7}/mod{i}.py")
    return paths


def generate(dest: Path, *, commits: int, files: int, seed: int = 7,
             planted: int = 5, history_secrets: int = 10) -> dict[str, object]:
    """Create a git repository at dest; returns what was planted (for checks)."""
    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    paths = layout(files)
    contents = {p: _file_content(p, rng, 0) for p in paths}
    tree_keys = []
    for i in range(planted):
        key_id, secret = fake_key(rng)
        p = f"svc{i:03d}/settings{i}.py"
        paths.append(p)
        contents[p] = f'AWS_ACCESS_KEY_ID = "{key_id}"\nAWS_SECRET_ACCESS_KEY = "{secret}"\n'
        tree_keys.append((key_id, secret))
    history_keys = []
    removal_at = {}
    for i in range(history_secrets):
        at = rng.randint(1, max(1, commits - 2))
        removal_at.setdefault(min(commits - 1, at + rng.randint(1, 50)), []).append(i)
        history_keys.append((at, fake_key(rng)))
    adds_at: dict[int, list[int]] = {}
    for i, (at, _) in enumerate(history_keys):
        adds_at.setdefault(at, []).append(i)

    def blob(text: str) -> bytes:
        data = text.encode()
        return b"data %d\n%s\n" % (len(data), data)

    stream = bytearray()
    ts = 1_700_000_000
    stream += b"commit refs/heads/main\nmark :1\n"
    stream += b"committer Bench <bench@example.invalid> %d +0000\n" % ts
    stream += blob("initial tree")
    for p in paths:
        stream += f"M 100644 inline {p}\n".encode() + blob(contents[p])
    stream += b"\n"
    for c in range(1, commits):
        ts += 60
        stream += b"commit refs/heads/main\nmark :%d\n" % (c + 1)
        stream += b"committer Bench <bench@example.invalid> %d +0000\n" % ts
        stream += blob(f"edit {c}")
        stream += b"from :%d\n" % c
        for p in rng.sample(paths[:files], rng.randint(1, 2)):
            contents[p] = _file_content(p, rng, c)
            stream += f"M 100644 inline {p}\n".encode() + blob(contents[p])
        for i in adds_at.get(c, []):
            key_id, secret = history_keys[i][1]
            stream += f"M 100644 inline old/creds{i}.env\n".encode() + blob(
                f"aws_access_key_id={key_id}\naws_secret_access_key={secret}\n")
        for i in removal_at.get(c, []):
            if history_keys[i][0] < c:
                stream += f"D old/creds{i}.env\n".encode()
        stream += b"\n"
    subprocess.run(["git", "-C", str(dest), "fast-import", "--quiet"], input=bytes(stream),
                   check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", "-f", "main"], check=True)
    return {"tree_keys": tree_keys, "history_keys": [k for _, k in history_keys]}


def _secpipe(repo: Path, out: Path, env: dict[str, str], *extra: str,
             stages: tuple[str, ...] = ("secrets", "dockerfile", "iac")) -> dict[str, float]:
    argv = [sys.executable, "-m", "secpipe", "run", str(repo), "--no-progress", "--out",
            str(out), *extra]
    for s in stages:
        argv += ["--stage", s]
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(argv, env=env, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # secpipe and every tool it ran (waited-for descendants count into its children's usage):
    # far less sensitive than wall time to a machine shared with other work
    total_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode not in (0, 1):
        print(proc.stdout.decode()[-3000:], proc.stderr.decode()[-3000:])
        raise SystemExit(f"secpipe run failed with exit {proc.returncode}")
    summary = json.loads((out / "runs" / "latest" / "summary.json").read_text())
    findings = sum(sum((t.get("counts") or {}).values())
                   for s in summary.get("stages", []) for t in s.get("tools", []))
    stages = [float(st.get("duration_s") or 0.0) for st in summary.get("stages", [])]
    return {"wall": wall, "cpu": float(summary.get("secpipe_cpu_s", 0.0)), "findings": findings,
            "scan": max(stages, default=0.0), "total_cpu": total_cpu}


def _line(label: str, m: dict[str, float]) -> None:
    print(f"  {label:<28} wall {m['wall']:7.1f} s   longest stage {m['scan']:7.1f} s   "
          f"own CPU {m['cpu']:6.2f} s   CPU with tools {m['total_cpu']:6.1f} s   "
          f"findings {m['findings']}")


def _verdict(name: str, measured: float, target: float, unit: str = "") -> None:
    ok = "MET" if measured <= target else "MISSED"
    print(f"  target {name}: {measured:.3g}{unit} <= {target:.3g}{unit}  "
          f"(ratio to target {measured / target:.2f})  {ok}")


TRUFFLEHOG3_HISTORY = {  # the previous default: trufflehog3 walks the history, no kingfisher
    "version": 1,
    "stages": {
        "secrets": {"tools": ["git-secrets", "detect-secrets", "trufflehog3"],
                    "fail_on": "low"},
        "dockerfile": {"tools": ["hadolint"]},
        "iac": {"tools": ["checkov"], "fail_on": "medium"},
    },
    "tools": {"git-secrets": {"history": True}, "trufflehog3": {"history": True}},
}


def bench_incremental(work: Path, env: dict[str, str], commits: int, files: int,
                      variant: str) -> None:
    """Cold, unchanged and one-file-change runs of the static stages, with their own cache."""
    repo = work / f"repo-{variant}"
    t0 = time.perf_counter()
    generate(repo, commits=commits, files=files)
    print(f"\n[{variant}] generated {commits} commits, {files} files in "
          f"{time.perf_counter() - t0:.1f} s")
    extra: tuple[str, ...] = ()
    if variant == "trufflehog3-history":
        cfg = work / "secpipe-trufflehog3-history.yml"
        cfg.write_text(json.dumps(TRUFFLEHOG3_HISTORY))
        extra = ("--config", str(cfg))
    elif variant != "default":   # the default pipeline: kingfisher is the history engine
        raise SystemExit(f"unknown variant {variant!r}")
    env = {**env, "SECPIPE_SCAN_CACHE": str(work / f"scan-cache-{variant}")}
    # one output folder for the three runs, as a project has (.secpipe): it holds the hub and
    # the run's secret-fingerprint key, which the cache keys on (another key, another cache)
    out = work / f"out-{variant}"
    cold = _secpipe(repo, out, env, *extra)
    again = _secpipe(repo, out, env, *extra)
    target = next(repo.glob("svc001/pkg*/mod1*.py"))
    target.write_text(target.read_text() + "\nEXTRA = 1\n")
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=b@example.invalid", "-c",
                    "user.name=b", "commit", "-qam", "one change"], check=True)
    one = _secpipe(repo, out, env, *extra)
    print(f"[{variant}] static stages (secrets, dockerfile, iac), {commits} commits / "
          f"{files} files")
    _line("cold (empty cache)", cold)
    _line("unchanged re-run", again)
    _line("one-file change, committed", one)
    print(f"  load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    _verdict("unchanged re-run / cold wall", again["wall"] / cold["wall"], 0.10)
    _verdict("one-file change / cold wall", one["wall"] / cold["wall"], 0.25)
    print(f"  (CPU of secpipe and its tools, the same ratios with the machine's load taken out: "
          f"unchanged {again['total_cpu'] / cold['total_cpu']:.3f}, one-file change "
          f"{one['total_cpu'] / cold['total_cpu']:.3f} of cold)")
    # the scans alone (longest stage), without secpipe's fixed start-up and output writing
    print(f"  (scan phase only: unchanged {again['scan'] / max(cold['scan'], 1e-9):.3f}, "
          f"one-file change {one['scan'] / max(cold['scan'], 1e-9):.3f} of cold)")
    if again["findings"] != cold["findings"]:
        print(f"  WARNING: findings differ: cold {cold['findings']} vs re-run {again['findings']}")
    for log in sorted((out / "runs" / "latest" / "logs").glob("*.log")):
        notes = [ln for ln in log.read_text().splitlines() if ln.startswith("scan cache:")]
        print(f"    {log.stem}: {' | '.join(notes) if notes else 'scanned in full'}")


def bench_history(work: Path, env: dict[str, str], commits: int, files: int,
                  engines: list[str]) -> None:
    repo = work / "history-repo"
    t0 = time.perf_counter()
    generate(repo, commits=commits, files=files, seed=11)
    print(f"generated {commits} commits, {files} files in {time.perf_counter() - t0:.1f} s")
    for engine in engines:
        cfg = work / f"secpipe-{engine}.yml"
        cfg.write_text(json.dumps({
            "version": 1,
            "stages": {"secrets": {"tools": [engine], "fail_on": "low", "timeout": 1800}},
            "tools": {engine: {"history": True}},
        }))
        cached = {**env, "SECPIPE_SCAN_CACHE": str(work / f"scan-cache-history-{engine}")}
        m = _secpipe(repo, work / f"out-hist-{engine}", cached, "--config", str(cfg),
                     stages=("secrets",))
        _line(f"history cold, {engine}", m)
        _verdict(f"cold history over {commits} commits ({engine})", m["wall"], 120.0, " s")
        if engine != "kingfisher":
            continue
        target = next(repo.glob("svc002/pkg*/mod2*.py"))
        target.write_text(target.read_text() + "\nEXTRA = 2\n")
        subprocess.run(["git", "-C", str(repo), "-c", "user.email=b@example.invalid", "-c",
                        "user.name=b", "commit", "-qam", "one more"], check=True)
        again = _secpipe(repo, work / f"out-hist-{engine}", cached, "--config", str(cfg),
                         stages=("secrets",))
        _line(f"one new commit, {engine}", again)
        print(f"  (one new commit / cold history: {again['wall'] / m['wall']:.3f} wall, "
              f"{again['scan'] / max(m['scan'], 1e-9):.3f} scan phase)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--history", type=int, default=20000, help="commits of the history repo")
    ap.add_argument("--engines", default="kingfisher,trufflehog3",
                    help="history engines to time on the big history (comma-separated)")
    ap.add_argument("--variants", default="default,trufflehog3-history",
                    help="secrets-stage set-ups for the incremental runs (comma-separated): "
                         "default (kingfisher reads the history), trufflehog3-history (the "
                         "previous default, for comparison)")
    ap.add_argument("--skip", choices=["incremental", "history"], action="append", default=[])
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from secpipe.tools import tool_env

    env = dict(tool_env())
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # an installed secpipe has its .pyc files
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    work = Path(tempfile.mkdtemp(prefix="secpipe-genrepo-"))
    print(f"load average at start: {os.getloadavg()} (shared machine: figures vary with load)")
    try:
        if "incremental" not in args.skip:
            for variant in args.variants.split(","):
                bench_incremental(work, env, args.commits, args.files, variant)
        if "history" not in args.skip:
            bench_history(work, env, args.history, args.files,
                          [e for e in args.engines.split(",") if e])
    finally:
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
