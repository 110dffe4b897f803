"""`report.html`: the run for a person: one self-contained page, safe to open from CI artifacts.

Self-contained means no fetch of any kind (inline CSS, one inline script). It scales: findings
are grouped into issues and carried once, as gzipped JSON in two inert data blocks
(outputs._html_data: what the rows show, and what only details show); the script draws a page of
issue rows at a time and an issue's findings only when asked, so 50,000 findings open in about
two seconds on a loaded 2-core machine. The first page is rendered on the server too, so the
page reads without script. Safe means finding text, which comes from scanned and possibly
hostile code, is escaped by Jinja's autoescape on the server and set as textContent by the
script (never as markup), links are drawn only from http(s) URLs, the data blocks (base64) hold
no `<`, and a Content-Security-Policy allows no script but our own (by hash), so even a missed
escape could not run anything.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any, Iterator

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from secpipe.outputs._common import (
    SEVERITIES,
    SHORT_NAMES,
    Origins,
    all_gated,
    clean,
    enforcing,
    gate_lines,
    sorted_findings,
    stage_counts,
    tool_error,
)
from secpipe.outputs._html_data import base64_lines, build
from secpipe.outputs._template_cache import template_cache
from secpipe.outputs.summary import run_fixes
from secpipe.pipeline.result import RunResult, StageResult, ToolResult

FILE_NAME = "report.html"
TEMPLATE = "report.html.j2"

# Rendering, filtering and sorting of the findings table (templates/report.js). Read once, so
# its hash for the Content-Security-Policy is computed from exactly the bytes the page carries.
_SCRIPT = (Path(__file__).parent / "templates" / "report.js").read_text(encoding="utf-8")
#: issue rows rendered on the server (the page without script, and before the script runs)
FIRST_PAGE = 200


_ENV: Environment | None = None


def environment() -> Environment:
    """Autoescape is on for every template, whatever its name: finding text is hostile."""
    global _ENV
    if _ENV is None:
        options = dict(autoescape=True, finalize=_finalize, trim_blocks=True,
                       lstrip_blocks=True)
        _ENV = Environment(loader=PackageLoader("secpipe.outputs", "templates"),
                           bytecode_cache=template_cache(options), **options)
    return _ENV


def _finalize(value: Any) -> Any:
    """Every printed value loses the control characters HTML cannot show (ESC, BEL...)."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return clean(value)


def render_html(run: RunResult) -> str:
    return "".join(html_pieces(run))


def write_html(run: RunResult, run_dir: Path) -> Path:
    """The page written as the template yields it (`render_html`'s text, piece by piece): the
    whole page as text and then as bytes (9 MB at 50,000 findings) was the run's peak."""
    from secpipe.outputs._stream import write_atomic

    return write_atomic(Path(run_dir) / FILE_NAME,
                        lambda fh: fh.writelines(html_pieces(run)), buffering=1 << 16)


def html_pieces(run: RunResult) -> Iterator[str]:
    """The page in pieces. The two data blocks are held gzipped (`_html_data.build`) and
    their base64 text is made as the page is written, in the place of the marker the
    template printed for each (a random token of this page, which no finding can name; the
    template prints it as a piece of its own, and not at all for a run without findings;
    tests/test_outputs_same_bytes.py compares the page with the blocks' text rendered)."""
    blocks: dict[str, list[bytes]] = {}
    context = html_context(run, blocks)
    pieces = environment().get_template(TEMPLATE).generate(**context)
    del context
    for piece in pieces:
        packed = blocks.pop(piece, None) if blocks else None
        if packed is None:
            yield piece
        else:
            yield from base64_lines(packed)


def html_context(run: RunResult, blocks: dict[str, list[bytes]] | None = None
                 ) -> dict[str, Any]:
    """The template's values. With `blocks`, each data block's value is a marker and the
    block's gzipped bytes are put in `blocks` under it (`html_pieces`); without, the value
    is the block's text."""
    origins = Origins(run)
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode()
    lines = gate_lines(run)
    ordered = sorted_findings(all_gated(run))
    total = len(ordered)
    tool_names = sorted({origins.tool_name(stage, g) for stage, g in ordered})
    # the blocks come gzipped: the rows and string tables of 50,000 findings (~40 MB) are
    # compressed as they are made, never held whole
    built = build(run, ordered, origins, FIRST_PAGE)
    del ordered, origins
    data_json = _block(built.data, blocks, "data")
    details_json = _block(built.details, blocks, "details")
    return {
        "run": run,
        "ctx": run.context,
        "verdict": run.verdict,
        "gate_lines": lines,
        "severities": [(s.name, SHORT_NAMES[s], int(s)) for s in SEVERITIES],
        "totals": _totals(run),
        "stages": [_stage(stage) for stage in run.stages],
        "findings": built.first,
        "total_findings": total,
        "groups_total": built.groups,
        "data_json": data_json,
        "details_json": details_json,
        "stage_names": [s.name for s in run.stages],
        "tool_names": tool_names,
        "expired": run.expired_suppressions,
        "fixes": [fix.as_dict() for fix in run_fixes(run)],   # one upgrade per package
        "script": Markup(_SCRIPT),  # our own constant, never data
        "csp": (f"default-src 'none'; style-src 'unsafe-inline'; "
                f"script-src 'sha256-{digest}'; img-src data:; base-uri 'none'; "
                f"form-action 'none'"),
    }


def _block(packed: list[bytes], blocks: dict[str, list[bytes]] | None, name: str) -> Markup:
    """The block's text (gzip + base64: no `<` in it), or with `blocks` its marker."""
    if blocks is None:
        return Markup("".join(base64_lines(packed)))
    marker = f"secpipe-block-{name}-{secrets.token_hex(16)}"
    blocks[marker] = packed
    return Markup(marker)


def _totals(run: RunResult) -> dict[str, Any]:
    gated = run.all_findings()
    counts = {s.name: 0 for s in SEVERITIES}
    for g in gated:
        counts[g.finding.severity.name] += 1
    return {
        "findings": len(gated),
        "counts": counts,
        "blocking": sum(len(s.blocking) for s in run.stages if enforcing(s)),
        "suppressed": sum(1 for g in gated if g.suppressed_by is not None),
    }


def _stage(stage: StageResult) -> dict[str, Any]:
    return {
        "name": stage.name,
        "status": stage.status.value,
        "mode": stage.mode,
        "fail_on": stage.fail_on.name,
        "duration": _seconds(stage.duration_s),
        "error": stage.error,
        "counts": stage_counts(stage),
        "blocking": len(stage.blocking),
        "enforcing": enforcing(stage),
        "suppressed": sum(1 for g in stage.findings if g.suppressed_by is not None),
        "tools": [_tool(t) for t in stage.tools],
    }


def _tool(tool: ToolResult) -> dict[str, Any]:
    return {
        "name": tool.tool,
        "status": tool.status.value,
        "version": tool.version or "",
        "exit_code": "" if tool.exit_code is None else tool.exit_code,
        "duration": _seconds(tool.duration_s),
        "error": tool_error(tool) if tool.error else None,
        "log_file": tool.log_file,
        "report_file": tool.report_file,
        "counts": tool.counts(),
    }


def _seconds(value: float) -> str:
    if value >= 60:
        return f"{int(value // 60)}m{value % 60:04.1f}s"
    return f"{value:.1f}s"
