"""SQL of releases: the rows a release reads, the release's own row and its pupil_refs.

The scope of a release is applied here, in the WHERE clause: an LA's query can only ever read rows of
schools in its own LA. The records of a release are never kept, only its metadata and the link from
each pupil_ref it gave to the pupil.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Date, and_, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from gateway.db import bulk
from gateway.db.models import Enrolment, Release, ReleasePupil
from gateway.db.repositories import registers as register_repo
from gateway.db.session import is_postgres
from policies.select import misses_at_least
from schemas.calendar import academic_year_of
from schemas.records import EnrolmentTotals, make_mark
from schemas.records import Mark as MarkRecord

#: A stored release as this repository returns it: services read its attributes and never query
#: through it, so they name it by this and need not import the ORM models.
StoredRelease = Release


def _scope_filter(la_code: str | None, urns: Sequence[int] | None, pupil_ids: Sequence[str] | None,
                  enrol: Any) -> list[Any]:
    conditions = []
    if la_code is not None:
        conditions.append(enrol.la_code == la_code)
    if urns is not None:
        conditions.append(enrol.urn.in_(list(urns)))
    if pupil_ids is not None:
        conditions.append(enrol.pupil_id.in_(list(pupil_ids)))
    return conditions


def _to_totals(row: Any, present: int, aea: int, auth: int, unauth: int) -> EnrolmentTotals:
    return EnrolmentTotals(
        pupil_id=row.pupil_id, school_urn=int(row.urn), la_code=row.la_code,
        academic_year=int(row.academic_year),
        year_group=row.year_group, sen_status=row.sen_status, fsm_eligible=bool(row.fsm_eligible),
        sessions_possible=present + aea + auth + unauth, sessions_present=present, sessions_aea=aea,
        sessions_authorised=auth, sessions_unauthorised=unauth,
    )


def _misses_at_least(possible: Any, absent: Any, percent: int) -> Any:
    """SQL of `policies.select.misses_at_least`: whole numbers, so that exactly 10% is 10%."""
    return and_(possible > 0, absent * 100 >= possible * percent)


def window_totals(
    db: Session,
    start: dt.date,
    end: dt.date,
    classes: dict[str, list[str]],
    *,
    academic_year: int | None = None,
    la_code: str | None = None,
    urns: Sequence[int] | None = None,
    pupil_ids: Sequence[str] | None = None,
    year_group: str | None = None,
    min_absence_percent: int | None = None,
) -> list[EnrolmentTotals]:
    """Totals over a window for enrolments in scope (one row per enrolment and academic year), with
    the enrolment's attributes, ordered by school and pupil.

    With `academic_year` (the window lies inside that year), an enrolment of the year whose marks
    all lie in the window takes its running totals as they are: its first and last register dates
    (kept at ingest as the least and greatest date of any of its registers) are inside the window,
    so its totals are exactly the sum of its marks in the window. That is every enrolment when the
    window is the year to date, the default. Only the others are summed from the marks. Without it,
    every enrolment is summed from the marks.

    `min_absence_percent` keeps only enrolments missing at least that share of their possible
    sessions, so that only the rows a threshold criterion can select leave the database (the core
    judges them again)."""
    e = Enrolment
    covered = None
    if academic_year is not None:
        covered = and_(e.first_date >= start, e.last_date <= end)
    out: list[EnrolmentTotals] = []
    if covered is not None:
        conditions = [e.academic_year == academic_year, covered, *_scope_filter(la_code, urns, pupil_ids, e)]
        if year_group is not None:
            conditions.append(e.year_group == year_group)
        if min_absence_percent is not None:
            absent = e.sessions_authorised + e.sessions_unauthorised
            conditions.append(_misses_at_least(e.sessions_possible, absent, min_absence_percent))
        stmt = select(
            e.pupil_id, e.urn, e.la_code, e.academic_year, e.year_group, e.sen_status, e.fsm_eligible,
            e.sessions_present, e.sessions_aea, e.sessions_authorised, e.sessions_unauthorised,
        ).where(*conditions).order_by(e.urn, e.pupil_id)
        # Core rows, unpacked in place: a large LA's case list is ten thousand of them.
        out += [EnrolmentTotals(pid, int(urn), la, int(year), group, sen, bool(fsm), p + a + au + un,
                                p, a, au, un)
                for pid, urn, la, year, group, sen, fsm, p, a, au, un in db.connection().execute(stmt)]
    summed = _marks_totals(db, start, end, classes, academic_year=academic_year,
                           uncovered=None if covered is None else ~covered, la_code=la_code, urns=urns,
                           pupil_ids=pupil_ids, year_group=year_group,
                           min_absence_percent=min_absence_percent)
    if out and summed:
        return sorted(out + summed, key=lambda t: (t.school_urn, t.pupil_id))
    return out or summed


def _marks_totals(
    db: Session, start: dt.date, end: dt.date, classes: dict[str, list[str]], *, academic_year: int | None,
    uncovered: Any, la_code: str | None, urns: Sequence[int] | None, pupil_ids: Sequence[str] | None,
    year_group: str | None, min_absence_percent: int | None,
) -> list[EnrolmentTotals]:
    """Window totals counted from the packed registers (`registers.window_totals_for_schools`), for
    the enrolments in scope with a mark in the window. `classes` is the codes' statistical classes,
    which the packed registers' code table already holds."""
    e = Enrolment
    enrolments = _scope_filter(la_code, urns, pupil_ids, e)
    if year_group is not None:
        enrolments.append(e.year_group == year_group)
    if academic_year is not None:
        enrolments += [e.academic_year == academic_year, uncovered]
    else:
        years = range(academic_year_of(start), academic_year_of(end) + 1)
        enrolments.append(e.academic_year.in_(list(years)))
    rows = db.execute(select(e.pupil_id, e.urn, e.la_code, e.academic_year, e.year_group, e.sen_status,
                             e.fsm_eligible).where(*enrolments)).all()
    counted = register_repo.window_totals_for_schools(
        db, {(int(r.urn), int(r.academic_year)) for r in rows}, start, end)
    out = []
    for r in rows:
        found = counted.get((int(r.urn), int(r.academic_year)), {}).get(r.pupil_id)
        if found is None:
            continue
        present, aea, auth, unauth = found
        if min_absence_percent is not None and not misses_at_least(
                auth + unauth, present + aea + auth + unauth, min_absence_percent):
            continue
        out.append(_to_totals(r, present, aea, auth, unauth))
    return sorted(out, key=lambda t: (t.school_urn, t.pupil_id))


# --- penalty notices ---------------------------------------------------------------------------

#: A week is counted from Monday 1 January 1900, so that its number is an ISO week (Monday to
#: Sunday) in both databases' date arithmetic.
_WEEK = {
    "postgresql": "((m.date - DATE '1900-01-01') / 7)",
    "sqlite": "CAST((julianday(m.date) - 2415020.5) / 7 AS INTEGER)",
}
#: SQLite would read the whole table in key order for the GROUP BY rather than the LA's rows by
#: this index: the cost of a release would grow with every other LA.
_BY_LA = {"postgresql": "", "sqlite": "INDEXED BY ix_enrolments_la_year"}
#: A mark's date as a whole number of days since Monday 1 January 1900 (`_DAY_ZERO`): the shell reads
#: the marks the criterion needs as such numbers, and the least of a week's first-session numbers is
#: its earliest possible session.
_DAY = {
    "postgresql": "(m.date - DATE '1900-01-01')",
    "sqlite": "CAST(julianday(m.date) - 2415020.5 AS INTEGER)",
}
_DAY_ZERO = dt.date(1900, 1, 1)
#: A code of one or two ASCII characters as a whole number: 256 * first + second (0 if none).
_CODE_NUMBER = {
    "postgresql": "(ascii({0}) * 256 + ascii(substr({0}, 2, 1)))",
    "sqlite": "(unicode({0}) * 256 + coalesce(unicode(substr({0}, 2, 1)), 0))",
}
_LIST = {"postgresql": "string_agg({}, ',')", "sqlite": "group_concat({}, ',')"}

_PENALTY_SQL = """
WITH cand AS MATERIALIZED (
    -- Each candidate enrolment gets a number, so that the sorts, groups and windows below are on
    -- integers rather than pupil keys: sorting 290,000 marks by their text key under the database's
    -- collation took a third of the query for an LA of 60,000 pupils.
    SELECT pupil_id, urn, ROW_NUMBER() OVER (ORDER BY pupil_id, urn) AS n FROM enrolments {by_la}
    WHERE la_code = :la AND academic_year IN {years} {urn_filter}
    GROUP BY pupil_id, urn
    HAVING SUM(sessions_unauthorised) >= :sessions
), wk AS (
    SELECT cand.n, m.academic_year, {week} AS week,
        SUM({hits}) AS hits,
        -- The first possible session, as a number that orders by date then session:
        -- ((day * 2 + 0 for AM, 1 for PM) * 65536 + the code's number); the shell decodes it.
        MIN(CASE WHEN {possible_am} THEN (CAST({day} AS BIGINT) * 2) * 65536 + {am_number}
                 WHEN {possible_pm} THEN (CAST({day} AS BIGINT) * 2 + 1) * 65536 + {pm_number} END)
            AS first_possible,
        {hit_marks} AS hit_marks,
        -- Window totals from the marks only where the running totals are not already those of the
        -- window (as in window_totals): an enrolment-year with a register outside it.
        SUM(CASE WHEN {covered} THEN 0 ELSE {present} END) AS present,
        SUM(CASE WHEN {covered} THEN 0 ELSE {aea} END) AS aea,
        SUM(CASE WHEN {covered} THEN 0 ELSE {auth} END) AS auth,
        SUM(CASE WHEN {covered} THEN 0 ELSE {unauth} END) AS unauth
    FROM cand
    JOIN enrolments e ON e.pupil_id = cand.pupil_id AND e.urn = cand.urn AND e.la_code = :la
        AND e.academic_year IN {years}
    JOIN marks m ON m.pupil_id = e.pupil_id AND m.urn = e.urn AND m.academic_year = e.academic_year
    WHERE m.date >= :start AND m.date <= :end
    GROUP BY cand.n, m.academic_year, {week}
), ranked AS (
    -- School weeks (with a possible session) first, most recent first; one week in two academic
    -- years' rows ranks once.
    SELECT wk.*, DENSE_RANK() OVER (PARTITION BY n ORDER BY (first_possible IS NULL), week DESC) AS recent
    FROM wk
), counted AS (
    SELECT ranked.*, CASE WHEN first_possible IS NOT NULL AND recent <= :weeks THEN 1 ELSE 0 END AS in_last,
        SUM(CASE WHEN first_possible IS NOT NULL AND recent <= :weeks THEN hits ELSE 0 END)
            OVER (PARTITION BY n) AS last_hits
    FROM ranked
), qualified AS (
    SELECT c.n, c.academic_year,
        SUM(c.present) AS present, SUM(c.aea) AS aea, SUM(c.auth) AS auth, SUM(c.unauth) AS unauth,
        {counted_hits} AS hit_marks, {counted_weeks} AS week_marks
    FROM counted c
    WHERE c.last_hits >= :sessions
    GROUP BY c.n, c.academic_year
)
SELECT cand.pupil_id, cand.urn, q.academic_year, e.la_code, e.year_group, e.sen_status, e.fsm_eligible,
    CASE WHEN {covered} THEN e.sessions_present ELSE q.present END AS present,
    CASE WHEN {covered} THEN e.sessions_aea ELSE q.aea END AS aea,
    CASE WHEN {covered} THEN e.sessions_authorised ELSE q.auth END AS auth,
    CASE WHEN {covered} THEN e.sessions_unauthorised ELSE q.unauth END AS unauth,
    q.hit_marks, q.week_marks
FROM qualified q
JOIN cand ON cand.n = q.n
JOIN enrolments e ON e.pupil_id = cand.pupil_id AND e.urn = cand.urn AND e.academic_year = q.academic_year
"""


class _Params:
    """The bound parameters of a text statement; every list binds under a name of its own."""

    def __init__(self, **values: Any):
        self.values = dict(values)
        self._lists: list[str] = []

    def many(self, values: Sequence[Any]) -> str:
        name = f"list_{len(self._lists)}"
        self.values[name] = list(values)
        self._lists.append(name)
        return f":{name}"

    def statement(self, sql: str, dates: Sequence[str]) -> Any:
        stmt = text(sql).bindparams(*(bindparam(n, expanding=True) for n in self._lists))
        return stmt.bindparams(*(bindparam(n, type_=Date) for n in dates))


def penalty_notice_candidates(
    db: Session,
    start: dt.date,
    end: dt.date,
    *,
    la_code: str,
    urns: Sequence[int] | None,
    codes: Sequence[str],
    sessions: int,
    school_weeks: int,
    classes: dict[str, list[str]],
    not_counted: tuple[dt.date, Sequence[str], Sequence[str]],
) -> tuple[list[EnrolmentTotals], list[MarkRecord]]:
    """The enrolments in scope that reach the penalty-notice threshold in the window, found in one
    aggregate over their marks, with their window totals and the marks the criterion reads.

    An enrolment is a candidate only if its running totals hold `sessions` unauthorised sessions in
    the academic years the window touches (the unauthorised class is exactly the `codes`, G/N/O/U,
    under both code sets, so those totals bound the count in the window). A candidate's marks in the
    window are grouped by ISO week; a school week is one with a possible session; the enrolment
    qualifies when its `school_weeks` most recent school weeks hold `sessions` marks with one of the
    `codes`. Of a qualifying enrolment, the marks returned are those the criterion reads: every
    session with one of the `codes` from the first of those school weeks on, and the first possible
    session of each of those weeks that has none. `policies.select` judges the threshold again on
    them and finds the same weeks and sessions as on all the marks
    (tests/integration/test_release_totals.py checks it). The window totals are the running totals of
    an enrolment-year whose registers all lie in the window, as in `window_totals`, and are summed
    from the marks only for the others.

    `not_counted` is (the date the current code set came in, the codes that are not possible
    sessions from then on, and before)."""
    backend = "postgresql" if is_postgres(db) else "sqlite"
    boundary, not_counted_new, not_counted_old = not_counted
    day = _DAY[backend]
    p = _Params(la=la_code, sessions=sessions, weeks=school_weeks, start=start, end=end, boundary=boundary)

    # Each session's code is tested against the criterion's lists in place. (A join to a small table of
    # codes was faster when PostgreSQL hashed it, but with the candidates underestimated it chose a
    # nested loop over the table for every mark, twice as slow for a large LA.)
    def either(listed: Sequence[str]) -> str:
        return f"(m.am IN {p.many(sorted(listed))} OR m.pm IN {p.many(sorted(listed))})"

    def count(listed: Sequence[str]) -> str:
        return (f"CASE WHEN m.am IN {p.many(sorted(listed))} THEN 1 ELSE 0 END + "
                f"CASE WHEN m.pm IN {p.many(sorted(listed))} THEN 1 ELSE 0 END")

    def possible(column: str) -> str:
        return (f"((m.date >= :boundary AND m.{column} NOT IN {p.many(sorted(not_counted_new))}) "
                f"OR (m.date < :boundary AND m.{column} NOT IN {p.many(sorted(not_counted_old))}))")

    mark = f"{day} || ':' || m.am || ':' || m.pm"
    listing = _LIST[backend]
    years = list(range(academic_year_of(start), academic_year_of(end) + 1))
    sql = _PENALTY_SQL.format(
        years=p.many(years),
        urn_filter=f"AND urn IN {p.many(sorted(urns))}" if urns is not None else "",
        week=_WEEK[backend],
        hits=count(codes),
        by_la=_BY_LA[backend],
        possible_am=possible("am"),
        possible_pm=possible("pm"),
        day=day,
        hit_marks=listing.format(f"CASE WHEN {either(codes)} THEN {mark} END"),
        covered="(e.first_date >= :start AND e.last_date <= :end)",
        present=count(classes["present"]), aea=count(classes["aea"]), auth=count(classes["authorised"]),
        unauth=count(classes["unauthorised"]),
        counted_hits=listing.format("CASE WHEN c.in_last = 1 THEN c.hit_marks END"),
        counted_weeks=listing.format(
            "CASE WHEN c.in_last = 1 AND c.hits = 0 THEN CAST(c.first_possible AS TEXT) END"
        ),
        am_number=_CODE_NUMBER[backend].format("m.am"), pm_number=_CODE_NUMBER[backend].format("m.pm"),
    )
    stmt = p.statement(sql, ["start", "end", "boundary"])
    if backend == "postgresql":
        # The aggregate sorts a candidate's every mark of the window (300,000 rows for an LA of
        # 60,000 pupils over a term): in memory, not in temporary files. For this transaction only.
        db.execute(text("SET LOCAL work_mem = '64MB'"))
        # One process per release: with many releases at once, parallel workers only add the cost of
        # each one building the candidates again.
        db.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    totals: list[EnrolmentTotals] = []
    marks: list[MarkRecord] = []
    hits = frozenset(codes)
    day_of = functools.lru_cache(maxsize=None)(lambda n: _DAY_ZERO + dt.timedelta(days=n))
    for r in db.execute(stmt, p.values):
        pid, urn = r.pupil_id, int(r.urn)
        totals.append(_to_totals(r, int(r.present), int(r.aea), int(r.auth), int(r.unauth)))
        for item in r.hit_marks.split(",") if r.hit_marks else ():
            day_number, am, pm = item.split(":")
            date = day_of(int(day_number))
            if am in hits:
                marks.append(make_mark((pid, urn, date, "AM", am)))
            if pm in hits:
                marks.append(make_mark((pid, urn, date, "PM", pm)))
        for item in r.week_marks.split(",") if r.week_marks else ():
            session_number, code_number = divmod(int(item), 65536)
            day_number, pm_session = divmod(session_number, 2)
            code = chr(code_number >> 8) + (chr(code_number & 255) if code_number & 255 else "")
            marks.append(make_mark((pid, urn, day_of(day_number), "PM" if pm_session else "AM", code)))
    totals.sort(key=lambda t: (t.school_urn, t.pupil_id, t.academic_year))
    return totals, marks


def insert_release(db: Session, values: dict[str, Any], pupils: Sequence[tuple[str, str]]) -> None:
    """The release and the (pupil_id, pupil_ref) of each pupil it gave a pupil_ref: one binary COPY
    for the pupils on PostgreSQL, one executemany on SQLite, whatever their number."""
    db.execute(insert(Release).values(**values))
    release_id = values["id"]
    rows = [(ref, release_id, pupil_id) for pupil_id, ref in sorted(pupils, key=_REF)]  # in primary-key order
    bulk.insert_rows(db, "release_pupils", ("pupil_ref", "release_id", "pupil_id"), ("varchar",) * 3, rows)


_REF = operator.itemgetter(1)


def set_release_audit_index(db: Session, release_id: str, index: int) -> None:
    db.execute(update(Release).where(Release.id == release_id).values(audit_index=index))


def get_release(db: Session, release_id: str) -> Release | None:
    return db.execute(select(Release).where(Release.id == release_id)).scalar_one_or_none()


def attest_deletion(db: Session, release_id: str, when: dt.datetime, by: str) -> None:
    stmt = update(Release).where(Release.id == release_id, Release.deleted_at.is_(None))
    db.execute(stmt.values(deleted_at=when, deletion_attested_by=by))


def list_releases(db: Session, status: str | None, now: dt.datetime, recipient_org_id: str | None,
                  limit: int) -> list[Release]:
    r = Release
    conditions: list[Any] = []
    if recipient_org_id is not None:
        conditions.append(r.recipient_org_id == recipient_org_id)
    if status == "overdue":
        conditions += [r.expires_at <= now, r.deleted_at.is_(None)]
    elif status == "active":
        conditions += [r.expires_at > now, r.deleted_at.is_(None)]
    elif status == "deleted":
        conditions.append(r.deleted_at.is_not(None))
    elif status == "expired":
        conditions.append(r.expires_at <= now)
    stmt = select(r).where(*conditions).order_by(r.created_at.desc(), r.id).limit(limit)
    return list(db.execute(stmt).scalars())


def resolve_pupil_ref(db: Session, pupil_ref: str) -> tuple[str, Release] | None:
    stmt = (
        select(ReleasePupil.pupil_id, Release)
        .join(Release, Release.id == ReleasePupil.release_id)
        .where(ReleasePupil.pupil_ref == pupil_ref)
        .order_by(Release.created_at.desc())
        .limit(1)
    )
    row = db.execute(stmt).first()
    return (row[0], row[1]) if row else None


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
