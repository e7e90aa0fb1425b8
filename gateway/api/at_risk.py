"""GET /v1/schools/{urn}/pupils-at-risk: a school's pupils at risk of persistent absence, with reasons."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from gateway.api.responses import authenticated
from gateway.deps import PrincipalDep, RuntimeDep
from gateway.errors import NotFound
from gateway.services import at_risk
from policies.thresholds import PERSISTENT_ABSENCE_PERCENT

router = APIRouter(tags=["schools"])


class AtRiskPupilOut(BaseModel):
    upn: str
    forename: str
    surname: str
    year_group: str
    reasons: list[str] = Field(description="why the pupil is listed, in plain words")


class AtRiskRuleOut(BaseModel):
    """The published rule (the catalogue's `school_reports.at_risk`)."""

    recent_weeks: int
    recent_attendance_below: float
    recent_drop_pp: float
    near_threshold: float
    min_possible_sessions: int
    persistent_absence_line: float
    reason: str


class AtRiskListOut(BaseModel):
    urn: int
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date
    pupils: list[AtRiskPupilOut]
    rule: AtRiskRuleOut
    audit_index: int


@router.get("/v1/schools/{urn}/pupils-at-risk", response_model=AtRiskListOut, response_model_by_alias=True,
            responses=authenticated(403, 404))
async def get_pupils_at_risk(
    runtime: RuntimeDep,
    principal: PrincipalDep,
    urn: Annotated[int, Path(ge=100000, le=999999)],
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: Annotated[dt.date | None, Query()] = None,
) -> AtRiskListOut:
    reports = runtime.catalogue.school_reports
    if reports is None:
        raise NotFound("the catalogue publishes no rule for pupils at risk")
    rule = reports.at_risk
    result = await run_in_threadpool(
        at_risk.list_at_risk, runtime.sessions, runtime.keys, rule, principal, urn, from_, to
    )
    return AtRiskListOut(
        urn=result.urn,
        from_=result.from_,
        to=result.to,
        audit_index=result.audit_index,
        pupils=[AtRiskPupilOut(upn=p.upn, forename=p.forename, surname=p.surname, year_group=p.year_group,
                               reasons=list(p.reasons)) for p in result.pupils],
        rule=AtRiskRuleOut(**rule.model_dump(), persistent_absence_line=PERSISTENT_ABSENCE_PERCENT / 100),
    )
