"""The school report's interval charts: each measure's school value beside its similar schools' and
England's, their 95% intervals drawn as whiskers, as DfE's attendance dashboard draws them.

Drawn on the server as inline SVG (presentation attributes only), so that it needs no script and
passes the console's Content Security Policy. The chart is an image with a title and a description,
each bar has its own spoken text, and the page's table holds the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

from gateway.console.charts import nice_ticks

INK = "#0b0c0c"
GRID = "#b1b4b6"
MUTED = "#505a5f"
#: GOV.UK colours, each at least 3:1 against white (WCAG 1.4.11), the whiskers dark against each.
SERIES = (
    ("school", "This school", "#1d70b8"),
    ("similar_schools", "Similar schools", "#28a197"),
    ("england", "England", "#6f72af"),
)

WIDTH = 640
LABEL_WIDTH = 190
RIGHT_PAD = 30
BAR_HEIGHT = 14
BAR_GAP = 4
GROUP_GAP = 14
HEADING = 18
TOP = 30
BOTTOM = 44


@dataclass(frozen=True)
class Point:
    value: float
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class Group:
    label: str
    points: tuple[Point | None, ...]  # one per series, None where there is no value


def _pct(value: float) -> str:
    return f"{value:.1f}%"


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{INK}" stroke-width="1.5"/>'


def groups_of(measures: Sequence[dict[str, Any]], window: str, label: Any) -> list[Group]:
    """The all-pupils measures of one window, one group each (the pupil groups stay in the table)."""
    out = []
    for m in measures:
        if m["window"] != window or m["dimension"] != "all":
            continue
        points: list[Point | None] = [None if m["school"] is None else Point(float(m["school"]))]
        for scope in ("similar_schools", "england"):
            s = m[scope]
            points.append(None if not s else Point(float(s["value"]), float(s["lower"]), float(s["upper"])))
        out.append(Group(label(m["measure"]), tuple(points)))
    return out


def interval_chart(groups: Sequence[Group], *, title: str, chart_id: str, school_label: str) -> Markup:
    """An SVG fragment: per measure, a bar for the school and one each for similar schools and
    England with their intervals as whiskers."""
    names = [school_label, *(name for _, name, _ in SERIES[1:])]
    tops = [p.upper if p.upper is not None else p.value for g in groups for p in g.points if p is not None]
    ticks = nice_ticks(0.0, max([*tops, 1.0]))
    hi = ticks[-1]
    plot_left, plot_right = LABEL_WIDTH, WIDTH - RIGHT_PAD
    group_height = HEADING + len(SERIES) * (BAR_HEIGHT + BAR_GAP) + GROUP_GAP
    bottom = TOP + group_height * max(len(groups), 1)
    height = bottom + BOTTOM

    def x(value: float) -> float:
        return round(plot_left + min(max(value, 0.0), hi) / hi * (plot_right - plot_left), 2)

    out = [
        f'<svg class="app-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'data-testid="{chart_id}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">Each measure as a bar for {escape(school_label)} and for similar '
        "schools and England, whose whiskers show the 95% interval of their noisy estimate. The table "
        "below holds the same numbers.</desc>",
    ]
    for tick in ticks:
        tx = x(tick)
        out.append(f'<line x1="{tx}" y1="{TOP - 6}" x2="{tx}" y2="{bottom}" stroke="{GRID}" '
                   'stroke-width="1"/>')
        out.append(f'<text x="{tx}" y="{TOP - 12}" text-anchor="middle" font-size="12" fill="{MUTED}">'
                   f"{escape(_pct(tick))}</text>")
    for i, group in enumerate(groups):
        top = TOP + i * group_height
        out.append(f'<text x="8" y="{top + 13}" font-size="13" font-weight="bold" fill="{INK}">'
                   f"{escape(group.label)}</text>")
        for j, ((_, _, colour), name, point) in enumerate(zip(SERIES, names, group.points, strict=True)):
            y = top + HEADING + j * (BAR_HEIGHT + BAR_GAP)
            mid = y + BAR_HEIGHT / 2
            out.append("<g>")
            if point is None:
                out.append(f"<title>{escape(f'{group.label}, {name}: no value')}</title>")
            else:
                spoken = f"{group.label}, {name}: {_pct(point.value)}"
                if point.lower is not None and point.upper is not None:
                    spoken += f" (95% interval {_pct(point.lower)} to {_pct(point.upper)})"
                out.append(f"<title>{escape(spoken)}</title>")
            out.append(f'<text x="{LABEL_WIDTH - 8}" y="{mid + 4}" text-anchor="end" font-size="12" '
                       f'fill="{INK}">{escape(name)}</text>')
            if point is not None:
                width = round(max(x(point.value) - plot_left, 0.5), 2)
                out.append(f'<rect x="{plot_left}" y="{y}" width="{width}" height="{BAR_HEIGHT}" '
                           f'fill="{colour}" data-series="{SERIES[j][0]}"/>')
                if point.lower is not None and point.upper is not None:
                    a, b = x(point.lower), x(point.upper)
                    out.append(_line(a, mid, b, mid))
                    out += [_line(cap, mid - 5, cap, mid + 5) for cap in (a, b)]
            out.append("</g>")
    out.append(f'<line x1="{plot_left}" y1="{TOP - 6}" x2="{plot_left}" y2="{bottom}" stroke="{INK}" '
               'stroke-width="1"/>')
    legend_y, left = bottom + 26, 8
    for (_, _, colour), name in zip(SERIES, names, strict=True):
        out.append(f'<rect x="{left}" y="{legend_y - 10}" width="14" height="12" fill="{colour}"/>')
        out.append(f'<text x="{left + 20}" y="{legend_y}" font-size="12" fill="{INK}">{escape(name)}</text>')
        left += 40 + 7 * len(name)
    out.append(_line(left, legend_y - 4, left + 28, legend_y - 4))
    out.append(f'<text x="{left + 34}" y="{legend_y}" font-size="12" fill="{INK}">95% interval</text>')
    out.append("</svg>")
    return Markup("\n".join(out))  # noqa: S704 - every text above is escaped
