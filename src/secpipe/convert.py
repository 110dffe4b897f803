"""`secpipe convert`: one report in, one normalised document out, no pipeline involved.

The conversion wraps the findings in a one-stage run so the same writers serve `convert` and
`run`: a SARIF file from `convert` is the SARIF file `run` would have written.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from enum import Enum
from typing import Any

from secpipe.formats import ReportFormatError, get_format, sniff
from secpipe.model import FingerprintKey, Severity, SourceContext, keyed, to_asff
from secpipe.model.asff import now_iso
from secpipe.pipeline.gate import judge_findings
from secpipe.pipeline.identity import assign_identities
from secpipe.pipeline.result import RunResult, StageResult, StageStatus, ToolResult, ToolStatus


class ConvertError(Exception):
    pass


def convert_report(data: bytes, *, source: str, from_: str, to: str,
                   ctx: SourceContext | None = None, key: FingerprintKey | None = None) -> str:
    """`key` fingerprints secrets (secpipe.secretkey); None: a random key per process, so
    secret findings' Ids do not survive the process."""
    if key is not None:
        with keyed(key):
            return convert_report(data, source=source, from_=from_, to=to, ctx=ctx)
    if from_ == "auto":
        fmt = sniff(data, source)
    else:
        try:
            fmt = get_format(from_)
        except KeyError as exc:
            raise ConvertError(str(exc.args[0])) from None
    findings = assign_identities(fmt.parse(data, source))
    stamp = now_iso()
    ctx = ctx or SourceContext(run_id="convert", stage="convert", observed_at=stamp)
    if to == "asff":
        return json.dumps([to_asff(f, ctx) for f in findings], indent=2, ensure_ascii=False)
    if to == "ocsf":
        from secpipe.model.ocsf import asff_to_ocsf
        return json.dumps([asff_to_ocsf(to_asff(f, ctx)) for f in findings], indent=2,
                          ensure_ascii=False)
    if to == "json":
        return json.dumps([_plain(asdict(f)) for f in findings], indent=2, ensure_ascii=False)
    run = _as_run(findings, fmt.name, ctx, stamp)
    if to == "sarif":
        from secpipe.outputs.sarif import render_sarif
        return render_sarif(run)
    if to == "junit":
        from secpipe.outputs.junit import render_junit
        out = render_junit(run)
        return out.decode("utf-8") if isinstance(out, bytes) else out
    raise ConvertError(f"unknown output {to!r}")


def _as_run(findings: list, fmt_name: str, ctx: SourceContext, stamp: str) -> RunResult:
    tools = sorted({f.tool for f in findings}) or [fmt_name]
    tool_results = [ToolResult(tool=t, stage="convert", status=ToolStatus.OK,
                               findings=[f for f in findings if f.tool == t]) for t in tools]
    gated = judge_findings(findings, stage="convert", fail_on=Severity.HIGH, suppressions=(),
                           ctx=replace(ctx, stage="convert"))
    stage = StageResult(name="convert", status=StageStatus.PASSED, fail_on=Severity.HIGH,
                        mode="advisory", tools=tool_results, findings=gated)
    return RunResult(run_id=ctx.run_id, root=".", run_dir=".", context=ctx, started_at=stamp,
                     finished_at=stamp, stages=[stage])


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name if isinstance(value, Severity) else value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


__all__ = ["ConvertError", "ReportFormatError", "convert_report"]
