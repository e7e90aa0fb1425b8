"""Use case: rebuild or check the statistics' pupil-year rollup (``gateway stats rebuild``)."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.repositories import rollup, rosters
from gateway.db.session import transaction
from gateway.services import audit
from schemas.rosters import Roster, recount

log = structlog.get_logger("gateway.stats")


class _Rollback(Exception):
    pass


def rebuild(sessions: sessionmaker[Session], academic_year: int | None = None, *, check: bool = False) -> dict[str, Any]:
    """Recompute ``pupil_years`` and ``stats_cells`` from the enrolments, and the rosters from the
    stored marks and enrolments. With ``check``, compare the rows kept at ingest with the recomputed
    ones and change nothing. Statistics already released are
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
            if check:
                # A year with rosters but no enrolments is checked too (and found wanting).
                counts.update({y: 0 for y in rosters.years(db)
                               if y not in counts and academic_year in (None, y)})
            else:
                made = rosters.rebuild(db, academic_year)
            for year, count in sorted(counts.items()):
                entry: dict[str, Any] = {"pupil_years": count}
                if not check:
                    entry["rosters"] = made.get(year, 0)
                else:
                    pupils, cells = before.get(year, ({}, {}))
                    entry["pupil_years_match"] = pupils == rollup.pupil_rows(db, year)
                    entry["cells_match"] = cells == rollup.cells(db, year)
                    entry.update(check_rosters(db, year))
                report[str(year)] = entry
            if check:
                raise _Rollback
            audit.record(db, audit.new_event(None, "stats.rollup_rebuilt", record_count=sum(counts.values()),
                                             details={"years": sorted(counts)}))
    except _Rollback:
        pass
    log.info("stats_rollup_rebuilt" if not check else "stats_rollup_checked", years=sorted(report))
    return report


def check_rosters(db: Session, academic_year: int) -> dict[str, bool]:
    """Whether every school's roster for the year holds what a plain recount of its stored marks
    gives (dates, totals, reason codes, weekly counters), and what its enrolments hold (attributes,
    dates, totals, reason codes)."""
    marks_match = enrolments_match = True
    for urn in rosters.schools(db, academic_year):
        roster = rosters.get(db, urn, academic_year) or Roster(academic_year)
        if roster.counted() != recount(academic_year, *rosters.stored_marks(db, urn, academic_year)):
            marks_match = False
            log.warning("roster_differs_from_marks", urn=urn, academic_year=academic_year)
        kept = {s.pupil_id: (s.year_group, s.sen_status, s.fsm_eligible, s.first_date, s.last_date, s.totals,
                             s.codes) for s in roster.slots()}
        if kept != rosters.enrolments(db, urn, academic_year):
            enrolments_match = False
            log.warning("roster_differs_from_enrolments", urn=urn, academic_year=academic_year)
    return {"rosters_match_marks": marks_match, "rosters_match_enrolments": enrolments_match}
