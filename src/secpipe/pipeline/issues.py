"""The run's noise and correlation steps, in the order the gate needs them.

Per stage, when its tools are done and before the gate: drop what is not a secret
(:mod:`secpipe.pipeline.noise`), correlate (:mod:`secpipe.pipeline.correlate`), then grade
entropy-only secrets (which needs the correlation). Once every stage is done, one more
correlation over the whole run joins findings of different stages (hadolint in `dockerfile`,
checkov in `iac`); it changes issue keys and RelatedFindings only, never a severity or a gate
decision already taken.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import AbstractSet

from secpipe.gcpause import paused
from secpipe.model import Finding, FingerprintKey, SourceContext
from secpipe.model.secret import current_key
from secpipe.model.asff import finding_id
from secpipe.pipeline.correlate import SecretValues, correlate
from secpipe.pipeline.noise import drop_not_secrets, grade_entropy
from secpipe.pipeline.result import RunResult, ToolResult


def prepare_stage(tools: list[ToolResult], *, root: str | Path | None, ctx: SourceContext,
                  values: AbstractSet[str]) -> list[Finding]:
    """Filter, correlate and grade a stage's findings; each tool keeps its own (updated)
    list and the count of what was filtered. Returns the stage's findings for the gate."""
    with paused():   # copies of every finding, no cycle among them (secpipe.gcpause)
        return _prepare_stage(tools, root=root, ctx=ctx, values=values)


def _prepare_stage(tools: list[ToolResult], *, root: str | Path | None, ctx: SourceContext,
                   values: AbstractSet[str]) -> list[Finding]:
    kept_per_tool: list[list[Finding]] = []
    for tool in tools:
        kept, dropped = drop_not_secrets(tool.findings, Path(root) if root else None)
        tool.filtered = dict(sorted(dropped.items()))
        kept_per_tool.append(kept)
    flat = [f for kept in kept_per_tool for f in kept]
    # in place: the stage's findings are the tools' lists', replaced below by the result
    correlated = correlate(flat, id_of=lambda i, f: finding_id(f, ctx),
                           secret_values=secret_values(values), in_place=True)
    graded = grade_entropy(correlated)
    start = 0
    for tool, kept in zip(tools, kept_per_tool):
        tool.findings = graded[start:start + len(kept)]
        start += len(kept)
    return graded


def correlate_run(run: RunResult, values: AbstractSet[str]) -> None:
    """Issue keys and RelatedFindings across stages, in place (gate decisions unchanged)."""
    # the gated findings themselves, not (stage, gated) pairs: 3 MB of tuples at 50,000
    # findings, at the correlation's peak
    items = [gated for stage in run.stages for gated in stage.findings]
    if not items:
        forget_values()
        return
    try:
        with paused():
            # in place: the gated findings and the tools' lists hold the same objects
            updated = correlate([g.finding for g in items],
                                id_of=lambda i, f: items[i].asff_id,
                                secret_values=secret_values(values), in_place=True)
    finally:
        forget_values()   # the run's last correlation: its clear values are not kept
    swap: dict[int, Finding] = {}
    for gated, finding in zip(items, updated):
        if finding is not gated.finding:   # a copy (a finding listed twice)
            swap[id(gated.finding)] = finding
            gated.finding = finding
    if swap:
        for stage in run.stages:
            for tool in stage.tools:
                tool.findings = [swap.get(id(f), f) for f in tool.findings]


# The run's SecretValues, grown stage by stage: each stage's correlation and the run's last
# one index the same (growing) values, three HMACs and a SHA-1 each, and at 25,000 values
# building the index three times was a tenth of the correlation's time.
_VALUES: list[tuple[FingerprintKey, SecretValues]] = []
_LOCK = threading.Lock()


def secret_values(values: AbstractSet[str]) -> SecretValues:
    """`SecretValues(values)` under the active key, from the previous stage's index when it
    covered no value outside `values` (the run's values only grow)."""
    key = current_key()
    with _LOCK:
        index = _VALUES[0][1] if _VALUES and _VALUES[0][0] is key else None
        if index is None or len(index.values) > len(values) \
                or not all(v in values for v in index.values):
            for _, former in _VALUES:   # its values' hashes, as when it was built
                former.record_hashes()
            index = SecretValues()
        index.add(values)
        _VALUES[:] = [(key, index)]
        return index


def forget_values() -> None:
    """Drop the run's index (its clear values) once the run's correlation is done, its
    values' SHA-1s and their keyed digests recorded in the key first, for the run's hashes'
    pass (`SecretValues.record_hashes`: recorded as each value was indexed, they were 6.5 MB
    at 25,000 values through the judging and the correlation)."""
    with _LOCK:
        for _, index in _VALUES:
            index.record_hashes()
        _VALUES.clear()
