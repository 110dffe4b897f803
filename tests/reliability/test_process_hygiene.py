"""A SIGKILLed `secpipe run` leaves no tool running, and the next run removes its scratch.

SIGKILL runs no code in secpipe (the OOM killer, `kill -9`, a runner giving up), so the guards
must hold without it: each tool is started with PR_SET_PDEATHSIG and its process group is
listed with a watchdog that kills it when secpipe's end closes their pipe
(secpipe.scanners.lifeline); the scratch folder, where tools write clear-text reports, is named
with the run's pid and locked, and the next run removes folders of dead runs
(secpipe.pipeline.scratch). The fake tool is a shell script whose `sleep` child is not the
tool itself: PDEATHSIG alone would leave that child behind.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from secpipe.pipeline.scratch import LOCK_NAME, remove_stale

ROOT = Path(__file__).resolve().parents[2]
CANARY = "CANARY-clear-text-9f3kQ"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _fake_trufflehog3(bin_dir: Path, slow_flag: Path, marker: Path) -> None:
    report = ('[{"rule": {"id": "generic.password-in-url", "message": "Password in URL", '
              '"severity": "HIGH"}, "path": "app.env", "line": "1", "secret": "' + CANARY
              + '", "context": {}, "id": null}]')
    script = bin_dir / "trufflehog3"
    script.write_text(f"""#!/bin/sh
[ "$1" = --version ] && {{ echo "trufflehog3 3.0.10"; exit 0; }}
out=""; prev=""
for a in "$@"; do [ "$prev" = "--output" ] && out="$a"; prev="$a"; done
printf '%s' '{report}' > "$out"
if [ -f {slow_flag} ]; then
  echo $$ > {marker}.tmp
  sleep 300 &
  echo $! >> {marker}.tmp
  mv {marker}.tmp {marker}
  wait
fi
exit 2
""")
    script.chmod(0o755)


def _start(tmp_path: Path, root: Path, bin_dir: Path, scratch_tmp: Path) -> subprocess.Popen:
    env = dict(os.environ, SECPIPE_TOOLS_DIR=str(tmp_path / "tools"), TMPDIR=str(scratch_tmp),
               PATH=f"{bin_dir}:/usr/bin:/bin", PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen([sys.executable, "-m", "secpipe", "run", str(root), "--out",
                             str(tmp_path / "out"), "--no-progress", "--no-hub"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_sigkilled_run_leaves_no_tool_and_the_next_run_removes_its_scratch(
        tmp_path: Path) -> None:
    bin_dir, scratch_tmp, root = tmp_path / "bin", tmp_path / "tmp", tmp_path / "proj"
    for folder in (bin_dir, scratch_tmp, root):
        folder.mkdir()
    (root / "app.env").write_text("x=1\n")
    (root / "secpipe.yml").write_text("stages:\n  secrets: {tools: [trufflehog3]}\n"
                                      "tools:\n  trufflehog3: {history: false}\n")
    slow, marker = tmp_path / "slow", tmp_path / "tool-pids"
    slow.touch()
    _fake_trufflehog3(bin_dir, slow, marker)

    run = _start(tmp_path, root, bin_dir, scratch_tmp)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the tool never started"
            time.sleep(0.05)
        tool_pid, sleep_pid = (int(x) for x in marker.read_text().split())
        assert _running(tool_pid) and _running(sleep_pid)
        (scratch,) = scratch_tmp.glob(f"secpipe-{run.pid}-*")
        reports = [p for p in scratch.rglob("*.json") if CANARY in p.read_text()]
        assert reports, "the tool's clear-text report is in the scratch folder"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    deadline = time.monotonic() + 10
    while (_running(tool_pid) or _running(sleep_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(tool_pid), "the tool outlived secpipe (PR_SET_PDEATHSIG)"
    assert not _running(sleep_pid), "the tool's child outlived secpipe (its process group)"
    assert scratch.is_dir(), "SIGKILL runs no cleanup: the scratch is still there"

    slow.unlink()
    again = _start(tmp_path, root, bin_dir, scratch_tmp)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 1, err + out      # the run itself works: findings, gate fails
    assert not scratch.exists(), "the next run removes the dead run's scratch"
    assert list(scratch_tmp.glob("secpipe-*")) == []


def test_only_folders_of_dead_runs_are_removed(tmp_path: Path) -> None:
    live = subprocess.Popen(["sleep", "60"])
    holder = None
    try:
        dead = subprocess.Popen(["true"])
        dead.wait()
        folders = {
            "live": tmp_path / f"secpipe-{live.pid}-aaaa1111",
            "dead": tmp_path / f"secpipe-{dead.pid}-bbbb2222",
            "dead-but-locked": tmp_path / f"secpipe-{dead.pid}-cccc3333",   # another pid ns
            "not-ours": tmp_path / "secpipe-notapid",
            "other-prefix": tmp_path / f"other-{dead.pid}-dddd4444",
        }
        for folder in folders.values():
            folder.mkdir()
            (folder / "report.json").write_text(CANARY)
            (folder / LOCK_NAME).touch()
        holder = os.open(folders["dead-but-locked"] / LOCK_NAME, os.O_RDWR)
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        removed = remove_stale(tmp_path)
        assert removed == [folders["dead"]]
        assert {k for k, f in folders.items() if f.exists()} == {
            "live", "dead-but-locked", "not-ours", "other-prefix"}
    finally:
        live.kill()
        live.wait()
        if holder is not None:
            os.close(holder)


_ANNOUNCE_ONLY = r"""
import os, signal, subprocess, sys
from secpipe.scanners import lifeline
proc = subprocess.Popen(["sh", "-c", "sleep 300 >/dev/null & echo $!; wait"],
                        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True,
                        preexec_fn=lifeline.preexec())
child = proc.stdout.readline().decode().strip()
print(proc.pid, child, flush=True)
os.kill(os.getpid(), signal.SIGKILL)   # dies before any lifeline.watch() of the parent's
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PDEATHSIG is Linux's")
def test_a_tool_announces_its_group_before_it_runs(tmp_path: Path) -> None:
    """secpipe SIGKILLed between starting a tool and its own watch(): the tool's children still
    die, because the tool told the watchdog its process group before exec."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", _ANNOUNCE_ONLY], capture_output=True, env=env,
                         timeout=120)
    assert out.returncode == -signal.SIGKILL, out.stderr
    tool_pid, sleep_pid = (int(x) for x in out.stdout.split())
    deadline = time.monotonic() + 30
    while (_running(tool_pid) or _running(sleep_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(tool_pid), "the tool outlived its parent (PR_SET_PDEATHSIG)"
    assert not _running(sleep_pid), "the tool's child outlived its parent (the watchdog)"
