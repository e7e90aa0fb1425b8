"""The DfE statistician's trend view: national and regional overall and unauthorised absence rates by
school week over the academic year to date, each point with its 95% interval, and what it cost.

The same service as ``GET`` and ``POST /v1/stats/trend`` (``gateway.services.stats.trend``): the
points come from the fortnightly releases, each spent once. Looking at the trend spends nothing; the
fortnights that are over but not released yet are released by a posted form, because that spends.
The chart is drawn by the vendored Chart.js (static/trend.js) from the numbers the page carries; the
table beside it is the source of truth, and all there is without JavaScript.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from gateway.console.statistics import MEASURE_TITLES, RHO_PLACES, legend, require_statistician
from gateway.console.web import (
    ConsoleRoute,
    Page,
    Viewer,
    current_viewer,
    render,
    runtime_of,
    signed_in_form,
)
from gateway.errors import InvalidInput
from gateway.services import stats
from gateway.services.stats.trend import NATIONAL
from schemas.calendar import academic_year_label, academic_year_of

router = APIRouter(route_class=ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]

TREND_SCRIPTS = (
    "vendor/chart.js-4.5.1/chart.umd.min.js",
    "vendor/chartjs-chart-error-bars-4.4.5/index.umd.min.js",
    "trend.js",
)
_PLACE = Query(max_length=9, pattern=r"^E[0-9]{8}$", description="E92000001 for England, or a region's code")
_YEAR = Query(ge=2000, le=2100)


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def weekly_rows(points: list[dict[str, Any]], place: str) -> list[dict[str, Any]]:
    """One row per school week for one place: each rate's point (value, interval, symbol, rho)."""
    weeks: dict[str, dict[str, Any]] = {}
    for p in points:
        if p["code"] != place:
            continue
        row = weeks.setdefault(p["week"], {"week": p["week"], "fortnight": p["fortnight"]})
        row[p["measure"]] = p
    return [weeks[w] for w in sorted(weeks)]


def trend_chart(trend: dict[str, Any], rows: list[dict[str, Any]], place_name: str) -> dict[str, Any]:
    """What trend.js draws: one line per rate over the weeks, each point with its 95% interval
    (a symbol such as "x" is a gap)."""
    series = []
    for measure in trend["measures"]:
        data = []
        for row in rows:
            p = row.get(measure) or {}
            ci = p.get("ci95") or [None, None]
            data.append(
                {
                    "value": _finite(p.get("value")),
                    "low": _finite(ci[0]),
                    "high": _finite(ci[1]),
                    "symbol": p.get("symbol"),
                }
            )
        series.append({"label": MEASURE_TITLES[measure], "points": data})
    return {
        "title": f"{place_name}: absence by school week, {trend['academic_year_label']}",
        "weeks": [row["week"] for row in rows],
        "value_axis": "Absence rate (noisy, %), with 95% interval",
        "series": series,
    }


def _places(points: list[dict[str, Any]]) -> list[tuple[str, str]]:
    regions = sorted(
        {(p["code"], p["name"]) for p in points if p["geography"] == "Regional"}, key=lambda r: r[1]
    )
    return [NATIONAL, *regions]


def _costs(trend: dict[str, Any]) -> list[dict[str, Any]]:
    """Rho per point, by place kind and rate (the same in every fortnight of equal allotment; the
    latest fortnight's figures are shown with the range across fortnights)."""
    out: dict[tuple[str, str], list[float]] = {}
    for p in trend["points"]:
        out.setdefault((p["geography"], p["measure"]), []).append(p["rho"])
    return [
        {"geography": g, "measure": MEASURE_TITLES[m], "low": min(v), "high": max(v)}
        for (g, m), v in sorted(out.items())
    ]


async def _page(
    request: Request,
    viewer: Viewer,
    year: int | None,
    place: str | None,
    *,
    errors: dict[str, str] | None = None,
    released: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    runtime = runtime_of(request)
    trend = (
        released
        or (
            await run_in_threadpool(
                stats.get_trend, runtime.sessions, runtime.settings, viewer.principal, year
            )
        ).as_dict()
    )
    places = _places(trend["points"])
    wanted = place if place in dict(places) else NATIONAL[0]
    place_name = dict(places)[wanted]
    rows = weekly_rows(trend["points"], wanted)
    chart = trend_chart(trend, rows, place_name) if rows else None
    this_year = academic_year_of(stats.today())
    return render(
        request,
        "stats/trend.html",
        Page(title="Absence trend by school week", viewer=viewer, errors=errors or {}),
        status=status,
        scripts=TREND_SCRIPTS if chart else (),
        trend=trend,
        rows=rows,
        chart_data=chart,
        places=places,
        place=wanted,
        place_name=place_name,
        measure_titles=MEASURE_TITLES,
        costs=_costs(trend),
        legend=legend(),
        meanings=dict(legend()),
        rho_places=RHO_PLACES,
        released_now=released is not None,
        years=[(y, academic_year_label(y)) for y in range(this_year, this_year - 3, -1)],
    )


@router.get("/statistics/trend")
async def trend_view(
    request: Request,
    viewer: ViewerDep,
    year: Annotated[int | None, _YEAR] = None,
    place: Annotated[str | None, _PLACE] = None,
) -> Response:
    await require_statistician(request, viewer.principal, page="trend")
    return await _page(request, viewer, year, place)


@router.post("/statistics/trend")
async def release_fortnights(request: Request, viewer: ViewerDep) -> Response:
    form = await signed_in_form(request, viewer)
    await require_statistician(request, viewer.principal, page="trend")
    raw = form.get("year", "").strip()
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        errors = {"year": "Choose an academic year"}
        return await _page(request, viewer, None, None, errors=errors, status=422)
    runtime = runtime_of(request)
    try:
        trend = await run_in_threadpool(
            stats.release_trend, runtime.sessions, runtime.settings, viewer.principal, int(raw), None
        )
    except InvalidInput as exc:
        message = str(exc.detail["errors"][0].get("message", "")).capitalize()
        return await _page(request, viewer, int(raw), None, errors={"year": message}, status=422)
    return await _page(request, viewer, int(raw), form.get("place") or None, released=trend.as_dict())
