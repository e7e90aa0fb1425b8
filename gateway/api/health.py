"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway.deps import RuntimeDep

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: Literal["ok"]


class Checks(BaseModel):
    keys: bool
    database: bool


class ReadyOut(BaseModel):
    status: Literal["ready", "not ready"]
    checks: Checks


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut,
            responses={503: {"model": ReadyOut, "description": "not ready: no keys, or no database"}})
def readyz(runtime: RuntimeDep, response: Response) -> ReadyOut:
    database = False
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT tree_size FROM audit_state WHERE id = 1"))
        database = True
    except SQLAlchemyError:
        pass
    checks = Checks(keys=runtime.keys is not None, database=database)
    ready = checks.keys and checks.database
    response.status_code = 200 if ready else 503
    return ReadyOut(status="ready" if ready else "not ready", checks=checks)
