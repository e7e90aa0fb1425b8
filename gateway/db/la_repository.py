"""SQL for a local authority's own view: its name and schools from the register of schools, and the
releases made to it. Release metadata only: the records of a release are never kept."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.db.models import Release, School


def la_name(db: Session, la_code: str) -> str | None:
    """The LA's name as the register of schools spells it (the most recent entry, if they differ)."""
    stmt = (
        select(School.la_name)
        .where(School.la_code == la_code)
        .order_by(School.updated_at.desc(), School.urn)
        .limit(1)
    )
    return db.execute(stmt).scalar_one_or_none()


def la_schools(db: Session, la_code: str) -> list[School]:
    stmt = select(School).where(School.la_code == la_code).order_by(School.name, School.urn)
    return list(db.execute(stmt).scalars())


def releases_to(db: Session, org_type: str, org_id: str, limit: int) -> list[Release]:
    """Releases whose recipient is this organisation, newest first."""
    stmt = (
        select(Release)
        .where(Release.recipient_org_type == org_type, Release.recipient_org_id == org_id)
        .order_by(Release.created_at.desc(), Release.id)
        .limit(limit)
    )
    return list(db.execute(stmt).scalars())


def count_releases_to(db: Session, org_type: str, org_id: str) -> int:
    stmt = select(func.count()).select_from(Release).where(
        Release.recipient_org_type == org_type, Release.recipient_org_id == org_id
    )
    return int(db.execute(stmt).scalar_one())
