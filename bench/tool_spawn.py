"""What tying tools to secpipe's life costs per tool start (secpipe.scanners.lifeline).

`preexec_fn` (PR_SET_PDEATHSIG) makes subprocess fork instead of vfork, and each start writes
two lines to the watchdog. Prints the median start-to-exit time of `/bin/true` through
`run_tool` against a plain `subprocess.run` in a new session.

    PYTHONPATH=src python bench/tool_spawn.py
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

from secpipe.scanners.interface import run_tool

N = 200
ENV = {"PATH": "/usr/bin:/bin"}


def _median_ms(fn) -> float:
    samples = []
    for _ in range(N):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    def guarded() -> None:
        run_tool("true", ["/bin/true"], cwd=Path("/"), env=ENV, timeout=10, ok=frozenset({0}))

    guarded()   # starts the watchdog once
    tied = _median_ms(guarded)
    plain = _median_ms(lambda: subprocess.run(["/bin/true"], start_new_session=True,
                                              capture_output=True, env=ENV))
    print(f"run_tool(/bin/true), PDEATHSIG + watchdog: median {tied:.2f} ms over {N}")
    print(f"subprocess.run(/bin/true), no guard:        median {plain:.2f} ms over {N}")


if __name__ == "__main__":
    main()
