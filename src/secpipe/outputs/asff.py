"""`findings.asff.json`: every finding of the run as Security Hub would receive it.

Suppressed findings are kept (Workflow SUPPRESSED with the reason in a Note) rather than
dropped: Security Hub then records that a person accepted the risk, and a finding whose
suppression later expires comes back as the same Id instead of looking new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from secpipe.model import to_asff
from secpipe.model.asff import LIMITS, clip
from secpipe.outputs._common import Origins, iso_or_none
from secpipe.outputs._stream import json_chunks, write_chunks
from secpipe.pipeline.result import GatedFinding, RunResult, StageResult

FILE_NAME = "findings.asff.json"
NOTE_AUTHOR = "secpipe"


def render_asff(run: RunResult) -> str:
    return "".join(json_chunks(iter_asff(run), spread=1)) + "\n"


def write_asff(run: RunResult, run_dir: Path) -> Path:
    """Streamed: one finding per line, never the whole file in memory (outputs._stream)."""
    return write_chunks(Path(run_dir) / FILE_NAME, json_chunks(iter_asff(run), spread=1))


def asff_findings(run: RunResult) -> list[dict[str, Any]]:
    """One ASFF object per gated finding, in stage order."""
    return list(iter_asff(run))


def iter_asff(run: RunResult) -> Iterator[dict[str, Any]]:
    """:func:`asff_findings` one at a time."""
    origins = Origins(run)
    # One timestamp for the whole file, from the run itself: rendering twice gives the same
    # bytes, and Security Hub sees every finding of a run observed at the same moment.
    stamp = (iso_or_none(run.context.observed_at) or iso_or_none(run.finished_at)
             or iso_or_none(run.started_at))
    for stage in run.stages:
        for gated in stage.findings:
            yield gated_to_asff(run, stage, gated, origins=origins, updated_at=stamp)


def gated_to_asff(run: RunResult, stage: StageResult, gated: GatedFinding, *,
                  origins: Origins | None = None, updated_at: str | None = None) -> dict:
    origins = origins or Origins(run)
    ctx = origins.context(run, stage, gated)
    obj = to_asff(gated.finding, ctx, updated_at=updated_at)
    if gated.asff_id:
        # The gate's id is the one the hub and baselines key on; keep the file in step.
        obj["Id"] = clip(gated.asff_id, LIMITS["Id"])
    # Whether it blocked is the gate's judgement of this run, not a fact about the finding:
    # it stays out of the finding (it would ride along into the hub and back via from_asff).
    sup = gated.suppressed_by
    # a hub's suppression is the hub's own state (triage or its rules, which re-apply on
    # import): the run does not assert it again, which a ci key could not do anyway
    if sup is not None and sup.source != "hub":
        obj["Workflow"] = {"Status": "SUPPRESSED"}
        obj["Note"] = {
            "Text": clip(f"Suppressed by secpipe: {sup.describe()}", LIMITS["Note.Text"]),
            "UpdatedBy": NOTE_AUTHOR,
            "UpdatedAt": obj["UpdatedAt"],
        }
    return obj
