"""Server-drawn SVG charts: horizontal bars with 95% interval bars, no JavaScript.

The DfE dashboard's fallback for a browser without scripts (inside `<noscript>`); with scripts the
chart is drawn by the vendored Chart.js (static/dashboard.js). Drawn on the server so that it works
without scripts and passes a strict Content Security Policy (presentation attributes only, no inline
style). Accessible: the chart is an image
with a title and a description, each bar carries its own text, and the table beside it holds the same
numbers for anyone who cannot see the chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

BAR = "#1d70b8"
BAR_LOW_RELIABILITY = LIGHT = "#8eb8dc"
INK = "#0b0c0c"
GRID = "#b1b4b6"
MUTED = "#505a5f"

ROW_HEIGHT = 24
TOP = 34
BOTTOM = 46
LABEL_WIDTH = 160
RIGHT_PAD = 24
MAX_LABEL_CHARS = 24


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    low: float | None
    high: float | None
    low_reliability: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _format(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}"


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _line(x1: float, y1: float, x2: float, y2: float, width: float) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{INK}" stroke-width="{width}"/>'


def _text(x: float, y: float, text: str) -> str:
    return f'<text x="{x}" y="{y}" font-size="12" fill="{INK}">{escape(text)}</text>'


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    description: str,
    percent: bool,
    width: int = 520,
    chart_id: str = "chart",
) -> str:
    """An SVG document fragment: one horizontal bar per row, its 95% interval as an error bar."""
    lows = [b.low if b.low is not None else b.value for b in bars] + [b.value for b in bars] + [0.0]
    highs = [b.high if b.high is not None else b.value for b in bars] + [b.value for b in bars]
    lo, hi = min(lows), max(highs + [0.0])
    if percent:
        lo, hi = max(lo, 0.0), min(max(hi, 0.01), 1.0)
    ticks = nice_ticks(lo, hi)
    lo, hi = ticks[0], ticks[-1]
    plot_left, plot_right = LABEL_WIDTH, width - RIGHT_PAD
    height = TOP + ROW_HEIGHT * max(len(bars), 1) + BOTTOM

    def x(value: float) -> float:
        return round(plot_left + (value - lo) / (hi - lo) * (plot_right - plot_left), 2)

    out = [
        f'<svg class="app-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    bottom = TOP + ROW_HEIGHT * max(len(bars), 1)
    for tick in ticks:
        tx = x(tick)
        out.append(
            f'<line x1="{tx}" y1="{TOP - 6}" x2="{tx}" y2="{bottom}" stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{tx}" y="{TOP - 12}" text-anchor="middle" font-size="12" fill="{MUTED}">'
            f"{escape(_format(tick, percent))}</text>"
        )
    zero = x(0.0) if lo <= 0 <= hi else x(lo)
    for i, bar in enumerate(bars):
        top = TOP + i * ROW_HEIGHT
        mid = top + ROW_HEIGHT / 2
        value = min(max(bar.value, lo), hi)
        left, right = sorted((zero, x(value)))
        fill = BAR_LOW_RELIABILITY if bar.low_reliability else BAR
        interval = (
            f" (95% interval {_format(bar.low, percent)} to {_format(bar.high, percent)})"
            if bar.low is not None and bar.high is not None
            else ""
        )
        note = ", low reliability" if bar.low_reliability else ""
        out.append("<g>")
        spoken = f"{bar.label}: {_format(bar.value, percent)}{interval}{note}"
        out.append(f"<title>{escape(spoken)}</title>")
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{mid + 4}" text-anchor="end" font-size="12" fill="{INK}">'
            f"{escape(_short(bar.label))}</text>"
        )
        length = round(max(right - left, 0.5), 2)
        out.append(
            f'<rect x="{left}" y="{top + 4}" width="{length}" height="{ROW_HEIGHT - 8}" fill="{fill}"/>'
        )
        if bar.low is not None and bar.high is not None:
            a, b = x(min(max(bar.low, lo), hi)), x(min(max(bar.high, lo), hi))
            out.append(_line(a, mid, b, mid, 1.5))
            out += [_line(cap, mid - 5, cap, mid + 5, 1.5) for cap in (a, b)]
        out.append("</g>")
    out.append(_line(zero, TOP - 6, zero, bottom, 1))
    legend_y, left = bottom + 26, 8
    out.append(f'<rect x="{left}" y="{legend_y - 10}" width="14" height="12" fill="{BAR}"/>')
    out.append(_text(left + 20, legend_y, "noisy value"))
    out.append(f'<rect x="{left + 110}" y="{legend_y - 10}" width="14" height="12" fill="{LIGHT}"/>')
    out.append(_text(left + 130, legend_y, "low reliability (u)"))
    out.append(_line(left + 262, legend_y - 4, left + 290, legend_y - 4, 1.5))
    out.append(_text(left + 296, legend_y, "95% interval (noise only)"))
    out.append("</svg>")
    return "\n".join(out)
