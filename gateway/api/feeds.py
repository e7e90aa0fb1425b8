"""PUT /v1/schools/{urn}/attendance/{date}: a school's register for a day."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.responses import DOCUMENT_ONLY, authenticated
from gateway.auth import Principal
from gateway.deps import get_principal, get_runtime
from gateway.errors import PayloadTooLarge, UnsupportedMediaType
from gateway.runtime import Runtime
from gateway.services import feeds
from schemas.codes import codes_in_force
from schemas.feeds import EARLIEST_DOB, YEAR_GROUPS
from schemas.upn import Upn

router = APIRouter(tags=["feeds"])

ACCEPTED_MEDIA = frozenset({"application/json", "text/csv"})


#: Every register code, of 2024 and before (each is accepted only for the dates it is in force).
_CODES = sorted(codes_in_force(dt.date.min))
_YEAR_GROUPS = sorted(YEAR_GROUPS, key=lambda g: (g.isdigit(), int(g) if g.isdigit() else 0, g))
_Code = Literal[tuple(_CODES)]  # type: ignore[valid-type]
_YearGroup = Literal[tuple(_YEAR_GROUPS)]  # type: ignore[valid-type]


class RegisterRowIn(BaseModel):
    """A register row as the OpenAPI document shows it; `schemas.feeds` validates it (all-or-nothing)."""

    model_config = ConfigDict(extra="forbid")

    upn: Upn
    forename: str = Field(min_length=1, max_length=100)
    surname: str = Field(min_length=1, max_length=100)
    date_of_birth: dt.date = Field(description=f"from {EARLIEST_DOB.isoformat()}, before the register's date")
    year_group: _YearGroup
    sen_status: Literal["N", "K", "E"]
    fsm_eligible: bool
    am: _Code = Field(description="the AM session's register code, one in force on the date")
    pm: _Code = Field(description="the PM session's register code, one in force on the date")


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pupils: list[RegisterRowIn] = Field(min_length=1, description="each pupil once (by UPN)")


DOCUMENT_ONLY.append(RegisterIn)
_REGISTER_CSV = "text/csv with the header " + ",".join(RegisterRowIn.model_fields) + ", then a row per pupil"


class FeedReceiptOut(BaseModel):
    urn: int
    date: dt.date
    pupils: int
    version: int
    supersedes: int | None
    audit_index: int


async def read_body_capped(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes; refuse with 413 as soon as more arrive (never buffer it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _runtime(request: Request) -> Runtime:
    return get_runtime(request)


async def _principal(request: Request) -> Principal:
    """`gateway.deps.get_principal`, with one trip to the thread pool instead of two: FastAPI runs
    every plain-function dependency in a worker thread, and a national day is 20,000 registers, each
    of which hops to a thread again for the ingest itself. (The token check stays in a thread: the
    JWKS may be fetched over the network.)"""
    return await run_in_threadpool(get_principal, request, get_runtime(request))


@router.put(
    "/v1/schools/{urn}/attendance/{date}",
    response_model=FeedReceiptOut,
    status_code=201,
    responses={
        200: {"model": FeedReceiptOut, "description": "unchanged: the same register was already stored"},
        **authenticated(403, 404, 413, 415),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RegisterIn"}},
                "text/csv": {"schema": {"type": "string", "description": _REGISTER_CSV}},
            },
        }
    },
)
async def put_register(
    request: Request,
    response: Response,
    runtime: Annotated[Runtime, Depends(_runtime)],
    principal: Annotated[Principal, Depends(_principal)],
    urn: Annotated[int, Path(ge=100000, le=999999)],
    date: dt.date,
) -> FeedReceiptOut:
    await feeds.authorise_feed_async(runtime.sessions, principal, urn)
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media not in ACCEPTED_MEDIA:
        raise UnsupportedMediaType("send application/json or text/csv")
    body = await read_body_capped(request, runtime.settings.max_body_bytes)
    receipt = await run_in_threadpool(
        feeds.ingest, runtime.sessions, runtime.keys, principal, urn, date, body, media
    )
    if not receipt.created:
        response.status_code = 200
    return FeedReceiptOut(
        urn=receipt.urn,
        date=receipt.date,
        pupils=receipt.pupils,
        version=receipt.version,
        supersedes=receipt.supersedes,
        audit_index=receipt.audit_index,
    )
