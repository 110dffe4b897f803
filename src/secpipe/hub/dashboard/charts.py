"""Chart geometry for the overview, computed here and drawn as inline SVG by the templates.

The page may load nothing from anywhere (closed network, strict CSP), so there is no chart
library: this module turns counts into rectangles and the template writes `<rect>`s, with
colours from CSS classes. Keeping the numbers here and the markup in Jinja means every label
(a stage or tool name is user data) passes through autoescape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from secpipe.hub.dashboard.filters import SEVERITIES


@dataclass
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    css: str = ""
    href: str = ""
    title: str = ""


@dataclass
class BarChart:
    """Horizontal bars, one per label."""

    width: int
    height: int
    label_width: int
    bars: list[Bar] = field(default_factory=list)


def hbars(rows: Sequence[tuple[str, int, str, str]], *, width: int = 460, row: int = 22,
          label_width: int = 150) -> BarChart:
    """rows: (label, value, css class, href). Bars scale to the largest value."""
    top = max((v for _, v, _, _ in rows), default=0) or 1
    span = width - label_width - 60
    chart = BarChart(width=width, height=max(row, row * len(rows)) + 4, label_width=label_width)
    for i, (label, value, css, href) in enumerate(rows):
        w = 0.0 if value == 0 else max(2.0, span * value / top)
        chart.bars.append(Bar(label=label, value=value, x=label_width, y=i * row + 2,
                              width=round(w, 1), height=row - 6, css=css, href=href,
                              title=f"{label}: {value}"))
    return chart


@dataclass
class Column:
    label: str           # short run label under the column
    href: str
    x: float
    width: float
    title: str
    segments: list[Bar] = field(default_factory=list)
    total: int = 0


@dataclass
class TrendChart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    left: int
    columns: list[Column] = field(default_factory=list)
    ticks: list[tuple[float, int]] = field(default_factory=list)   # (y, value)
    legend: list[tuple[str, str]] = field(default_factory=list)    # (css, label)
    new_line: str = ""          # SVG polyline points for "new in this run"
    new_points: list[tuple[float, float, int]] = field(default_factory=list)


def _nice_ceiling(n: int) -> int:
    if n <= 5:
        return 5
    step = 10 ** (len(str(n)) - 1)
    for mult in (1, 2, 2.5, 5, 10):
        if n <= mult * step:
            return int(mult * step)
    return n


def trend(points: Sequence[Mapping[str, Any]], *, width: int = 720, height: int = 240
          ) -> TrendChart:
    """points, oldest first: {label, href, title, counts: {SEVERITY: n}, new: int|None}.

    One stacked column per run (findings the run reported, by severity) and a line for the
    findings that were new in that run.
    """
    left, top, bottom = 44, 10, height - 28
    chart = TrendChart(width=width, height=height, plot_top=top, plot_bottom=bottom, left=left,
                       legend=[(f"sev-{s}", s.title()) for s in SEVERITIES])
    if not points:
        return chart
    totals = [sum(int(p["counts"].get(s, 0) or 0) for s in SEVERITIES) for p in points]
    news = [int(p.get("new") or 0) for p in points]
    ceiling = _nice_ceiling(max([*totals, *news, 1]))
    scale = (bottom - top) / ceiling
    slot = (width - left - 8) / len(points)
    bar_w = max(4.0, min(36.0, slot * 0.7))
    chart.ticks = [(round(bottom - ceiling * f * scale, 1), int(ceiling * f))
                   for f in (0, 0.25, 0.5, 0.75, 1)]
    line: list[str] = []
    for i, (p, total) in enumerate(zip(points, totals)):
        x = left + i * slot + (slot - bar_w) / 2
        col = Column(label=str(p.get("label", "")), href=str(p.get("href", "")), x=round(x, 1),
                     width=round(bar_w, 1), title=str(p.get("title", "")), total=total)
        y = float(bottom)
        for sev in reversed(SEVERITIES):           # least severe at the bottom
            n = int(p["counts"].get(sev, 0) or 0)
            if not n:
                continue
            h = n * scale
            y -= h
            col.segments.append(Bar(label=sev, value=n, x=col.x, y=round(y, 1),
                                    width=col.width, height=round(h, 1), css=f"sev-{sev}",
                                    title=f"{sev}: {n}"))
        chart.columns.append(col)
        if p.get("new") is not None:
            cx, cy = round(x + bar_w / 2, 1), round(bottom - news[i] * scale, 1)
            line.append(f"{cx},{cy}")
            chart.new_points.append((cx, cy, news[i]))
    chart.new_line = " ".join(line)
    return chart
