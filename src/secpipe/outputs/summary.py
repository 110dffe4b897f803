"""`summary.json`: the run in one small, stable document for scripts and CI steps.

Keys come out in a fixed order (never sorted, never dict-iteration luck) and every count is
present even when zero, so a diff between two runs' summaries shows only what changed and a
`jq '.stages[0].counts.HIGH'` never meets a missing key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from secpipe.outputs._common import SEVERITIES, blocking_total, stage_counts, write_file
from secpipe.outputs.hubsup import summary_part as hub_summary
from secpipe.outputs._issues import issue_counts
from secpipe.pipeline.fixes import Fix, group_fixes
from secpipe.pipeline.result import RunResult, StageResult, Suppression, ToolResult

FILE_NAME = "summary.json"
SUMMARY_VERSION = 1


def render_summary(run: RunResult) -> str:
    return json.dumps(summary_dict(run), indent=2, ensure_ascii=False) + "\n"


def write_summary(run: RunResult, run_dir: Path) -> Path:
    return write_file(Path(run_dir) / FILE_NAME, render_summary(run))


def summary_dict(run: RunResult) -> dict[str, Any]:
    ctx = run.context
    findings = run.all_findings()
    totals = {
        "findings": len(findings),
        "counts": _zeroed(stage_counts_of(run)),
        "blocking": blocking_total(run),  # the console's verdict line says the same number
        "suppressed": sum(1 for g in findings if g.suppressed_by is not None),
        **issue_counts(run),
        "filtered": _filtered(t for s in run.stages for t in s.tools),
    }
    return {
        "summary_version": SUMMARY_VERSION,
        "run_id": run.run_id,
        "status": run.verdict,
        "verdict": run.verdict,
        "exit_code": run.exit_code,
        "interrupted": run.interrupted,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "wall_s": round(run.wall_s, 3),
        "secpipe_cpu_s": round(run.self_cpu_s, 3),
        "context": {
            "repo": ctx.repo,
            "branch": ctx.branch,
            "commit": ctx.commit,
        },
        "totals": totals,
        "hub": run.hub,
        "baseline_run_id": run.baseline_run_id,
        "diff": run.diff,
        "stages": [_stage(run, stage) for stage in run.stages],
        "expired_suppressions": [_suppression(s) for s in run.expired_suppressions],
        "hub_suppressions": hub_summary(run),
        "fixes": [fix.as_dict() for fix in run_fixes(run)],
    }


def stage_counts_of(run: RunResult) -> dict[str, int]:
    total: dict[str, int] = {}
    for stage in run.stages:
        for key, value in stage_counts(stage).items():
            total[key] = total.get(key, 0) + value
    return total


def _zeroed(counts: dict[str, int]) -> dict[str, int]:
    return {s.name: counts.get(s.name, 0) for s in SEVERITIES}


def _filtered(tools: Iterable[ToolResult]) -> dict[str, int]:
    """Secret-scanner findings dropped as not secrets (pipeline.noise), by reason."""
    out: dict[str, int] = {}
    for tool in tools:
        for reason, n in tool.filtered.items():
            out[reason] = out.get(reason, 0) + n
    return dict(sorted(out.items()))


def run_fixes(run: RunResult) -> list[Fix]:
    """Upgrades that fix the run's vulnerabilities, one per package (pipeline.fixes);
    suppressed findings left out."""
    return group_fixes(g.finding for g in run.all_findings() if g.suppressed_by is None)


def _stage(run: RunResult, stage: StageResult) -> dict[str, Any]:
    return {
        "name": stage.name,
        "status": stage.status.value,
        "mode": stage.mode,
        "fail_on": stage.fail_on.name,
        "duration_s": round(stage.duration_s, 3),
        "error": stage.error,
        "findings": len(stage.findings),
        "counts": _zeroed(stage_counts(stage)),
        "blocking": sum(1 for g in stage.findings if g.blocking),
        "suppressed": sum(1 for g in stage.findings if g.suppressed_by is not None),
        **issue_counts(run, stage),
        "filtered": _filtered(stage.tools),
        "tools": [_tool(tool) for tool in stage.tools],
    }


def _tool(tool: ToolResult) -> dict[str, Any]:
    return {
        "name": tool.tool,
        "status": tool.status.value,
        "version": tool.version,
        "exit_code": tool.exit_code,
        "duration_s": round(tool.duration_s, 3),
        "command": list(tool.command),
        "report_file": tool.report_file,
        "log_file": tool.log_file,
        "error": tool.error,
        "findings": len(tool.findings),
        "counts": _zeroed(tool.counts()),
        "filtered": dict(tool.filtered),
        "coverage": tool.coverage,  # frameworks run, Dockerfiles found, history not scanned ...
    }


def _suppression(s: Suppression) -> dict[str, Any]:
    return {
        "id": s.id,
        "rule": s.rule,
        "path": s.path,
        "tool": s.tool,
        "expires": s.expires,
        "reason": s.reason,
        "description": s.describe(),
    }
