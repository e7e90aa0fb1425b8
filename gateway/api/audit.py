"""The audit log over HTTP: tree heads, proofs, events, subject access, public keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from stdnum.exceptions import ValidationError as UpnInvalid
from stdnum.gb import upn as upn_rules

from gateway.api.responses import OrjsonResponse, authenticated, errors, through
from gateway.api.strict_json import StrictJsonRoute
from gateway.deps import PrincipalDep, RuntimeDep
from gateway.errors import InvalidInput
from gateway.keys.signing import signing_keys
from gateway.services.audit import trail as audit_log
from schemas.upn import Upn

router = APIRouter(tags=["audit"], route_class=StrictJsonRoute)


class TreeHeadOut(BaseModel):
    tree_size: int
    root_hash: str = Field(description="hex SHA-256 Merkle tree hash (RFC 9162)")
    timestamp: str = Field(description="RFC 3339 UTC, whole seconds")
    key_id: str
    algorithm: Literal["Ed25519"]
    signature: str = Field(
        description='base64 Ed25519 signature of "{tree_size}\\n{root_hash}\\n{timestamp}\\n"'
    )


class InclusionProofOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    proof: list[str]


class ActorOut(BaseModel):
    org_type: str
    org_id: str
    sub: str


class EventBodyOut(BaseModel):
    """An entry exactly as logged: its RFC 8785 canonical bytes are the Merkle leaf's entry."""

    action: str
    actor: ActorOut
    occurred_at: str
    purpose: str | None
    decision: str | None
    reasons: list[str]
    subject_org_ids: list[str]
    record_count: int | None
    release_id: str | None
    details: dict[str, Any]
    pupil_refs: list[str] = Field(description="audit pseudonyms of the pupils concerned, never UPNs")


class EventOut(BaseModel):
    index: int
    leaf_hash: str
    event: EventBodyOut


class EventPageOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None
    audit_index: int


class SubjectAccessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upn: Upn

    @field_validator("upn")
    @classmethod
    def _valid_upn(cls, value: str) -> str:
        try:
            return str(upn_rules.validate(value))
        except UpnInvalid:
            # The message never repeats the value: it is a child's identifier.
            raise ValueError("not a valid UPN") from None


class RecipientOut(BaseModel):
    org_type: str
    org_id: str


class ReleaseSeenOut(BaseModel):
    audit_index: int
    release_id: str | None
    when: str
    recipient: RecipientOut
    purpose: str | None
    fields: list[str]
    expires_at: str | None


class SubjectAccessOut(BaseModel):
    releases: list[ReleaseSeenOut]
    audit_index: int


class JwkOut(BaseModel):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]
    created_at: str | None
    retired_at: str | None


class JwksOut(BaseModel):
    keys: list[JwkOut]


def _instant(field: str, text: str | None, *, end: bool) -> dt.datetime | None:
    """A date (the whole day, for ``to``) or an RFC 3339 date-time; naive times are UTC."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            return start + dt.timedelta(days=1, microseconds=-1) if end else start
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            [{"row": None, "field": field, "message": "must be a date or an RFC 3339 date-time"}]
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


#: `from` and `to` of the event filter: a date (the whole day) or an RFC 3339 date-time.
_INSTANT = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}


# The answers below hold only strings, integers and lists of them, which orjson writes byte for byte as
# the standard library does; the events' page holds entries, whose numbers may be floats, and is
# written by the standard library (as FastAPI did) so that an entry's digits stay as they were sent.


@router.get("/v1/audit/keys", response_model=JwksOut, response_class=OrjsonResponse)
async def get_keys(runtime: RuntimeDep) -> OrjsonResponse:
    """The log's public signing keys, current and retired, as a JWK Set: anyone may fetch them."""
    return OrjsonResponse(through(JwksOut, audit_log.public_jwks(runtime.settings.data_dir)))


@router.get(
    "/v1/audit/tree-head", response_model=TreeHeadOut, response_class=OrjsonResponse,
    responses=errors(401, 403, 503),
)
async def get_tree_head(runtime: RuntimeDep, principal: PrincipalDep) -> OrjsonResponse:
    await audit_log.authorise_dpo(runtime.sessions, principal)
    head = await run_in_threadpool(
        audit_log.current_head, runtime.sessions, signing_keys(runtime.settings.data_dir)
    )
    return OrjsonResponse(through(TreeHeadOut, head))


@router.get(
    "/v1/audit/proofs/inclusion", response_model=InclusionProofOut, response_class=OrjsonResponse,
    responses=authenticated(403),
)
async def get_inclusion_proof(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    index: Annotated[int, Query(ge=0, lt=2**63)],
    tree_size: Annotated[int, Query(ge=1, lt=2**63)],
) -> OrjsonResponse:
    await audit_log.authorise_dpo(runtime.sessions, principal)
    proof = await run_in_threadpool(audit_log.inclusion, runtime.sessions, index, tree_size)
    return OrjsonResponse(through(InclusionProofOut, proof))


@router.get(
    "/v1/audit/proofs/consistency", response_model=ConsistencyProofOut, response_class=OrjsonResponse,
    responses=authenticated(403),
)
async def get_consistency_proof(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    first: Annotated[int, Query(ge=1, lt=2**63)],
    second: Annotated[int, Query(ge=1, lt=2**63)],
) -> OrjsonResponse:
    await audit_log.authorise_dpo(runtime.sessions, principal)
    proof = await run_in_threadpool(audit_log.consistency, runtime.sessions, first, second)
    return OrjsonResponse(through(ConsistencyProofOut, proof))


@router.get(
    "/v1/audit/events", response_model=EventPageOut, response_class=JSONResponse, responses=authenticated(403)
)
async def get_events(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    from_: Annotated[str | None, Query(alias="from", max_length=40, json_schema_extra=_INSTANT)] = None,
    to: Annotated[str | None, Query(max_length=40, json_schema_extra=_INSTANT)] = None,
    org_id: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
    purpose: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
    decision: Literal["allow", "deny"] | None = None,
    action: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=audit_log.MAX_PAGE)] = 100,
) -> JSONResponse:
    await audit_log.authorise_dpo(runtime.sessions, principal)
    filters = audit_log.EventFilters(
        start=_instant("from", from_, end=False),
        end=_instant("to", to, end=True),
        org_id=org_id,
        purpose=purpose,
        decision=decision,
        action=action,
    )
    page = await run_in_threadpool(audit_log.list_events, runtime.sessions, principal, filters, cursor, limit)
    return JSONResponse(through(EventPageOut, page))


@router.post(
    "/v1/audit/subject-access", response_model=SubjectAccessOut, response_class=OrjsonResponse,
    responses=authenticated(403, body=True),
)
async def post_subject_access(
    runtime: RuntimeDep, principal: PrincipalDep, body: SubjectAccessIn
) -> OrjsonResponse:
    result = await run_in_threadpool(
        audit_log.subject_access, runtime.sessions, runtime.keys, principal, body.upn
    )
    return OrjsonResponse(through(SubjectAccessOut, result))
