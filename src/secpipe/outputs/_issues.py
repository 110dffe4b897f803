"""Issues: the gated findings of one root cause, as every writer groups and counts them.

The correlation step (secpipe.pipeline.correlate) gives the findings of one root cause the
same `issue_key`; a finding without one is an issue of its own. An issue blocks when one of
its findings blocks in an enforcing stage; its severity is its worst finding's. Writers show
the issue once, "found by" each tool that reported it, in the order the pipeline runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from secpipe.model import Severity
from secpipe.outputs._common import Origins, count_issues, enforcing, issue_key, sorted_findings
from secpipe.pipeline.result import GatedFinding, RunResult, StageResult

__all__ = ["Issue", "count_issues", "group_issues", "issue_counts", "issue_key"]


@dataclass(slots=True)   # one per blocking issue in junit.xml: 40,000 at 50,000 findings
class Issue:
    key: str
    members: list[tuple[StageResult, GatedFinding]] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)   # "found by", in pipeline order

    @property
    def lead(self) -> tuple[StageResult, GatedFinding]:
        """The finding that stands for the issue: the worst, blocking first (members are
        kept in :func:`sorted_findings` order)."""
        return self.members[0]

    @property
    def severity(self) -> Severity:
        return max(g.finding.severity for _, g in self.members)

    @property
    def blocking(self) -> bool:
        return any(g.blocking and enforcing(s) for s, g in self.members)

    def found_by(self) -> str:
        return "found by " + ", ".join(self.tools)


def group_issues(run: RunResult, items: Iterable[tuple[StageResult, GatedFinding]],
                 origins: Origins | None = None) -> list[Issue]:
    """Issues of `items`, worst first (the order of their lead findings)."""
    origins = origins or Origins(run)
    rank: dict[str, int] = {}
    for stage in run.stages:
        for tool in stage.tools:
            rank.setdefault(tool.tool, len(rank))
    issues: dict[str, Issue] = {}
    # members are the items themselves, not new pairs, and a member's tool name is asked
    # again when its issue's members are ordered, not kept for every finding: at 50,000
    # findings junit.xml grouped 33,000 blocking ones of a stage, and the names (by a pair of
    # ids) and the pairs were ~8 MB of its 24 MB rise
    for item in sorted_findings(items):
        stage, gated = item
        key = issue_key(gated)
        issue = issues.get(key)
        if issue is None:   # one Issue per key, not one made and dropped per finding
            issue = issues[key] = Issue(key)
        issue.members.append(item)
        name = origins.tool_name(stage, gated)
        if name not in issue.tools:
            issue.tools.append(name)
    last = len(rank)
    for issue in issues.values():
        if len(issue.members) == 1:
            continue   # one member, one tool: nothing to order
        issue.tools.sort(key=lambda t: rank.get(t, last))
        # the lead: worst and blocking first, then one that shows the secret's mask rather
        # than a tool's hash of it (detect-secrets), then in pipeline order
        issue.members.sort(key=lambda sg: (
            -int(sg[1].finding.severity), not sg[1].blocking, sg[1].suppressed_by is not None,
            _hash_only(sg[1]), rank.get(origins.tool_name(sg[0], sg[1]), last)))
    return list(issues.values())


def _hash_only(gated: GatedFinding) -> bool:
    secret = gated.finding.secret
    return secret is not None and secret.masked.startswith("sha1:")


def issue_counts(run: RunResult, stage: StageResult | None = None) -> dict[str, int]:
    """Issue counts for summary.json: all issues, blocking ones, issues by their worst
    severity, and issues more than one tool reported. One pass, no per-finding lookups: the
    summary is written for runs of tens of thousands of findings."""
    stages = [stage] if stage is not None else list(run.stages)
    worst: dict[str, Severity] = {}
    blocking: set[str] = set()
    # an issue's first tool, and the issues another tool also reported: not a set of tools
    # per issue (40,000 sets, ~9 MB at 50,000 findings, for one count)
    first_tool: dict[str, str] = {}
    multi: set[str] = set()
    for s in stages:
        for g in s.findings:
            key = issue_key(g)
            sev = g.finding.severity
            if key not in worst or sev > worst[key]:
                worst[key] = sev
            if g.blocking:
                blocking.add(key)
            tool = g.finding.tool
            if first_tool.setdefault(key, tool) != tool:
                multi.add(key)
    by_severity = {s.name: 0 for s in sorted(Severity, reverse=True)}
    for sev in worst.values():
        by_severity[sev.name] += 1
    return {
        "issues": len(worst),
        "issue_counts": by_severity,
        "blocking_issues": len(blocking),
        "multi_tool_issues": len(multi),
    }
