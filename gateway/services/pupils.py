"""Use case: a school's attendance officer views its own pupils with their attendance totals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from anonymisation.pseudonyms import audit_pseudonym
from anonymisation.pseudonyms import pupil_id as make_pupil_id
from anonymisation.transforms import attendance_rate
from gateway.auth import Principal
from gateway.db.repositories import registers as register_repo
from gateway.db.repositories import schools as school_repo
from gateway.db.session import transaction
from gateway.errors import InvalidInput, NotFound
from gateway.keys.store import Keys
from gateway.services import access, audit
from gateway.services.access import Target
from gateway.services.common import LONDON, decrypt_identities
from policies.access import PUPILS_VIEW
from policies.dates import WindowInvalid, year_window
from policies.thresholds import is_persistent, is_severe
from schemas.calendar import academic_year_of
from schemas.upn import validate_upn


@dataclass(frozen=True, slots=True)
class PupilTotals:
    """One pupil on a school's roll, with the pupil's totals over the window."""

    upn: str
    forename: str
    surname: str
    date_of_birth: dt.date
    year_group: str
    sen_status: str
    fsm_eligible: bool
    sessions_possible: int
    sessions_present: int
    sessions_approved_educational_activity: int
    sessions_authorised_absence: int
    sessions_unauthorised_absence: int
    attendance_rate: float | None  # `anonymisation.transforms.attendance_rate`; None with no possible session
    persistent_absence: bool
    severe_absence: bool


@dataclass(frozen=True, slots=True)
class PupilList:
    """A school's pupils (by surname, then forename) over a window of marks, and the view's audit entry."""

    urn: int
    school_name: str
    from_: dt.date
    to: dt.date
    pupils: list[PupilTotals]
    audit_index: int


def resolve_window(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date, bool]:
    """The academic year's window (policies.dates.year_window), whose end may be after today.
    Returns (start, end, is_whole_year_to_date)."""
    today = dt.datetime.now(LONDON).date()
    try:
        window = year_window(start, end, today)
    except WindowInvalid as error:
        raise InvalidInput([{"row": None, "field": error.field, "message": error.message}]) from None
    return window.start, window.end, start is None and (end is None or end >= today)


def list_pupils(
    sessions: sessionmaker[Session],
    keys: Keys,
    principal: Principal,
    urn: int,
    start: dt.date | None,
    end: dt.date | None,
) -> PupilList:
    access.authorise(sessions, principal, PUPILS_VIEW, Target(urn=urn))
    start_, end_, whole_year = resolve_window(start, end)
    year = academic_year_of(end_)
    with transaction(sessions) as db:
        school = school_repo.get_school(db, urn)
        if school is None:
            raise NotFound(f"school {urn} is not in the register of schools")
        school_name = school.name
        enrolments = {e.pupil_id: e for e in register_repo.school_enrolments(db, urn, year)}
        if whole_year:
            totals = {
                pid: (e.sessions_present, e.sessions_aea, e.sessions_authorised, e.sessions_unauthorised)
                for pid, e in enrolments.items()
            }
        else:
            totals = register_repo.window_totals_for_school(db, urn, year, start_, end_)
        identities = decrypt_identities(db, keys, year, sorted(totals))
        pupils = []
        for pid in sorted(
            totals,
            key=lambda p: (identities[p].surname, identities[p].forename) if p in identities else ("", ""),
        ):
            e = enrolments.get(pid)
            ident = identities.get(pid)
            if e is None or ident is None:
                continue  # identifiers shredded: nothing identifying to show
            present, aea, auth, unauth = totals[pid]
            possible = present + aea + auth + unauth
            absent = auth + unauth
            pupils.append(
                PupilTotals(
                    upn=ident.upn,
                    forename=ident.forename,
                    surname=ident.surname,
                    date_of_birth=ident.date_of_birth,
                    year_group=e.year_group,
                    sen_status=e.sen_status,
                    fsm_eligible=e.fsm_eligible,
                    sessions_possible=possible,
                    sessions_present=present,
                    sessions_approved_educational_activity=aea,
                    sessions_authorised_absence=auth,
                    sessions_unauthorised_absence=unauth,
                    attendance_rate=attendance_rate(present + aea, possible) if possible else None,
                    persistent_absence=possible > 0 and is_persistent(absent, possible),
                    severe_absence=possible > 0 and is_severe(absent, possible),
                )
            )
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "pupils.viewed",
                subject_org_ids=[str(urn)],
                record_count=len(pupils),
                details={"urn": urn, "from": start_.isoformat(), "to": end_.isoformat()},
            ),
        )
    return PupilList(
        urn=urn, school_name=school_name, from_=start_, to=end_, pupils=pupils, audit_index=index
    )


@dataclass(frozen=True, slots=True)
class PupilOnRoll:
    """A pupil found on a school's roll by UPN: the name an officer confirms a form against."""

    upn: str
    forename: str
    surname: str


def pupil_on_roll(
    sessions: sessionmaker[Session], keys: Keys, principal: Principal, urn: int, upn: str
) -> PupilOnRoll | None:
    """The pupil with this UPN on the school's roll (None if not on it), for the consent form to
    show the name before a decision is recorded. Looking a name up is a view, audited as one."""
    access.authorise(sessions, principal, PUPILS_VIEW, Target(urn=urn))
    try:
        clean = validate_upn(upn)
    except ValueError as exc:
        raise InvalidInput([{"row": None, "field": "upn", "message": str(exc)}]) from None
    pid = make_pupil_id(clean, keys.pupil_id_key)
    with transaction(sessions) as db:
        year = register_repo.pupil_enrolled_at(db, pid, urn)
        found = None
        if year is not None:
            ident = decrypt_identities(db, keys, year, [pid]).get(pid)
            if ident is not None:
                found = PupilOnRoll(upn=ident.upn, forename=ident.forename, surname=ident.surname)
        audit.record(
            db,
            audit.new_event(
                principal,
                "pupils.viewed",
                subject_org_ids=[str(urn)],
                record_count=1 if found else 0,
                pupil_refs=[audit_pseudonym(pid, keys.audit_key_for_year(year))] if found and year else [],
                details={"urn": urn, "view": "consent form"},
            ),
        )
    return found
