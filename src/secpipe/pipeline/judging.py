"""When a stage whose tools are done is judged while other tools still run.

A stage is judged (noise, correlation, the gate: `runner._judge`) in a digest turn of its own
(`scancache.turns`), and the judging copies the stage's findings. Judged while other tools
run, that copy sits beside what the run keeps until its last tool is done: the scan cache's
scrubbed copies of the reports, the clear values' automaton, the hints. At 50,000 findings
the secrets stage judged beside checkov's digest was the run's peak (205-212 MB); judged
once every tool was done and those were dropped (`runner._scrub_values`), 168-178 MB.

Judging early pays only where it overlaps a tool's own process (a scanner running in its
subprocess, on another core); beside a digest it cannot: both want the turn, one after the
other. So `run_plan` takes the turn for a stage as soon as the stage is done, and then:

- judges it if no tool is still running, or a pending stage could start once it is
  judged (`needed_now`: a stage that needs it never waits for the rest of the run);
- else judges it unless a running tool's output was digested meanwhile (the stage waited
  for that digest's turn): that tool ends next, and then the stage is judged in the next
  turn, with the tools still running overlapped, or after the values' scrub if none is.

What is put off is only what would have waited for a digest's turn anyway: the wall time of
a run is unchanged, and a stage's duration stays its running time (first tool's start to
last tool's end) plus its own judging, not the time it waited. A stage put off is judged with
the clear values its first turn saw (what it was judged with at once before), not with those
of tools that ended meanwhile: its correlation and the grading that follows it are the same.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from secpipe.pipeline.plan import PlannedStage
from secpipe.pipeline.result import StageResult


def needed_now(stage: PlannedStage, judging: Iterable[PlannedStage],
               pending: Mapping[str, PlannedStage], done: Mapping[str, StageResult]) -> bool:
    """Whether a pending stage that needs `stage` could start once the stages `judging` (done,
    to be judged now or put off; `stage` among them) are judged: its other needs are judged
    or among them."""
    ready = set(done) | {s.name for s in judging}
    return any(stage.name in p.needs and all(n in ready for n in p.needs)
               for p in pending.values())


__all__ = ["needed_now"]
