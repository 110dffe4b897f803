"""summary.json's per-stage diff follows the run's stage order on every run.

summary.json is compared byte for byte between runs (the incremental cache promises the same
outputs); a diff keyed in a set's order changed with each interpreter's hash seed.
"""

from __future__ import annotations

from pathlib import Path

from secpipe.model import Severity
from secpipe.model.finding import SourceContext
from secpipe.pipeline.hubsync import open_hub, record
from secpipe.pipeline.result import RunResult, StageResult, StageStatus, ToolResult, ToolStatus

NAMES = [f"stage-{c}" for c in "qwertyuiopasdfgh"]   # 16 names: a set's order is not this one


def _run(run_id: str) -> RunResult:
    stages = [StageResult(name, StageStatus.PASSED, Severity.HIGH, "enforce",
                          [ToolResult("hadolint", name, ToolStatus.OK, "2.12.0", 0, 0.1)], [], 0.1)
              for name in NAMES]
    ctx = SourceContext(repo="acme/web", branch="main", commit="a" * 40, run_id=run_id)
    return RunResult(run_id, "/repo", f"/repo/.secpipe/runs/{run_id}", ctx,
                     "2024-01-01T10:00:00Z", "2024-01-01T10:00:01Z", stages)


def test_the_diff_is_keyed_in_stage_order(tmp_path: Path) -> None:
    store = open_hub(str(tmp_path / "hub.db"))
    try:
        for run_id in ("r1", "r2"):
            run = _run(run_id)
            record(store, run, [], {"run_id": run_id})
            assert list(run.diff or {}) == NAMES
    finally:
        store.close()


def test_a_local_hub_takes_the_run_in_the_runs_parts(tmp_path: Path, monkeypatch) -> None:
    """`record` asks a local hub for parts of `RUN_PART`; a remote hub parts the run itself
    (its `record_run` takes no part size)."""
    from secpipe.hub.client import RemoteHub
    from secpipe.hub.interface import RunDiff
    from secpipe.pipeline import hubsync

    asked: list[dict] = []

    def record_run(self, rec, findings, **kw):
        asked.append(kw)
        return RunDiff(run_id=rec.run_id, baseline_run_id=None)

    store = open_hub(str(tmp_path / "hub.db"))
    try:
        monkeypatch.setattr(type(store), "record_run", record_run)
        record(store, _run("r1"), [], {"run_id": "r1"})
    finally:
        store.close()
    monkeypatch.setattr(RemoteHub, "record_run", record_run)
    record(RemoteHub.__new__(RemoteHub), _run("r2"), [], {"run_id": "r2"})
    assert asked == [{"batch_size": hubsync.RUN_PART}, {}]
