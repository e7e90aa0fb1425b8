"""Differentially private statistics for DfE, the privacy budget, and named release bundles."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.strict_json import StrictJsonRoute
from gateway.deps import PrincipalDep, RuntimeDep
from gateway.services import stats
from schemas.json_strict import Line

router = APIRouter(tags=["statistics"], route_class=StrictJsonRoute)

_DENIED: dict[int | str, dict[str, Any]] = {
    403: {"description": "denied (wrong role or organisation, or over the yearly budget), with reasons"}
}
_NAME = Path(min_length=1, max_length=80, pattern=stats.BUNDLE_NAME.pattern)


def _by(value: str) -> list[str]:
    return [d.strip() for d in value.split(",") if d.strip()]


@router.get("/v1/stats", responses=_DENIED)
async def get_stats(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    measure: Annotated[str, Query(min_length=1, max_length=40)],
    by: Annotated[
        str, Query(max_length=80, description="comma list of la, phase, year_group, sen_status, fsm")
    ] = "",
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: Annotated[dt.date | None, Query()] = None,
) -> JSONResponse:
    result = await run_in_threadpool(
        stats.get_statistics, runtime.sessions, runtime.settings, principal, measure, _by(by), from_, to
    )
    return JSONResponse(content=jsonable_encoder(result))


@router.get("/v1/stats/budget", responses=_DENIED)
async def get_budget(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="academic year, 2025 for 2025/26")
    ] = None,
    consumer: Annotated[str | None, Query(max_length=40)] = None,
) -> JSONResponse:
    result = await run_in_threadpool(
        stats.budget, runtime.sessions, runtime.settings, principal, year, consumer
    )
    return JSONResponse(content=jsonable_encoder(result))


class TableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    measure: Line = Field(min_length=1, max_length=40)
    by: list[Annotated[Line, Field(max_length=20)]] = Field(default_factory=list, max_length=5)


class BundleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Line = Field(min_length=1, max_length=80)
    tables: list[TableIn] = Field(min_length=1, max_length=stats.MAX_BUNDLE_TABLES)
    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None


@router.post("/v1/stats/releases", status_code=201, responses=_DENIED)
async def post_bundle(runtime: RuntimeDep, principal: PrincipalDep, body: BundleIn) -> JSONResponse:
    tables = [(t.measure, t.by) for t in body.tables]
    result: dict[str, Any] = await run_in_threadpool(
        stats.create_bundle,
        runtime.sessions,
        runtime.settings,
        principal,
        body.name,
        tables,
        body.from_,
        body.to,
    )
    return JSONResponse(status_code=200 if result["cached"] else 201, content=jsonable_encoder(result))


@router.get("/v1/stats/releases/{name}", responses=_DENIED)
async def get_bundle(
    runtime: RuntimeDep, principal: PrincipalDep, name: Annotated[str, _NAME]
) -> JSONResponse:
    result = await run_in_threadpool(stats.get_bundle, runtime.sessions, runtime.settings, principal, name)
    return JSONResponse(content=jsonable_encoder(result))


@router.get("/v1/stats/releases/{name}/csv", responses=_DENIED, response_class=Response)
async def get_bundle_csv(
    runtime: RuntimeDep, principal: PrincipalDep, name: Annotated[str, _NAME]
) -> Response:
    text = await run_in_threadpool(stats.get_bundle_csv, runtime.sessions, principal, name)
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
