"""GET /v1/schools/{urn}/pupils: a school's own pupils with their totals."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.responses import authenticated
from gateway.deps import PrincipalDep, RuntimeDep
from gateway.services import pupils

router = APIRouter(tags=["schools"])


class PupilOut(BaseModel):
    """`gateway.services.pupils.PupilTotals` on the wire."""

    model_config = ConfigDict(from_attributes=True)

    upn: str
    forename: str
    surname: str
    date_of_birth: dt.date
    year_group: str
    sen_status: str
    fsm_eligible: bool
    sessions_possible: int
    sessions_present: int
    sessions_approved_educational_activity: int
    sessions_authorised_absence: int
    sessions_unauthorised_absence: int
    attendance_rate: float | None = Field(
        description="attended (present or approved educational activity) over possible sessions, to four "
                    "decimal places rounded half up, as in a release; null with no possible session")
    persistent_absence: bool
    severe_absence: bool


class PupilListOut(BaseModel):
    urn: int
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date
    pupils: list[PupilOut]
    audit_index: int


@router.get("/v1/schools/{urn}/pupils", response_model=PupilListOut, response_model_by_alias=True,
            responses=authenticated(403, 404))
async def get_pupils(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    urn: Annotated[int, Path(ge=100000, le=999999)],
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: Annotated[dt.date | None, Query()] = None,
) -> PupilListOut:
    result = await run_in_threadpool(
        pupils.list_pupils, runtime.sessions, runtime.keys, principal, urn, from_, to
    )
    return PupilListOut(
        urn=result.urn,
        from_=result.from_,
        to=result.to,
        audit_index=result.audit_index,
        pupils=[PupilOut.model_validate(p) for p in result.pupils],
    )
