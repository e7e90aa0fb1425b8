"""The schools' attendance reports in the console: a school's report (with its interval charts) and its
pupils at risk of persistent absence; the trust's and the LA's overviews of their schools and DfE's
ABIE list are in overviews.py.

The same services as ``GET /v1/schools/{urn}/report`` and ``GET /v1/schools/{urn}/pupils-at-risk``,
so each page is the same audited decision and shows the same (noisy, once-spent) figures as the API.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from gateway.console.dates import read_dates
from gateway.console.report_charts import groups_of, interval_chart
from gateway.console.web import ConsoleRoute, Page, Viewer, current_viewer, render, runtime_of
from gateway.errors import InvalidInput, NotFound
from gateway.services import access, at_risk, reports
from gateway.services.access import Target
from gateway.services.reports.snapshots import CONSUMER, BudgetRulesFor
from gateway.services.stats.ledger import rules as budget_rules
from policies.access import PUPILS_AT_RISK_VIEW, REPORT_VIEW
from policies.thresholds import PERSISTENT_ABSENCE_PERCENT

router = APIRouter(route_class=ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]

WINDOWS = {"year_to_date": "Year to date", "last_four_weeks": "Last four weeks"}
DIMENSIONS = {
    "all": "All pupils", "year_group": "Year group", "sen_status": "SEN", "fsm": "Free school meals"
}
#: A school's URN in the address: six digits (as the API's path), else no such page.
Urn = Annotated[int | None, Query(ge=100000, le=999999)]
#: A day in the address, as the API's `from` and `to`; parsed here so that a bad one is named (422).
Day = Annotated[str | None, Query(max_length=20)]


def rules_of(request: Request) -> BudgetRulesFor:
    settings = runtime_of(request).settings
    return lambda cap: budget_rules(settings, CONSUMER, ledger_cap=cap)


def label(text: str) -> str:
    return text.replace("_", " ").capitalize()


def rate(value: Any) -> str:
    # The service's rates are already percentages.
    return "–" if value is None else f"{float(value):.1f}%"


def _interval(scope: dict[str, Any] | None) -> str:
    return "–" if not scope else f"{scope['lower']:.1f}–{scope['upper']:.1f}%"


def _day(value: str, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        message = f"{field.capitalize()} must be a real date, for example 24 10 2025"
        raise InvalidInput([{"row": None, "field": field, "message": message}]) from None


@router.get("/school/report")
async def school_report(request: Request, viewer: ViewerDep, urn: Urn = None) -> Response:
    """The signed-in school's own report; a trust's or an LA's officer names the school (`urn`), as
    the links of their overviews do, and the service decides as the API does."""
    runtime = runtime_of(request)
    school = urn if urn is not None else viewer.urn
    if school is None:
        # No school named, and the viewer is none: the decision is asked about no school, in no
        # trust or LA, and refused (and recorded) by the one decision point.
        await access.authorise_async(
            runtime.sessions, viewer.principal, REPORT_VIEW, Target(urn=0, trust="", la=""),
            purpose="school-attendance-report",
        )
    result = await run_in_threadpool(
        reports.school_report, runtime, rules_of(request), viewer.principal, school or 0, None
    )
    own = viewer.urn == result.body["urn"]
    school_label = "Your school" if own else "This school"
    charts = [
        {
            "id": f"chart-{window}",
            "title": title,
            "svg": interval_chart(
                groups,
                title=f"{title}: {school_label.lower()} beside similar schools and England, all pupils",
                chart_id=f"chart-{window}",
                school_label=school_label,
            ),
        }
        for window, title in WINDOWS.items()
        if (groups := groups_of(result.body["measures"], window, label))
    ]
    back = {"trust": ("/trust", "Your trust's schools"), "la": ("/la/schools", "Your schools")}.get(
        viewer.principal.org_type
    )
    return render(
        request,
        "school/report.html",
        Page(title="Attendance report", viewer=viewer),
        report=result.body,
        windows=WINDOWS,
        dimensions=DIMENSIONS,
        label=label,
        rate=rate,
        interval=_interval,
        charts=charts,
        school_label=school_label,
        back=back,
    )


@router.get("/school/at-risk")
async def pupils_at_risk(
    request: Request, viewer: ViewerDep, from_: Annotated[Day, Query(alias="from")] = None, to: Day = None
) -> Response:
    """The school's pupils at risk of persistent absence, with their reasons and the published rule:
    ``list_at_risk`` decides (the school's own attendance officer only) and records the view."""
    runtime = runtime_of(request)
    policy = runtime.catalogue.school_reports
    if policy is None:
        raise NotFound("the catalogue publishes no rule for pupils at risk")
    # GOV.UK date inputs send day, month and year; an address may carry the ISO date instead.
    errors: dict[str, str] = {}
    dates = read_dates(request.query_params, {"from": "From", "to": "To"}, "3 10 2025", errors, ordered=False)
    parts = {name: field.parts for name, field in dates.items()}
    values = {name: field.iso for name, field in dates.items()}
    listing = None
    if not errors:
        try:
            start, end = _day(values["from"], "from"), _day(values["to"], "to")
            # Anyone but a school is asked about no school (URN 0), which the decision point refuses.
            listing = await run_in_threadpool(
                at_risk.list_at_risk, runtime.sessions, runtime.keys, policy.at_risk, viewer.principal,
                viewer.urn or 0, start, end,
            )
        except InvalidInput as error:
            errors = {e["field"] or "to": _sentence(e["message"]) for e in error.detail["errors"]}
    if listing is None:
        # No list, only the form with its errors: still only for the school's own officer, so anyone
        # else is refused (and recorded) by the decision point, as a list would be.
        await access.authorise_async(
            runtime.sessions, viewer.principal, PUPILS_AT_RISK_VIEW, Target(urn=viewer.urn or 0)
        )
    return render(
        request,
        "reports/at_risk.html",
        Page(title="Pupils at risk of persistent absence", viewer=viewer, errors=errors),
        status=400 if errors else 200,
        urn=viewer.urn,
        listing=listing,
        rule=policy.at_risk,
        line=PERSISTENT_ABSENCE_PERCENT,
        parts=parts,
        error_list=[{"text": message, "href": f"#{field}-day"} for field, message in errors.items()],
    )


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]
