"""The FastAPI application."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response

from gateway.api import audit as audit_api
from gateway.api import consents, releases
from gateway.api import feeds, health, pupils
from gateway.api import stats as stats_api
from gateway.console.routes import router as console_router
from gateway.services import audit_log
from gateway.errors import install_error_handlers
from gateway.logging import configure_logging
from gateway.runtime import Runtime, build_runtime
from gateway.services.retention import retention_daily
from gateway.settings import Settings

log = structlog.get_logger("gateway.http")


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else Settings())
    configure_logging(settings.env)
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Signs a tree head at least once per minute of audit activity (issue 5).
        # Runs retention daily (issue 6); the first run waits a few minutes after start-up.
        async with audit_log.head_signer(runtime.sessions, runtime.settings.data_dir), retention_daily(runtime):
            yield

    app = FastAPI(
        title="Attendance data gateway",
        version="1.0.0",
        description="Purpose-limited, audited exchange of school attendance data in England.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.middleware("http")
    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.headers.get("x-request-id")
        if not request_id or len(request_id) > 64 or not request_id.replace("-", "").isalnum():
            request_id = uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        response = await call_next(request)
        principal = getattr(request.state, "principal", None)
        # The path only: query strings are never logged (they could carry anything a client sends).
        log.info(
            "request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            org_type=getattr(principal, "org_type", None),
            org_id=getattr(principal, "org_id", None),
        )
        response.headers["x-request-id"] = request_id
        return response

    app.include_router(health.router)
    app.include_router(feeds.router)
    app.include_router(pupils.router)
    app.include_router(audit_api.router)
    app.include_router(releases.router)
    app.include_router(consents.router)
    app.include_router(stats_api.router)
    app.include_router(console_router)
    return app
