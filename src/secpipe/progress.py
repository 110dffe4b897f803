"""Live progress of a run: a rich table on a terminal, one plain line per event elsewhere (CI).

Honest about waiting: a tool is "queued" until a slot frees and "running" only once it started
(its time counts from then), and secpipe's own work after the tools (scrubbing, hub, reports)
shows as a phase rather than as silence.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from secpipe.pipeline.result import StageResult, ToolResult, ToolStatus
from secpipe.pipeline.runner import Events
from secpipe.words import plural

if TYPE_CHECKING:  # rich's live display and spinners: imported only for a live table (~35 ms)
    from rich.live import Live

_STYLE = {ToolStatus.OK: "green", ToolStatus.ERROR: "bold red", ToolStatus.SKIPPED: "yellow"}


class Progress:
    """Turns runner events into a display; use as a context manager around the run."""

    def __init__(self, console: Console, *, live: bool | None = None) -> None:
        self.console = console
        self.live_mode = console.is_terminal if live is None else live
        # (stage, tool) -> (start time, or None while queued; result once finished)
        self.rows: dict[tuple[str, str], tuple[float | None, ToolResult | None]] = {}
        self.phase: str | None = None
        self._phase_start = 0.0
        self._live: Live | None = None

    def events(self) -> Events:
        return Events(tool_started=self._started, tool_finished=self._finished,
                      stage_finished=self._stage, tool_queued=self._queued,
                      phase=self._phase)

    def _queued(self, stage: str, tool: str) -> None:
        self.rows[(stage, tool)] = (None, None)
        if self._live is not None:
            self._live.update(self._render())
        else:
            self.console.print(f"[dim]…[/dim] {stage}/{tool} queued", highlight=False)

    def _phase(self, name: str) -> None:
        now = time.monotonic()
        if self._live is None and self.phase is not None:
            self.console.print(f"[dim]…[/dim] {self.phase} took {now - self._phase_start:.1f}s",
                               highlight=False)
        self.phase, self._phase_start = name, now
        if self._live is not None:
            self._live.update(self._render())
        else:
            self.console.print(f"[dim]…[/dim] {name}", highlight=False)

    def __enter__(self) -> "Progress":
        if self.live_mode:
            from rich.live import Live

            self._live = Live(self._render(), console=self.console, refresh_per_second=8,
                              transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is None and self.phase is not None:
            self.console.print(f"[dim]…[/dim] {self.phase} took "
                               f"{time.monotonic() - self._phase_start:.1f}s", highlight=False)
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)

    def _started(self, stage: str, tool: str) -> None:
        self.rows[(stage, tool)] = (time.monotonic(), None)
        if self._live is not None:
            self._live.update(self._render())
        else:
            self.console.print(f"[dim]…[/dim] {stage}/{tool} started", highlight=False)

    def _finished(self, result: ToolResult) -> None:
        start, _ = self.rows.get((result.stage, result.tool), (time.monotonic(), None))
        self.rows[(result.stage, result.tool)] = (start, result)
        if self._live is not None:
            self._live.update(self._render())
            return
        style = _STYLE[result.status]
        detail = (plural(len(result.findings), "finding") if result.status is ToolStatus.OK
                  else escape(result.error or ""))
        self.console.print(
            f"[{style}]{_mark(result.status)}[/{style}] {result.stage}/{result.tool} "
            f"{result.status.value} in {result.duration_s:.1f}s: {detail}", highlight=False,
            soft_wrap=True)

    def _stage(self, result: StageResult) -> None:
        if self._live is None and result.status.value == "skipped" and result.error:
            # a stage skipped for its needs or its `when:` (one whose tools all had nothing to
            # scan was already shown tool by tool)
            self.console.print(f"[yellow]-[/yellow] {result.name} skipped: "
                               f"{escape(result.error)}", highlight=False)

    def _render(self) -> Table:
        table = Table(title="secpipe run", show_edge=False, expand=False)
        for col in ("stage", "tool", "status", "time", "findings"):
            table.add_column(col)
        now = time.monotonic()
        for (stage, tool), (start, result) in self.rows.items():
            if result is None and start is None:
                status: object = "[dim]queued[/dim]"
                elapsed, found = 0.0, ""
            elif result is None:
                from rich.spinner import Spinner

                status = Spinner("dots", text="running")
                elapsed, found = now - (start or now), ""
            else:
                style = _STYLE[result.status]
                status = f"[{style}]{result.status.value}[/{style}]"
                elapsed, found = result.duration_s, str(len(result.findings))
                if result.status is ToolStatus.ERROR:
                    found = escape((result.error or "")[:60])
            table.add_row(stage, tool, status, f"{elapsed:.1f}s", found)
        if self.phase is not None:
            table.caption = f"secpipe: {self.phase} ({now - self._phase_start:.1f}s)"
        return table


def _mark(status: ToolStatus) -> str:
    return {ToolStatus.OK: "✓", ToolStatus.ERROR: "✗", ToolStatus.SKIPPED: "-"}[status]
