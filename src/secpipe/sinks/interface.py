"""The sink seam: where a finished run's findings and reports go besides the local files.

A sink is handed the run after every local output is written, so a sink that fails (no
credentials, throttled beyond its budget, a finding AWS refused) never costs the local record;
the run then exits 2 naming the sink, because findings that were meant to reach Security Hub
and did not must not read as a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from secpipe.pipeline.result import RunResult


class SinkError(Exception):
    """A sink could not do its job; the message says which sink and why."""


@dataclass
class SinkOutcome:
    sink: str
    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


class Sink(Protocol):
    name: str

    def deliver(self, run: RunResult, run_dir: Path) -> SinkOutcome:
        """Send the run; raise SinkError when nothing could be sent at all."""
        ...


class SinksFailed(Exception):
    """Raised by the pipeline after the local outputs are written when a sink failed.

    Carries the run so the CLI can still show its result before reporting the failure.
    """

    def __init__(self, run: RunResult, outcomes: list[SinkOutcome]) -> None:
        self.run = run
        self.outcomes = outcomes
        failed = [o for o in outcomes if not o.ok]
        super().__init__("; ".join(f"sink {o.sink} failed: {o.message}" for o in failed)
                         + " (the local outputs are written)")
