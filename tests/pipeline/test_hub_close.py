"""`secpipe run` closes its local hub: the run's write-ahead log is folded in, not left behind.

A run left its store to the garbage collector, so whether its connections were closed at all
depended on a collection before exit; after a run of 2,000 findings they were not, and
`hub.db-wal` kept every run's writes (~9 MB per unchanged re-run, growing run after run),
which the next run's first open read back (SQLite's WAL recovery, on the critical path).
Asserted here: run_pipeline closes the hub it opened, a run leaves no log and the next run
still sees the first one's findings, and a close that fails is exit 2's HubSyncError, never
swallowed. The time is measured by bench/rerun_ab.py, not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from secpipe.pipeline.hubsync import HubSyncError, close_behind

ROOT = Path(__file__).resolve().parents[2]
REPORT = json.dumps([{"line": 1, "code": "DL3006", "message": "tag the image", "column": 1,
                      "file": "Dockerfile", "level": "warning"}])


def _run(root: Path, out: Path, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-m", "secpipe", "run", str(root), "--out", str(out),
                           "--no-progress"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return json.loads((out / "runs" / "latest" / "summary.json").read_text())


def _project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "hadolint"
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo "fake 1.0"; exit 0; }\n'
                    f"echo '{REPORT}'\n")
    fake.chmod(0o755)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM alpine\n")
    (root / "secpipe.yml").write_text("stages:\n  lint: {tools: [hadolint]}\n")
    env = dict(os.environ, SECPIPE_TOOLS_DIR=str(tmp_path / "tools"),
               PATH=f"{bin_dir}:/usr/bin:/bin", PYTHONPATH=str(ROOT / "src"))
    return root, env


def test_a_run_leaves_no_write_ahead_log_and_the_next_run_sees_its_findings(
        tmp_path: Path) -> None:
    root, env = _project(tmp_path)
    out = tmp_path / "out"
    first = _run(root, out, env)
    assert (out / "hub.db").is_file() and not (out / "hub.db-wal").exists()
    second = _run(root, out, env)
    assert not (out / "hub.db-wal").exists()
    assert first["diff"]["lint"] == {"new": 1, "recurring": 0, "fixed": 0}, first["diff"]
    assert second["diff"]["lint"] == {"new": 0, "recurring": 1, "fixed": 0}, second["diff"]


def test_run_pipeline_closes_the_hub_it_opened(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Before, the store was left to the garbage collector: whether its connections were
    closed (and the log folded in) at all depended on a collection happening before exit."""
    from secpipe.hub.store import SqlHubStore
    from secpipe.pipeline.api import RunRequest, run_pipeline

    closed: list[SqlHubStore] = []
    real = SqlHubStore.close
    monkeypatch.setattr(SqlHubStore, "close", lambda self: closed.append(self) or real(self))
    root, env = _project(tmp_path)
    run = run_pipeline(RunRequest(root=root, out_dir=tmp_path / "out", env=env))
    assert run.diff["lint"] == {"new": 1, "recurring": 0, "fixed": 0}
    assert len(closed) == 1


class _Store:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.closed = False

    def close(self) -> None:
        self.closed = True
        if self.error is not None:
            raise self.error


def test_a_close_that_fails_is_a_hub_error_when_waited_for() -> None:
    store = _Store(OSError("disk I/O error"))
    wait = close_behind(store, "out/hub.db")  # type: ignore[arg-type]
    with pytest.raises(HubSyncError, match="hub out/hub.db: cannot close: disk I/O error"):
        wait()
    assert store.closed


def test_a_close_that_works_waits_quietly() -> None:
    store = _Store(None)
    close_behind(store, "out/hub.db")()  # type: ignore[arg-type]
    assert store.closed
