"""Long fuzz run of every report parser (the `make fuzz` of docs/reliability.md).

The same strategies and oracle as tests/reliability/test_fuzz_formats.py, with many more
examples and without stopping at the first failure: every contract break is recorded (one
line per distinct kind, with a reproducer written to --out) and the run goes on. Prints, per
format, how many inputs ran, how many parsed into findings, how many were refused with
ReportFormatError, the slowest parse and the largest memory peak.

    .venv/bin/python bench/fuzz_formats.py --examples 2000            # every format
    .venv/bin/python bench/fuzz_formats.py --examples 500 --format sarif --format trivy
    .venv/bin/python bench/fuzz_formats.py --minutes 5                # spread over the formats

Exit status 1 when anything broke the contract.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from secpipe.formats import get_format  # noqa: E402
from tests.reliability import fuzz_harness as fh  # noqa: E402


@dataclass
class Tally:
    inputs: int = 0
    accepted: int = 0
    rejected: int = 0
    findings: int = 0
    input_bytes: int = 0
    slowest_s: float = 0.0
    slow: list[str] = field(default_factory=list)         # reproducers of slow parses
    peak_bytes: int = 0
    peak_ratio: float = 0.0
    bugs: dict[str, str] = field(default_factory=dict)   # kind -> reproducer file


def fuzz(name: str, examples: int, out: Path, seed: int | None, memory: bool,
         slow: float = 2.0) -> Tally:
    fmt = get_format(name)
    tally = Tally()
    if fh.placeholder(fmt):
        return tally
    strategy = st.one_of(fh.structured(name), fh.mutated(name, max_bytes=1 << 62))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(strategy)
    def run(data: bytes) -> None:
        tally.inputs += 1
        tally.input_bytes += len(data)
        try:
            outcome = fh.check(fmt, data, memory=memory)
        except fh.ParserBug as bug:
            kind = _kind(str(bug))
            if kind not in tally.bugs:
                digest = hashlib.sha256(data).hexdigest()[:12]
                path = out / f"{name}-{digest}.bin"
                path.write_bytes(data)
                tally.bugs[kind] = str(path)
                print(f"  BUG {kind}\n      reproducer: {path}", flush=True)
            return
        tally.accepted += outcome.accepted
        tally.rejected += not outcome.accepted
        tally.findings += outcome.findings
        tally.slowest_s = max(tally.slowest_s, outcome.seconds)
        if outcome.seconds > slow and len(tally.slow) < 5:
            path = out / f"{name}-slow-{hashlib.sha256(data).hexdigest()[:12]}.bin"
            path.write_bytes(data)
            tally.slow.append(f"{outcome.seconds:.1f}s for {len(data)} bytes: {path}")
        if outcome.peak_bytes > tally.peak_bytes:
            tally.peak_bytes = outcome.peak_bytes
        if len(data) > 4096:
            tally.peak_ratio = max(tally.peak_ratio, outcome.peak_bytes / len(data))

    if seed is not None:
        from hypothesis import seed as hyp_seed
        run = hyp_seed(seed)(run)
    run()
    return tally


def _kind(message: str) -> str:
    """A bug's kind: the message without the parts that vary from input to input."""
    import re
    message = re.sub(r"\d+", "N", message)
    return re.sub(r"'[^']*'", "'…'", message)[:160]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=1000, help="inputs per format")
    ap.add_argument("--minutes", type=float, help="instead of --examples: a time budget, "
                    "spread evenly (examples per format are measured, then scaled)")
    ap.add_argument("--format", dest="formats", action="append", help="only these formats")
    ap.add_argument("--seed", type=int, help="random seed (default: derandomized, repeatable)")
    ap.add_argument("--no-memory", action="store_true", help="skip tracemalloc (faster)")
    ap.add_argument("--slow", type=float, default=2.0,
                    help="keep inputs that took longer than this many seconds (default 2)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/secpipe-fuzz"),
                    help="folder for reproducers (default /tmp/secpipe-fuzz)")
    ap.add_argument("--json", type=Path, help="also write the tallies here")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.formats or fh.format_names()
    memory = not args.no_memory
    if memory:
        tracemalloc.start()
    examples = args.examples
    if args.minutes:
        probe = 30
        t0 = time.perf_counter()
        for name in names:
            fuzz(name, probe, args.out, args.seed, memory, args.slow)
        per_example = (time.perf_counter() - t0) / (probe * len(names))
        examples = max(probe, int(args.minutes * 60 / (per_example * len(names))))
        print(f"time budget {args.minutes} min: {examples} inputs per format", flush=True)
    tallies: dict[str, Tally] = {}
    start = time.perf_counter()
    for name in names:
        print(f"{name}: fuzzing {examples} inputs", flush=True)
        t0 = time.perf_counter()
        tallies[name] = tally = fuzz(name, examples, args.out, args.seed, memory, args.slow)
        print(f"  {tally.inputs} inputs ({tally.input_bytes / 1e6:.1f} MB): {tally.accepted} "
              f"parsed ({tally.findings} findings), {tally.rejected} refused; slowest "
              f"{tally.slowest_s * 1000:.0f} ms, peak {tally.peak_bytes / 1e6:.1f} MB "
              f"(max {tally.peak_ratio:.1f}x input); {len(tally.bugs)} bug kinds; "
              f"{time.perf_counter() - t0:.0f}s", flush=True)
    total = sum(t.inputs for t in tallies.values())
    bugs = sum(len(t.bugs) for t in tallies.values())
    print(f"\n{total} inputs over {len(tallies)} formats in "
          f"{time.perf_counter() - start:.0f}s; {bugs} distinct contract breaks")
    print(f"{'format':<18}{'inputs':>8}{'parsed':>8}{'refused':>8}{'findings':>10}"
          f"{'slowest ms':>11}{'peak MB':>9}  bugs")
    for name, t in tallies.items():
        print(f"{name:<18}{t.inputs:>8}{t.accepted:>8}{t.rejected:>8}{t.findings:>10}"
              f"{t.slowest_s * 1000:>11.0f}{t.peak_bytes / 1e6:>9.1f}  {len(t.bugs)}")
        for kind, path in t.bugs.items():
            print(f"    {kind}  ({path})")
        for line in t.slow:
            print(f"    slow: {line}")
    if args.json:
        args.json.write_text(json.dumps({n: t.__dict__ for n, t in tallies.items()}, indent=2))
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
