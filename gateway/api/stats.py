"""Differentially private statistics for DfE, the privacy budget, and named release bundles."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from anonymisation.cell_keysets import DIMENSIONS
from anonymisation.dp import MEASURES
from gateway.api.responses import OrjsonResponse, authenticated, json_bytes
from gateway.api.strict_json import StrictJsonRoute
from gateway.deps import PrincipalDep, RuntimeDep
from gateway.services import stats
from schemas.json_strict import Line

router = APIRouter(tags=["statistics"], route_class=StrictJsonRoute)

_NAME = Path(min_length=1, max_length=80, pattern=f"^{stats.BUNDLE_NAME.pattern}$")
#: The measures and dimensions, documented here and checked by the service (which names the field
#: `measure` or `by` in its 422, as it does for a bundle's tables).
_MEASURE = {"enum": list(MEASURES)}
_DIMENSION = "|".join(DIMENSIONS)
_BY = {"pattern": f"^(({_DIMENSION})(,({_DIMENSION})){{0,{len(DIMENSIONS) - 1}}})?$"}


class Amount(BaseModel):
    units: int
    rho: float = Field(description="zero-concentrated DP")
    epsilon: float = Field(description="the (epsilon, delta) equivalent of rho, taken alone")


class BudgetSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    academic_year: int
    academic_year_label: str
    consumer: str
    delta: float
    cap: Amount
    spent: Amount
    remaining: Amount


class BudgetOut(BudgetSummary):
    """The privacy budget of an academic year, with every release that spent from it."""

    mechanism: str
    releases: list[dict[str, Any]]


class TableOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    measure: str
    by: list[str]
    rows: list[dict[str, Any]] = Field(description="one per cell: its keys, noisy values and intervals")
    noise: list[dict[str, Any]]


class AnswerOut(BaseModel):
    """A noisy answer (one table, or a bundle's tables), what this request spent and the budget left."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    release_id: str
    consumer: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    academic_year: int
    cached: bool = Field(description="the same question was answered before: the same answer, free")
    audit_index: int
    rho_spent: float
    epsilon_spent: float
    delta: float
    budget_remaining: Amount
    budget: BudgetSummary


class QueryAnswerOut(AnswerOut):
    kind: Literal["query"]
    measure: str
    by: list[str]
    rows: list[dict[str, Any]] = Field(description="one per cell: its keys, noisy values and intervals")
    noise: list[dict[str, Any]]


class BundleOut(AnswerOut):
    kind: Literal["bundle"]
    bundle: str
    tables: list[TableOut]


_DENIED = authenticated(403)


def _by(value: str) -> list[str]:
    return [d.strip() for d in value.split(",") if d.strip()]


@router.get("/v1/stats", response_model=QueryAnswerOut, response_model_by_alias=True,
            responses=authenticated(403, 409))
async def get_stats(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    measure: Annotated[str, Query(min_length=1, max_length=40, json_schema_extra=_MEASURE)],
    by: Annotated[
        str, Query(max_length=80, json_schema_extra=_BY,
                   description=f"comma list of {', '.join(DIMENSIONS)}, each at most once")
    ] = "",
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: Annotated[dt.date | None, Query()] = None,
) -> OrjsonResponse:
    result = await run_in_threadpool(
        stats.get_statistics, runtime.sessions, runtime.settings, principal, measure, _by(by), from_, to
    )
    return OrjsonResponse(content=json_bytes(result.as_dict()))


@router.get("/v1/stats/budget", response_model=BudgetOut, responses=authenticated(403, 404))
async def get_budget(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="academic year, 2025 for 2025/26")
    ] = None,
    consumer: Annotated[str | None, Query(
        max_length=40, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
        description="a share of the year's budget in the catalogue (404 for any other)")] = None,
) -> OrjsonResponse:
    result = await run_in_threadpool(
        stats.budget, runtime.sessions, runtime.settings, principal, year, consumer
    )
    return OrjsonResponse(content=json_bytes(result.as_dict()))


class TableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    measure: Line = Field(min_length=1, max_length=40, json_schema_extra=_MEASURE)
    by: list[Annotated[Line, Field(max_length=20, json_schema_extra={"enum": list(DIMENSIONS)})]] = Field(
        default_factory=list, max_length=len(DIMENSIONS), json_schema_extra={"uniqueItems": True}
    )


class BundleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Line = Field(min_length=1, max_length=80,
                       json_schema_extra={"pattern": f"^{stats.BUNDLE_NAME.pattern}$"})
    tables: list[TableIn] = Field(min_length=1, max_length=stats.MAX_BUNDLE_TABLES)
    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None


@router.post("/v1/stats/releases", status_code=201, response_model=BundleOut, response_model_by_alias=True,
             responses={200: {"model": BundleOut, "description": "released before: the same bundle, free"},
                        **authenticated(403, 409, body=True)})
async def post_bundle(runtime: RuntimeDep, principal: PrincipalDep, body: BundleIn) -> OrjsonResponse:
    tables = [(t.measure, t.by) for t in body.tables]
    result: stats.Answer = await run_in_threadpool(
        stats.create_bundle,
        runtime.sessions,
        runtime.settings,
        principal,
        body.name,
        tables,
        body.from_,
        body.to,
    )
    return OrjsonResponse(status_code=200 if result.cached else 201, content=json_bytes(result.as_dict()))


@router.get("/v1/stats/releases/{name}", response_model=BundleOut, response_model_by_alias=True,
            responses=authenticated(403, 404))
async def get_bundle(
    runtime: RuntimeDep, principal: PrincipalDep, name: Annotated[str, _NAME]
) -> OrjsonResponse:
    result = await run_in_threadpool(stats.get_bundle, runtime.sessions, runtime.settings, principal, name)
    return OrjsonResponse(content=json_bytes(result.as_dict()))


@router.get("/v1/stats/releases/{name}/csv", response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "the bundle in DfE's open-data layout"},
                       **authenticated(403, 404)})
async def get_bundle_csv(
    runtime: RuntimeDep, principal: PrincipalDep, name: Annotated[str, _NAME]
) -> Response:
    text = await run_in_threadpool(stats.get_bundle_csv, runtime.sessions, principal, name)
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


class TrendPoint(BaseModel):
    week: dt.date = Field(description="the Monday of the school week")
    geography: Literal["National", "Regional"]
    code: str = Field(description="E92000001 for England, else the region's code")
    name: str
    measure: str
    value: float | str = Field(description="the noisy rate (a fraction), or a symbol such as x")
    ci95: list[float] | None = Field(description="the 95% interval of the noise, per point")
    symbol: str | None
    fortnight: int
    release_id: str
    units: int = Field(description="what the noisy vectors behind the point cost, shared with the "
                       "fortnight's other week and, for the denominator, with the other rate")
    rho: float


class TrendFortnight(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    fortnight: int
    name: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    release_id: str | None = None
    released_at: dt.datetime | None = None
    units: int | None = Field(default=None, description="what the fortnight's bundle spent")
    rho: float | None = None
    vectors: int | None = Field(default=None, description="noisy vectors drawn (reused ones not counted)")


class TrendOut(BaseModel):
    """National and regional absence rates by school week, from the fortnightly releases."""

    academic_year: int
    academic_year_label: str
    measures: list[str]
    fortnights: list[TrendFortnight]
    due: list[TrendFortnight] = Field(description="fortnights over but not released yet")
    points: list[TrendPoint]
    spent_units: int = Field(description="what this request spent: 0 unless it released a fortnight")
    spent_rho: float
    audit_index: int


class TrendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    academic_year: int | None = Field(default=None, ge=2000, le=2100, description="2025 for 2025/26")
    to: dt.date | None = Field(default=None, description="release fortnights over by then (default today)")


_YEAR = Query(ge=2000, le=2100, description="academic year, 2025 for 2025/26 (default: this year)")


@router.get("/v1/stats/trend", response_model=TrendOut, response_model_by_alias=True,
            responses=authenticated(403))
async def get_trend(
    runtime: RuntimeDep, principal: PrincipalDep, year: Annotated[int | None, _YEAR] = None
) -> OrjsonResponse:
    result = await run_in_threadpool(stats.get_trend, runtime.sessions, runtime.settings, principal, year)
    return OrjsonResponse(content=json_bytes(result.as_dict()))


@router.post("/v1/stats/trend", response_model=TrendOut, response_model_by_alias=True, status_code=201,
             responses={200: {"model": TrendOut, "description": "every fortnight over was released: free"},
                        **authenticated(403, 409, body=True)})
async def post_trend(runtime: RuntimeDep, principal: PrincipalDep, body: TrendIn) -> OrjsonResponse:
    result = await run_in_threadpool(
        stats.release_trend, runtime.sessions, runtime.settings, principal, body.academic_year, body.to
    )
    status = 201 if result.spent_units else 200
    return OrjsonResponse(status_code=status, content=json_bytes(result.as_dict()))
