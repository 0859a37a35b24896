"""Chart geometry for inline SVG: numbers in, coordinates out (pure; the templates draw).

Three shapes cover the insights page: an interval plot (a lift and its 95% interval per
metric, with the zero line), horizontal bars (counts, per-arm means) and lines over days
(rates from 0 to 1). Every chart also has a table beside it on the page, so nothing is
lost without SVG, and labels are text the template escapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 760
LABEL = 180  # left margin for row labels
ROW = 26
VALUE = 240  # right margin of an interval chart, for the figures


@dataclass(frozen=True)
class Interval:
    label: str
    y: float
    low: float  # x of the interval's ends and of the point estimate
    high: float
    point: float
    text: str  # the figures, printed at the right


@dataclass
class IntervalChart:
    rows: list[Interval] = field(default_factory=list)
    zero: float = 0.0
    height: float = 0.0
    width: float = WIDTH


def interval_chart(rows: Sequence[tuple[str, float, float, float, str]]) -> IntervalChart:
    """``rows``: (label, low, estimate, high, text). The axis spans every interval and 0."""
    chart = IntervalChart(height=ROW * len(rows) + 10)
    if not rows:
        return chart
    lo = min(0.0, *(r[1] for r in rows))
    hi = max(0.0, *(r[3] for r in rows))
    span = (hi - lo) or 1.0
    lo, hi = lo - span * 0.05, hi + span * 0.05
    plot = WIDTH - LABEL - VALUE

    def x(value: float) -> float:
        return round(LABEL + (value - lo) / (hi - lo) * plot, 1)

    chart.zero = x(0.0)
    for i, (label, low, point, high, text) in enumerate(rows):
        chart.rows.append(Interval(label, ROW * i + ROW / 2 + 4, x(low), x(high), x(point),
                                   text))
    return chart


@dataclass(frozen=True)
class Bar:
    label: str
    y: float
    width: float
    text: str


@dataclass
class BarChart:
    bars: list[Bar] = field(default_factory=list)
    height: float = 0.0
    width: float = WIDTH
    left: float = LABEL


def bar_chart(items: Sequence[tuple[str, float, str]], top: float | None = None) -> BarChart:
    """``items``: (label, value >= 0, text). Bars scale to ``top`` (default: the largest)."""
    chart = BarChart(height=ROW * len(items) + 4)
    largest = top if top is not None else max((v for _, v, _ in items), default=0.0)
    plot = WIDTH - LABEL - 90
    for i, (label, value, text) in enumerate(items):
        width = 0.0 if largest <= 0 else round(max(0.0, value) / largest * plot, 1)
        chart.bars.append(Bar(label, ROW * i + 3, width, text))
    return chart


@dataclass(frozen=True)
class Line:
    name: str
    points: str  # "x,y x,y ..." for <polyline>, numbers only
    dots: list[tuple[float, float]]
    css: str  # a class from console.css (no inline style under the CSP)


@dataclass
class LineChart:
    lines: list[Line] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, day label)
    grid: list[tuple[float, str]] = field(default_factory=list)  # (y, value label)
    width: float = WIDTH
    height: float = 180.0
    left: float = 40.0
    bottom: float = 150.0


def line_chart(days: Sequence[str],
               series: Sequence[tuple[str, str, Sequence[float | None]]]) -> LineChart:
    """Lines over ``days`` of values in [0, 1]; ``series``: (name, css class, values), a
    None value leaves a gap in the dots and is skipped by the line."""
    chart = LineChart()
    plot_w, plot_h = WIDTH - 60.0, chart.bottom - 10.0
    step = plot_w / max(len(days) - 1, 1)

    def at(i: int, value: float) -> tuple[float, float]:
        return (round(chart.left + i * step, 1),
                round(chart.bottom - min(max(value, 0.0), 1.0) * plot_h, 1))

    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        chart.grid.append((round(chart.bottom - fraction * plot_h, 1), f"{fraction:.0%}"))
    every = max(1, len(days) // 7)
    chart.ticks = [(at(i, 0.0)[0], day) for i, day in enumerate(days) if i % every == 0]
    for name, css, values in series:
        dots = [at(i, v) for i, v in enumerate(values) if v is not None]
        chart.lines.append(Line(name, " ".join(f"{x},{y}" for x, y in dots), dots, css))
    return chart
