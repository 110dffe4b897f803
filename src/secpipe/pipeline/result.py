"""What a run produced: per tool, per stage, and for the whole run.

These are plain values handed to the gate, the writers (summary, ASFF, SARIF, JUnit, HTML) and
the console, so none of them needs to know how a stage ran.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from secpipe.model import Finding, Severity, SourceContext
from secpipe.model.asff import finding_id
from secpipe.model.derived import DerivedText, derive


class ToolStatus(str, enum.Enum):
    OK = "ok"            # ran, report parsed (findings or not)
    ERROR = "error"      # missing, crashed, timed out, or report unparsable: fails closed
    SKIPPED = "skipped"  # not run because a stage it needs errored (never because it is absent)


class StageStatus(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"        # gate: a finding at or above fail_on, not suppressed
    ADVISORY = "advisory"    # would have failed, but the stage is advisory
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Suppression:
    """A reviewed exception: matches by finding id, rule or path glob; always has a reason
    and an expiry date."""

    reason: str
    expires: str  # ISO date
    id: str | None = None
    rule: str | None = None
    path: str | None = None
    tool: str | None = None
    # "file" (the suppression file) or "hub" (triage or an automation rule in the hub, which
    # `actor` names: a principal or a rule's ARN; `expires` is then "" or an RFC 3339 instant)
    source: str = "file"
    actor: str | None = None

    def describe(self) -> str:
        if self.source == "hub":
            until = f"until {self.expires}" if self.expires else "no expiry"
            return f"hub: suppressed by {self.actor} ({until}): {self.reason}"
        what = [f"{k}={v}" for k, v in (("id", self.id), ("rule", self.rule),
                                          ("path", self.path), ("tool", self.tool)) if v]
        return ", ".join(what) + f" (until {self.expires}: {self.reason})"


@dataclass(slots=True)
class GatedFinding:
    """A finding as the gate judged it in its stage.

    `asff_id` is a text, or (the gate's) a shared :class:`AsffId` that makes the finding's
    Id when read (model.derived): held, it was 100 bytes a finding from the gate to the run's
    end (5 MB at 50,000)."""

    finding: Finding
    stage: str
    asff_id: str
    blocking: bool = False
    suppressed_by: Suppression | None = None
    is_new: bool | None = None  # against the stage's baseline run; None: no baseline known


class AsffId(DerivedText):
    """A gated finding's ASFF Id, `finding_id(finding, ctx)`, made when read. The parts it
    is made of (the context's product name, the finding's tool and fingerprint) never change
    while the run holds it: the correlation's copies keep both."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx

    def render(self, gated: GatedFinding, field: str) -> str:
        return finding_id(gated.finding, self.ctx)


derive(GatedFinding, "asff_id")


@dataclass(slots=True)
class ToolResult:
    tool: str
    stage: str
    status: ToolStatus
    version: str | None = None
    exit_code: int | None = None
    duration_s: float = 0.0
    command: list[str] = field(default_factory=list)
    report_file: str | None = None  # relative to the run dir
    log_file: str | None = None     # relative to the run dir
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)
    filtered: dict[str, int] = field(default_factory=dict)  # dropped as not secrets, by reason
    coverage: dict[str, Any] = field(default_factory=dict)  # what it scanned / could not scan

    def counts(self) -> dict[str, int]:
        return severity_counts(self.findings)


@dataclass(slots=True)
class StageResult:
    name: str
    status: StageStatus
    fail_on: Severity
    mode: str
    tools: list[ToolResult] = field(default_factory=list)
    findings: list[GatedFinding] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None

    @property
    def blocking(self) -> list[GatedFinding]:
        return [g for g in self.findings if g.blocking]


@dataclass(slots=True)
class RunResult:
    run_id: str
    root: str
    run_dir: str
    context: SourceContext
    started_at: str
    finished_at: str = ""
    stages: list[StageResult] = field(default_factory=list)
    expired_suppressions: list[Suppression] = field(default_factory=list)
    interrupted: bool = False
    wall_s: float = 0.0
    diff: dict[str, dict[str, int]] | None = None  # per stage {new, recurring, fixed}, from the hub
    baseline_run_id: str | None = None
    hub: str | None = None  # where the run was recorded
    self_cpu_s: float = 0.0  # secpipe's own CPU time, without the tools (child processes)
    # suppressions the hub holds (secpipe.pipeline.hubsync.hub_suppressions): honoured ones,
    # expired ones it reopened, and whether the run ignored them (--ignore-hub-suppressions)
    hub_suppressions: list[Suppression] = field(default_factory=list)
    hub_reopened: list[Suppression] = field(default_factory=list)
    hub_suppressions_ignored: bool = False

    @property
    def exit_code(self) -> int:
        """0 gate passed, 1 gate failed, 2 error (an error outranks a failed gate)."""
        if self.interrupted or any(s.status is StageStatus.ERROR and s.mode == "enforce"
                                   for s in self.stages):
            return 2
        if any(s.status is StageStatus.FAILED for s in self.stages):
            return 1
        return 0

    @property
    def verdict(self) -> str:
        return {0: "passed", 1: "failed", 2: "error"}[self.exit_code]

    def all_findings(self) -> list[GatedFinding]:
        return [g for s in self.stages for g in s.findings]


def severity_counts(findings: list[Finding]) -> dict[str, int]:
    """Findings by severity name, highest first, every name present. Tallied by the
    severity's value (a list index): an enum's `.name` is a property, and the writers count
    a run's findings about eight times."""
    tally = [0] * (_WORST_FIRST[0] + 1)
    for f in findings:
        tally[f.severity] += 1
    return {s.name: tally[s] for s in _WORST_FIRST}


_WORST_FIRST = tuple(sorted(Severity, reverse=True))
