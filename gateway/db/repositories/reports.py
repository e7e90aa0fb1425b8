"""SQL of the schools' reports: the benchmark snapshots, the open schools and their rosters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import ReportSnapshot, Roster, School
from gateway.db.repositories import rosters as roster_repo
from schemas import rosters as core

#: What the services read: a stored snapshot and a school of the register.
StoredSnapshot = ReportSnapshot
__all__ = ["School", "StoredSnapshot"]


def get_snapshot(db: Session, academic_year: int, fortnight_start: dt.date) -> ReportSnapshot | None:
    return db.get(ReportSnapshot, (academic_year, fortnight_start))


def latest_snapshot(
    db: Session, academic_year: int, on_or_before: dt.date | None = None
) -> ReportSnapshot | None:
    stmt = select(ReportSnapshot).where(ReportSnapshot.academic_year == academic_year)
    if on_or_before is not None:
        stmt = stmt.where(ReportSnapshot.fortnight_start <= on_or_before)
    return db.execute(stmt.order_by(ReportSnapshot.fortnight_start.desc()).limit(1)).scalar_one_or_none()


def insert_snapshot(db: Session, values: dict[str, Any]) -> ReportSnapshot:
    row = ReportSnapshot(**values)
    db.add(row)
    db.flush()
    return row


def schools_with_status(db: Session, statuses: Sequence[str]) -> list[School]:
    stmt = select(School).where(School.status.in_(list(statuses))).order_by(School.urn)
    return list(db.execute(stmt).scalars())


def schools_of_trust(db: Session, trust_uid: str) -> list[School]:
    stmt = select(School).where(School.trust_uid == trust_uid).order_by(School.name, School.urn)
    return list(db.execute(stmt).scalars())


def schools_named(db: Session, urns: Sequence[int]) -> dict[int, str]:
    rows = db.execute(select(School.urn, School.name).where(School.urn.in_(list(urns)))).all()
    return {int(r.urn): str(r.name) for r in rows}


def roster_urns(db: Session, academic_year: int) -> set[int]:
    return {int(u) for u in db.scalars(select(Roster.urn).where(Roster.academic_year == academic_year))}


def roster(db: Session, urn: int, academic_year: int) -> core.Roster | None:
    return roster_repo.get(db, urn, academic_year)
