"""How `secpipe findings list` prints: a table that fits the terminal, or full Ids.

The table never wraps a row over several lines (at 80 columns it used to take 4-6 lines per
finding and cut the Id to `secpipe/fa…`, which no one could paste into `findings update`).
Each cell is cut with an ellipsis instead, and the full Ids are one option away: `--ids` prints
only them, one per line (for xargs), and `--wide` puts the Id first on each line, never cut.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import click
from rich.console import Console
from rich.text import Text

from secpipe.textsafe import one_line
from secpipe.words import plural

SHORT = {"CRITICAL": "CRIT", "HIGH": "HIGH", "MEDIUM": "MED", "LOW": "LOW",
         "INFORMATIONAL": "INFO"}
STYLE = {"CRITICAL": "bold white on red", "HIGH": "bold red", "MEDIUM": "yellow", "LOW": "cyan",
         "INFORMATIONAL": "dim"}


def _where(row: Mapping[str, Any]) -> str:
    pf = row.get("ProductFields") or {}
    where = pf.get("secpipe/Path") or ((row.get("Resources") or [{}])[0].get("Id", ""))
    if pf.get("secpipe/StartLine"):
        where += ":" + pf["secpipe/StartLine"]
    return where


def _tool(row: Mapping[str, Any]) -> str:
    return (row.get("ProductFields") or {}).get("secpipe/Tool", row.get("ProductName", ""))


def _plain(text: object) -> str:
    """A scanner's text for the terminal: no escape sequence, control or bidi character
    (secpipe.textsafe), one line."""
    return " ".join(one_line(text or "").split())


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def print_findings(rows: Sequence[Mapping[str, Any]], *, ids_only: bool = False,
                   wide: bool = False, more: bool = False) -> None:
    if ids_only:
        for row in rows:
            click.echo(_plain(row["Id"]))
        return
    console = Console()
    if wide:
        for row in rows:
            label = row["Severity"]["Label"]
            line = Text(_plain(row["Id"]) + "  ")
            line.append(f"{SHORT.get(label, label):<4}", style=STYLE.get(label, ""))
            for part in ((row.get("Workflow") or {}).get("Status", ""), _tool(row),
                         _where(row), row["Title"]):
                line.append("  " + _plain(part))
            console.print(line, soft_wrap=True, highlight=False)
    else:
        width = max(60, console.width)
        wf_w = min(10, max([8] + [len((r.get("Workflow") or {}).get("Status", "")) for r in rows]))
        tool_w = min(14, max([4] + [len(_tool(r)) for r in rows]))
        rest = width - (4 + 1) - (wf_w + 1) - (tool_w + 1)
        where_w = min(max([5] + [len(_where(r)) for r in rows]), max(12, rest * 2 // 5))
        title_w = rest - where_w - 1
        fixed = [("sev", 4), ("workflow", wf_w), ("tool", tool_w), ("where", where_w)]
        header = " ".join(f"{name:<{w}}" for name, w in fixed) + " title"
        console.print(Text(header, style="bold"), highlight=False)
        for row in rows:
            label = row["Severity"]["Label"]
            cells = [(row.get("Workflow") or {}).get("Status", ""), _tool(row), _where(row)]
            line = Text(f"{SHORT.get(label, label):<4}", style=STYLE.get(label, ""))
            for text, (_, w) in zip(cells, fixed[1:]):
                line.append(" " + _cut(_plain(text), w).ljust(w))
            line.append(" " + _cut(_plain(row["Title"]), title_w))
            console.print(line, highlight=False, no_wrap=True, overflow="ignore")
    hint = "" if wide or not rows else " (full Ids: --ids or --wide)"
    Console(stderr=True).print(plural(len(rows), "finding") + hint
                               + (" (more: raise --limit)" if more else ""), highlight=False)
