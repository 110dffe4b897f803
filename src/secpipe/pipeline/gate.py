"""The gate: which findings block a stage.

A finding blocks when its severity reaches the stage's `fail_on` and no active suppression
matches it; an issue (the findings of one root cause, secpipe.pipeline.correlate) blocks when
one of its findings does, and the verdict counts issues. Tool errors are judged before findings: a stage whose tool failed is ERROR whatever
the other tools found, because a partial scan must not read as a pass.
"""

from __future__ import annotations

from itertools import repeat
from typing import AbstractSet, Iterable, Sequence

from secpipe.model import Finding, Severity, SourceContext
from secpipe.model.asff import finding_id
from secpipe.pipeline.result import (
    AsffId, GatedFinding, StageStatus, Suppression, ToolResult, ToolStatus,
)
from secpipe.pipeline.suppressions import matches


_LEVELS = {"FAIL": True, "INFO": False}


def judge_findings(findings: Sequence[Finding], *, stage: str, fail_on: Severity,
                   suppressions: Sequence[Suppression], ctx: SourceContext,
                   baseline: AbstractSet[str] | None = None, new_only: bool = False
                   ) -> list[GatedFinding]:
    """Mark each finding blocking or not.

    With `new_only`, a finding the baseline run already had does not block (it is reported as
    recurring); without a baseline (the branch's first run) every finding counts as new, so
    turning `new_only` on can never let a first run pass by accident.
    """
    # each finding's Id only where a suppression or a non-empty baseline reads it: a list of
    # them was 4.9 MB at 50,000 findings, at the judging's peak, for a run that has neither
    ids = [finding_id(f, ctx) for f in findings] if suppressions else None
    hits: Iterable[Suppression | None] = repeat(None)
    by_issue: dict[str | None, Suppression] = {}
    if ids is not None:
        hits = [next((s for s in suppressions if matches(
            s, asff_id=asff_id, fingerprint=f.fingerprint(), tool=f.tool, rule=f.rule_id,
            path=f.path)), None) for f, asff_id in zip(findings, ids)]
        # A suppression naming one finding by its Id accepts its root cause: the other
        # tools' findings of the same issue (pipeline.correlate) are suppressed with it. Rule
        # and path suppressions stay per finding (one value leaked in two files is one issue).
        by_issue = {f.issue_key: hit for f, hit in zip(findings, hits)
                    if f.issue_key and hit is not None and hit.id}
    gated: list[GatedFinding] = []
    held_id = AsffId(ctx)   # each finding's Id, made when read (the same text as `ids`)
    for n, (f, hit) in enumerate(zip(findings, hits)):
        if hit is None and f.issue_key in by_issue:
            hit = by_issue[f.issue_key]
        if baseline is None:
            is_new = None
        elif not baseline:
            is_new = True   # no Id is in it
        else:
            is_new = (finding_id(f, ctx) if ids is None else ids[n]) not in baseline
        counts = not (new_only and is_new is False)
        # A rules-file level (ZAP's FAIL/WARN/INFO) decides before the severity threshold.
        level = f.properties.get("level", "")
        over = _LEVELS.get(level, f.severity >= fail_on)
        gated.append(GatedFinding(finding=f, stage=stage, asff_id=held_id,  # type: ignore[arg-type]
                                  blocking=hit is None and counts and over,
                                  suppressed_by=hit, is_new=is_new))
    gated.sort(key=lambda g: (-g.finding.severity, g.finding.tool, g.finding.path or "",
                              g.finding.location.start_line or 0 if g.finding.location else 0))
    return gated


def stage_status(tools: Sequence[ToolResult], gated: Sequence[GatedFinding], mode: str) -> StageStatus:
    if any(t.status is ToolStatus.ERROR for t in tools):
        return StageStatus.ERROR
    if tools and all(t.status is ToolStatus.SKIPPED for t in tools):
        return StageStatus.SKIPPED  # nothing was scanned (no Dockerfile): never "PASSED"
    if any(g.blocking for g in gated):
        return StageStatus.FAILED if mode == "enforce" else StageStatus.ADVISORY
    return StageStatus.PASSED

