"""`junit.xml`: the run as CI test reports understand it (GitLab, Jenkins, Azure, GitHub apps).

One testsuite per stage. Each tool is a testcase (an `error` when it could not give a report
we trust, `skipped` when it was not run) and each blocking issue (the findings of one root
cause, whichever tools reported it: secpipe.pipeline.correlate) is a failed testcase, so a
CI page lists exactly what stops the merge. In an advisory stage the same findings are
`skipped` cases saying they would block: listed, but not red while the run passes. Suppressed and below-threshold findings are not
test cases: they do not fail anything, and the HTML report lists them.

Written as text, one test case at a time, in exactly the bytes ElementTree's `indent` +
`tostring` gave (an ElementTree of 50,000 cases cost seconds and hundreds of MB). Finding text
comes from scanned code: it is escaped (as xml.sax.saxutils does, with ElementTree's attribute
entities for quotes and line breaks) and loses the control characters XML 1.0 cannot carry at
all, which escaping does not fix (textsafe.clean).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from secpipe.outputs._common import (
    Origins, clean, count_issues, enforcing, secret_text, where,
)
from secpipe.outputs._issues import Issue, group_issues
from secpipe.outputs._stream import write_chunks
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
DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"
# ElementTree's attribute escaping: quotes and line breaks survive a parser's normalisation
_ATTR_ENTITIES = {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"}
_COUNTS = ("tests", "failures", "errors", "skipped")


def render_junit(run: RunResult) -> bytes:
    return ("".join(junit_chunks(run)) + "\n").encode("utf-8")


def write_junit(run: RunResult, run_dir: Path) -> Path:
    """Streamed: one test case at a time, never the whole document in memory."""
    return write_chunks(Path(run_dir) / FILE_NAME, junit_chunks(run))


def junit_chunks(run: RunResult) -> Iterator[str]:
    """The document in pieces (without its final newline). The suites' counts head each
    suite, so each stage's issues are grouped first; the cases are then made one by one."""
    origins = Origins(run)
    plans = [(stage, _counts(stage)) for stage in run.stages]
    totals = dict.fromkeys(_COUNTS, 0)
    for _, counts in plans:
        for key in _COUNTS:
            totals[key] += counts[key]
    total_time = sum(stage.duration_s for stage in run.stages)
    root = _open("testsuites", _attrs(name=f"secpipe run {run.run_id}", **totals,
                                      time=f"{total_time:.3f}"), empty=not plans)
    yield DECLARATION + root
    if not plans:
        return
    for stage, counts in plans:
        yield "\n  "
        # grouped when its suite is written: one stage's issues held at a time, not the run's
        issues = group_issues(run, [(stage, g) for g in stage.blocking], origins)
        yield from _suite(run, stage, issues, counts, origins)
        del issues
    yield "\n</testsuites>"


def _counts(stage: StageResult) -> dict[str, int]:
    """A stage's suite's counts (its issues are grouped when the suite is written)."""
    counts = dict.fromkeys(_COUNTS, 0)
    for tool in stage.tools:
        counts["tests"] += 1
        if tool.status is ToolStatus.ERROR:
            counts["errors"] += 1
        elif tool.status is ToolStatus.SKIPPED:
            counts["skipped"] += 1
    if _stage_error(stage):
        counts["tests"] += 1
        counts["errors"] += 1
    # one case per blocking issue (one root cause, however many tools reported it): as many
    # as `group_issues` makes of them, one per issue key
    issues = count_issues(stage.blocking)
    counts["tests"] += issues
    counts["skipped" if not enforcing(stage) else "failures"] += issues
    return counts


def _stage_error(stage: StageResult) -> bool:
    """A stage can fail before any tool runs (bad config, missing input): a case says so,
    or the suite would look green."""
    return (stage.status is StageStatus.ERROR and bool(stage.error)
            and not any(t.status is ToolStatus.ERROR for t in stage.tools))


def _suite(run: RunResult, stage: StageResult, issues: list[Issue], counts: dict[str, int],
           origins: Origins) -> Iterator[str]:
    attrs = _attrs(name=stage.name, time=f"{stage.duration_s:.3f}",
                   timestamp=run.started_at or None, **counts)
    yield _open("testsuite", attrs) + "\n    <properties>"
    props = (("status", stage.status.value), ("mode", stage.mode),
             ("fail_on", stage.fail_on.name), ("run_id", run.run_id),
             ("repo", run.context.repo), ("branch", run.context.branch),
             ("commit", run.context.commit))
    yield "".join("\n      " + _open("property", _attrs(name=name, value=value), empty=True)
                  for name, value in props)
    yield "\n    </properties>"
    for tool in stage.tools:
        yield "\n    " + _tool_case(stage, tool)
    if _stage_error(stage):
        yield "\n    " + _case(_attrs(classname=f"secpipe.{stage.name}", name="stage",
                                       time="0.000"),
                                _element("error", _attrs(message=_short(stage.error),
                                                         type="StageError"),
                                         clean(stage.error)))
    advisory = not enforcing(stage)
    for issue in issues:
        yield "\n    " + _finding_case(stage, issue.lead[1], origins, advisory=advisory,
                                        issue=issue)
    yield "\n  </testsuite>"


def _tool_case(stage: StageResult, tool: ToolResult) -> str:
    children = []
    if tool.status is ToolStatus.ERROR:
        message = tool.error or "the tool failed without a message"
        body = [message]
        if tool.exit_code is not None:
            body.append(f"exit code: {tool.exit_code}")
        if tool.log_file:
            body.append(f"log: {tool.log_file}")
        children.append(_element("error", _attrs(message=_short(message), type="ToolError"),
                                 _clean_lines(body)))
    elif tool.status is ToolStatus.SKIPPED:
        children.append(_element("skipped", _attrs(message=_short(tool.error or "not run"))))
    lines = [f"version: {tool.version or 'unknown'}", f"findings: {len(tool.findings)}"]
    children.append(_element("system-out", {}, _clean_lines(lines)))
    return _case(_attrs(classname=f"secpipe.{stage.name}", name=tool.tool,
                        time=f"{tool.duration_s:.3f}"), *children)


def _finding_case(stage: StageResult, gated: GatedFinding, origins: Origins, *,
                  advisory: bool = False, issue: Issue | None = None) -> str:
    f = gated.finding
    tool = origins.tool_name(stage, gated)
    place = where(f)
    name = f"[{f.severity.name}] {f.rule_id}" + (f" at {place}" if place else "")
    attrs = _attrs(classname=f"secpipe.{stage.name}.{tool}", name=name, time="0.000")
    if f.location is not None and f.location.path:
        attrs["file"] = clean(f.location.path)
        if f.location.start_line is not None and f.location.start_line >= 1:
            attrs["line"] = str(f.location.start_line)
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
    url = f.rare.remediation_url   # its slot (model.rarefields)
    if url:
        body.append(f"see: {url}")
    body.append(f"id: {gated.asff_id}")
    if issue is not None and len(issue.members) > 1:
        body.append(issue.found_by())
        body += [f"also: {g.asff_id} ({origins.tool_name(s, g)} {g.finding.rule_id})"
                 for s, g in issue.members if g is not gated]
    text = _clean_lines(body)
    if advisory:
        return _case(attrs, _element("skipped", _attrs(
            message=_short(f"advisory stage, would block: {message}"))),
            _element("system-out", {}, text))
    return _case(attrs, _element("failure", _attrs(message=_short(message),
                                                   type=f.severity.name), text))


def _clean_lines(lines: list[str]) -> str:
    """`clean("\\n".join(lines))`: the joined text as it is when every line is printable, which
    clean would return unchanged (it only removes or replaces characters isprintable refuses,
    and keeps line breaks). Each line's isprintable is a C-level pass; clean's own checks of
    a multi-line text (a regex search, or three replaces when it holds a masked secret's "…")
    cost several times more."""
    text = "\n".join(lines)
    return text if all(map(str.isprintable, lines)) else clean(text)


def _case(attrs: dict[str, str], *children: str) -> str:
    """A testcase at indentation level 2 holding `children` (each one line's element)."""
    return (_open("testcase", attrs) + "".join("\n      " + c for c in children)
            + "\n    </testcase>")


def _element(tag: str, attrs: dict[str, str], text: str | None = None) -> str:
    """A leaf element as ElementTree writes it: `<tag a="v" />` when it has no text."""
    if not text:
        return _open(tag, attrs, empty=True)
    return f"{_open(tag, attrs)}{_text(text)}</{tag}>"


def _open(tag: str, attrs: dict[str, str], *, empty: bool = False) -> str:
    # one test over all the values (a character is in their concatenation where it is in one
    # of them): most elements need no escaping at all
    if _attr_special("".join(attrs.values())):
        inner = "".join([f' {k}="{_attr(v)}"' for k, v in attrs.items()])
    else:
        inner = "".join([f' {k}="{v}"' for k, v in attrs.items()])
    return f"<{tag}{inner} />" if empty else f"<{tag}{inner}>"


# What saxutils.escape replaces (with _ATTR_ENTITIES for attributes): text holding none of it
# is its own escape. Each `in` is a C-level scan for one character; three (text) or seven
# (attributes) of them cost a tenth to a half of one search of the character class's regex.
def _text_special(text: str) -> bool:
    return "&" in text or "<" in text or ">" in text


def _attr_special(text: str) -> bool:
    return ("&" in text or "<" in text or ">" in text or '"' in text or "\n" in text
            or "\r" in text or "\t" in text)


def escape(data: str, entities: dict[str, str] | None = None) -> str:
    """`xml.sax.saxutils.escape`, the same replaces in the same order (a test compares them):
    importing xml.sax.saxutils imports urllib.request, with http.client and ssl, about 8 ms of
    every run's start for three replaces."""
    data = data.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    for key, value in (entities or {}).items():
        data = data.replace(key, value)
    return data


def _text(text: str) -> str:
    return escape(text) if _text_special(text) else text


def _attr(value: str) -> str:
    return escape(value, _ATTR_ENTITIES) if _attr_special(value) else value


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _attrs(**values: object) -> dict[str, str]:
    return {k: clean(v) for k, v in values.items() if v is not None}
