"""What every writer needs to read a RunResult the same way.

The writers must agree on which tool a finding came from, how a location is shown and how
findings are ordered, or the console, the HTML page and the JUnit file would tell a reader
three slightly different stories about the same run.
"""

from __future__ import annotations

import dataclasses
import heapq
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from secpipe.model import Finding, Severity, SourceContext
# Control characters, escape sequences and bidi controls: one rule for every output, the
# terminal and the dashboard (secpipe.textsafe); `clean` and `BIDI` are re-exported here.
from secpipe.textsafe import BIDI, clean  # noqa: F401
from secpipe.pipeline.result import (
    GatedFinding,
    RunResult,
    StageResult,
    StageStatus,
    ToolResult,
    ToolStatus,
    severity_counts,
)


#: Highest first: the order every writer lists severities and findings in.
SEVERITIES: tuple[Severity, ...] = tuple(sorted(Severity, reverse=True))
SHORT_NAMES = {
    Severity.CRITICAL: "CRIT",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MED",
    Severity.LOW: "LOW",
    Severity.INFORMATIONAL: "INFO",
}


class Origins:
    """Which ToolResult produced each gated finding, worked out once per run.

    A scanner's name (``trivy-image``) need not equal the tool name a parser wrote into the
    finding (``trivy``), and enrichment may have copied the finding; so match on the finding
    itself first, then its fingerprint, then the tool name, then a stage that ran one tool.
    """

    def __init__(self, run: RunResult) -> None:
        # finding (by identity) -> the first tool holding it, and the stages (by identity)
        # that tool is in: one lookup and one set test per finding (every writer asks)
        self._by_object: dict[int, tuple[ToolResult, set[int]]] = {}
        # built on the first finding the object map misses: hashing every finding up front
        # cost more than all the rest of Origins, and most runs never miss
        self._by_fingerprint: dict[tuple[int, str], ToolResult] | None = None
        self._keep = run  # keeps the findings alive, so object ids stay unique
        self._contexts: dict[tuple[int, str, str], SourceContext] = {}
        stages_of: dict[int, set[int]] = {}
        for stage in run.stages:
            for tool in stage.tools:
                stages_of.setdefault(id(tool), set()).add(id(stage))
        for stage in run.stages:
            for tool in stage.tools:
                entry = (tool, stages_of[id(tool)])
                for f in tool.findings:
                    self._by_object.setdefault(id(f), entry)

    def _fingerprints(self) -> dict[tuple[int, str], ToolResult]:
        if self._by_fingerprint is None:
            self._by_fingerprint = {}
            for stage in self._keep.stages:
                for tool in stage.tools:
                    for f in tool.findings:
                        self._by_fingerprint.setdefault((id(stage), f.fingerprint()), tool)
        return self._by_fingerprint

    def tool(self, stage: StageResult, gated: GatedFinding) -> ToolResult | None:
        entry = self._by_object.get(id(gated.finding))
        if entry is not None and id(stage) in entry[1]:
            return entry[0]
        found = self._fingerprints().get((id(stage), gated.finding.fingerprint()))
        if found is not None:
            return found
        for tool in stage.tools:
            if tool.tool == gated.finding.tool:
                return tool
        return stage.tools[0] if len(stage.tools) == 1 else None

    def tool_name(self, stage: StageResult, gated: GatedFinding) -> str:
        entry = self._by_object.get(id(gated.finding))
        if entry is not None and id(stage) in entry[1]:   # `tool`'s first case, inline
            return entry[0].tool
        tool = self.tool(stage, gated)
        return tool.tool if tool is not None else gated.finding.tool

    def context(self, run: RunResult, stage: StageResult, gated: GatedFinding) -> SourceContext:
        """The run's context narrowed to the stage and tool version behind the finding
        (one object per stage and tool version, not one per finding)."""
        tool = self.tool(stage, gated)
        key = (id(run), gated.stage or stage.name,
               tool.version if tool is not None and tool.version else "")
        found = self._contexts.get(key)
        if found is None:
            found = self._contexts[key] = dataclasses.replace(
                run.context, stage=key[1], tool_version=key[2],
                run_id=run.context.run_id or run.run_id)
        return found


def stage_counts(stage: StageResult) -> dict[str, int]:
    """Severity counts over every finding of the stage, suppressed ones included."""
    return severity_counts([g.finding for g in stage.findings])


def sorted_findings(items: Iterable[tuple[StageResult, GatedFinding]]
                    ) -> list[tuple[StageResult, GatedFinding]]:
    """Most severe first; blocking before the rest; then by place, so output is stable."""
    return sorted(items, key=_order)


def first_sorted(items: Iterable[tuple[StageResult, GatedFinding]], count: int
                 ) -> list[tuple[StageResult, GatedFinding]]:
    """`sorted_findings(items)[:count]` (heapq.nsmallest is that, ties in `items`' order),
    holding `count` sort keys, not one for each item nor the list of them all."""
    return heapq.nsmallest(count, items, key=_order)


def _order(item: tuple[StageResult, GatedFinding]) -> tuple:
    """`sorted_findings`' key: each part read once (the writers sort every finding)."""
    gated = item[1]
    f = gated.finding
    loc = f.location
    return (-int(f.severity), not gated.blocking, gated.suppressed_by is not None,
            (loc.path if loc else None) or "", (loc.start_line or 0) if loc else 0, f.rule_id)


def all_gated(run: RunResult) -> list[tuple[StageResult, GatedFinding]]:
    return [(stage, g) for stage in run.stages for g in stage.findings]


def where(finding: Finding) -> str:
    """`path:line` when the finding is in a file, else the resource id (or empty)."""
    loc = finding.location
    if loc is not None and loc.path:
        if loc.start_line is not None and loc.start_line >= 1:
            return f"{loc.path}:{loc.start_line}"
        return loc.path
    if finding.resource is not None:
        return finding.resource.id
    return ""


def secret_text(finding: Finding) -> str:
    """The only form of a secret any output may show: its mask."""
    return finding.secret.masked if finding.secret is not None else ""


def link_for(finding: Finding) -> str | None:
    """A web link for the rule, only http(s): a `javascript:` reference from a report must
    never become a clickable link."""
    for url in (finding.rare.remediation_url, *finding.references):
        if url and url.strip().lower().startswith(("https://", "http://")):
            return url.strip()
    return None


def iso_or_none(stamp: str | None) -> str | None:
    """`stamp` as an ASFF-style UTC timestamp, or None when it is not a date we can read."""
    if not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    parsed = parsed.astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def report_path(run: RunResult, name: str = "report.html") -> str:
    """Where a run's file is, as the reader can open it: relative to the current directory
    when it lies inside it (outputs live in the scanned PATH/.secpipe), else absolute."""
    path = os.path.join(run.run_dir, name) if run.run_dir else name
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path, os.getcwd())
        except (ValueError, OSError):  # another drive on Windows, a vanished cwd
            return path
        if not rel.startswith(".."):
            return rel
    return path


def write_file(path: Path, data: str | bytes) -> Path:
    """Write atomically, so a reader (CI uploading the SARIF) never sees half a file (see
    `_stream.write_chunks`, which does it for a file written in pieces)."""
    from secpipe.outputs._stream import write_atomic

    raw = data.encode("utf-8") if isinstance(data, str) else data
    return write_atomic(path, lambda fh: fh.write(raw), binary=True)


def enforcing(stage: StageResult) -> bool:
    """Whether the stage's verdict counts for the run's exit code (as RunResult judges it)."""
    return stage.mode == "enforce"


def gate_lines(run: RunResult) -> list[tuple[str, str]]:
    """The verdict as (kind, sentence) pairs, kind one of error/failed/advisory/passed.

    Errors come first because they decide the exit code; a failed gate is still reported
    beside them, so fixing the tool does not reveal a surprise. Advisory stages get their own
    lines and never make the run read as failed.
    """
    lines: list[tuple[str, str]] = []
    if run.interrupted:
        lines.append(("error", "ERROR: the run was interrupted before every stage finished"))
    for stage in run.stages:
        if stage.status is StageStatus.ERROR:
            if enforcing(stage):
                lines.append(("error", f"ERROR: stage {stage.name}: {stage_error(stage)}"))
            else:
                lines.append(("advisory", f"Advisory stage {stage.name} errored: "
                                          f"{stage_error(stage)} (not failing the run)"))
    # the same count as summary.json's totals.blocking: an errored stage's blocking findings
    # count too (they used to be left out, so "5 blocking" stood beside a summary of 2,129)
    failed = blocking_stages(run)
    if failed:
        gated = [g for s in failed for g in s.blocking]
        names = ", ".join(s.name for s in failed)
        lines.append(("failed", f"Gate FAILED: {issues_phrase(gated, 'blocking issue')} "
                                f"in {names}"))
    advisory = [s for s in run.stages if s.status is StageStatus.ADVISORY]
    if advisory:
        gated = [g for s in advisory for g in over_threshold(s)]
        names = ", ".join(s.name for s in advisory)
        lines.append(("advisory", f"Advisory: {issues_phrase(gated, 'issue')} at or above the "
                                  f"threshold in {names} (advisory stage, not blocking)"))
    if not any(kind in ("error", "failed") for kind, _ in lines):
        lines.insert(0, ("passed", "Gate passed"))
    return lines


def issue_key(gated: GatedFinding) -> str:
    """The root cause a finding belongs to (secpipe.pipeline.correlate), else itself."""
    return gated.finding.issue_key or gated.finding.fingerprint()


def count_issues(gated: Iterable[GatedFinding]) -> int:
    return len({issue_key(g) for g in gated})


def issues_phrase(gated: list[GatedFinding], noun: str) -> str:
    """`3 blocking issues`, or `1 blocking issue (3 findings)` when tools repeat each other."""
    issues, findings = count_issues(gated), len(gated)
    text = f"{issues} {noun}{'s' * (issues != 1)}"
    if findings != issues:
        text += f" ({findings} findings)"
    return text


def blocking_stages(run: RunResult) -> list[StageResult]:
    """Enforcing stages holding blocking findings, whether they FAILED or ERRORed."""
    return [s for s in run.stages if enforcing(s) and s.blocking
            and s.status in (StageStatus.FAILED, StageStatus.ERROR)]


def blocking_total(run: RunResult) -> int:
    """Blocking findings of the run: the verdict line's number and summary.json's."""
    return sum(len(s.blocking) for s in blocking_stages(run))


def over_threshold(stage: StageResult) -> list[GatedFinding]:
    return [g for g in stage.findings
            if g.suppressed_by is None and g.finding.severity >= stage.fail_on]


def stage_error(stage: StageResult) -> str:
    """Why a stage errored, in one line: its own error, else its tools' errors."""
    if stage.error:
        return first_line(stage.error)
    reasons = [f"{t.tool}: {first_line(tool_error(t))}"
               for t in stage.tools if t.status is ToolStatus.ERROR]
    return "; ".join(reasons) or "unknown error"


def tool_error(tool: ToolResult) -> str:
    """A tool's error without the `tool: ` prefix scanner errors already carry, since every
    writer shows the tool's name beside it."""
    text = (tool.error or "failed").strip()
    prefix = f"{tool.tool}:"
    return text[len(prefix):].strip() if text.startswith(prefix) else text


def first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""
