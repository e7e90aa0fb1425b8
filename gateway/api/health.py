"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks = {"keys": runtime.keys is not None, "database": False}
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT tree_size FROM audit_state WHERE id = 1"))
        checks["database"] = True
    except SQLAlchemyError:
        pass
    ready = all(checks.values())
    return JSONResponse(status_code=200 if ready else 503, content={"status": "ready" if ready else "not ready", "checks": checks})
