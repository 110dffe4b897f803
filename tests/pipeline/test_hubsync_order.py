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
