"""SQL for retention: what is past its time, and deleting it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, delete, exists, func, select, union, update
from sqlalchemy.orm import Session, aliased

from gateway.db import bulk, partitions
from gateway.db.models import (
    ConsentRecord,
    DataKey,
    Enrolment,
    EnrolmentCodeTotal,
    Mark,
    PupilIdentity,
    PupilYearRollup,
    Register,
    RegisterHistory,
    Release,
    ReleasePupil,
    Roster,
    StatsCell,
)


def years_with_data(db: Session) -> list[int]:
    stmt = union(
        select(DataKey.academic_year).distinct(),
        select(Enrolment.academic_year).distinct(),
        select(Mark.academic_year).distinct(),
        select(Register.academic_year).distinct(),
    )
    return sorted(int(y) for y in db.execute(stmt).scalars())


def count_year(db: Session, academic_year: int) -> dict[str, int]:
    def n(model: Any) -> int:
        stmt = select(func.count()).select_from(model).where(model.academic_year == academic_year)
        return int(db.execute(stmt).scalar_one())

    return {
        "shredded_keys": n(DataKey),
        "deleted_identities": n(PupilIdentity),
        "deleted_marks": n(Mark),
        "deleted_registers": n(Register),
        "deleted_register_history": n(RegisterHistory),
        "deleted_enrolments": n(Enrolment),
        "deleted_code_totals": n(EnrolmentCodeTotal),
    }


def prepare_years(db: Session, years: list[int]) -> list[str]:
    """PostgreSQL: the partitions of these academic years that are missing, made."""
    return partitions.ensure(db.connection(), years)


def delete_year(db: Session, academic_year: int) -> list[str]:
    """Delete the year's personal data: on PostgreSQL its partitions are dropped first (their files
    go at commit), then every table's rows of the year are deleted (a default partition's, and the
    tables not partitioned). Returns the partitions dropped."""
    dropped = partitions.drop_year(db.connection(), academic_year)
    for model in (DataKey, PupilIdentity, Mark, Register, RegisterHistory, EnrolmentCodeTotal, Enrolment,
                  PupilYearRollup, StatsCell, Roster):
        db.execute(delete(model).where(model.academic_year == academic_year))
    return dropped


def releases_to_expire(db: Session, as_of: dt.datetime) -> list[Release]:
    stmt = (select(Release).where(Release.expires_at <= as_of, Release.expired_at.is_(None))
            .order_by(Release.expires_at))
    return list(db.execute(stmt).scalars())


def mark_expired(db: Session, release_ids: list[str], when: dt.datetime) -> None:
    if release_ids:
        db.execute(update(Release).where(Release.id.in_(release_ids)).values(expired_at=when))
        # A pupil_ref of an expired release no longer needs resolving: drop the link to the pupil.
        db.execute(delete(ReleasePupil).where(ReleasePupil.release_id.in_(release_ids)))


def overdue_releases(db: Session, as_of: dt.datetime) -> list[Release]:
    stmt = (select(Release).where(Release.expires_at <= as_of, Release.deleted_at.is_(None))
            .order_by(Release.expires_at))
    return list(db.execute(stmt).scalars())


def stale_consents(db: Session, before: dt.datetime) -> list[str]:
    """Consent records superseded (or withdrawn) before `before`: kept six years, then deleted."""
    c, later = ConsentRecord, aliased(ConsentRecord)
    later_one = and_(later.pupil_id == c.pupil_id, later.purpose == c.purpose, later.seq > c.seq)
    superseded = exists().where(and_(later_one, later.recorded_at < before))
    withdrawn_latest = and_(c.decision == "withdrawn", c.recorded_at < before, ~exists().where(later_one))
    stmt = select(c.receipt_id).where(superseded | withdrawn_latest)
    return [str(r) for r in db.execute(stmt).scalars()]


def delete_consents(db: Session, receipt_ids: list[str]) -> None:
    for chunk in bulk.chunks(receipt_ids):
        db.execute(delete(ConsentRecord).where(ConsentRecord.receipt_id.in_(chunk)))
