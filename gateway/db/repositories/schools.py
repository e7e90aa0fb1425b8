"""SQL of the register of schools (GIAS), and of a local authority's view of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.db import bulk
from gateway.db.models import School
from gateway.db.session import is_postgres

#: Columns a newer GIAS extract replaces.
#: What an import replaces of a school it already has: everything GIAS says of it.
_UPDATED = ("la_code", "la_name", "establishment_number", "name", "phase", "type_of_establishment", "status",
            "updated_at", "type_group", "religious_character", "admissions_policy", "region",
            "number_of_pupils", "trust_uid", "trust_name")


def get_school(db: Session, urn: int, *, lock: bool = False) -> School | None:
    stmt = select(School).where(School.urn == urn)
    if lock and is_postgres(db):
        stmt = stmt.with_for_update()
    return db.execute(stmt).scalar_one_or_none()


def upsert_schools(db: Session, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in bulk.chunks(rows, 500):
        stmt = bulk.insert_on_conflict(db, School).values(list(chunk))
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[School.urn], set_={c: getattr(excluded, c) for c in _UPDATED}
        )
        db.execute(stmt)


def count_schools(db: Session) -> int:
    return int(db.execute(select(func.count()).select_from(School)).scalar_one())


def school_las(db: Session, urns: Sequence[int]) -> dict[int, str]:
    rows = db.execute(select(School.urn, School.la_code).where(School.urn.in_(list(urns)))).all()
    return {int(r.urn): str(r.la_code) for r in rows}


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
