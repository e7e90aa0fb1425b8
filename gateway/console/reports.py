"""The school's report page: its similar schools, each measure beside its group's and England's
intervals, its strengths and focus, and its ABIE.

The same service as ``GET /v1/schools/{urn}/report``, so the page is the same audited decision and
shows the same (noisy, once-spent) figures as the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from gateway.console.web import ConsoleRoute, Page, Viewer, current_viewer, render, runtime_of
from gateway.services import access, reports
from gateway.services.access import Target
from gateway.services.reports.snapshots import CONSUMER, BudgetRulesFor
from gateway.services.stats.ledger import rules as budget_rules
from policies.access import REPORT_VIEW

router = APIRouter(route_class=ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]

WINDOWS = {"year_to_date": "Year to date", "last_four_weeks": "Last four weeks"}
DIMENSIONS = {
    "all": "All pupils", "year_group": "Year group", "sen_status": "SEN", "fsm": "Free school meals"
}


def _rules(request: Request) -> BudgetRulesFor:
    settings = runtime_of(request).settings
    return lambda cap: budget_rules(settings, CONSUMER, ledger_cap=cap)


def _label(text: str) -> str:
    return text.replace("_", " ").capitalize()


def _rate(value: Any) -> str:
    # The service's rates are already percentages.
    return "–" if value is None else f"{float(value):.1f}%"


def _interval(scope: dict[str, Any] | None) -> str:
    return "–" if not scope else f"{scope['lower']:.1f}–{scope['upper']:.1f}%"


@router.get("/school/report")
async def school_report(request: Request, viewer: ViewerDep) -> Response:
    runtime = runtime_of(request)
    if viewer.urn is None:
        # This page is the signed-in school's own: a trust or LA officer (who may read a school's
        # report through the API) has no school here, so the decision is asked about no school,
        # in no trust or LA, and refused (and recorded) by the one decision point.
        await access.authorise_async(
            runtime.sessions, viewer.principal, REPORT_VIEW, Target(urn=0, trust="", la=""),
            purpose="school-attendance-report",
        )
    result = await run_in_threadpool(
        reports.school_report, runtime, _rules(request), viewer.principal, viewer.urn or 0, None
    )
    return render(
        request,
        "school/report.html",
        Page(title="Attendance report", viewer=viewer),
        report=result.body,
        windows=WINDOWS,
        dimensions=DIMENSIONS,
        label=_label,
        rate=_rate,
        interval=_interval,
    )
