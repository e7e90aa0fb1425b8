"""Consent and objection registry: schools record decisions; schools and DPOs read them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from consent.rules import ConsentDecision
from gateway.api.strict_json import StrictJsonRoute
from gateway.deps import PrincipalDep, RuntimeDep
from gateway.services import consents
from schemas.json_strict import Line, Text

router = APIRouter(tags=["consents"], route_class=StrictJsonRoute)
URN = Annotated[int, Path(ge=100000, le=999999)]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upn: Line = Field(min_length=1, max_length=20)
    purpose: Line = Field(min_length=1, max_length=60)
    decision: ConsentDecision
    evidence: Text | None = Field(default=None, max_length=2000)


class HistoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upn: Line = Field(min_length=1, max_length=20)
    purpose: Line | None = Field(default=None, max_length=60)


@router.post("/v1/schools/{urn}/consents", status_code=201)
async def post_consent(runtime: RuntimeDep, principal: PrincipalDep, urn: URN, body: ConsentIn) -> JSONResponse:
    receipt = await run_in_threadpool(consents.record_consent, runtime.sessions, runtime.keys, runtime.catalogue, principal,
                                      urn, body.upn, body.purpose, body.decision, body.evidence)
    return JSONResponse(status_code=201, content=jsonable_encoder(receipt))


@router.get("/v1/schools/{urn}/consents")
async def get_consents(runtime: RuntimeDep, principal: PrincipalDep, urn: URN,
                       purpose: Annotated[str | None, Query(max_length=60)] = None) -> Any:
    result = await run_in_threadpool(consents.current_states, runtime.sessions, runtime.keys, principal, urn, purpose)
    return JSONResponse(content=jsonable_encoder(result))


@router.post("/v1/schools/{urn}/consents/history")
async def post_school_history(runtime: RuntimeDep, principal: PrincipalDep, urn: URN, body: HistoryIn) -> Any:
    result = await run_in_threadpool(consents.history, runtime.sessions, runtime.keys, principal, body.upn, urn, body.purpose)
    return JSONResponse(content=jsonable_encoder(result))


@router.post("/v1/consents/history")
async def post_dpo_history(runtime: RuntimeDep, principal: PrincipalDep, body: HistoryIn) -> Any:
    result = await run_in_threadpool(consents.history, runtime.sessions, runtime.keys, principal, body.upn, None, body.purpose)
    return JSONResponse(content=jsonable_encoder(result))
