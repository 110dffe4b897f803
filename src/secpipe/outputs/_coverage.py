"""What each tool covered, in words: frameworks run, Dockerfiles found, history not scanned.

A scan that could not look somewhere must say so where the verdict is read (the console, under
the stage's table), not only in a log: "history not scanned" on a plain folder is the line a
reviewer needs before trusting a pass.
"""

from __future__ import annotations

from secpipe.pipeline.result import StageResult

MAX_LISTED = 8


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def coverage_lines(stage: StageResult) -> list[tuple[str, str, bool]]:
    """(tool, sentence, is_a_gap) for every tool of the stage that reports its coverage."""
    lines: list[tuple[str, str, bool]] = []
    for tool in stage.tools:
        cov = tool.coverage or {}
        if cov.get("frameworks"):
            lines.append((tool.tool, "frameworks: " + ", ".join(cov["frameworks"]), False))
        if cov.get("dockerfiles"):
            files = list(cov["dockerfiles"])
            n = len(files)
            lines.append((tool.tool, f"{n} Dockerfile{'s' * (n != 1)}"
                          + (f": {_listing(files)}" if files else ""), False))
        if cov.get("history"):
            lines.append((tool.tool, "history " + str(cov["history"]), True))
    return lines
