"""How long each tool took on this tree last time, so the next run starts the longest first.

The static table (`schedule.COST`) can only guess: on a small web project checkov takes ten
times longer than a tree-only trufflehog3 that the table ranks first, and a queued checkov then
starts a second later and ends the run a second later. A run records each tool's running time
per scanned root; the next run on that root orders its tools by those figures (when it has
one for every tool that is ready, else by the table).

Kept under secpipe's cache dir, `durations/<sha256 of the root>.json`: tool names and seconds
only, nothing of the tree. A cache only: unreadable or unwritable, it is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from secpipe.paths import cache_dir
from secpipe.pipeline.result import RunResult, ToolStatus


def _file(root: Path) -> Path:
    digest = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir() / "durations" / f"{digest[:32]}.json"


def load_durations(root: Path) -> dict[str, float]:
    """tool -> seconds it ran last time on `root` ({} when unknown)."""
    try:
        data = json.loads(_file(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items()
            if isinstance(k, str) and isinstance(v, (int, float)) and v >= 0}


def remember_durations(root: Path, run: RunResult) -> None:
    """Record the running time of every tool that ran to completion (the longest, when a tool
    ran in more than one stage); tools this run did not start keep their previous figure."""
    measured: dict[str, float] = {}
    for stage in run.stages:
        for tool in stage.tools:
            if tool.status is ToolStatus.OK and tool.duration_s is not None:
                measured[tool.tool] = max(measured.get(tool.tool, 0.0), float(tool.duration_s))
    if not measured:
        return
    path = _file(root)
    merged = {**load_durations(root), **{k: round(v, 3) for k, v in measured.items()}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(merged, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a cache only: the next run falls back to the static order


__all__ = ["load_durations", "remember_durations"]
