"""Use case: rebuild or check the statistics' pupil-year rollup (``gateway stats rebuild``)."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.repositories import registers as register_repo
from gateway.db.repositories import rollup, rosters
from gateway.db.session import transaction
from gateway.services import audit
from schemas import registers as packed_registers
from schemas.registers import RegisterCorrupt
from schemas.rosters import Roster, RosterCorrupt, recount

log = structlog.get_logger("gateway.stats")


@dataclass(frozen=True, slots=True)
class RosterCheck:
    """Whether a year's rosters agree with a recount of the stored marks, and with the enrolments; and
    whether its packed registers unpack to the marks kept beside them."""

    rosters_match_marks: bool
    rosters_match_enrolments: bool
    registers_match_marks: bool


@dataclass(frozen=True, slots=True)
class YearRollup:
    """One academic year of a rebuild (the pupil-years and rosters made) or of a check (the pupil-years
    recomputed and what matched); the fields of the other kind are None."""

    pupil_years: int
    rosters: int | None = None
    pupil_years_match: bool | None = None
    cells_match: bool | None = None
    rosters_match_marks: bool | None = None
    rosters_match_enrolments: bool | None = None
    registers_match_marks: bool | None = None

    @property
    def matches(self) -> bool:
        """A check found everything kept at ingest as the recomputation has it."""
        return bool(self.pupil_years_match and self.cells_match and self.rosters_match_marks
                    and self.rosters_match_enrolments and self.registers_match_marks)


class _Rollback(Exception):
    pass


def rebuild(sessions: sessionmaker[Session], academic_year: int | None = None, *,
            check: bool = False) -> dict[int, YearRollup]:
    """Recompute ``pupil_years`` and ``stats_cells`` from the enrolments, and the rosters from the
    stored marks and enrolments. With ``check``, compare the rows kept at ingest with the recomputed
    ones and change nothing. Statistics already released are
    unaffected either way (their noisy answers are stored)."""
    report: dict[int, YearRollup] = {}
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
                if not check:
                    report[year] = YearRollup(count, rosters=made.get(year, 0))
                    continue
                pupils, cells = before.get(year, ({}, {}))
                checked = check_rosters(db, year)
                report[year] = YearRollup(
                    count, pupil_years_match=pupils == rollup.pupil_rows(db, year),
                    cells_match=cells == rollup.cells(db, year),
                    rosters_match_marks=checked.rosters_match_marks,
                    rosters_match_enrolments=checked.rosters_match_enrolments,
                    registers_match_marks=checked.registers_match_marks,
                )
            if check:
                raise _Rollback
            audit.record(db, audit.new_event(None, "stats.rollup_rebuilt", record_count=sum(counts.values()),
                                             details={"years": sorted(counts)}))
    except _Rollback:
        pass
    log.info("stats_rollup_rebuilt" if not check else "stats_rollup_checked", years=sorted(report))
    return report


def check_rosters(db: Session, academic_year: int) -> RosterCheck:
    """Whether every school's roster for the year holds what a plain recount of its stored marks
    gives (dates, totals, reason codes, weekly counters), and what its enrolments hold (attributes,
    dates, totals, reason codes); and whether its packed registers, read through the roster's slots,
    hold exactly the marks kept one row per pupil (and each its pupil count)."""
    marks_match = enrolments_match = registers_match = True
    for urn in rosters.schools(db, academic_year):
        roster = rosters.get(db, urn, academic_year) or Roster(academic_year)
        try:
            stored = rosters.stored_marks(db, urn, academic_year)
        except (RegisterCorrupt, RosterCorrupt):
            stored = None
        if stored is None or roster.counted() != recount(academic_year, *stored):
            marks_match = False
            log.warning("roster_differs_from_marks", urn=urn, academic_year=academic_year)
        kept = {s.pupil_id: (s.year_group, s.sen_status, s.fsm_eligible, s.first_date, s.last_date, s.totals,
                             s.codes) for s in roster.slots()}
        if kept != rosters.enrolments(db, urn, academic_year):
            enrolments_match = False
            log.warning("roster_differs_from_enrolments", urn=urn, academic_year=academic_year)
        if not _registers_match_marks(db, urn, academic_year, roster):
            registers_match = False
            log.warning("registers_differ_from_marks", urn=urn, academic_year=academic_year)
    return RosterCheck(rosters_match_marks=marks_match, rosters_match_enrolments=enrolments_match,
                       registers_match_marks=registers_match)


def _registers_match_marks(db: Session, urn: int, academic_year: int, roster: Roster) -> bool:
    unpacked = set()
    try:
        for day, pupil_count, blob in register_repo.school_registers(db, urn, academic_year):
            day_marks = packed_registers.marks(blob, roster.pupil_ids)
            if len(day_marks) != pupil_count:
                return False
            unpacked |= {(pid, day, am, pm) for pid, am, pm in day_marks}
    except RegisterCorrupt:
        return False
    return unpacked == set(register_repo.school_marks(db, urn, academic_year))
