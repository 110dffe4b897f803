"""The end-of-run screen: what ran, what blocks, and where the full report is.

Short on purpose: one table per stage, the worst blocking findings (not all of them), the
verdict line a CI log reader greps for, and the path of the HTML report. Finding text is
scanned content: it is escaped before it meets Rich markup, so `[bold]` in a title or a
file name prints as typed.
"""

from __future__ import annotations

from typing import Iterator

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from secpipe.outputs._common import (
    SEVERITIES,
    SHORT_NAMES,
    Origins,
    enforcing,
    first_sorted,
    gate_lines,
    issue_key,
    report_path,
    secret_text,
    tool_error,
    where,
)
from secpipe.model import Severity
from secpipe.outputs._issues import Issue, group_issues
from secpipe.outputs._coverage import coverage_lines
from secpipe.outputs.hubsup import console_lines as hub_lines
from secpipe.pipeline.result import GatedFinding, RunResult, StageResult, StageStatus, ToolStatus
from secpipe.textsafe import one_line

MAX_BLOCKING = 15
# Rich drops BEL and the like but passes ESC through: a title could carry ANSI sequences
# that clear the screen or rewrite the verdict line above it. No control character prints,
# and bidi controls (which reorder what the line shows) print as U+FFFD.
MAX_TEXT = 500  # one scanned value on the screen; the HTML report has it whole

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFORMATIONAL: "dim",
}
STAGE_STYLE = {
    StageStatus.PASSED: "bold green",
    StageStatus.FAILED: "bold red",
    StageStatus.ADVISORY: "bold yellow",
    StageStatus.ERROR: "bold magenta",
    StageStatus.SKIPPED: "dim",
}
TOOL_STYLE = {ToolStatus.OK: "green", ToolStatus.ERROR: "bold magenta", ToolStatus.SKIPPED: "dim"}
GATE_STYLE = {"passed": "bold green", "failed": "bold red", "error": "bold magenta",
              "advisory": "bold yellow"}


def plain(text: object) -> str:
    """Scanned text made inert for a terminal: control characters become one space, bidi
    controls a visible U+FFFD, and a value longer than MAX_TEXT is cut (a 200 KB title would
    otherwise scroll the verdict away)."""
    return one_line(text, MAX_TEXT)


def safe(text: object) -> str:
    """Scanned text for a Rich markup string: inert and with its brackets escaped."""
    return escape(plain(text))


def render_console(run: RunResult, console: Console) -> None:
    for stage in run.stages:
        if stage.status is StageStatus.SKIPPED and not stage.tools:  # `when:` / its needs
            console.print(Text.assemble(("Stage ", "bold"), (plain(stage.name), "bold"), "  ",
                                        ("SKIPPED", STAGE_STYLE[stage.status]),
                                        f"  {plain(stage.error or '')}"))
            continue
        console.print(stage_table(stage))
        for tool, line, gap in coverage_lines(stage):
            console.print(Text(plain(f"  {tool}: {line}"), style="yellow" if gap else "dim"))
        for tool in stage.tools:
            if tool.error:
                log = f" (log: {safe(tool.log_file)})" if tool.log_file else ""
                console.print(f"  [magenta]{safe(tool.tool)}[/]: "
                              f"{safe(tool_error(tool))}{log}", emoji=False, highlight=False)
        if stage.error:
            console.print(f"  [magenta]stage {safe(stage.name)}[/]: {safe(stage.error)}",
                          emoji=False, highlight=False)
        for tool in stage.tools:
            if tool.filtered:
                console.print(Text(plain(filtered_line(tool.tool, tool.filtered)), style="dim"))
        if run.diff is not None and stage.name in run.diff:
            d = run.diff[stage.name]
            against = (f"against run {safe(run.baseline_run_id)}" if run.baseline_run_id
                       else "first run of this branch")
            console.print(f"  [bold]{d.get('new', 0)} new[/], {d.get('recurring', 0)} recurring, "
                          f"[green]{d.get('fixed', 0)} fixed[/] ({against})",
                          emoji=False, highlight=False)
    _blocking(run, console)
    _fixes(run, console)
    if run.expired_suppressions:
        console.print()
        console.print(f"[bold yellow]Expired suppressions ({len(run.expired_suppressions)})"
                      "[/]: their findings count again")
        for sup in run.expired_suppressions:
            console.print(f"  - {safe(sup.describe())}", emoji=False, highlight=False)
    for style, line in hub_lines(run):      # the hub's suppressions: spared and reopened
        console.print(Text(plain(line), style=style))
    console.print()
    for kind, line in gate_lines(run):
        console.print(Text(plain(line), style=GATE_STYLE[kind]))
    console.print(f"Report: {safe(report_path(run))}", emoji=False, highlight=False)


def stage_table(stage: StageResult) -> Table:
    title = Text.assemble(
        ("Stage ", "bold"), (plain(stage.name), "bold"), "  ",
        (stage.status.value.upper(), STAGE_STYLE[stage.status]),
        f"  ({stage.mode}, fail on {stage.fail_on.name}, {stage.duration_s:.1f}s)",
    )
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("tool")
    table.add_column("status")
    table.add_column("version")
    table.add_column("exit", justify="right")
    table.add_column("time", justify="right")
    for sev in SEVERITIES:
        table.add_column(SHORT_NAMES[sev], justify="right")
    for tool in stage.tools:
        counts = tool.counts()
        table.add_row(
            Text(plain(tool.tool)),
            Text(tool.status.value, style=TOOL_STYLE[tool.status]),
            Text(plain(tool.version or "-")),
            Text("-" if tool.exit_code is None else str(tool.exit_code)),
            Text(f"{tool.duration_s:.1f}s"),
            *(Text(str(counts[s.name]), style=SEVERITY_STYLE[s] if counts[s.name] else "dim")
              for s in SEVERITIES),
        )
    if not stage.tools:
        table.add_row(Text("(no tool ran)", style="dim"), *([""] * (4 + len(SEVERITIES))))
    return table


def _blocking(run: RunResult, console: Console) -> None:
    """One line per blocking issue (secpipe.outputs._issues): the worst finding of its root
    cause, and which tools found it when more than one did."""
    # Advisory stages mark findings over their threshold too, but those block nothing.
    keys = {issue_key(g) for s in run.stages if enforcing(s) for g in s.findings if g.blocking}
    if not keys:
        return
    # Every issue of `keys` blocks (a member blocks in an enforcing stage). Only the worst
    # MAX_BLOCKING are shown: those are grouped, not all 50,000 findings. group_issues orders
    # issues by their first finding in sorted_findings order, so the shown ones are the first
    # keys met in that order, and grouping their members alone gives the same issues. That
    # order's head is taken a few times MAX_BLOCKING findings at a time (more when the worst
    # findings share few issues), not the whole run sorted: the pairs, their sort keys and
    # the sorted list of 45,000 blocking findings were 9 MB of this screen's 16 MB rise.
    def blocking() -> Iterator[tuple[StageResult, GatedFinding]]:
        return ((s, g) for s in run.stages for g in s.findings if issue_key(g) in keys)

    first: dict[str, None] = {}
    count = 4 * MAX_BLOCKING
    while True:
        head = first_sorted(blocking(), count)
        for _, g in head:
            first.setdefault(issue_key(g))
            if len(first) == MAX_BLOCKING:
                break
        if len(first) == MAX_BLOCKING or len(head) < count:
            break
        first.clear()
        count *= 4
    origins = Origins(run)
    shown = group_issues(run, ((s, g) for s, g in blocking() if issue_key(g) in first), origins)
    _print_blocking(console, shown, origins, len(keys), sum(1 for _ in blocking()))


def _print_blocking(console: Console, shown: list[Issue], origins: Origins,
                    n_issues: int, findings: int) -> None:
    """The blocking issues' lines: `shown` of `n_issues` issues (`findings` findings)."""
    console.print()
    extra = f", {findings} findings" if findings != n_issues else ""
    console.print(f"[bold red]Blocking issues[/] ({n_issues}{extra}"
                  f"{f', worst {len(shown)} shown' if n_issues > len(shown) else ''}):")
    for issue in shown:
        stage, gated = issue.lead
        f = gated.finding
        line = Text("  ")
        line.append(f"{issue.severity.name:<13}", style=SEVERITY_STYLE[issue.severity])
        line.append(plain(f" {stage.name}/{origins.tool_name(stage, gated)} "), style="dim")
        line.append(plain(f.rule_id), style="bold")
        place = where(f)
        if place:
            line.append(plain(f"  {place}"), style="cyan")
        title = f.title.strip() or f.rule_id
        line.append(plain(f"  {title}"))
        secret = secret_text(f)
        if secret and secret not in title:
            line.append(plain(f"  [{secret}]"), style="yellow")
        console.print(line)
        if len(issue.members) > 1:
            console.print(Text("      " + plain(issue.found_by()), style="magenta"))
        fix = " ".join((f.remediation or "").split())
        if fix and fix != title:
            cut = fix if len(fix) <= 150 else fix[:149] + "…"
            console.print(Text("      fix: " + plain(cut), style="dim"))
    if n_issues > len(shown):
        console.print(f"  … and {n_issues - len(shown)} more in the report")


def filtered_line(tool: str, filtered: dict[str, int]) -> str:
    """`trufflehog3: 12 findings dropped as not secrets (lockfile hash 10, commit-hash tag 2)`"""
    n = sum(filtered.values())
    why = ", ".join(f"{reason} {count}" for reason, count in filtered.items())
    return f"  {tool}: {n} finding{'s' * (n != 1)} dropped as not secrets ({why})"


def _fixes(run: RunResult, console: Console) -> None:
    """Vulnerabilities as upgrades, one line per package (secpipe.pipeline.fixes)."""
    from secpipe.outputs.summary import run_fixes

    fixes = run_fixes(run)
    if not fixes:
        return
    console.print()
    console.print(f"[bold]Fixes[/] ({len(fixes)} package{'s' * (len(fixes) != 1)}):")
    for fix in fixes[:MAX_BLOCKING]:
        line = Text("  ")
        line.append(f"{fix.severity.name:<13}", style=SEVERITY_STYLE[fix.severity])
        line.append(plain(f" {fix.sentence}"))
        console.print(line)
    if len(fixes) > MAX_BLOCKING:
        console.print(f"  … and {len(fixes) - MAX_BLOCKING} more in summary.json")
