"""SQL of a school's registers: the packed registers received (``registers``, one row per school and
day holding its marks packed by roster slot, superseded versions in ``register_history``), the marks
kept beside them one row per pupil per day (``marks``, for the readers not yet moved to the packed
registers), and the enrolments with their running totals and reason-code totals.

A register moves its pupils' totals in bulk (``store_register``): on PostgreSQL one binary COPY into a
staging table and one statement that writes the marks, totals and reason codes from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Row, and_, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.db import bulk
from gateway.db.models import Enrolment, EnrolmentCodeTotal, Mark, Register, RegisterHistory, Roster, School
from gateway.db.session import driver_connection, is_postgres
from schemas import registers as packed_registers
from schemas.calendar import academic_year_of
from schemas.records import RegisterRow
from schemas.rosters import unpack_pupil_ids

# --- registers -----------------------------------------------------------------------------------

# Built once: a statement built per call spends longer in SQLAlchemy than in the database. The current
# version is the one row of (urn, date) in ``registers``: no search for the latest version.
_FEED_TARGET = (
    select(School.la_code, School.status, Register.version, Register.body_sha256, Register.pupil_count,
           Register.audit_index)
    .select_from(School)
    .outerjoin(Register, and_(Register.urn == School.urn, Register.academic_year == bindparam("year"),
                              Register.date == bindparam("day")))
    .where(School.urn == bindparam("urn"))
)
_FEED_TARGET_LOCKED = _FEED_TARGET.with_for_update(of=School)
_INSERT_REGISTER = insert(Register.__table__)
_REGISTER_KEY = (Register.urn == bindparam("urn"), Register.academic_year == bindparam("year"),
                 Register.date == bindparam("day"))
_CURRENT_MARKS = select(Register.marks).where(*_REGISTER_KEY)
_HISTORY_COLUMNS = [c.name for c in RegisterHistory.__table__.columns]
_TO_HISTORY = insert(RegisterHistory.__table__).from_select(
    _HISTORY_COLUMNS,
    select(*(Register.__table__.c[name] for name in _HISTORY_COLUMNS)).where(*_REGISTER_KEY),
)
_DELETE_REGISTER = delete(Register.__table__).where(*_REGISTER_KEY)
_DELETE_MARKS = delete(Mark.__table__).where(Mark.urn == bindparam("urn"), Mark.date == bindparam("day"))


def feed_target(db: Session, urn: int, day: dt.date, *, lock: bool = False) -> Row[Any] | None:
    """The school (la_code, status) and its current register for the day (version, body_sha256,
    pupil_count, audit_index: None when there is none), in one query. With `lock`, the school's
    row is locked until commit (PostgreSQL), which serialises the feeds of one school."""
    stmt = _FEED_TARGET_LOCKED if lock and is_postgres(db) else _FEED_TARGET
    # Core statements through the connection: the ORM session's execute adds a fifth of a
    # millisecond per statement, on every register.
    key = {"urn": urn, "day": day, "year": academic_year_of(day)}
    return db.connection().execute(stmt, key).one_or_none()


def insert_register(db: Session, **values: Any) -> None:
    db.connection().execute(_INSERT_REGISTER, values)


def supersede(db: Session, urn: int, day: dt.date) -> bytes:
    """Move the day's current register into the history of corrections and drop its marks' rows;
    returns its packed marks."""
    conn = db.connection()
    key = {"urn": urn, "day": day, "year": academic_year_of(day)}
    packed = bytes(conn.execute(_CURRENT_MARKS, key).scalar_one())
    conn.execute(_TO_HISTORY, key)
    conn.execute(_DELETE_REGISTER, key)
    conn.execute(_DELETE_MARKS, key)
    return packed


def school_registers(db: Session, urn: int, academic_year: int) -> list[tuple[dt.date, int, bytes]]:
    """(date, pupil_count, packed marks) of a school's current registers of the year, by date."""
    r = Register
    stmt = (select(r.date, r.pupil_count, r.marks).where(r.urn == urn, r.academic_year == academic_year)
            .order_by(r.date))
    return [(d, int(n), bytes(m)) for d, n, m in db.execute(stmt)]


def school_marks(db: Session, urn: int, academic_year: int) -> list[tuple[str, dt.date, str, str]]:
    """The school's rows of ``marks`` for the year (pupil_id, date, am, pm)."""
    stmt = select(Mark.pupil_id, Mark.date, Mark.am, Mark.pm).where(
        Mark.urn == urn, Mark.academic_year == academic_year)
    return [(str(p), d, str(a), str(b)) for p, d, a, b in db.execute(stmt)]


# --- running totals ----------------------------------------------------------------------------

_TOTAL_COLUMNS = (
    "sessions_possible",
    "sessions_present",
    "sessions_aea",
    "sessions_authorised",
    "sessions_unauthorised",
    "sessions_not_counted",
)
_MARK_COLUMNS = ("urn", "date", "pupil_id", "academic_year", "am", "pm", "version")
_ENROLMENT_COLUMNS = (
    "pupil_id", "urn", "academic_year", "la_code", "year_group", "sen_status", "fsm_eligible", "first_date",
    "last_date", *_TOTAL_COLUMNS,
)
_CODE_COLUMNS = ("pupil_id", "urn", "academic_year", "code", "sessions")
_CODE_TYPES = ("varchar", "int4", "int4", "varchar", "int4")


def _enrolment_conflict(pg: bool) -> str:
    """The upsert that adds a register's deltas to an enrolment's totals; the pupil's attributes (year
    group, SEN, FSM) follow the latest register date seen."""
    least, greatest = ("LEAST", "GREATEST") if pg else ("MIN", "MAX")
    updates = ", ".join(f"{c} = enrolments.{c} + excluded.{c}" for c in _TOTAL_COLUMNS)
    newer = "excluded.last_date >= enrolments.last_date"
    attributes = ", ".join(
        f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE enrolments.{c} END"
        for c in ("year_group", "sen_status", "fsm_eligible")
    )
    return (
        f"ON CONFLICT (pupil_id, urn, academic_year) DO UPDATE SET {updates}, {attributes}, "
        "la_code = excluded.la_code, "
        f"first_date = {least}(enrolments.first_date, excluded.first_date), "
        f"last_date = {greatest}(enrolments.last_date, excluded.last_date)"
    )


_CODE_CONFLICT = ("ON CONFLICT (pupil_id, urn, academic_year, code) DO UPDATE SET "
                  "sessions = enrolment_code_totals.sessions + excluded.sessions")

_REGISTER_COLUMNS = tuple(name for name, _, _ in bulk.REGISTER_STAGE)
_REGISTER_TYPES = tuple(copy_type for _, _, copy_type in bulk.REGISTER_STAGE)
# Our column names spliced in; values are bound.
_STORE_REGISTER_PG = (
    f"WITH m AS (INSERT INTO marks ({', '.join(_MARK_COLUMNS)}) "  # noqa: S608 (column names)
    "SELECT %(urn)s, %(day)s, pupil_id, %(year)s, am, pm, %(version)s FROM stage_register), "
    f"e AS (INSERT INTO enrolments ({', '.join(_ENROLMENT_COLUMNS)}) "
    "SELECT pupil_id, %(urn)s, %(year)s, %(la)s, year_group, sen_status, fsm_eligible, %(day)s, %(day)s, "
    "possible, present, aea, authorised, unauthorised, not_counted FROM stage_register "
    f"{_enrolment_conflict(True)}) "
    f"INSERT INTO enrolment_code_totals ({', '.join(_CODE_COLUMNS)}) "
    "SELECT pupil_id, %(urn)s, %(year)s, code1, n1 FROM stage_register WHERE code1 IS NOT NULL "
    "UNION ALL SELECT pupil_id, %(urn)s, %(year)s, code2, n2 FROM stage_register WHERE code2 IS NOT NULL "
    f"{_CODE_CONFLICT}"
)


def store_register(db: Session, urn: int, day: dt.date, academic_year: int, version: int, la_code: str,
                   rows: Sequence[RegisterRow]) -> None:
    """Store a register's marks and move its pupils' totals, in bulk.

    Rows are one per pupil (unique): (pupil_id, am, pm, year_group, sen_status, fsm_eligible, then the
    six deltas of the totals in `_TOTAL_COLUMNS` order, then code1, n1, code2, n2: up to two reason
    codes and the sessions to add to each, None when there are none). Marks are inserted; each
    enrolment at the school gets the deltas added, created if new; each reason code its sessions.

    PostgreSQL: one binary COPY into a staging table and one statement that writes the three tables
    from it. SQLite: an executemany per table."""
    if not rows:
        return
    if is_postgres(db):
        with driver_connection(db).cursor() as cur:
            # In pupil order, the marks' primary key (urn, date, pupil_id) fills its pages in sequence.
            bulk.copy_in(db, cur, "stage_register", _REGISTER_COLUMNS, _REGISTER_TYPES, sorted(rows))
            cur.execute(_STORE_REGISTER_PG,
                        {"urn": urn, "day": day, "year": academic_year, "version": version, "la": la_code})
        return
    day_text = day.isoformat()
    bulk.executemany(db, "marks", _MARK_COLUMNS,
                     [(urn, day_text, r[0], academic_year, r[1], r[2], version) for r in rows])
    bulk.executemany(db, "enrolments", _ENROLMENT_COLUMNS,
                     [(r[0], urn, academic_year, la_code, r[3], r[4], r[5], day_text, day_text, *r[6:12])
                      for r in rows],
                     _enrolment_conflict(False))
    codes = [(r[0], urn, academic_year, r[12], r[13]) for r in rows if r[12] is not None]
    codes += [(r[0], urn, academic_year, r[14], r[15]) for r in rows if r[14] is not None]
    if codes:
        bulk.executemany(db, "enrolment_code_totals", _CODE_COLUMNS, codes, _CODE_CONFLICT)


def subtract_enrolment_totals(db: Session, urn: int, academic_year: int,
                              deltas: Sequence[dict[str, Any]]) -> None:
    """Take superseded marks of pupils no longer in a corrected register off their totals."""
    if not deltas:
        return
    table = Enrolment.__table__
    stmt = (
        update(table)
        .where(table.c.pupil_id == bindparam("b_pupil_id"), table.c.urn == urn,
               table.c.academic_year == academic_year)
        .values({c: table.c[c] + bindparam(f"b_{c}") for c in _TOTAL_COLUMNS})
    )
    db.execute(stmt, [{f"b_{k}": v for k, v in d.items()} for d in deltas])


def upsert_code_totals(db: Session, urn: int, academic_year: int,
                       rows: Sequence[tuple[str, str, int]]) -> None:
    """Add (pupil_id, code, sessions) counts (negative for superseded marks) to the reason-code totals."""
    values = [(pid, urn, academic_year, code, n) for pid, code, n in rows]
    bulk.upsert_rows(db, "enrolment_code_totals", _CODE_COLUMNS, _CODE_TYPES, values, _CODE_CONFLICT)


def prune_code_totals(db: Session, urn: int, academic_year: int) -> None:
    """After a correction, drop reason codes whose count fell back to zero."""
    table = EnrolmentCodeTotal.__table__
    c = table.c
    db.execute(delete(table).where(c.urn == urn, c.academic_year == academic_year, c.sessions == 0))


# --- enrolments --------------------------------------------------------------------------------


def school_enrolments(db: Session, urn: int, academic_year: int) -> list[Enrolment]:
    stmt = (
        select(Enrolment)
        .where(Enrolment.urn == urn, Enrolment.academic_year == academic_year)
        .order_by(Enrolment.pupil_id)
    )
    return list(db.execute(stmt).scalars())


def school_pupil_ids(db: Session, urn: int) -> list[str]:
    stmt = select(Enrolment.pupil_id).where(Enrolment.urn == urn).distinct()
    return [str(p) for p in db.execute(stmt).scalars()]


def pupil_enrolled_at(db: Session, pupil_id: str, urn: int) -> int | None:
    """The latest academic year the pupil is on the school's roll, or None."""
    e = Enrolment
    stmt = select(func.max(e.academic_year)).where(e.pupil_id == pupil_id, e.urn == urn)
    year = db.execute(stmt).scalar_one_or_none()
    return None if year is None else int(year)


def is_enrolled_at(db: Session, pupil_id: str, urn: int) -> bool:
    """Whether the pupil has (or had) an enrolment at the school, in any academic year."""
    stmt = select(exists().where(Enrolment.pupil_id == pupil_id, Enrolment.urn == urn))
    return bool(db.execute(stmt).scalar_one())


def window_totals_for_school(db: Session, urn: int, academic_year: int, start: dt.date, end: dt.date
                             ) -> dict[str, tuple[int, int, int, int]]:
    """Per pupil of the school with a mark in [start, end] (within one academic year): sessions present,
    AEA, authorised and unauthorised, counted from the packed registers through the roster's slots."""
    return window_totals_for_schools(db, {(urn, academic_year)}, start, end).get((urn, academic_year), {})


def window_totals_for_schools(db: Session, schools: set[tuple[int, int]], start: dt.date, end: dt.date
                              ) -> dict[tuple[int, int], dict[str, tuple[int, int, int, int]]]:
    """`window_totals_for_school` of several (urn, academic year), in two queries: the rosters' slots,
    then every register of those schools in the window."""
    if not schools:
        return {}
    urns, years = sorted({u for u, _ in schools}), sorted({y for _, y in schools})
    ro = Roster
    orders = {(int(u), int(y)): unpack_pupil_ids(bytes(ids)) for u, y, ids in db.execute(
        select(ro.urn, ro.academic_year, ro.pupil_ids).where(ro.urn.in_(urns), ro.academic_year.in_(years)))
        if (int(u), int(y)) in schools}
    blobs: dict[tuple[int, int], list[bytes]] = {key: [] for key in orders}
    r = Register
    stmt = select(r.urn, r.academic_year, r.marks).where(
        r.urn.in_(urns), r.academic_year.in_(years), r.date >= start, r.date <= end)
    for u, y, marks in db.execute(stmt):
        kept = blobs.get((int(u), int(y)))
        if kept is not None:
            kept.append(bytes(marks))
    out = {}
    for key, pupil_ids in orders.items():
        totals, marked = packed_registers.window_totals(blobs[key], len(pupil_ids))
        out[key] = {pupil_ids[s]: (int(totals[s, 0]), int(totals[s, 1]), int(totals[s, 2]), int(totals[s, 3]))
                    for s in np.flatnonzero(marked)}
    return out
