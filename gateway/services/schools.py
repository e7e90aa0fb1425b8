"""Use case: import or refresh the register of schools from a GIAS establishment CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.base import utcnow
from gateway.db.repositories import rollup
from gateway.db.repositories import schools as school_repo
from gateway.db.session import transaction
from gateway.services import audit
from schemas.schools import SchoolRecord, open_gias, read_gias

log = structlog.get_logger("gateway.schools")

BATCH = 2000


@dataclass(frozen=True, slots=True)
class GiasImport:
    """What an import did: establishments read and stored (one per URN), how many of those were new or
    updated, and the pupil-years whose statistics cells moved with a school's new LA, phase or type."""

    read: int
    stored: int
    new: int
    updated: int
    pupil_years_moved: int


def import_gias(sessions: sessionmaker[Session], path: Path,
                progress: Callable[[int, int], None] | None = None) -> GiasImport:
    """All-or-nothing: the whole file is read and checked before anything is stored."""
    total_bytes = path.stat().st_size
    records: list[SchoolRecord] = []
    with path.open("rb") as raw:
        text = open_gias(raw)
        for record in read_gias(text):
            records.append(record)
            if progress and len(records) % BATCH == 0:
                progress(raw.tell(), total_bytes)
    if progress:
        progress(total_bytes, total_bytes)
    now = utcnow()
    rows = [{**asdict(r), "updated_at": now} for r in {r.urn: r for r in records}.values()]
    with transaction(sessions) as db:
        before = school_repo.count_schools(db)
        attributes = rollup.school_attributes(db)
        school_repo.upsert_schools(db, rows)
        after = school_repo.count_schools(db)
        # A school's new LA, phase or type moves its pupils between statistics cells.
        moved = [
            r["urn"] for r in rows if r["urn"] in attributes and attributes[r["urn"]] != _attributes_of(r)
        ]
        refreshed = rollup.refresh_schools(db, moved)
        new = after - before
        summary = GiasImport(
            read=len(records), stored=len(rows), new=new, updated=len(rows) - new, pupil_years_moved=refreshed
        )
        audit.record(
            db, audit.new_event(None, "schools.imported", record_count=len(rows), details=asdict(summary))
        )
    log.info("schools_imported", **asdict(summary))
    return summary


def _attributes_of(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["la_code"], row["phase"], row["type_of_establishment"])
