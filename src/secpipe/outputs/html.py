"""`report.html`: the run for a person: one self-contained page, safe to open from CI artifacts.

Self-contained means no fetch of any kind (inline CSS, a few lines of inline JS that only
filter and sort; the page reads fine without them). Safe means finding text, which comes
from scanned and possibly hostile code, is escaped by Jinja's autoescape, links are drawn only
from http(s) URLs, and a Content-Security-Policy allows no script but our own (by hash), so
even a missed escape could not run anything.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

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
    link_for,
    secret_text,
    sorted_findings,
    stage_counts,
    tool_error,
    where,
    write_file,
)
from secpipe.outputs.summary import run_fixes
from secpipe.pipeline.result import RunResult, StageResult, ToolResult

FILE_NAME = "report.html"
TEMPLATE = "report.html.j2"

# Filtering and sorting of the findings table. Kept here, not in the template, so its hash
# for the Content-Security-Policy is computed from exactly the bytes the page carries.
_SCRIPT = """
(function () {
  var table = document.getElementById('findings');
  if (!table) { return; }
  var body = table.tBodies[0];
  var controls = document.querySelectorAll('[data-filter]');
  function apply() {
    var want = {};
    controls.forEach(function (c) { want[c.dataset.filter] = c.value; });
    var text = (want.text || '').toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var ok = (!want.severity || Number(row.dataset.rank) >= Number(want.severity)) &&
               (!want.stage || row.dataset.stage === want.stage) &&
               (!want.tool || row.dataset.tool === want.tool) &&
               (!want.state || row.dataset.state === want.state) &&
               (!text || row.textContent.toLowerCase().indexOf(text) !== -1);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.getElementById('shown').textContent = String(shown);
  }
  controls.forEach(function (c) { c.addEventListener('input', apply); });
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    if (!th.dataset.sort) { return; }
    th.tabIndex = 0;
    th.addEventListener('click', function () {
      var dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
      Array.prototype.forEach.call(heads, function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir;
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.key || a.cells[col].textContent;
        var y = b.cells[col].dataset.key || b.cells[col].textContent;
        var r = th.dataset.sort === 'num' ? Number(x) - Number(y) : x.localeCompare(y);
        return dir === 'asc' ? r : -r;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  document.body.classList.add('js');
})();
"""

_ENV: Environment | None = None


def environment() -> Environment:
    """Autoescape is on for every template, whatever its name: finding text is hostile."""
    global _ENV
    if _ENV is None:
        _ENV = Environment(
            loader=PackageLoader("secpipe.outputs", "templates"),
            autoescape=True,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _ENV


def _finalize(value: Any) -> Any:
    """Every printed value loses the control characters HTML cannot show (ESC, BEL...)."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return clean(value)


def render_html(run: RunResult) -> str:
    return environment().get_template(TEMPLATE).render(**html_context(run))


def write_html(run: RunResult, run_dir: Path) -> Path:
    return write_file(Path(run_dir) / FILE_NAME, render_html(run))


def html_context(run: RunResult) -> dict[str, Any]:
    origins = Origins(run)
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode()
    lines = gate_lines(run)
    findings = [_finding(run, stage, g, origins)
                for stage, g in sorted_findings(all_gated(run))]
    return {
        "run": run,
        "ctx": run.context,
        "verdict": run.verdict,
        "gate_lines": lines,
        "severities": [(s.name, SHORT_NAMES[s], int(s)) for s in SEVERITIES],
        "totals": _totals(run),
        "stages": [_stage(stage) for stage in run.stages],
        "findings": findings,
        "stage_names": [s.name for s in run.stages],
        "tool_names": sorted({f["tool"] for f in findings}),
        "expired": run.expired_suppressions,
        "fixes": [fix.as_dict() for fix in run_fixes(run)],   # one upgrade per package
        "script": Markup(_SCRIPT),  # our own constant, never data
        "csp": (f"default-src 'none'; style-src 'unsafe-inline'; "
                f"script-src 'sha256-{digest}'; img-src data:; base-uri 'none'; "
                f"form-action 'none'"),
    }


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


def _finding(run: RunResult, stage: StageResult, gated: Any, origins: Origins
             ) -> dict[str, Any]:
    f = gated.finding
    sup = gated.suppressed_by
    if sup is not None:
        state = "suppressed"
    elif gated.blocking:
        state = "blocking" if enforcing(stage) else "advisory"
    else:
        state = "open"
    loc = f.location
    return {
        "severity": f.severity.name,
        "short": SHORT_NAMES[f.severity],
        "rank": int(f.severity),
        "stage": gated.stage or stage.name,
        "tool": origins.tool_name(stage, gated),
        "rule": f.rule_id,
        "link": link_for(f),
        "where": where(f),
        "line": (loc.start_line or 0) if loc is not None else 0,
        "title": f.title.strip() or f.rule_id,
        "description": f.description.strip(),
        "remediation": f.remediation or "",
        "secret": secret_text(f),
        "state": state,
        "blocking": gated.blocking,
        "suppression": sup.describe() if sup is not None else "",
        "id": gated.asff_id,
        "issue": f.issue_key or f.fingerprint(),   # one root cause (pipeline.correlate)
        "related": list(f.related),
    }


def _seconds(value: float) -> str:
    if value >= 60:
        return f"{int(value // 60)}m{value % 60:04.1f}s"
    return f"{value:.1f}s"
