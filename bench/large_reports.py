"""What parsing a very large report costs: time and peak memory, per format.

Each format runs in its own child process (tests/reliability/large_reports.py), which makes
the report in memory, then parses it; the figure that matters is how much the parse adds to
the child's peak RSS beyond the report itself. Streaming formats should add a few MB at any
size; whole-document formats are refused above SECPIPE_MAX_DOCUMENT_BYTES (256 MiB) and cost
3-5 times their size below it.

    .venv/bin/python bench/large_reports.py                  # 500 MB, every streaming format
    .venv/bin/python bench/large_reports.py --mb 100 --format nuclei
    .venv/bin/python bench/large_reports.py --whole-mb 200   # also a 200 MB SARIF log
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.large_reports import STREAMING  # noqa: E402


def run(name: str, size: int) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'src'}")
    done = subprocess.run([sys.executable, "-m", "tests.reliability.large_reports", name,
                           str(size)], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"format": name, "bytes": size, "error": done.stderr.strip()[-500:]}
    return json.loads(done.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=500, help="report size for streaming formats")
    ap.add_argument("--format", dest="formats", action="append", choices=STREAMING)
    ap.add_argument("--whole-mb", type=float, default=0,
                    help="also parse a whole-document SARIF log of this size (0: skip)")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    results = []
    jobs = [(n, int(args.mb * 1e6)) for n in args.formats or STREAMING]
    jobs.append(("sarif", int(max(args.mb, 300) * 1e6)))      # over the limit: refused
    if args.whole_mb:
        jobs.append(("sarif", int(args.whole_mb * 1e6)))
    print(f"{'format':<12}{'report MB':>10}{'findings':>10}{'seconds':>9}{'MB/s':>7}"
          f"{'peak RSS before':>16}{'added by parse':>16}  note")
    for name, size in jobs:
        r = run(name, size)
        results.append(r)
        if "rss_before_kb" not in r:
            print(f"{name:<12}{size / 1e6:>10.0f}  failed: {r['error']}")
            continue
        added = (r["rss_after_kb"] - r["rss_before_kb"]) / 1024
        note = r["error"] or ""
        rate = r["bytes"] / 1e6 / r["seconds"] if r["seconds"] else float("inf")
        print(f"{name:<12}{r['bytes'] / 1e6:>10.0f}{r['findings']:>10}{r['seconds']:>9.1f}"
              f"{rate:>7.1f}{r['rss_before_kb'] / 1024:>13.0f} MB{added:>13.1f} MB  {note[:90]}",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
