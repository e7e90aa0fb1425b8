"""The DfE statistician's dashboard: for a chosen measure, window and breakdown, a chart of the noisy
statistics with their 95% intervals, the table beside it, the privacy budget spent and remaining,
and a download of the answer as CSV.

The same service functions as ``GET /v1/stats`` and ``GET /v1/stats/budget``
(`gateway.services.stats`), so authorisation, budget accounting and audit events are the same. A
question is asked with a posted form, because a new question spends privacy budget; asking the same
question again (to see it, or to download it) returns the stored answer and spends nothing.

The chart is drawn in the browser by Chart.js with its error-bars plugin, vendored under
static/vendor/ (no CDN), from the numbers the page carries in a `<script type="application/json">`
block: one bar per row of the table, each with its 95% interval. The table stays the accessible
source of truth; without JavaScript the server-drawn SVG (charts.py) is shown instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from markupsafe import Markup

from anonymisation import cell_keysets
from anonymisation import dp as adp
from gateway.auth import Principal
from gateway.console.charts import Bar, bar_chart
from gateway.console.dates import PARTS, error_targets, read_dates
from gateway.console.web import (
    ConsoleRoute,
    FormData,
    Page,
    Viewer,
    current_viewer,
    render,
    runtime_of,
    signed_in_form,
)
from gateway.errors import InvalidInput
from gateway.services import access, stats
from policies.access import STATS_ASK
from schemas.calendar import academic_year_label, academic_year_of

router = APIRouter(route_class=ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]

MEASURE_TITLES = {
    "overall_absence_rate": "Overall absence rate",
    "authorised_absence_rate": "Authorised absence rate",
    "unauthorised_absence_rate": "Unauthorised absence rate",
    "persistent_absence_rate": "Persistent absence rate",
    "severe_absence_rate": "Severe absence rate",
    "enrolments": "Enrolments",
}
DIMENSION_TITLES = {
    "la": "Local authority",
    "phase": "Phase",
    "year_group": "Year group",
    "sen_status": "SEN status",
    "fsm": "Free school meals",
}
SEN_TITLES = {"N": "No SEN", "K": "SEN support", "E": "EHC plan"}
#: Above this many cells the chart would be taller than anyone reads; the table still has them all.
MAX_CHART_BARS = 160
#: The files in static/ that draw the chart, in load order (see static/vendor/README.md).
CHART_SCRIPTS = (
    "vendor/chart.js-4.5.1/chart.umd.min.js",
    "vendor/chartjs-chart-error-bars-4.4.5/index.umd.min.js",
    "dashboard.js",
)


async def require_statistician(request: Request, principal: Principal, page: str = "dashboard") -> None:
    # The rule gateway.services.stats asks at the question; a refusal here is recorded as there.
    sessions = runtime_of(request).sessions
    await access.authorise_async(sessions, principal, STATS_ASK, details={"page": page})


#: The table's mark for a cell without an interval; explained in the legend with the symbols.
NO_INTERVAL = "–"
#: Decimal places of rho on the page: a millionth of rho is finer than any release spends.
RHO_PLACES = 6


def legend() -> list[tuple[str, str]]:
    """Every mark the tables may show, with its meaning: the symbols as the core defines them
    (``adp.SYMBOL_MEANINGS``), and the table's own mark for a missing interval."""
    return [*adp.SYMBOL_MEANINGS.items(), (NO_INTERVAL, "no interval: the cell has no value to give one for")]


def by_label(by: list[str] | tuple[str, ...]) -> str:
    """A breakdown in words ("local authority and phase"), as every label on the dashboard shows it."""
    return " and ".join(DIMENSION_TITLES.get(d, d).lower() for d in by)


def budget_figures(budget: dict[str, Any]) -> dict[str, str]:
    """The budget as printed, so that spent + remaining = cap holds in the printed digits: the cap
    rounded down, what was spent rounded up (never under-stated), the remainder their difference;
    the epsilon is the (epsilon, delta) equivalent of the year's whole spend so far, at the
    catalogue's delta (epsilon does not add up across releases; rho does)."""
    step = Decimal(1).scaleb(-RHO_PLACES)
    per_unit = Decimal(str(adp.RHO_UNIT))  # exact: units are whole multiples of it
    cap = (budget["cap"]["units"] * per_unit).quantize(step, rounding=ROUND_FLOOR)
    spent = (budget["spent"]["units"] * per_unit).quantize(step, rounding=ROUND_CEILING)
    spent = min(spent, cap)
    return {
        "cap": f"{cap:.{RHO_PLACES}f}",
        "spent": f"{spent:.{RHO_PLACES}f}",
        "remaining": f"{cap - spent:.{RHO_PLACES}f}",
        "spent_epsilon": f"{budget['spent']['epsilon']:.3f}",
        "cap_epsilon": f"{budget['cap']['epsilon']:.3f}",
        "delta": f"{budget['delta']:g}",
    }


def row_label(row: dict[str, Any]) -> str:
    parts = []
    if "la_code" in row:
        parts.append(f"{row.get('la_name') or row['la_code']} ({row['la_code']})")
    if "phase" in row:
        parts.append(str(row["phase"]).capitalize())
    if "year_group" in row:
        parts.append("Reception" if row["year_group"] == "R" else f"Year {row['year_group']}")
    if "sen_status" in row:
        parts.append(SEN_TITLES.get(row["sen_status"], str(row["sen_status"])))
    if "fsm" in row:
        parts.append("FSM eligible" if row["fsm"] else "Not FSM eligible")
    return ", ".join(parts) or "England"


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "label": row_label(r),
            "value": r["value"],
            "ci95": r.get("ci95"),
            "symbol": r.get("symbol"),
            "numeric": _numeric(r["value"]),
        }
        for r in answer["rows"]
    ]


def _chart(answer: dict[str, Any], rows: list[dict[str, Any]]) -> Markup | None:
    charted = [r for r in rows if r["numeric"]]
    if not charted or len(charted) > MAX_CHART_BARS:
        return None
    percent = answer["measure"] != "enrolments"
    title = f"{MEASURE_TITLES[answer['measure']]}, {answer['from']} to {answer['to']}"
    by = by_label(answer["by"]) or "England as a whole"
    description = (
        f"Horizontal bar chart of the noisy {MEASURE_TITLES[answer['measure']].lower()} by {by}, one bar per "
        f"group, each with its 95% interval. The same numbers are in the table beside the chart."
    )
    bars = [
        Bar(
            label=r["label"],
            value=float(r["value"]),
            low=float(r["ci95"][0]) if r["ci95"] else None,
            high=float(r["ci95"][1]) if r["ci95"] else None,
            low_reliability=r["symbol"] == adp.SYMBOL_LOW_RELIABILITY,
        )
        for r in charted
    ]
    # Every value in the SVG is escaped by bar_chart; the markup is ours.
    return Markup(bar_chart(bars, title=title, description=description, percent=percent))  # noqa: S704


def _finite(value: Any) -> float | None:
    return float(value) if _numeric(value) and math.isfinite(value) else None


def chart_data(answer: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What dashboard.js draws: one entry per row of the table, in its order, with the noisy value
    and its 95% interval as released (a symbol such as "x" becomes no bar). None when there is
    nothing to chart, or too much."""
    charted = [r for r in rows if r["numeric"]]
    if not charted or len(charted) > MAX_CHART_BARS:
        return None
    measure = MEASURE_TITLES[answer["measure"]]
    percent = answer["measure"] != "enrolments"
    return {
        "title": f"{measure}, {answer['from']} to {answer['to']}",
        "percent": percent,
        "value_axis": f"{measure} (noisy{', %' if percent else ' count'}), with 95% interval",
        "group_axis": " and ".join(DIMENSION_TITLES[d] for d in answer["by"]) or "England",
        "rows": [
            {
                "label": r["label"],
                "value": _finite(r["value"]),
                "low": _finite(r["ci95"][0]) if r["ci95"] else None,
                "high": _finite(r["ci95"][1]) if r["ci95"] else None,
                "symbol": r["symbol"],
            }
            for r in rows
        ],
    }


def _form_values(values: dict[str, Any] | None = None) -> dict[str, Any]:
    blank = {part: "" for part in PARTS}
    base: dict[str, Any] = {"measure": "overall_absence_rate", "by": [], "from": "", "to": "",
                            "parts": {"from": blank, "to": blank}, "bad": {"from": (), "to": ()},
                            "targets": {}}
    return base | (values or {})


async def _dashboard(
    request: Request,
    viewer: Viewer,
    *,
    year: int | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    answer: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    runtime = runtime_of(request)
    wanted_year = answer["academic_year"] if answer else year
    budget = (await run_in_threadpool(
        stats.budget, runtime.sessions, runtime.settings, viewer.principal, wanted_year
    )).as_dict()
    this_year = academic_year_of(stats.today())
    rows = _rows(answer) if answer else []
    drawn = chart_data(answer, rows) if answer else None
    context = {
        "values": _form_values(values),
        "measures": [(m, MEASURE_TITLES.get(m, m)) for m in adp.MEASURES],
        "dimensions": [(d, DIMENSION_TITLES[d]) for d in cell_keysets.DIMENSIONS],
        "budget": budget,
        "figures": budget_figures(budget),
        "legend": legend(),
        "meanings": dict(legend()),
        "rho_places": RHO_PLACES,
        "no_interval": NO_INTERVAL,
        "by_label": by_label,
        "spent_fraction": budget["spent"]["units"] / budget["cap"]["units"]
        if budget["cap"]["units"]
        else 1.0,
        "years": [(y, academic_year_label(y)) for y in range(this_year, this_year - 3, -1)],
        "answer": answer,
        "rows": rows,
        "chart": _chart(answer, rows) if answer else None,
        "chart_data": drawn,
        "percent": bool(answer and answer["measure"] != "enrolments"),
        "measure_titles": MEASURE_TITLES,
        "max_chart_bars": MAX_CHART_BARS,
        "by_text": by_label(answer["by"]) if answer else "",
    }
    return render(
        request,
        "stats/dashboard.html",
        Page(title="Statistics", viewer=viewer, errors=errors or {}),
        status=status,
        scripts=CHART_SCRIPTS if drawn else (),
        **context,
    )


@router.get("/statistics")
async def dashboard(
    request: Request, viewer: ViewerDep, year: Annotated[int | None, Query(ge=2000, le=2100)] = None
) -> Response:
    await require_statistician(request, viewer.principal)
    return await _dashboard(request, viewer, year=year, values={})


def _question(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    # GOV.UK date inputs (day, month, year); a link may carry the ISO date instead.
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    dates = read_dates(fields, {"from": "From", "to": "To"}, "3 10 2025", errors)
    values: dict[str, Any] = {
        "measure": form.get("measure", ""),
        "by": [b for b in form.getall("by") if b],
        "from": dates["from"].iso,
        "to": dates["to"].iso,
        "parts": {name: field.parts for name, field in dates.items()},
        "bad": {name: field.bad for name, field in dates.items()},
        "targets": error_targets(dates),
    }
    if values["measure"] not in adp.MEASURES:
        errors["measure"] = "Choose a measure"
    if any(b not in cell_keysets.DIMENSIONS for b in values["by"]):
        errors["by"] = "Choose breakdowns from the list"
    return values, errors


async def _ask(
    request: Request, viewer: Viewer, values: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    runtime = runtime_of(request)
    try:
        answer = await run_in_threadpool(
            stats.get_statistics,
            runtime.sessions,
            runtime.settings,
            viewer.principal,
            values["measure"],
            values["by"],
            dt.date.fromisoformat(values["from"]) if values["from"] else None,
            dt.date.fromisoformat(values["to"]) if values["to"] else None,
        )
    except InvalidInput as exc:
        errors = {}
        for e in exc.detail["errors"]:
            field = str(e.get("field") or "measure").split(".")[-1]
            errors[field if field in ("measure", "by", "from", "to") else "measure"] = str(
                e.get("message", "")
            ).capitalize()
        return None, errors
    # The console's views read the answer as the API publishes it.
    return answer.as_dict(), {}


@router.post("/statistics")
async def ask(request: Request, viewer: ViewerDep) -> Response:
    form = await signed_in_form(request, viewer)
    await require_statistician(request, viewer.principal)
    values, errors = _question(form)
    if errors:
        return await _dashboard(request, viewer, year=None, values=values, errors=errors, status=422)
    answer, errors = await _ask(request, viewer, values)
    if answer is None:
        return await _dashboard(request, viewer, year=None, values=values, errors=errors, status=422)
    return await _dashboard(request, viewer, year=None, values=values, answer=answer)


def answer_csv(answer: dict[str, Any]) -> str:
    """The answer as one tidy CSV: the window, the group keys, the noisy value, its interval and symbol."""
    key_columns = []
    for d in answer["by"]:
        key_columns += ["old_la_code", "la_name"] if d == "la" else [cell_keysets.DIMENSION_COLUMNS[d]]
    percent = answer["measure"] != "enrolments"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "release_id",
            "measure",
            "period_start",
            "period_end",
            *key_columns,
            "value",
            "lower95",
            "upper95",
            "unit",
            "reliability",
            "mechanism",
        ]
    )
    for row in answer["rows"]:
        keys = []
        for d in answer["by"]:
            if d == "la":
                keys += [row["la_code"], row.get("la_name", "")]
            else:
                keys += [row[cell_keysets.DIMENSION_COLUMNS[d]]]
        ci = row.get("ci95") or ["", ""]
        writer.writerow(
            [
                answer["release_id"],
                answer["measure"],
                answer["from"],
                answer["to"],
                *keys,
                row["value"],
                ci[0],
                ci[1],
                "proportion" if percent else "count",
                row.get("symbol") or "",
                answer["mechanism"],
            ]
        )
    return out.getvalue()


@router.post("/statistics.csv")
async def download(request: Request, viewer: ViewerDep) -> Response:
    form = await signed_in_form(request, viewer)
    await require_statistician(request, viewer.principal)
    values, errors = _question(form)
    answer, ask_errors = (None, errors) if errors else await _ask(request, viewer, values)
    if answer is None:
        return await _dashboard(request, viewer, year=None, values=values, errors=ask_errors, status=422)
    name = f"{answer['measure']}-{answer['from']}-{answer['to']}" + (
        f"-by-{'-'.join(answer['by'])}" if answer["by"] else ""
    )
    return Response(
        answer_csv(answer),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
