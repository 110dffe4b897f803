"""What the hub's suppressions did to a run, for summary.json and the console.

A finding the hub holds SUPPRESSED (dashboard triage, BatchUpdateFindings, an automation rule)
does not block; the run names each one it spared with the suppression's note, who made it (a
principal or a rule's ARN) and its expiry, and lists the expired ones the hub reopened, which
block again. One place for both outputs, so the two always say the same.
"""

from __future__ import annotations

from typing import Any

from secpipe.pipeline.result import RunResult, Suppression


def _entry(s: Suppression) -> dict[str, Any]:
    return {"id": s.id, "note": s.reason, "actor": s.actor, "expires": s.expires or None}


def spared(run: RunResult) -> list[dict[str, Any]]:
    """Each finding a hub suppression kept from blocking (or would have: any severity)."""
    out = []
    for stage in run.stages:
        for g in stage.findings:
            sup = g.suppressed_by
            if sup is not None and sup.source == "hub":
                out.append({**_entry(sup), "finding": g.asff_id, "stage": stage.name,
                            "tool": g.finding.tool, "title": g.finding.title,
                            "severity": g.finding.severity.name})
    return out


def summary_part(run: RunResult) -> dict[str, Any]:
    """summary.json's `hub_suppressions` member."""
    return {"ignored": run.hub_suppressions_ignored,
            "held": len(run.hub_suppressions),
            "applied": spared(run),
            "reopened": [_entry(s) for s in run.hub_reopened]}


def console_lines(run: RunResult) -> list[tuple[str, str]]:
    """(style, line) pairs for the console; nothing when the hub played no part."""
    lines: list[tuple[str, str]] = []
    if run.hub_suppressions_ignored:
        lines.append(("bold yellow", "Hub suppressions ignored (--ignore-hub-suppressions): "
                                     "triaged findings count"))
    applied = spared(run)
    if applied:
        lines.append(("bold", f"Suppressed in the hub ({len(applied)}): not counted by the gate"))
        for a in applied:
            until = f"until {a['expires']}" if a["expires"] else "no expiry"
            lines.append(("", f"  - {a['severity']} {a['tool']} {a['title']} [{a['stage']}]: "
                              f"{a['note']} (by {a['actor']}, {until})"))
    if run.hub_reopened:
        lines.append(("bold yellow", f"Expired hub suppressions ({len(run.hub_reopened)}): "
                                     "reopened in the hub (NEW), their findings count again"))
        for s in run.hub_reopened:
            lines.append(("", f"  - {s.id}: {s.reason} (by {s.actor}, expired {s.expires})"))
    return lines
