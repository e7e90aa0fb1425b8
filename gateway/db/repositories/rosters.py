"""SQL of the rosters (``schemas.rosters``): one row per (school, academic year), locked and rewritten
by each register of the school, and what the exactness check reads to recount them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, union, update
from sqlalchemy.orm import Session

from gateway.db.base import utcnow
from gateway.db.models import (
    Enrolment,
    EnrolmentCodeTotal,
    Mark,
    PupilIdentity,
    Register,
    RegisterHistory,
    Roster,
)
from gateway.db.session import driver_connection, is_postgres
from schemas import registers as packed_registers
from schemas import rosters as core

_TABLE = Roster.__table__
_PARTS = [_TABLE.c[part] for part in core.PARTS]
_WHERE = (_TABLE.c.urn == bindparam("urn"), _TABLE.c.academic_year == bindparam("year"))
# Built once: a statement built per call spends longer in SQLAlchemy than in the database.
_READ = select(*_PARTS).where(*_WHERE)
_INSERT = insert(_TABLE)
# PostgreSQL, through the driver: the parts go both ways in binary (%b, a binary cursor), not as the
# hex text that is twice their size and costs a parse at each end.
_NAMES = ", ".join(core.PARTS)
_PG_READ_LOCKED = (f"SELECT {_NAMES} FROM rosters "  # noqa: S608
                   "WHERE urn = %s AND academic_year = %s FOR UPDATE")
_PG_INSERT = (f"INSERT INTO rosters (urn, academic_year, format, pupils, updated_at, {_NAMES}) "  # noqa: S608
              f"VALUES (%s, %s, %s, %s, %s, {', '.join(['%b'] * len(core.PARTS))})")


def _roster(academic_year: int, row: Any) -> core.Roster:
    return core.unpack(academic_year, dict(zip(core.PARTS, row, strict=True)))


def lock(db: Session, urn: int, academic_year: int) -> core.Roster | None:
    """The school's roster for the year, its row locked until commit (PostgreSQL; SQLite has one
    writer at a time); None when the school has none yet."""
    if is_postgres(db):
        with driver_connection(db).cursor(binary=True) as cur:
            cur.execute(_PG_READ_LOCKED, (urn, academic_year))
            row = cur.fetchone()
    else:
        row = db.connection().execute(_READ, {"urn": urn, "year": academic_year}).one_or_none()
    return None if row is None else _roster(academic_year, row)


def get(db: Session, urn: int, academic_year: int) -> core.Roster | None:
    row = db.connection().execute(_READ, {"urn": urn, "year": academic_year}).one_or_none()
    return None if row is None else _roster(academic_year, row)


def save(db: Session, urn: int, roster: core.Roster, parts: Iterable[str], *, new: bool) -> None:
    """Write a roster: a new row with every part, or only the named parts of the existing row (on
    PostgreSQL the parts not written keep their stored values without being copied)."""
    parts = core.PARTS if new else tuple(p for p in core.PARTS if p in set(parts))
    packed = core.pack(roster, parts)
    if is_postgres(db):
        with driver_connection(db).cursor() as cur:
            if new:
                cur.execute(_PG_INSERT, (urn, roster.academic_year, core.FORMAT, len(roster), utcnow(),
                                         *packed.values()))
            else:
                sets = "".join(f", {p} = %b" for p in parts)  # names of parts, never values
                cur.execute(f"UPDATE rosters SET pupils = %s, updated_at = %s{sets} "  # noqa: S608
                            "WHERE urn = %s AND academic_year = %s",
                            (len(roster), utcnow(), *packed.values(), urn, roster.academic_year))
        return
    values: dict[str, Any] = {**packed, "pupils": len(roster), "updated_at": utcnow()}
    if new:
        key = {"urn": urn, "academic_year": roster.academic_year}
        db.connection().execute(_INSERT, {**key, "format": core.FORMAT, **values})
        return
    where = (_TABLE.c.urn == urn, _TABLE.c.academic_year == roster.academic_year)
    db.connection().execute(update(_TABLE).where(*where).values(**values))


def years(db: Session) -> list[int]:
    return sorted(int(y) for y in db.scalars(select(Roster.academic_year).distinct()))


def schools(db: Session, academic_year: int, *, legacy: bool = False) -> list[int]:
    """Schools with a roster, an enrolment, a register or a stored mark in the year (`legacy`: a
    database before the packed registers, whose superseded marks are in ``mark_history``)."""
    models: tuple[Any, ...] = (Roster, Enrolment, Mark) if legacy else (Roster, Enrolment, Mark, Register,
                                                                     RegisterHistory)
    stmt = union(*(select(model.urn).where(model.academic_year == academic_year) for model in models))
    found = {int(u) for u in db.scalars(stmt)}
    if legacy:
        history = text("SELECT DISTINCT urn FROM mark_history WHERE academic_year = :y")
        found |= {int(u) for u in db.scalars(history, {"y": academic_year})}
    return sorted(found)


def slot_order(db: Session, urn: int, academic_year: int) -> list[str]:
    """The pupil ids of the school's roster for the year by slot (none when it has no roster)."""
    blob = db.scalar(select(Roster.pupil_ids).where(Roster.urn == urn, Roster.academic_year == academic_year))
    return [] if blob is None else core.unpack_pupil_ids(bytes(blob))


def superseded_dates(db: Session, urn: int, academic_year: int, pupil_ids: list[str], *,
                     legacy: bool = False) -> list[tuple[str, dt.date]]:
    """(pupil_id, date) of every pupil on a superseded register of the school in the year: from the
    packed history, whose slots are those of `pupil_ids` (the roster's), or with `legacy` from
    ``mark_history``."""
    if legacy:
        legacy_rows = text("SELECT pupil_id, date FROM mark_history WHERE urn = :u AND academic_year = :y")
        rows = db.execute(legacy_rows, {"u": urn, "y": academic_year})
        return [(str(p), d if isinstance(d, dt.date) else dt.date.fromisoformat(d)) for p, d in rows]
    h = RegisterHistory
    out = []
    stmt = select(h.date, h.marks).where(h.urn == urn, h.academic_year == academic_year)
    for day, blob in db.execute(stmt):
        out.extend((pid, day) for pid, _, _ in packed_registers.marks(bytes(blob), pupil_ids))
    return out


def stored_marks(db: Session, urn: int, academic_year: int, *, legacy: bool = False
                 ) -> tuple[list[tuple[str, dt.date, str, str]], list[tuple[str, dt.date]]]:
    """A school's current marks of the year (pupil_id, date, am, pm), and the (pupil_id, date) of
    superseded ones."""
    current = db.execute(select(Mark.pupil_id, Mark.date, Mark.am, Mark.pm)
                         .where(Mark.urn == urn, Mark.academic_year == academic_year))
    roster = None if legacy else get(db, urn, academic_year)
    history = superseded_dates(db, urn, academic_year, roster.pupil_ids if roster else [], legacy=legacy)
    return [tuple(r) for r in current], history  # type: ignore[misc]


def enrolments(db: Session, urn: int, academic_year: int) -> dict[str, tuple[Any, ...]]:
    """pupil_id -> (year_group, sen_status, fsm_eligible, first_date, last_date, the six totals in
    `schemas.rosters.CLASSES` order, {code: sessions}) of the school's enrolments in the year."""
    e = Enrolment
    rows = db.execute(select(e.pupil_id, e.year_group, e.sen_status, e.fsm_eligible, e.first_date,
                             e.last_date, e.sessions_possible, e.sessions_present, e.sessions_aea,
                             e.sessions_authorised, e.sessions_unauthorised, e.sessions_not_counted)
                      .where(e.urn == urn, e.academic_year == academic_year))
    codes: dict[str, dict[str, int]] = {}
    c = EnrolmentCodeTotal
    for pid, code, n in db.execute(select(c.pupil_id, c.code, c.sessions)
                                   .where(c.urn == urn, c.academic_year == academic_year, c.sessions != 0)):
        codes.setdefault(pid, {})[code] = int(n)
    return {r[0]: (r[1], r[2], bool(r[3]), r[4], r[5], tuple(int(v) for v in r[6:12]), codes.get(r[0], {}))
            for r in rows}


def rebuild(db: Session, academic_year: int | None = None, *, legacy: bool = False) -> dict[int, int]:
    """Make every school's roster afresh (of one year, or of every year with marks): totals, codes,
    weekly counters and dates from the stored marks, attributes from the enrolments, digests from the
    stored identities. A roster's slots keep their order (the packed registers are laid out by them);
    pupils without a slot get one after the others, in order of first date, then pupil id. `legacy`:
    a database before the packed registers (migrations before 0018). Returns the rosters per year."""
    found = {int(y) for y in db.scalars(select(Mark.academic_year).distinct())}
    if legacy:
        found |= {int(y) for y in db.scalars(text("SELECT DISTINCT academic_year FROM mark_history"))}
    else:
        found |= {int(y) for y in db.scalars(select(RegisterHistory.academic_year).distinct())}
    made: dict[int, int] = {}
    for year in sorted(found if academic_year is None else found & {academic_year}):
        made[year] = 0
        kept = {urn: slot_order(db, urn, year) for urn in schools(db, year, legacy=legacy)}
        db.execute(delete(Roster).where(Roster.academic_year == year))
        identities = (select(PupilIdentity.pupil_id, PupilIdentity.digest)
                      .where(PupilIdentity.academic_year == year))
        digests = {pid: digest for pid, digest in db.execute(identities)}
        for urn, order in kept.items():
            current = db.execute(select(Mark.pupil_id, Mark.date, Mark.am, Mark.pm)
                                 .where(Mark.urn == urn, Mark.academic_year == year))
            history = superseded_dates(db, urn, year, order, legacy=legacy)
            counted = core.recount(year, [tuple(r) for r in current], history)  # type: ignore[misc]
            if not counted and not order:
                continue
            attributes = enrolments(db, urn, year)
            pupils = []
            for pid in {*counted, *order}:
                year_group, sen_status, fsm = attributes[pid][:3] if pid in attributes else ("", "", False)
                digest = digests.get(pid, "0" * 64)
                pupils.append((pid, digest, year_group, sen_status, fsm, counted.get(pid)))
            save(db, urn, core.build(year, pupils, order), core.PARTS, new=True)
            made[year] += 1
    return made
