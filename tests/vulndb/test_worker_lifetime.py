"""The OSV worker process ends with its hub, even when the hub is killed outright (SIGKILL
runs no atexit and no shutdown): no orphan holding the database open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_HUB = """
import os, sys
from secpipe.vulndb.worker import ProcessRunner
runner = ProcessRunner("unused.db", target=None)
print(runner._executor().submit(os.getpid).result(), flush=True)
sys.stdin.read()          # stays until killed
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): it has ended, only not been reaped by its new parent
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def test_worker_exits_when_its_hub_is_killed(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    hub = subprocess.Popen([sys.executable, "-c", _HUB], cwd=tmp_path, env=env,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    worker = 0
    try:
        worker = int(hub.stdout.readline())
        assert worker != hub.pid and _alive(worker)
        os.kill(hub.pid, signal.SIGKILL)
        hub.wait(timeout=30)
        deadline = time.monotonic() + 60      # a liveness bound, not a timing assertion
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), f"OSV worker {worker} outlived its killed hub"
    finally:
        if hub.poll() is None:
            hub.kill()
        if worker and _alive(worker):       # the test failed: leave no orphan behind
            os.kill(worker, signal.SIGKILL)
