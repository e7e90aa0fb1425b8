"""The schools' attendance reports: a school's report, a trust's and an LA's overview, DfE's ABIE list."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from gateway.api.responses import authenticated
from gateway.deps import PrincipalDep, RuntimeDep
from gateway.runtime import Runtime
from gateway.services import reports
from gateway.services.reports.snapshots import CONSUMER, BudgetRulesFor
from gateway.services.stats.ledger import rules as budget_rules

router = APIRouter(tags=["reports"])


def _rules(runtime: Runtime) -> BudgetRulesFor:
    """The school-benchmarks share's rules, for the snapshot a first view may build."""
    return lambda cap: budget_rules(runtime.settings, CONSUMER, ledger_cap=cap)


_TO = Query(description="show the latest snapshot on or before this day (default: today's fortnight)")


class Interval(BaseModel):
    value: float
    lower: float
    upper: float


class Measure(BaseModel):
    window: str
    dimension: str
    group: str
    measure: str
    school: float | None
    similar_schools: Interval | None
    england: Interval | None


class SimilarSchool(BaseModel):
    urn: int
    name: str | None
    overall_absence: float | None


class ReportOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urn: int
    name: str
    academic_year: int
    fortnight_start: dt.date
    snapshot_day: dt.date
    last_four_weeks: list[dt.date]
    similar_schools: list[SimilarSchool]
    measures: list[Measure]
    strengths: list[Measure]
    focus: list[Measure]
    abie: dict[str, Any]
    audit_index: int


class SchoolHeadline(BaseModel):
    urn: int
    name: str
    phase: str
    status: str
    overall_absence_rate: float | None
    persistent_absence_rate: float | None
    severe_absence_rate: float | None
    abie: dict[str, Any]


class OverviewOut(BaseModel):
    academic_year: int
    fortnight_start: dt.date
    schools: list[SchoolHeadline]
    audit_index: int


class TrustOverviewOut(OverviewOut):
    trust: str
    #: The trust's name on the register of schools (GIAS "Trusts (name)"); null if it names none.
    name: str | None


class LaOverviewOut(OverviewOut):
    la: str


class AbieRow(BaseModel):
    urn: int
    name: str | None
    similar_schools: list[int]
    abie: dict[str, Any]


class AbieListOut(BaseModel):
    academic_year: int
    fortnight_start: dt.date
    schools: list[AbieRow]
    audit_index: int


@router.get("/v1/schools/{urn}/report", response_model=ReportOut, responses=authenticated(403, 404))
async def get_report(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    urn: Annotated[int, Path(ge=100000, le=999999)],
    to: Annotated[dt.date | None, _TO] = None,
) -> ReportOut:
    result = await run_in_threadpool(reports.school_report, runtime, _rules(runtime), principal, urn, to)
    return ReportOut.model_validate(result.body | {"audit_index": result.audit_index})


@router.get("/v1/trusts/{uid}/schools", response_model=TrustOverviewOut, responses=authenticated(403, 404))
async def get_trust_schools(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    uid: Annotated[str, Path(pattern=r"^[1-9][0-9]{0,7}$")],
    to: Annotated[dt.date | None, _TO] = None,
) -> TrustOverviewOut:
    result = await run_in_threadpool(reports.overview, runtime, _rules(runtime), principal, "trust", uid, to)
    return TrustOverviewOut.model_validate(result.body | {"audit_index": result.audit_index})


@router.get("/v1/las/{la}/schools", response_model=LaOverviewOut, responses=authenticated(403, 404))
async def get_la_schools(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    la: Annotated[str, Path(pattern=r"^[0-9]{3}$")],
    to: Annotated[dt.date | None, _TO] = None,
) -> LaOverviewOut:
    result = await run_in_threadpool(reports.overview, runtime, _rules(runtime), principal, "la", la, to)
    return LaOverviewOut.model_validate(result.body | {"audit_index": result.audit_index})


@router.get("/v1/abie", response_model=AbieListOut, responses=authenticated(403, 404))
async def get_abie(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    academic_year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> AbieListOut:
    result = await run_in_threadpool(reports.abie_list, runtime, _rules(runtime), principal, academic_year)
    return AbieListOut.model_validate(result.body | {"audit_index": result.audit_index})
