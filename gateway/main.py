"""The FastAPI application."""

from __future__ import annotations

import functools
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api import at_risk, consents, feeds, health, pupils, releases, reports
from gateway.api import audit as audit_api
from gateway.api import stats as stats_api
from gateway.api.responses import DOCUMENT_ONLY, Invalid
from gateway.api.strict_query import reject_unknown_query
from gateway.console.routes import root_router as site_root_router
from gateway.console.routes import router as console_router
from gateway.console.web import install_not_found_page
from gateway.errors import install_error_handlers
from gateway.logging import configure_logging
from gateway.runtime import Runtime, build_runtime
from gateway.services.audit import trail as audit_log
from gateway.services.retention import retention_daily
from gateway.settings import Settings

log = structlog.get_logger("gateway.http")


class RequestContext:
    """Binds a request id to every log line of a request and logs one line per request.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs the rest of
    the app in a task group with a memory stream per request, which cost about a millisecond of CPU
    per request, a fifth of what a small register costs in all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = Headers(scope=scope).get("x-request-id")
        if not request_id or len(request_id) > 64 or not request_id.replace("-", "").isalnum():
            request_id = uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)
        principal = scope.get("state", {}).get("principal")
        # The path only: query strings are never logged (they could carry anything a client sends).
        log.info(
            "request",
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            org_type=getattr(principal, "org_type", None),
            org_id=getattr(principal, "org_id", None),
        )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path: Starlette's 405 names only the first
    route that matched the path, so a path with GET and POST routes (consents) advertised one."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        if route.path and route.methods and _path_regex(route.path).match(request.url.path):
            methods |= route.methods
    return sorted(methods)


@functools.cache
def _path_regex(path: str) -> re.Pattern[str]:
    return compile_path(path)[0]


async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    allow = allowed_methods(request)
    headers = {"Allow": ", ".join(allow)}
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)


def document(app: FastAPI) -> None:
    """The OpenAPI document, told the truth: FastAPI's default 422 body (`HTTPValidationError`) is
    not what `gateway.errors` sends, so every 422 is the gateway's own `Invalid`; and each operation
    that can answer 401 needs the bearer token, so it says so."""

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        models = components.setdefault("schemas", {})
        for model in (Invalid, *DOCUMENT_ONLY):
            definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, nested in definition.pop("$defs", {}).items():
                models.setdefault(name, nested)
            models.setdefault(model.__name__, definition)
        models.pop("HTTPValidationError", None)
        models.pop("ValidationError", None)
        consents.document_decisions(models["ConsentIn"], app.state.runtime.catalogue)
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                if "422" in responses:
                    responses["422"]["content"] = {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Invalid"}}
                    }
                if "401" in responses:
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


#: Every API operation refuses query parameters it does not take (gateway.api.strict_query).
STRICT_QUERY = [Depends(reject_unknown_query)]


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else Settings())
    configure_logging(settings.env)
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Signs a tree head at least once per minute of audit activity (docs/design.md, "tree head").
        # Runs retention daily; the first run waits a few minutes after start-up.
        signer = audit_log.head_signer(runtime.sessions, runtime.settings.data_dir)
        async with signer, retention_daily(runtime):
            yield

    app = FastAPI(
        title="Attendance data gateway",
        version="1.0.0",
        description="Purpose-limited, audited exchange of school attendance data in England.",
        lifespan=lifespan,
        docs_url=None,  # served by the console's router from vendored files (works offline)
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_exception_handler(405, method_not_allowed)
    install_not_found_page(app)
    document(app)

    app.add_middleware(RequestContext)

    app.include_router(health.router, dependencies=STRICT_QUERY)
    app.include_router(feeds.router, dependencies=STRICT_QUERY)
    app.include_router(pupils.router, dependencies=STRICT_QUERY)
    app.include_router(at_risk.router, dependencies=STRICT_QUERY)
    app.include_router(audit_api.router, dependencies=STRICT_QUERY)
    app.include_router(releases.router, dependencies=STRICT_QUERY)
    app.include_router(consents.router, dependencies=STRICT_QUERY)
    app.include_router(stats_api.router, dependencies=STRICT_QUERY)
    app.include_router(reports.router, dependencies=STRICT_QUERY)
    app.include_router(console_router)
    app.include_router(site_root_router)
    return app
