"""`junit.xml`: the run as CI test reports understand it (GitLab, Jenkins, Azure, GitHub apps).

One testsuite per stage. Each tool is a testcase (an `error` when it could not give a report
we trust, `skipped` when it was not run) and each blocking issue (the findings of one root
cause, whichever tools reported it: secpipe.pipeline.correlate) is a failed testcase, so a
CI page lists exactly what stops the merge. In an advisory stage the same findings are
`skipped` cases saying they would block: listed, but not red while the run passes. Suppressed and below-threshold findings are not
test cases: they do not fail anything, and the HTML report lists them.

Finding text comes from scanned code, so it goes through ElementTree (escaping) and loses the
control characters XML 1.0 cannot carry at all, which escaping does not fix.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from secpipe.outputs._common import Origins, clean, enforcing, secret_text, where, write_file
from secpipe.outputs._issues import Issue, group_issues
from secpipe.pipeline.result import (
    GatedFinding,
    RunResult,
    StageResult,
    StageStatus,
    ToolResult,
    ToolStatus,
)

FILE_NAME = "junit.xml"
MAX_MESSAGE = 1024


def render_junit(run: RunResult) -> bytes:
    root = junit_tree(run)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(run: RunResult, run_dir: Path) -> Path:
    return write_file(Path(run_dir) / FILE_NAME, render_junit(run))


def junit_tree(run: RunResult) -> ET.Element:
    origins = Origins(run)
    suites = ET.Element("testsuites", _attrs(name=f"secpipe run {run.run_id}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for stage in run.stages:
        suite = _suite(run, stage, origins)
        suites.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        total_time += stage.duration_s
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{total_time:.3f}")
    return suites


def _suite(run: RunResult, stage: StageResult, origins: Origins) -> ET.Element:
    suite = ET.Element("testsuite", _attrs(name=stage.name, time=f"{stage.duration_s:.3f}"))
    if run.started_at:
        suite.set("timestamp", clean(run.started_at))
    props = ET.SubElement(suite, "properties")
    for name, value in (("status", stage.status.value), ("mode", stage.mode),
                        ("fail_on", stage.fail_on.name), ("run_id", run.run_id),
                        ("repo", run.context.repo), ("branch", run.context.branch),
                        ("commit", run.context.commit)):
        ET.SubElement(props, "property", _attrs(name=name, value=value))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for tool in stage.tools:
        suite.append(_tool_case(stage, tool))
        counts["tests"] += 1
        if tool.status is ToolStatus.ERROR:
            counts["errors"] += 1
        elif tool.status is ToolStatus.SKIPPED:
            counts["skipped"] += 1
    tool_errors = any(t.status is ToolStatus.ERROR for t in stage.tools)
    if stage.status is StageStatus.ERROR and stage.error and not tool_errors:
        # A stage can fail before any tool runs (bad config, missing input): say so here,
        # or the suite would look green.
        case = ET.SubElement(suite, "testcase", _attrs(classname=f"secpipe.{stage.name}",
                                                       name="stage", time="0.000"))
        ET.SubElement(case, "error", _attrs(message=_short(stage.error), type="StageError")
                      ).text = clean(stage.error)
        counts["tests"] += 1
        counts["errors"] += 1
    advisory = not enforcing(stage)
    # one case per blocking issue (one root cause, however many tools reported it)
    for issue in group_issues(run, [(stage, g) for g in stage.blocking], origins):
        suite.append(_finding_case(stage, issue.lead[1], origins, advisory=advisory,
                                   issue=issue))
        counts["tests"] += 1
        counts["skipped" if advisory else "failures"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    return suite


def _tool_case(stage: StageResult, tool: ToolResult) -> ET.Element:
    case = ET.Element("testcase", _attrs(classname=f"secpipe.{stage.name}", name=tool.tool,
                                         time=f"{tool.duration_s:.3f}"))
    if tool.status is ToolStatus.ERROR:
        message = tool.error or "the tool failed without a message"
        body = [message]
        if tool.exit_code is not None:
            body.append(f"exit code: {tool.exit_code}")
        if tool.log_file:
            body.append(f"log: {tool.log_file}")
        ET.SubElement(case, "error", _attrs(message=_short(message), type="ToolError")
                      ).text = clean("\n".join(body))
    elif tool.status is ToolStatus.SKIPPED:
        ET.SubElement(case, "skipped", _attrs(message=_short(tool.error or "not run")))
    lines = [f"version: {tool.version or 'unknown'}", f"findings: {len(tool.findings)}"]
    ET.SubElement(case, "system-out").text = clean("\n".join(lines))
    return case


def _finding_case(stage: StageResult, gated: GatedFinding, origins: Origins, *,
                  advisory: bool = False, issue: Issue | None = None) -> ET.Element:
    f = gated.finding
    tool = origins.tool_name(stage, gated)
    place = where(f)
    name = f"[{f.severity.name}] {f.rule_id}" + (f" at {place}" if place else "")
    case = ET.Element("testcase", _attrs(classname=f"secpipe.{stage.name}.{tool}",
                                         name=name, time="0.000"))
    if f.location is not None and f.location.path:
        case.set("file", clean(f.location.path))
        if f.location.start_line is not None and f.location.start_line >= 1:
            case.set("line", str(f.location.start_line))
    message = f"{f.severity.name} {f.rule_id}: {f.title.strip() or f.rule_id}"
    body = [
        f"severity: {f.severity.name}",
        f"rule: {f.rule_id}",
        f"tool: {tool}",
        f"location: {place or 'unknown'}",
        f"title: {f.title}",
    ]
    secret = secret_text(f)
    if secret:
        body.append(f"secret: {secret}")
    if f.remediation:
        body.append(f"remediation: {f.remediation}")
    if f.remediation_url:
        body.append(f"see: {f.remediation_url}")
    body.append(f"id: {gated.asff_id}")
    if issue is not None and len(issue.members) > 1:
        body.append(issue.found_by())
        body += [f"also: {g.asff_id} ({origins.tool_name(s, g)} {g.finding.rule_id})"
                 for s, g in issue.members if g is not gated]
    if advisory:
        ET.SubElement(case, "skipped", _attrs(message=_short(f"advisory stage, would block: "
                                                             f"{message}")))
        ET.SubElement(case, "system-out").text = clean("\n".join(body))
    else:
        ET.SubElement(case, "failure", _attrs(message=_short(message), type=f.severity.name)
                      ).text = clean("\n".join(body))
    return case


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _attrs(**values: object) -> dict[str, str]:
    return {k: clean(v) for k, v in values.items() if v is not None}
