"""Use case: rebuild or check the statistics' pupil-year rollup (``gateway stats rebuild``)."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from gateway.db import rollup_repository as rollup
from gateway.db.session import transaction
from gateway.services import audit

log = structlog.get_logger("gateway.stats")


class _Rollback(Exception):
    pass


def rebuild(sessions: sessionmaker[Session], academic_year: int | None = None, *, check: bool = False) -> dict[str, Any]:
    """Recompute ``pupil_years`` and ``stats_cells`` from the enrolments. With ``check``, compare the
    rows kept at ingest with the recomputed ones and change nothing. Statistics already released are
    unaffected either way (their noisy answers are stored)."""
    report: dict[str, Any] = {}
    try:
        with transaction(sessions) as db:
            years = [academic_year] if academic_year is not None else None
            before = {}
            if check:
                for year in years or rollup.years(db):
                    before[year] = (rollup.pupil_rows(db, year), rollup.cells(db, year))
            counts = rollup.rebuild(db, academic_year)
            for year, count in counts.items():
                entry: dict[str, Any] = {"pupil_years": count}
                if check:
                    pupils, cells = before.get(year, ({}, {}))
                    entry["pupil_years_match"] = pupils == rollup.pupil_rows(db, year)
                    entry["cells_match"] = cells == rollup.cells(db, year)
                report[str(year)] = entry
            if check:
                raise _Rollback
            audit.record(db, audit.new_event(None, "stats.rollup_rebuilt", record_count=sum(counts.values()),
                                             details={"years": sorted(counts)}))
    except _Rollback:
        pass
    log.info("stats_rollup_rebuilt" if not check else "stats_rollup_checked", years=sorted(report))
    return report
