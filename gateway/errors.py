"""One error type that carries its HTTP status, and the handlers that render it.

Messages never contain a row's values: they name the row and the field, and say what is wrong.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from anonymisation.keys import KeyUnavailable

log = structlog.get_logger("gateway.errors")


class GatewayError(Exception):
    status_code = 400

    def __init__(self, detail: Any, *, status_code: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail if isinstance(detail, str) else type(self).__name__)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers


class Unauthenticated(GatewayError):
    status_code = 401

    def __init__(self, reason: str):
        super().__init__(reason, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(GatewayError):
    status_code = 403

    def __init__(self, reasons: list[str]):
        super().__init__({"decision": "deny", "reasons": reasons})


class NotFound(GatewayError):
    status_code = 404


class Conflict(GatewayError):
    status_code = 409


class PayloadTooLarge(GatewayError):
    status_code = 413


class UnsupportedMediaType(GatewayError):
    status_code = 415


class InvalidInput(GatewayError):
    """422 with a list of {row, field, message}; row is 1-based for data rows, None for the body."""

    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__({"errors": errors})


class ServiceUnavailable(GatewayError):
    status_code = 503


def _render(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        if isinstance(exc, Unauthenticated):
            # Not in the audit log: anyone can send a bad token, and the log is kept for years. One
            # line with the fixed reason, never the token (README, "Security").
            log.info("unauthenticated", reason=exc.detail, method=request.method, path=request.url.path)
        return _render(exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the offending input; ours names location and problem only.
        errors = [
            {"row": None, "field": ".".join(str(p) for p in err.get("loc", ())),
             "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        return _render(422, {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _render(exc.status_code, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(KeyUnavailable)
    async def _key_destroyed(request: Request, exc: KeyUnavailable) -> JSONResponse:
        # A year shredded by retention while a request was reading it: the data is gone, not broken.
        log.info("key_unavailable", path=request.url.path)
        return _render(
            410, "the academic year's data was destroyed at the end of retention; nothing was released")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, never a client's fault: log where it happened, not the message (it could hold data).
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "unknown"
        log.error("unhandled_error", error_type=type(exc).__name__, where=where, path=request.url.path)
        return _render(500, "internal error; nothing was released")

    # SQLAlchemy's, and the drivers' own: bulk reads and writes (COPY, executemany) go to them directly.
    @app.exception_handler(OperationalError)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(sqlite3.OperationalError)
    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        cause = exc.orig if isinstance(exc, OperationalError) else exc
        log.error("database_unavailable", error_type=type(cause).__name__ if cause is not None else "unknown")
        return _render(503, "the database is unavailable; nothing was stored")
