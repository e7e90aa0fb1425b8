"""Consent and objection registry: schools record decisions; schools and DPOs read them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from consent.rules import ACCEPTED, ConsentDecision
from gateway.api.responses import authenticated, through
from gateway.api.strict_json import StrictJsonRoute
from gateway.deps import PrincipalDep, RuntimeDep
from gateway.services import consents
from policies.model import Catalogue
from schemas.json_strict import Line, Text
from schemas.upn import Upn

router = APIRouter(tags=["consents"], route_class=StrictJsonRoute)
URN = Annotated[int, Path(ge=100000, le=999999)]


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upn: Upn
    purpose: Line = Field(min_length=1, max_length=60,
                          description="a purpose of GET /v1/purposes with a consent rule")
    decision: ConsentDecision
    evidence: Text | None = Field(default=None, max_length=2000)


def document_decisions(schema: dict[str, Any], catalogue: Catalogue) -> None:
    """`ConsentIn` in the document lists, for each consent rule of the catalogue, its purposes and
    the decisions it takes (consent.rules.ACCEPTED): the service refuses any other pair (422)."""
    by_rule: dict[Any, list[str]] = {}
    for purpose in catalogue.purposes:
        if ACCEPTED[purpose.consent]:
            by_rule.setdefault(purpose.consent, []).append(purpose.id)
    schema["oneOf"] = [
        {"properties": {"purpose": {"enum": ids},
                        "decision": {"enum": sorted(d.value for d in ACCEPTED[rule])}}}
        for rule, ids in by_rule.items()
    ]


class HistoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upn: Upn
    purpose: Line | None = Field(default=None, max_length=60)


class Controller(BaseModel):
    name: str
    role: str


class Subject(BaseModel):
    audit_pseudonym: str = Field(description="the pupil's pseudonym in the audit log, never the UPN")


class PurposeOut(BaseModel):
    id: str
    title: str
    description: str
    lawful_basis: str
    legal_references: list[str]


class RecordedBy(BaseModel):
    org_type: Literal["school"]
    urn: int


class ConsentReceiptOut(BaseModel):
    """A consent receipt after the Kantara Initiative's model."""

    receipt_id: str
    version: str
    jurisdiction: str
    consent_timestamp: dt.datetime
    collection_method: str
    controller: Controller
    subject: Subject
    purpose: PurposeOut
    data_categories: str
    recipients: str
    retention: str
    decision: ConsentDecision
    recorded_by: RecordedBy
    how_to_withdraw: str
    audit_index: int


class ConsentStateOut(BaseModel):
    upn: str
    forename: str
    surname: str
    purpose: str
    decision: ConsentDecision
    recorded_at: dt.datetime
    receipt_id: str


class ConsentStatesOut(BaseModel):
    urn: int
    purpose: str | None
    consents: list[ConsentStateOut]
    audit_index: int


class HistoryEntryOut(BaseModel):
    receipt_id: str
    purpose: str
    decision: ConsentDecision
    recorded_at: dt.datetime
    recorded_by_urn: int
    audit_index: int


class HistoryOut(BaseModel):
    purpose: str | None
    history: list[HistoryEntryOut]
    audit_index: int


@router.post("/v1/schools/{urn}/consents", status_code=201, response_model=ConsentReceiptOut,
             responses=authenticated(403, 404, body=True))
async def post_consent(
    runtime: RuntimeDep, principal: PrincipalDep, urn: URN, body: ConsentIn
) -> JSONResponse:
    receipt = await run_in_threadpool(
        consents.record_consent,
        runtime.sessions,
        runtime.keys,
        runtime.catalogue,
        principal,
        urn,
        body.upn,
        body.purpose,
        body.decision,
        body.evidence,
    )
    return JSONResponse(status_code=201, content=jsonable_encoder(through(ConsentReceiptOut, receipt)))


@router.get("/v1/schools/{urn}/consents", response_model=ConsentStatesOut, responses=authenticated(403))
async def get_consents(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    urn: URN,
    purpose: Annotated[str | None, Query(max_length=60)] = None,
) -> JSONResponse:
    result = await run_in_threadpool(
        consents.current_states, runtime.sessions, runtime.keys, principal, urn, purpose
    )
    return JSONResponse(content=jsonable_encoder(through(ConsentStatesOut, result)))


@router.post(
    "/v1/schools/{urn}/consents/history", response_model=HistoryOut, responses=authenticated(403, body=True)
)
async def post_school_history(
    runtime: RuntimeDep, principal: PrincipalDep, urn: URN, body: HistoryIn
) -> JSONResponse:
    result = await run_in_threadpool(
        consents.history, runtime.sessions, runtime.keys, principal, body.upn, urn, body.purpose
    )
    return JSONResponse(content=jsonable_encoder(through(HistoryOut, result)))


@router.post("/v1/consents/history", response_model=HistoryOut, responses=authenticated(403, body=True))
async def post_dpo_history(runtime: RuntimeDep, principal: PrincipalDep, body: HistoryIn) -> JSONResponse:
    result = await run_in_threadpool(
        consents.history, runtime.sessions, runtime.keys, principal, body.upn, None, body.purpose
    )
    return JSONResponse(content=jsonable_encoder(through(HistoryOut, result)))
