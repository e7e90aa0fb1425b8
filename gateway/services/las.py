"""A local authority's own view: its name and schools from the register of schools, and the releases
made to it, each with where it stands in its life cycle.

Read-only metadata of the LA's own schools and releases (no pupil data, nothing about anyone else), so
an allowed view is not an audit event; who may look is asked of the access policy, and a refusal is
recorded. Requests, reads of one release and attestations go through gateway.services.releases, as
the API's do, and are recorded as the API records them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from gateway.auth import Principal
from gateway.db.base import utcnow
from gateway.db.repositories import releases as release_repo
from gateway.db.repositories import schools as school_repo
from gateway.db.repositories.releases import StoredRelease
from gateway.db.session import transaction
from gateway.services import access
from gateway.services.common import release_metadata
from policies.access import LA_CONSOLE

#: A release whose expiry is this close is shown as expiring, so that its deletion can be planned.
EXPIRING_WITHIN = dt.timedelta(days=30)
#: The most releases one page lists; an LA makes a few a term.
MAX_LISTED = 500


@dataclass(frozen=True, slots=True)
class LaSchool:
    """A school of the LA as the register of schools has it."""

    urn: int
    name: str
    phase: str
    status: str
    type: str | None


@dataclass(frozen=True, slots=True)
class StageCounts:
    """How many of the listed releases are at each life stage (`life_stage`)."""

    active: int
    expiring: int
    expired: int
    deleted: int


@dataclass(frozen=True, slots=True)
class LaOverview:
    """The LA's name (None when no school of the register belongs to it), its schools and its releases.

    Each release is `common.release_metadata` with its stage, days overdue and days left."""

    la_code: str
    la_name: str | None
    schools: list[LaSchool]
    releases: list[dict[str, Any]]
    release_total: int
    counts: StageCounts


async def authorise_case_officer(sessions: sessionmaker[Session], principal: Principal) -> None:
    """The LA pages are for an LA's case officers: anyone else is refused, and the refusal recorded."""
    await access.authorise_async(sessions, principal, LA_CONSOLE)


def life_stage(deleted_at: dt.datetime | None, expires_at: dt.datetime, now: dt.datetime) -> str:
    """deleted, expired (past expiry, deletion not attested: overdue), expiring (within 30 days), active."""
    if deleted_at is not None:
        return "deleted"
    if expires_at <= now:
        return "expired"
    if expires_at - now <= EXPIRING_WITHIN:
        return "expiring"
    return "active"


def stage_of(metadata: dict[str, Any]) -> str:
    """The life stage of a release as `common.release_metadata` describes it, now."""
    return life_stage(metadata["deleted_at"], metadata["expires_at"], utcnow())


def _listed(release: StoredRelease, now: dt.datetime) -> dict[str, Any]:
    return {
        **release_metadata(release, now).as_dict(),
        "stage": life_stage(release.deleted_at, release.expires_at, now),
        "days_overdue": max(0, (now - release.expires_at).days) if release.deleted_at is None else 0,
        "days_left": max(0, (release.expires_at - now).days),
    }


def overview(sessions: sessionmaker[Session], principal: Principal) -> LaOverview:
    """The LA's name, its schools and its releases (newest first)."""
    access.authorise(sessions, principal, LA_CONSOLE)
    la_code = principal.org_id
    now = utcnow()
    with transaction(sessions) as db:
        return _overview(db, la_code, now)


def _overview(db: Session, la_code: str, now: dt.datetime) -> LaOverview:
    schools = [LaSchool(urn=s.urn, name=s.name, phase=s.phase, status=s.status, type=s.type_of_establishment)
               for s in school_repo.la_schools(db, la_code)]
    listed = [_listed(r, now) for r in release_repo.releases_to(db, "la", la_code, MAX_LISTED)]
    stages = [r["stage"] for r in listed]
    return LaOverview(
        la_code=la_code,
        la_name=school_repo.la_name(db, la_code),
        schools=schools,
        releases=listed,
        release_total=release_repo.count_releases_to(db, "la", la_code),
        counts=StageCounts(*(stages.count(stage) for stage in ("active", "expiring", "expired", "deleted"))),
    )

