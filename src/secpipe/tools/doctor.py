"""What `secpipe doctor` and `secpipe tools install` show: plain rows and progress lines.

Kept apart from the CLI so the same rows can be asserted in tests and printed as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rich.console import Console
from rich.markup import escape

from secpipe.tools.probe import probe_many
from secpipe.tools.provision import install_many
from secpipe.tools.specs import DEFAULT_TOOLS, OPTIONAL_TOOLS


@dataclass(frozen=True)
class DoctorRow:
    name: str
    status: str  # ok | missing | broken | wrong-version
    required: bool  # the default pipeline needs it
    pinned: str
    version: str | None
    path: str | None
    hint: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def doctor_rows() -> list[DoctorRow]:
    rows: list[DoctorRow] = []
    for state in probe_many([*DEFAULT_TOOLS, *OPTIONAL_TOOLS]):
        rows.append(
            DoctorRow(
                name=state.name,
                status=str(state.status),
                required=state.name in DEFAULT_TOOLS,
                pinned=state.pinned,
                version=state.version,
                path=str(state.path) if state.path and state.ok else None,
                hint=" ".join(x for x in (state.reason or "", state.hint or "") if x)
                or state.by_hand,
            )
        )
    return rows


def install_with_progress(
    names: Sequence[str], *, force: bool, jobs: int, console: Console
) -> list[str]:
    """Install the named tools (default: the default pipeline's); returns the names that failed."""
    from secpipe.tools.specs import UnknownToolError

    wanted = list(names) or list(DEFAULT_TOOLS)
    try:
        with console.status(f"installing {', '.join(wanted)} (jobs={jobs})…"):
            results = install_many(
                wanted,
                jobs=jobs,
                force=force,
                log=lambda line: console.print(escape(line), highlight=False),
            )
    except UnknownToolError as exc:
        console.print(f"[bold red]error:[/bold red] {escape(str(exc))}")
        return wanted
    failed: list[str] = []
    for r in results:
        if r.ok:
            console.print(f"[green]✓[/green] {r.name} {r.version} {r.status} ({r.seconds:.0f}s)")
        else:
            failed.append(r.name)
            console.print(f"[bold red]✗[/bold red] {r.name}: {escape(r.error or 'failed')}")
    return failed
