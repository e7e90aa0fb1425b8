"""Overviews of many schools' attendance: a trust's schools for its trust officer, an LA's for its case
officer (each school linking to its report), and every school's ABIE for DfE's statistician.

The same services as ``GET /v1/trusts/{uid}/schools``, ``GET /v1/las/{la}/schools`` and
``GET /v1/abie``: the same decision, the same audit event. A viewer of another kind is asked about
no organisation ("") and refused by the decision point. Sorting is on the server, by a column's
name in the address (never by anything about a pupil), so that it works without scripts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from gateway.console.reports import rate, rules_of
from gateway.console.web import PREFIX, ConsoleRoute, Page, Viewer, current_viewer, render, runtime_of
from gateway.services import reports

router = APIRouter(route_class=ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]
Param = Annotated[str | None, Query(max_length=40)]
Direction = Annotated[str | None, Query(alias="dir", max_length=40)]

#: The ABIE list is every school in England: one page of it at a time.
ABIE_PER_PAGE = 50

Key = Callable[[dict[str, Any]], Any]


def _abie(field: str) -> Key:
    return lambda row: row["abie"].get(field) if row["abie"].get("available") else None


#: Column id -> (heading, sort key, numeric). A missing value sorts last whichever way.
OVERVIEW_COLUMNS: dict[str, tuple[str, Key, bool]] = {
    "name": ("School", lambda r: r["name"].casefold(), False),
    "urn": ("URN", lambda r: r["urn"], False),
    "phase": ("Phase", lambda r: r["phase"], False),
    "overall_absence_rate": ("Overall absence", lambda r: r["overall_absence_rate"], True),
    "persistent_absence_rate": ("Persistent absence", lambda r: r["persistent_absence_rate"], True),
    "severe_absence_rate": ("Severe absence", lambda r: r["severe_absence_rate"], True),
    "abie_expectation": ("ABIE expected improvement", _abie("expectation_pp"), True),
    "abie_target": ("ABIE target", _abie("target"), True),
}
ABIE_COLUMNS: dict[str, tuple[str, Key, bool]] = {
    "name": ("School", lambda r: (r["name"] or "").casefold(), False),
    "urn": ("URN", lambda r: r["urn"], False),
    "similar": ("Similar schools", lambda r: len(r["similar_schools"]), True),
    "prior_attendance": ("Prior year's attendance", _abie("prior_attendance"), True),
    "benchmark": ("Similar schools' benchmark", _abie("benchmark"), True),
    "expectation": ("Expected improvement", _abie("expectation_pp"), True),
    "target": ("Target", _abie("target"), True),
}


@dataclass(frozen=True)
class Order:
    sort: str
    direction: str
    errors: dict[str, str]


def order_of(sort: str | None, direction: str | None, columns: dict[str, Any], default: str) -> Order:
    """The sort asked for, or the default with a message naming the field (never a 500)."""
    errors = {}
    if sort and sort not in columns:
        errors["sort"] = "Sort by one of the table's columns: it is shown in its usual order"
    if direction and direction not in ("asc", "desc"):
        errors["dir"] = "Sort ascending or descending: it is shown ascending"
    return Order(
        sort if sort in columns else default,
        direction if direction in ("asc", "desc") else "asc",
        errors,
    )


def sorted_rows(rows: list[dict[str, Any]], order: Order, columns: dict[str, tuple[str, Key, bool]]) -> list[
    dict[str, Any]
]:
    """Rows by the column, ties by URN; rows without a value last, in either direction."""
    key = columns[order.sort][1]
    by_urn = sorted(rows, key=lambda r: r["urn"])
    present = [r for r in by_urn if key(r) is not None]
    missing = [r for r in by_urn if key(r) is None]
    present.sort(key=key, reverse=order.direction == "desc")
    return present + missing


def _headers(
    columns: dict[str, tuple[str, Key, bool]], order: Order, path: str, extra: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    out = []
    for id_, (heading, _, numeric) in columns.items():
        current = id_ == order.sort
        flip = "desc" if current and order.direction == "asc" else "asc"
        out.append({
            "id": id_,
            "heading": heading,
            "numeric": numeric,
            "current": current,
            "aria": ("ascending" if order.direction == "asc" else "descending") if current else None,
            "href": f"{PREFIX}{path}?{urlencode({'sort': id_, 'dir': flip, **(extra or {})})}",
        })
    return out


async def _overview(
    request: Request, viewer: Viewer, kind: str, path: str, sort: str | None, direction: str | None
) -> Response:
    principal = viewer.principal
    result = await run_in_threadpool(
        reports.overview, runtime_of(request), rules_of(request), principal, kind,
        principal.org_id if principal.org_type == kind else "", None,
    )
    order = order_of(sort, direction, OVERVIEW_COLUMNS, "name")
    rows = sorted_rows(result.body["schools"], order, OVERVIEW_COLUMNS)
    if kind == "trust":
        # The register may name no school of the trust (none imported yet): its UID says which it is.
        who = result.body["name"] or f"Trust {result.body['trust']}"
    else:
        who = f"Local authority {result.body['la']}"
    return render(
        request,
        "reports/overview.html",
        Page(title="Schools' attendance", viewer=viewer, errors=order.errors),
        caption=who,
        kind=kind,
        overview=result.body,
        rows=rows,
        headers=_headers(OVERVIEW_COLUMNS, order, path),
        order=order,
        rate=rate,
    )


@router.get("/trust")
async def trust_overview(
    request: Request, viewer: ViewerDep, sort: Param = None, direction: Direction = None
) -> Response:
    """The trust officer's schools, their headline rates and ABIE, each linking to its report."""
    return await _overview(request, viewer, "trust", "/trust", sort, direction)


@router.get("/la/schools")
async def la_overview(
    request: Request, viewer: ViewerDep, sort: Param = None, direction: Direction = None
) -> Response:
    """The LA case officer's schools, the same shape as the trust's."""
    return await _overview(request, viewer, "la", "/la/schools", sort, direction)


@router.get("/abie")
async def abie_list(
    request: Request,
    viewer: ViewerDep,
    sort: Param = None,
    direction: Direction = None,
    page: Param = None,
) -> Response:
    """Every school's ABIE and similar-schools group, for DfE's statistician, a page at a time."""
    result = await run_in_threadpool(
        reports.abie_list, runtime_of(request), rules_of(request), viewer.principal, None
    )
    order = order_of(sort, direction, ABIE_COLUMNS, "urn")
    errors = dict(order.errors)
    rows = sorted_rows(result.body["schools"], order, ABIE_COLUMNS)
    pages = max(1, math.ceil(len(rows) / ABIE_PER_PAGE))
    # ASCII digits only: str.isdigit() is true of "²", which int() refuses.
    number = int(page) if page and page.isascii() and page.isdigit() and 1 <= int(page) <= pages else 1
    if page and number == 1 and page != "1":
        errors["page"] = f"Choose a page from 1 to {pages}: this is page 1"
    keep = {"sort": order.sort, "dir": order.direction}
    return render(
        request,
        "reports/abie.html",
        Page(title="Attendance baseline improvement expectations", viewer=viewer, errors=errors),
        listing=result.body,
        rows=rows[(number - 1) * ABIE_PER_PAGE : number * ABIE_PER_PAGE],
        total=len(rows),
        headers=_headers(ABIE_COLUMNS, order, "/abie"),
        page_number=number,
        pages=pages,
        page_link=lambda n: f"{PREFIX}/abie?{urlencode({**keep, 'page': n})}",
        rate=rate,
    )
