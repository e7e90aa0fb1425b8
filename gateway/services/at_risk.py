"""Use case: a school's attendance officer sees its pupils at risk of persistent absence, with reasons.

The rule is `policies.at_risk` with the catalogue's thresholds; the counts come from the rosters alone
(the weekly counters for the window and its last weeks, last year's totals for "persistently absent last
year"). Names are decrypted only for the pupils listed, and the view is audited, without personal data,
before anything leaves (a failed audit write fails the request).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from gateway.auth import Principal
from gateway.db.repositories import rosters as roster_repo
from gateway.db.repositories import schools as school_repo
from gateway.db.session import transaction
from gateway.errors import InvalidInput, NotFound
from gateway.keys.store import Keys
from gateway.services import access, audit
from gateway.services.access import Target
from gateway.services.common import LONDON, decrypt_identities
from policies import at_risk
from policies.access import PUPILS_AT_RISK_VIEW
from policies.dates import WindowInvalid, year_window
from policies.report_policy import AtRiskRule
from schemas import rosters as roster_core
from schemas.calendar import academic_year_bounds, academic_year_of

_POSSIBLE, _UNAUTHORISED, _AUTHORISED = (roster_core.WEEK_COUNTERS.index(c)
                                         for c in ("possible", "unauthorised", "authorised"))
_T_POSSIBLE, _T_AUTH, _T_UNAUTH = (roster_core.CLASSES.index(c)
                                   for c in ("possible", "authorised", "unauthorised"))


@dataclass(frozen=True, slots=True)
class AtRiskPupil:
    upn: str
    forename: str
    surname: str
    year_group: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AtRiskList:
    urn: int
    from_: dt.date
    to: dt.date
    pupils: list[AtRiskPupil]
    rule: AtRiskRule
    audit_index: int


def records(roster: roster_core.Roster, prior: roster_core.Roster | None, start: dt.date, end: dt.date,
            recent_weeks: int) -> dict[str, at_risk.PupilRecord]:
    """Each pupil's counts over the school weeks that start within [start, end], the last
    `recent_weeks` of them with any possible session, and last year's totals."""
    year_start = academic_year_bounds(roster.academic_year)[0]
    monday = year_start - dt.timedelta(days=year_start.weekday())
    first = max(0, -(-(start - monday).days // 7))
    last = min(roster_core.WEEKS - 1, (end - monday).days // 7)
    weeks = roster.weeks[:, first:last + 1].astype(int) if last >= first else roster.weeks[:, :0].astype(int)
    school_weeks = [w for w in range(weeks.shape[1]) if weeks[:, w, _POSSIBLE].any()]
    recent = school_weeks[-recent_weeks:]
    out = {}
    for n, pid in enumerate(roster.pupil_ids):
        possible = int(weeks[n, :, _POSSIBLE].sum())
        absent = int(weeks[n, :, _UNAUTHORISED].sum() + weeks[n, :, _AUTHORISED].sum())
        r_possible = int(weeks[n, recent, _POSSIBLE].sum())
        r_absent = int(weeks[n, recent, _UNAUTHORISED].sum() + weeks[n, recent, _AUTHORISED].sum())
        p_possible = p_absent = None
        if prior is not None and pid in prior.slot:
            t = prior.totals[prior.slot[pid]]
            p_possible, p_absent = int(t[_T_POSSIBLE]), int(t[_T_AUTH] + t[_T_UNAUTH])
        out[pid] = at_risk.PupilRecord(possible, absent, r_possible, r_absent, p_possible, p_absent)
    return out


def _window(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    try:
        window = year_window(start, end, dt.datetime.now(LONDON).date())
    except WindowInvalid as error:
        raise InvalidInput([{"row": None, "field": error.field, "message": error.message}]) from None
    return window.start, window.end


def list_at_risk(
    sessions: sessionmaker[Session],
    keys: Keys,
    rule: AtRiskRule,
    principal: Principal,
    urn: int,
    start: dt.date | None,
    end: dt.date | None,
) -> AtRiskList:
    access.authorise(sessions, principal, PUPILS_AT_RISK_VIEW, Target(urn=urn))
    start_, end_ = _window(start, end)
    year = academic_year_of(end_)
    with transaction(sessions) as db:
        if school_repo.get_school(db, urn) is None:
            raise NotFound(f"school {urn} is not in the register of schools")
        roster = roster_repo.get(db, urn, year)
        found: dict[str, tuple[str, ...]] = {}
        year_groups: dict[str, str] = {}
        if roster is not None:
            prior = roster_repo.get(db, urn, year - 1)
            for pid, record in records(roster, prior, start_, end_, rule.recent_weeks).items():
                why = at_risk.reasons(record, rule)
                if why:
                    found[pid] = why
                    year_groups[pid] = roster.attributes[roster.slot[pid]]["year_group"].decode()
        identities = decrypt_identities(db, keys, year, sorted(found))
        listed = sorted(
            (AtRiskPupil(i.upn, i.forename, i.surname, year_groups[pid], found[pid])
             for pid, i in identities.items() if pid in found),
            key=lambda p: (p.surname, p.forename, p.upn),
        )
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "pupils_at_risk.viewed",
                subject_org_ids=[str(urn)],
                record_count=len(listed),
                details={"urn": urn, "from": start_.isoformat(), "to": end_.isoformat()},
            ),
        )
    return AtRiskList(urn, start_, end_, listed, rule, index)
