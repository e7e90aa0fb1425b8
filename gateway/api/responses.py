"""The error bodies every route can answer with, defined once, and the helper that documents them.

`gateway.errors` renders every error as `{"detail": ...}`; these models say what `detail` holds for
each status, so that the OpenAPI document describes the bodies the gateway really sends."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class Unauthenticated(BaseModel):
    """401: the bearer token is missing or not accepted, and why."""

    detail: str


class Denial(BaseModel):
    decision: Literal["deny"]
    reasons: list[str] = Field(description="`code: explanation`, one per rule that refused; audited")


class Denied(BaseModel):
    """403: the decision point refused, with its reasons."""

    detail: Denial


class FieldError(BaseModel):
    row: int | None = Field(description="1-based data row of a register; null for the request itself")
    field: str | None = Field(description="where: `path.urn`, `query.from`, `body.upns.0`, a register column")
    message: str = Field(description="what is wrong; never the value sent (it may be personal data)")


class Problems(BaseModel):
    errors: list[FieldError]


class Invalid(BaseModel):
    """422: every problem of the request, by row and field; nothing was stored."""

    detail: Problems


class Problem(BaseModel):
    """400, 404, 409, 413, 415, 503: what went wrong, in a sentence."""

    detail: str


#: Models the document shows that no route declares to FastAPI (bodies a route reads itself, such as
#: the register, which may also be CSV); `gateway.main.document` adds them to its components.
DOCUMENT_ONLY: list[type[BaseModel]] = []


_DESCRIPTIONS: dict[int, str] = {
    400: "the body cannot be read as JSON text at all (FastAPI: not UTF-8)",
    401: "no bearer token, or one that is not accepted",
    403: "denied, with the reasons; the decision is recorded in the audit log",
    404: "not found",
    409: "conflicts with what is already stored",
    413: "the body is larger than the gateway accepts",
    415: "a media type the route does not read",
    422: "invalid request: every problem, by row and field; nothing was stored",
    503: "the database is unavailable; nothing was stored or released",
}
_MODELS: dict[int, type[BaseModel]] = {401: Unauthenticated, 403: Denied, 422: Invalid}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}

#: Every route that reads the database can answer 503 when it is down (gateway.errors).
ALWAYS = (503,)
#: Statuses of a route that needs a bearer token and has input to validate.
AUTHENTICATED = (401, 422, 503)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route for the given error statuses, each with its body model."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        entry: dict[str, Any] = {"model": _MODELS.get(status, Problem), "description": _DESCRIPTIONS[status]}
        if status == 401:
            entry["headers"] = _WWW_AUTHENTICATE
        out[status] = entry
    return out


def authenticated(*statuses: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
    """`errors` of a route that needs a bearer token (401) and validates its input (422); one that
    reads a JSON body also answers 400 to bytes that are no text."""
    return errors(*AUTHENTICATED, *statuses, *((400,) if body else ()))


def json_bytes(content: object) -> bytes:
    """JSON as JSONResponse renders jsonable_encoder's output (dates and aware datetimes ISO 8601,
    compact, UTF-8), with orjson: a release of 10,000 records in a few milliseconds. orjson refuses any
    other type (TypeError), and writes NaN as null where the standard library would refuse it; a
    release holds no float but rates, which are finite."""
    return orjson.dumps(content)


class OrjsonResponse(JSONResponse):
    """JSON written by orjson (`json_bytes`). Bytes already written pass as they are, so that a route
    can write a large body in a worker thread rather than on the event loop."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else json_bytes(content)


def through(model: type[BaseModel], value: object) -> dict[str, Any]:
    """A service's answer (a dataclass) read through the route's response model: only the fields the
    model declares, under its names, as Python values, which the route then writes as it always has."""
    return model.model_validate(value, from_attributes=True).model_dump(by_alias=True)
