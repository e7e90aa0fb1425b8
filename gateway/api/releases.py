"""Purpose-limited releases, the purpose catalogue, and pupil_ref resolution."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool

from gateway.api.responses import OrjsonResponse, authenticated, errors, json_bytes, through
from gateway.api.strict_json import StrictJsonRoute
from gateway.auth import Principal
from gateway.deps import PrincipalDep, RuntimeDep
from gateway.errors import InvalidInput
from gateway.runtime import Runtime
from gateway.services import releases
from policies.model import ConsentRule, ReleaseRequest
from policies.ropa import fields_released, recipients
from schemas.json_strict import Line, Text
from schemas.upn import Upn

router = APIRouter(tags=["releases"], route_class=StrictJsonRoute)


def _acknowledgement_required(schema: dict[str, Any]) -> None:
    """The document says what the route enforces: `acknowledged` must be sent, and be true."""
    schema["properties"]["acknowledged"] = {
        "const": True, "type": "boolean", "title": "Acknowledged",
        "description": "the purpose's acknowledgement (GET /v1/purposes), accepted",
    }
    schema["required"] = [*schema.get("required", []), "acknowledged"]


class ReleaseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_extra=_acknowledgement_required
    )

    purpose: Line = Field(min_length=1, max_length=60)
    schools: list[Annotated[int, Field(ge=100000, le=999999)]] | None = Field(default=None, max_length=1000)
    upns: list[Upn] | None = Field(default=None, max_length=releases.MAX_NAMED_PUPILS)
    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None
    justification: Text | None = Field(default=None, max_length=2000)
    #: The requester's acceptance of the purpose's acknowledgement text (GET /v1/purposes): required.
    acknowledged: StrictBool | None = None


class Recipient(BaseModel):
    org_type: str
    org_id: str


class ReleaseMeta(BaseModel):
    release_id: str
    purpose: str
    recipient: Recipient
    created_at: dt.datetime
    expires_at: dt.datetime
    policy_version: str
    policy_hash: str
    criterion: str
    from_: dt.date = Field(validation_alias=AliasChoices("from", "from_"), serialization_alias="from")
    to: dt.date
    fields: list[str]
    record_count: int
    withheld_consent: int
    withheld_objection: int
    audit_index: int
    status: Literal["active", "overdue", "deleted"]
    deleted_at: dt.datetime | None
    deletion_attested_by: str | None


class ReleaseList(BaseModel):
    status: Literal["overdue", "active", "deleted", "expired"] | None
    releases: list[ReleaseMeta]


class SessionMarkOut(BaseModel):
    date: dt.date
    session: Literal["AM", "PM"]
    code: str


#: A released field's value: identifiers and bands are strings, counts integers, rates numbers,
#: flags booleans, and a penalty notice's unauthorised sessions a list.
RecordValue = str | int | float | bool | list[SessionMarkOut] | None


class ReleaseOut(BaseModel):
    """A release as `POST /v1/releases` sends it (orjson bytes; this model documents them)."""

    model_config = ConfigDict(populate_by_name=True)

    release_id: str
    purpose: str
    recipient: Recipient
    created_at: dt.datetime
    expires_at: dt.datetime
    policy_version: str
    policy_hash: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    fields: list[str] = Field(description="the fields of every record, as the purpose lists them")
    records: list[dict[str, RecordValue]] = Field(
        description="one per pupil released, with exactly `fields`; dates are ISO 8601 strings"
    )
    record_count: int
    audit_index: int
    acknowledgement: str
    reasons: list[str]


class LawfulBasisOut(BaseModel):
    article: str
    references: list[str]


class PurposeOut(BaseModel):
    id: str
    title: str
    description: str
    lawful_basis: LawfulBasisOut
    who_may_ask: str
    org_type: Literal["school", "la", "trust", "dfe", "operator"]
    roles: list[str]
    criterion: str
    fields: list[str]
    fields_description: str
    retention: str
    consent: ConsentRule
    acknowledgement: str = Field(description='what a requester accepts by sending "acknowledged": true')


class PurposesOut(BaseModel):
    policy_version: str
    policy_hash: str
    purposes: list[PurposeOut]


class PupilRefOut(BaseModel):
    pupil_ref: str
    upn: str
    forename: str
    surname: str
    date_of_birth: dt.date
    release_id: str
    purpose: str
    recipient: Recipient
    audit_index: int


@router.get("/v1/purposes", response_model=PurposesOut, responses=errors(401, 503))
def get_purposes(runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    catalogue = runtime.catalogue
    return {
        "policy_version": catalogue.version,
        "policy_hash": catalogue.content_hash,
        "purposes": [
            {
                "id": p.id,
                "title": p.title,
                "description": p.description,
                "lawful_basis": {
                    "article": p.lawful_basis.article,
                    "references": list(p.lawful_basis.legal_references),
                },
                "who_may_ask": recipients(p),
                "org_type": p.requester.org_type,
                "roles": list(p.requester.roles),
                "criterion": p.criterion_description,
                "fields": list(p.output_fields),
                "fields_description": fields_released(p),
                "retention": p.retention.describe(),
                "consent": p.consent.value,
                "acknowledgement": p.acknowledgement,
            }
            for p in catalogue.purposes
        ],
    }


@router.post(
    "/v1/releases",
    status_code=201,
    response_model=ReleaseOut,
    response_model_by_alias=True,
    response_class=OrjsonResponse,
    responses=authenticated(403, body=True),
)
async def post_release(runtime: RuntimeDep, principal: PrincipalDep, body: ReleaseIn) -> OrjsonResponse:
    if body.acknowledged is not True:
        # Refused before any decision: the request is incomplete, as a missing purpose would be.
        raise InvalidInput(
            [
                {
                    "row": None,
                    "field": "body.acknowledged",
                    "message": "must be true: the requester accepts the purpose's acknowledgement",
                }
            ]
        )
    request = ReleaseRequest(
        purpose=body.purpose,
        schools=tuple(body.schools) if body.schools is not None else None,
        upns=tuple(body.upns) if body.upns is not None else None,
        from_date=body.from_,
        to_date=body.to,
        justification=body.justification,
    )
    written = await run_in_threadpool(_release_json, runtime, principal, request)
    return OrjsonResponse(content=written, status_code=201)


def _release_json(runtime: Runtime, principal: Principal, request: ReleaseRequest) -> bytes:
    """The release made and written out in the worker thread, so that a large one never holds the
    event loop. Written field by field as `ReleaseOut` documents it, without validating ten thousand
    records through the model: their fields are the purpose's (`fields`), made by the core."""
    made = releases.create_release(runtime.sessions, runtime.keys, runtime.catalogue, principal, request)
    return json_bytes(
        {
            "release_id": made.release_id,
            "purpose": made.purpose,
            "recipient": {"org_type": made.recipient.org_type, "org_id": made.recipient.org_id},
            "created_at": made.created_at,
            "expires_at": made.expires_at,
            "policy_version": made.policy_version,
            "policy_hash": made.policy_hash,
            "from": made.from_date,
            "to": made.to_date,
            "fields": made.fields,
            "records": made.records,
            "record_count": made.record_count,
            "audit_index": made.audit_index,
            "acknowledgement": made.acknowledgement,
            "reasons": made.reasons,
        }
    )


def _meta(meta: releases.ReleaseMetadata) -> ReleaseMeta:
    return ReleaseMeta.model_validate(meta.as_dict())


@router.get("/v1/releases/{release_id}", response_model=ReleaseMeta, responses=authenticated(403, 404))
async def get_release(
    runtime: RuntimeDep, principal: PrincipalDep, release_id: Annotated[str, Path(max_length=40)]
) -> ReleaseMeta:
    return _meta(await run_in_threadpool(releases.get_release, runtime.sessions, principal, release_id))


@router.post(
    "/v1/releases/{release_id}/deletion", response_model=ReleaseMeta, responses=authenticated(403, 404, 409)
)
async def post_deletion(
    runtime: RuntimeDep, principal: PrincipalDep, release_id: Annotated[str, Path(max_length=40)]
) -> ReleaseMeta:
    return _meta(await run_in_threadpool(releases.attest_deletion, runtime.sessions, principal, release_id))


@router.get("/v1/releases", response_model=ReleaseList, responses=authenticated(403))
async def get_releases(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    status: Literal["overdue", "active", "deleted", "expired"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> ReleaseList:
    listing = await run_in_threadpool(releases.list_releases, runtime.sessions, principal, status, limit)
    metas = [_meta(m) for m in listing.releases]
    return ReleaseList.model_validate({"status": listing.status, "releases": metas})


@router.get(
    "/v1/schools/{urn}/pupil-refs/{pupil_ref}", response_model=PupilRefOut, responses=authenticated(403, 404)
)
async def get_pupil_ref(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    urn: Annotated[int, Path(ge=100000, le=999999)],
    pupil_ref: Annotated[str, Path(max_length=40)],
) -> JSONResponse:
    result = await run_in_threadpool(
        releases.resolve_ref, runtime.sessions, runtime.keys, principal, urn, pupil_ref
    )
    return JSONResponse(content=jsonable_encoder(through(PupilRefOut, result)))
