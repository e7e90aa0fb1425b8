"""SQL for releases, pupil_refs and consents. The scope of a release is applied here, in the WHERE
clause: an LA's query can only ever read rows of schools in its own LA."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from gateway.db.models import ConsentRecord, Enrolment, Mark, Release, ReleasePupil, School
from schemas.records import EnrolmentTotals
from schemas.records import Mark as MarkRecord

_CHUNK = 2000


def _scope_filter(la_code: str | None, urns: Sequence[int] | None, pupil_ids: Sequence[str] | None, enrol: Any) -> list[Any]:
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
        pupil_id=row.pupil_id, school_urn=int(row.urn), la_code=row.la_code, academic_year=int(row.academic_year),
        year_group=row.year_group, sen_status=row.sen_status, fsm_eligible=bool(row.fsm_eligible),
        sessions_possible=present + aea + auth + unauth, sessions_present=present, sessions_aea=aea,
        sessions_authorised=auth, sessions_unauthorised=unauth,
    )


def running_totals(
    db: Session,
    academic_year: int,
    *,
    la_code: str | None = None,
    urns: Sequence[int] | None = None,
    pupil_ids: Sequence[str] | None = None,
    min_absence_percent: int | None = None,
    year_group: str | None = None,
) -> list[EnrolmentTotals]:
    """Year-to-date totals from the running totals, scoped in SQL; `min_absence_percent` narrows to
    enrolments missing at least that share of possible sessions (the core checks it again)."""
    e = Enrolment
    conditions = [e.academic_year == academic_year, *_scope_filter(la_code, urns, pupil_ids, e)]
    if min_absence_percent is not None:
        conditions += [e.sessions_possible > 0,
                       (e.sessions_authorised + e.sessions_unauthorised) * 100 >= e.sessions_possible * min_absence_percent]
    if year_group is not None:
        conditions.append(e.year_group == year_group)
    stmt = select(
        e.pupil_id, e.urn, e.la_code, e.academic_year, e.year_group, e.sen_status, e.fsm_eligible,
        e.sessions_present, e.sessions_aea, e.sessions_authorised, e.sessions_unauthorised,
    ).where(*conditions).order_by(e.urn, e.pupil_id)
    return [
        _to_totals(r, r.sessions_present, r.sessions_aea, r.sessions_authorised, r.sessions_unauthorised)
        for r in db.execute(stmt)
    ]


def window_totals(
    db: Session,
    start: dt.date,
    end: dt.date,
    classes: dict[str, list[str]],
    *,
    la_code: str | None = None,
    urns: Sequence[int] | None = None,
    pupil_ids: Sequence[str] | None = None,
    enrolment_keys: Sequence[tuple[str, int]] | None = None,
    year_group: str | None = None,
) -> list[EnrolmentTotals]:
    """Totals over a window, summed from the marks, for enrolments in scope (one row per enrolment
    and academic year), with the enrolment's attributes."""
    e, m = Enrolment, Mark

    def count(codes: list[str]) -> Any:
        return func.coalesce(func.sum(case((m.am.in_(codes), 1), else_=0) + case((m.pm.in_(codes), 1), else_=0)), 0)

    conditions = [m.date >= start, m.date <= end, *_scope_filter(la_code, urns, pupil_ids, e)]
    if year_group is not None:
        conditions.append(e.year_group == year_group)
    if enrolment_keys is not None:
        if not enrolment_keys:
            return []
        conditions.append(tuple_(e.pupil_id, e.urn).in_(list(enrolment_keys)))
    stmt = (
        select(
            e.pupil_id, e.urn, e.la_code, e.academic_year, e.year_group, e.sen_status, e.fsm_eligible,
            count(classes["present"]).label("present"), count(classes["aea"]).label("aea"),
            count(classes["authorised"]).label("auth"), count(classes["unauthorised"]).label("unauth"),
        )
        .join(m, and_(m.pupil_id == e.pupil_id, m.urn == e.urn, m.academic_year == e.academic_year))
        .where(*conditions)
        .group_by(e.pupil_id, e.urn, e.la_code, e.academic_year, e.year_group, e.sen_status, e.fsm_eligible)
        .order_by(e.urn, e.pupil_id)
    )
    return [_to_totals(r, int(r.present), int(r.aea), int(r.auth), int(r.unauth)) for r in db.execute(stmt)]


def _penalty_candidates_query(start: dt.date, end: dt.date, codes: Sequence[str], threshold: int, la_code: str,
                              urns: Sequence[int] | None) -> Any:
    m = Mark
    school_filter = [School.la_code == la_code]
    if urns is not None:
        school_filter.append(School.urn.in_(list(urns)))
    unauthorised = func.sum(case((m.am.in_(list(codes)), 1), else_=0) + case((m.pm.in_(list(codes)), 1), else_=0))
    return (
        select(m.pupil_id, m.urn)
        .join(School, School.urn == m.urn)
        .where(m.date >= start, m.date <= end, or_(m.am.in_(list(codes)), m.pm.in_(list(codes))), *school_filter)
        .group_by(m.pupil_id, m.urn)
        .having(unauthorised >= threshold)
    )


def penalty_candidates(
    db: Session, start: dt.date, end: dt.date, codes: Sequence[str], threshold: int, *, la_code: str, urns: Sequence[int] | None
) -> list[tuple[str, int]]:
    """Enrolments with at least `threshold` sessions coded G/N/O/U in the window: only these can
    reach the threshold within any ten school weeks of it."""
    stmt = _penalty_candidates_query(start, end, codes, threshold, la_code, urns)
    return [(r.pupil_id, int(r.urn)) for r in db.execute(stmt)]


def penalty_candidate_marks(
    db: Session, start: dt.date, end: dt.date, codes: Sequence[str], threshold: int, *, la_code: str, urns: Sequence[int] | None
) -> list[MarkRecord]:
    """Every mark in the window of the candidate enrolments, in one query joined to the candidates."""
    candidates = _penalty_candidates_query(start, end, codes, threshold, la_code, urns).subquery()
    stmt = (
        select(Mark.pupil_id, Mark.urn, Mark.date, Mark.am, Mark.pm)
        .join(candidates, and_(candidates.c.pupil_id == Mark.pupil_id, candidates.c.urn == Mark.urn))
        .where(Mark.date >= start, Mark.date <= end)
    )
    out: list[MarkRecord] = []
    for r in db.execute(stmt):
        out.append(MarkRecord(r.pupil_id, int(r.urn), r.date, "AM", r.am))
        out.append(MarkRecord(r.pupil_id, int(r.urn), r.date, "PM", r.pm))
    return out


def marks_for(db: Session, start: dt.date, end: dt.date, enrolment_keys: Sequence[tuple[str, int]]) -> list[MarkRecord]:
    out: list[MarkRecord] = []
    keys = list(enrolment_keys)
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        stmt = select(Mark.pupil_id, Mark.urn, Mark.date, Mark.am, Mark.pm).where(
            Mark.date >= start, Mark.date <= end, tuple_(Mark.pupil_id, Mark.urn).in_(chunk)
        )
        for r in db.execute(stmt):
            out.append(MarkRecord(r.pupil_id, int(r.urn), r.date, "AM", r.am))
            out.append(MarkRecord(r.pupil_id, int(r.urn), r.date, "PM", r.pm))
    return out


def insert_release(db: Session, values: dict[str, Any], pupils: Sequence[dict[str, Any]]) -> None:
    db.execute(insert(Release).values(**values))
    for i in range(0, len(pupils), _CHUNK):
        db.execute(insert(ReleasePupil), list(pupils[i : i + _CHUNK]))


def get_release(db: Session, release_id: str) -> Release | None:
    return db.execute(select(Release).where(Release.id == release_id)).scalar_one_or_none()


def attest_deletion(db: Session, release_id: str, when: dt.datetime, by: str) -> None:
    db.execute(update(Release).where(Release.id == release_id, Release.deleted_at.is_(None)).values(deleted_at=when, deletion_attested_by=by))


def list_releases(db: Session, status: str | None, now: dt.datetime, recipient_org_id: str | None, limit: int) -> list[Release]:
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


def enrolment_years_at(db: Session, pupil_id: str, urn: int) -> list[int]:
    stmt = select(Enrolment.academic_year).where(Enrolment.pupil_id == pupil_id, Enrolment.urn == urn).order_by(Enrolment.academic_year.desc())
    return [int(y) for y in db.execute(stmt).scalars()]


# --- consents ----------------------------------------------------------------------------------


def insert_consent(db: Session, values: dict[str, Any]) -> None:
    db.execute(insert(ConsentRecord).values(**values))


def current_consent_states(db: Session, purpose: str, pupil_ids: Sequence[str]) -> dict[str, str]:
    """pupil_id -> latest decision for the purpose (latest by sequence number, i.e. log order)."""
    c = ConsentRecord
    out: dict[str, str] = {}
    for i in range(0, len(pupil_ids), _CHUNK):
        chunk = list(pupil_ids[i : i + _CHUNK])
        sub = (
            select(c.pupil_id, func.max(c.seq).label("seq"))
            .where(c.purpose == purpose, c.pupil_id.in_(chunk))
            .group_by(c.pupil_id)
            .subquery()
        )
        stmt = select(c.pupil_id, c.decision).join(sub, and_(sub.c.pupil_id == c.pupil_id, sub.c.seq == c.seq))
        out.update({r.pupil_id: r.decision for r in db.execute(stmt)})
    return out


def current_consent_records(db: Session, pupil_ids: Sequence[str], purpose: str | None) -> list[ConsentRecord]:
    """The latest record per pupil and purpose, for the given pupils."""
    c = ConsentRecord
    out: list[ConsentRecord] = []
    for i in range(0, len(pupil_ids), _CHUNK):
        chunk = list(pupil_ids[i : i + _CHUNK])
        latest = select(c.pupil_id, c.purpose, func.max(c.seq).label("seq")).where(c.pupil_id.in_(chunk))
        if purpose is not None:
            latest = latest.where(c.purpose == purpose)
        sub = latest.group_by(c.pupil_id, c.purpose).subquery()
        stmt = select(c).join(sub, and_(sub.c.pupil_id == c.pupil_id, sub.c.purpose == c.purpose, sub.c.seq == c.seq))
        out.extend(db.execute(stmt.order_by(c.seq)).scalars())
    return out


def consent_history(db: Session, pupil_id: str, purpose: str | None = None) -> list[ConsentRecord]:
    c = ConsentRecord
    stmt = select(c).where(c.pupil_id == pupil_id)
    if purpose is not None:
        stmt = stmt.where(c.purpose == purpose)
    return list(db.execute(stmt.order_by(c.seq)).scalars())


def school_pupil_ids(db: Session, urn: int) -> list[str]:
    return [str(p) for p in db.execute(select(Enrolment.pupil_id).where(Enrolment.urn == urn).distinct()).scalars()]


def pupil_enrolled_at(db: Session, pupil_id: str, urn: int) -> int | None:
    """The latest academic year the pupil is on the school's roll, or None."""
    years = enrolment_years_at(db, pupil_id, urn)
    return years[0] if years else None
