"""Whole-run failures end in exit 2 with a message, never a traceback, a pass or an orphan.

`secpipe run` as CI runs it (a child process): an invalid config, an output folder it cannot
write, a disk that fills up mid-run (a 64 KB tmpfs; RLIMIT_FSIZE where mounting is not
allowed), an adapter that raises something unexpected, and Ctrl-C or SIGTERM (what a CI
runner sends a cancelled job) while tools and their children run: every tool's process group
is killed, the summary says `interrupted`, the exit status is 2. Per-adapter failures are the
matrix in test_fail_closed_matrix.py. docs/reliability.md, "Fail closed".
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIG_REPORT = json.dumps([{"line": i, "code": "DL3006", "message": "m" * 100, "column": 1,
                          "file": "Dockerfile", "level": "warning"} for i in range(1, 2000)])


def _fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "fake 1.0"; exit 0; }\n'
                    + body + "\n")
    path.chmod(0o755)


def _project(tmp_path: Path, config: str) -> Path:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "Dockerfile").write_text("FROM alpine\n")
    (root / "secpipe.yml").write_text(config)
    return root


def ctrl_c_reaches() -> None:
    """In the child, as at a terminal: SIGINT with its default action. A suite started in the
    background (`make test &`, nohup) hands every child SIGINT ignored, and Python keeps an
    ignored SIGINT ignored, so a Ctrl-C test would wait for a signal that never comes."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _secpipe(tmp_path: Path, root: Path, out: Path, *extra: str, bin_dir: Path | None = None,
             preexec=None, wait: bool = True):
    env = dict(os.environ, SECPIPE_TOOLS_DIR=str(tmp_path / "tools"),
               PATH=f"{bin_dir}:/usr/bin:/bin" if bin_dir else "/usr/bin:/bin",
               PYTHONPATH=str(ROOT / "src"))
    argv = [sys.executable, "-m", "secpipe", "run", str(root), "--out", str(out),
            "--no-progress", *extra]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=preexec)
    if not wait:
        return proc
    out_text, err_text = proc.communicate(timeout=300)
    return proc.returncode, out_text, err_text


@pytest.mark.parametrize("config, says", [
    ("stages:\n  lint: {tools: [hadolint]\n", "secpipe.yml:3: not valid YAML"),
    ("stages:\n  lint: {tools: [no-such-tool]}\n", "unknown tool"),
    ("stages:\n  lint: {tools: [hadolint], timeout: soon}\n", "timeout"),
    ("stages:\n  lint: {tools: [hadolint], needs: [ghost]}\n", "ghost"),
    ("stages:\n  a: {tools: [hadolint], needs: [b]}\n  b: {tools: [hadolint], needs: [a]}\n",
     "cycle"),
    ("stagez:\n  lint: {tools: [hadolint]}\n", "stagez"),
    ("- just\n- a list\n", "mapping"),
])
def test_an_invalid_config_is_exit_2_before_any_tool_runs(tmp_path: Path, config: str,
                                                          says: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "hadolint", f"touch {tmp_path}/tool-ran; echo '[]'")
    root = _project(tmp_path, config)
    code, _, err = _secpipe(tmp_path, root, tmp_path / "out", bin_dir=bin_dir)
    assert code == 2, err
    assert err.startswith("error:") and "Traceback" not in err, err
    assert says.lower() in err.lower(), err
    assert not (tmp_path / "tool-ran").exists()


def _mount_tmpfs(path: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 64 KB filesystem (a tmpfs when root may mount), else None."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "size=64k"):
        yield None
        return
    try:
        yield disk
    finally:
        _umount(disk)


@pytest.mark.parametrize("hub", [False, True], ids=["raw-reports", "hub-database"])
def test_a_full_disk_is_exit_2_naming_it(tmp_path: Path, tiny_disk: Path | None,
                                         hub: bool) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "report.json").write_text(BIG_REPORT)            # ~280 KB: does not fit
    _fake(bin_dir, "hadolint", f"cat {tmp_path}/report.json")
    root = _project(tmp_path, "stages:\n  lint: {tools: [hadolint]}\n")
    extra = () if hub else ("--no-hub",)
    if tiny_disk is not None:
        code, _, err = _secpipe(tmp_path, root, tiny_disk, *extra, bin_dir=bin_dir)
        assert "No space left on device" in err or "disk is full" in err, err
    else:   # no mount allowed: every file the run writes may hold 64 KB at most
        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)        # EFBIG instead of a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        code, _, err = _secpipe(tmp_path, root, tmp_path / "out", *extra, bin_dir=bin_dir,
                                preexec=limit)
        assert os.strerror(errno.EFBIG) in err or "disk" in err, err
    assert code == 2, err
    assert err.startswith("error:") and "Traceback" not in err, err


def test_an_output_dir_that_cannot_be_written_is_exit_2(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "hadolint", "echo '[]'")
    root = _project(tmp_path, "stages:\n  lint: {tools: [hadolint]}\n")
    out = tmp_path / "ro"
    if _mount_tmpfs(out, "ro,size=64k"):          # read-only even for root
        try:
            code, _, err = _secpipe(tmp_path, root, out, bin_dir=bin_dir)
        finally:
            _umount(out)
    else:
        out.mkdir()
        out.chmod(0o500)
        code, _, err = _secpipe(tmp_path, root, out, bin_dir=bin_dir)
    assert code == 2 and "cannot" in err and "Traceback" not in err, err


def test_an_adapter_that_raises_fails_its_tool_closed(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception no adapter should raise (a bug, a full scratch disk) is that tool's ERROR,
    not a crash of the run with exit status 1 ("findings" to CI)."""
    from secpipe.pipeline import runner
    from secpipe.pipeline.api import RunRequest, run_pipeline
    from secpipe.pipeline.result import StageStatus
    from secpipe.scanners.hadolint import Hadolint

    class Broken(Hadolint):
        def scan(self, req):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "get_scanner", lambda name: Broken())
    monkeypatch.setenv("SECPIPE_TOOLS_DIR", str(tmp_path / "tools"))
    root = _project(tmp_path, "stages:\n  lint: {tools: [hadolint]}\n")
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", use_hub=False,
                                  env={"PATH": "/usr/bin:/bin"}))
    [stage] = run.stages
    assert stage.status is StageStatus.ERROR and run.exit_code == 2
    assert "internal error: OSError" in stage.error and "No space left" in stage.error
    log = (Path(run.run_dir) / stage.tools[0].log_file).read_text()
    assert "Traceback" in log        # the details are in the tool's log


def _processes_with(token: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if token in cmd:
            found.append(f"{proc.name}: {cmd}")
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_kills_every_tool_and_its_children(tmp_path: Path, sig: int) -> None:
    """Two stages at once, each tool with a child and a grandchild in the background: after
    the signal no process of theirs is left, and the run is marked interrupted, exit 2."""
    # a sleep of a unique length: every process of the tools carries it in its command line
    token = f"{7_000_000 + uuid.uuid4().int % 1_000_000}.5"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    body = (f"(sh -c 'sleep {token}; echo done' & sleep {token}; echo done) &\n"
            f"exec sh -c 'sleep {token}; echo done'")
    _fake(bin_dir, "hadolint", body)
    _fake(bin_dir, "trufflehog3", body)
    root = _project(tmp_path, "stages:\n  lint: {tools: [hadolint], timeout: 600}\n"
                              "  secrets: {tools: [trufflehog3], timeout: 600}\n")
    proc = _secpipe(tmp_path, root, tmp_path / "out", "--no-hub", bin_dir=bin_dir, wait=False,
                    preexec=ctrl_c_reaches)
    deadline = time.monotonic() + 60
    while len(_processes_with(token)) < 10 and time.monotonic() < deadline:
        time.sleep(0.2)                      # 5 processes per tool: all started
    assert len(_processes_with(token)) >= 10, _processes_with(token)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert "interrupted" in err
    deadline = time.monotonic() + 10
    while _processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_with(token), f"orphans after {sig!r}: {_processes_with(token)}"
    summary = json.loads(next((tmp_path / "out" / "runs").glob("*/summary.json")).read_text())
    assert summary["interrupted"] is True and summary["exit_code"] == 2


def test_a_hub_that_cannot_be_opened_stops_the_tools_and_is_exit_2(tmp_path: Path) -> None:
    """The hub opens while the first tools run (its imports overlap them); when it cannot be
    opened, every tool already started is killed and the run ends in exit 2 naming the hub,
    as it did when the hub was opened before any tool."""
    token = f"{7_000_000 + uuid.uuid4().int % 1_000_000}.5"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "hadolint", f"exec sh -c 'sleep {token}; echo done'")
    root = _project(tmp_path, "stages:\n  lint: {tools: [hadolint], timeout: 600}\n")
    hub = tmp_path / "hub.db"
    hub.write_bytes(b"not a database, but text where the hub's SQLite file would be\n" * 64)
    code, out, err = _secpipe(tmp_path, root, tmp_path / "out", "--hub", str(hub),
                              bin_dir=bin_dir)
    assert code == 2, (out, err)
    assert err.startswith("error:") and "Traceback" not in err, err
    assert f"hub {hub}" in err, err
    deadline = time.monotonic() + 10
    while _processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_with(token), f"orphans: {_processes_with(token)}"
