"""Selection criteria: which enrolments a release is about. Pure functions over totals and marks.

A pupil who moved school has one enrolment at each school, and each is judged on its own: DfE counts
absence per enrolment (a pupil who changes school counts as two enrolments; docs/domain.md 2.2), and an
LA's scope is the schools in its area, so it sees the enrolments at its schools and nothing of the
pupil's time elsewhere. The penalty-notice threshold is judged per enrolment too, because it is the
school and its LA that must consider a notice for absence from that school. The Year 6 summary is the
exception: the receiving school needs the child's Year 6 attendance, so a pupil's Year 6 enrolments
are added together into one row that names no previous school.

The shell applies the scope and the window in its query; `select` checks both again and raises
`OutOfScope` rather than release a row the decision did not allow.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections import defaultdict
from collections.abc import Iterable, Sequence, Set
from fractions import Fraction
from typing import NamedTuple

from consent.rules import filter_by_consent
from policies.dates import week_of
from policies.fields import Criterion
from policies.model import Obligations
from policies.thresholds import PERSISTENT_ABSENCE_PERCENT, SEVERE_ABSENCE_PERCENT
from schemas.codes import PENALTY_NOTICE_CODES, classify, is_possible
from schemas.records import EnrolmentTotals, Mark

#: National penalty-notice framework from 19 August 2024: 10 sessions of unauthorised absence (codes
#: G, N, O, U) within a rolling period of 10 school weeks; a school week is any week with at least one
#: session (SI 2024/210 and "Working together to improve school attendance"; docs/domain.md 3.1).
PENALTY_NOTICE_SESSIONS = 10
PENALTY_NOTICE_SCHOOL_WEEKS = 10

#: The year group whose attendance the transition summary reports.
TRANSITION_YEAR_GROUP = "6"


class OutOfScope(Exception):
    """A row reached the core that the decision's scope or window does not allow: the query is wrong."""


class Selected(NamedTuple):
    """One row to release, before its fields are transformed: an enrolment, or a pupil's Year 6.
    A named tuple for the reason `EnrolmentTotals` is one: a case list makes ten thousand of them."""

    pupil_id: str
    school_urn: int | None  # None when the row adds up several enrolments
    year_group: str | None
    sen_status: str | None
    fsm_eligible: bool | None
    sessions_possible: int
    sessions_attended: int  # present or approved educational activity
    sessions_authorised: int
    sessions_unauthorised: int
    unauthorised_sessions: tuple[Mark, ...] = ()

    @classmethod
    def from_totals(cls, totals: EnrolmentTotals, unauthorised_sessions: tuple[Mark, ...] = ()) -> Selected:
        # In field order, unpacked: positional arguments are the cheap way to make a named tuple.
        pid, urn, _, _, group, sen, fsm, possible, present, aea, authorised, unauthorised = totals
        return cls(
            pid,
            urn,
            group,
            sen,
            fsm,
            possible,
            present + aea,
            authorised,
            unauthorised,
            unauthorised_sessions,
        )

    @property
    def attendance(self) -> Fraction | None:
        """Attendance as an exact fraction, so that thresholds are never missed by rounding."""
        if self.sessions_possible == 0:
            return None
        return Fraction(self.sessions_attended, self.sessions_possible)

    @property
    def persistently_absent(self) -> bool:
        return misses_at_least(
            self.sessions_authorised + self.sessions_unauthorised,
            self.sessions_possible,
            PERSISTENT_ABSENCE_PERCENT,
        )


def misses_at_least(absent: int, possible: int, percent: int) -> bool:
    """Whether `absent` is `percent`% or more of `possible`, in whole numbers so exactly 10% is 10%."""
    return possible > 0 and absent * 100 >= possible * percent


def is_persistently_absent(totals: EnrolmentTotals) -> bool:
    return misses_at_least(totals.sessions_absent, totals.sessions_possible, PERSISTENT_ABSENCE_PERCENT)


def is_severely_absent(totals: EnrolmentTotals) -> bool:
    return misses_at_least(totals.sessions_absent, totals.sessions_possible, SEVERE_ABSENCE_PERCENT)


def penalty_notice_sessions(marks: Iterable[Mark], to_date: dt.date) -> tuple[Mark, ...]:
    """The G/N/O/U sessions of one enrolment in its last ten school weeks ending with the week of
    `to_date`, or () when there are fewer than ten of them.

    A school week is an ISO week (Monday to Sunday) in which the pupil had at least one possible
    session at the school in the marks given: half terms, closures (#) and weeks not on roll do not
    count, so the ten school weeks can span more than ten calendar weeks, terms and academic years.
    """
    weeks: set[dt.date] = set()
    unauthorised: list[tuple[dt.date, Mark]] = []
    week_of_, possible_on, hits = _week_of, _is_possible_on, PENALTY_NOTICE_CODES
    for mark in marks:
        date, code = mark[2], mark[4]
        if date > to_date:
            continue
        week = week_of_(date)
        if code in hits:
            unauthorised.append((week, mark))  # G/N/O/U are possible sessions: their week is a school week
            weeks.add(week)
        elif week not in weeks and possible_on(code, date):
            weeks.add(week)
    if len(unauthorised) < PENALTY_NOTICE_SESSIONS:
        return ()
    counted_weeks = set(sorted(weeks)[-PENALTY_NOTICE_SCHOOL_WEEKS:])
    sessions = tuple(sorted((m for week, m in unauthorised if week in counted_weeks), key=_DATE_AND_SESSION))
    return sessions if len(sessions) >= PENALTY_NOTICE_SESSIONS else ()


#: A mark's (date, session): "AM" sorts before "PM".
_DATE_AND_SESSION = operator.itemgetter(2, 3)


# A release reads tens of thousands of marks on a hundred or so dates: each date's week and each
# (code, date)'s class once. (Pure functions of their arguments, so caching changes no answer.)
_week_of = functools.lru_cache(maxsize=4096)(week_of)


@functools.lru_cache(maxsize=16384)
def _is_possible_on(code: str, day: dt.date) -> bool:
    return is_possible(classify(code, day))


def year_6_summaries(totals: Iterable[EnrolmentTotals], pupil_ids: Set[str]) -> list[Selected]:
    """One row per named pupil, adding up the pupil's Year 6 enrolments in the window.

    Pupils with no possible session in Year 6 are left out: there is no attendance to summarise
    (DfE likewise excludes enrolments with no possible sessions).
    """
    by_pupil: dict[str, list[EnrolmentTotals]] = defaultdict(list)
    for row in totals:
        if row.pupil_id in pupil_ids and row.year_group == TRANSITION_YEAR_GROUP:
            by_pupil[row.pupil_id].append(row)
    summaries = []
    for pupil_id, rows in by_pupil.items():
        possible = sum(r.sessions_possible for r in rows)
        if possible == 0:
            continue
        summaries.append(
            Selected(
                pupil_id=pupil_id,
                school_urn=None,
                year_group=TRANSITION_YEAR_GROUP,
                sen_status=None,
                fsm_eligible=None,
                sessions_possible=possible,
                sessions_attended=sum(r.sessions_present + r.sessions_aea for r in rows),
                sessions_authorised=sum(r.sessions_authorised for r in rows),
                sessions_unauthorised=sum(r.sessions_unauthorised for r in rows),
            )
        )
    return summaries


def select(
    obligations: Obligations,
    totals: Sequence[EnrolmentTotals],
    marks: Sequence[Mark] = (),
    *,
    named_pupil_ids: Set[str] | None = None,
    consented: Set[str] = frozenset(),
    objected: Set[str] = frozenset(),
) -> list[Selected]:
    """The rows an allowed release is about, in a stable order.

    `totals` are the enrolments the query found in scope, totalled over the window; `marks` are their
    marks in the window (needed by the penalty-notice criterion only); `named_pupil_ids` are the
    pupil keys of the UPNs a named-pupils request gave; `consented` and `objected` are the pupil keys
    with consent granted for, and with an objection to, this purpose. With no consent registry the
    shell passes no consents, and an opt-in purpose releases nobody.
    """
    _check_scope(obligations, totals, marks, named_pupil_ids)

    candidates = filter_by_consent(obligations.consent, totals, consented, objected).kept
    criterion = obligations.criterion
    if criterion is Criterion.PERSISTENT_ABSENCE:
        rows = [Selected.from_totals(t) for t in candidates if is_persistently_absent(t)]
    elif criterion is Criterion.SEVERE_ABSENCE:
        rows = [Selected.from_totals(t) for t in candidates if is_severely_absent(t)]
    elif criterion is Criterion.PENALTY_NOTICE_THRESHOLD:
        rows = _penalty_notice_rows(candidates, marks, obligations.window.to_date)
    elif criterion is Criterion.YEAR_6_SUMMARY:
        assert named_pupil_ids is not None  # _check_scope demands them
        rows = year_6_summaries(candidates, named_pupil_ids)
    else:
        raise ValueError(f"criterion '{criterion}' selects no pupil-level records")
    return sorted(rows, key=lambda row: (row.school_urn or 0, row.pupil_id))


def _penalty_notice_rows(
    candidates: Sequence[EnrolmentTotals], marks: Sequence[Mark], to_date: dt.date
) -> list[Selected]:
    # An enrolment may have a totals row in each academic year the window touches; the latest one
    # describes the pupil now.
    latest: dict[tuple[str, int], EnrolmentTotals] = {}
    for row in candidates:
        key = (row.pupil_id, row.school_urn)
        if key not in latest or row.academic_year > latest[key].academic_year:
            latest[key] = row
    marks_by_enrolment: dict[tuple[str, int], list[Mark]] = defaultdict(list)
    for mark in marks:
        marks_by_enrolment[_ENROLMENT(mark)].append(mark)
    rows = []
    for key, enrolment in latest.items():
        sessions = penalty_notice_sessions(marks_by_enrolment.get(key, ()), to_date)
        if sessions:
            rows.append(Selected.from_totals(enrolment, sessions))
    return rows


def _check_scope(
    obligations: Obligations,
    totals: Sequence[EnrolmentTotals],
    marks: Sequence[Mark],
    named_pupil_ids: Set[str] | None,
) -> None:
    scope, window = obligations.scope, obligations.window
    if scope.named_pupils and named_pupil_ids is None:
        raise ValueError("a named-pupils release needs the pupil keys of the named UPNs")
    enrolments = set()
    admitted: dict[tuple[str, int], bool] = {}  # scope.admits of each (LA, school), asked once
    named = scope.named_pupils
    for row in totals:
        school = (row.la_code, row.school_urn)
        admits = admitted.get(school)
        if admits is None:
            admits = admitted[school] = scope.admits(la_code=row.la_code, school_urn=row.school_urn)
        if not admits:
            raise OutOfScope(f"an enrolment at school {row.school_urn} is outside the decision's scope")
        if named and row.pupil_id not in (named_pupil_ids or ()):
            raise OutOfScope("an enrolment of a pupil the request did not name reached the core")
        if (
            row.sessions_present + row.sessions_aea + row.sessions_authorised + row.sessions_unauthorised
            != row.sessions_possible
        ):
            raise ValueError(f"the totals of an enrolment at school {row.school_urn} do not add up")
        enrolments.add((row.pupil_id, row.school_urn))
    if not marks:
        return
    # Whole-list checks first (C loops over tens of thousands of marks); the mark at fault is looked
    # for only when one fails.
    first, last = window.from_date, window.to_date
    marks_enrolments = set(map(_ENROLMENT, marks))
    if not marks_enrolments <= enrolments:
        mark = next(m for m in marks if _ENROLMENT(m) not in enrolments)
        raise OutOfScope(f"a mark at school {mark.school_urn} belongs to no enrolment in scope")
    dates = set(map(_DATE, marks))
    if not first <= min(dates) <= max(dates) <= last:
        raise OutOfScope("a mark outside the decision's window reached the core")
    if len(set(map(_SESSION, marks))) != len(marks):
        seen = set()
        for mark in marks:
            if _SESSION(mark) in seen:
                raise ValueError(f"two marks for one session at school {mark.school_urn} on {mark.date}")
            seen.add(_SESSION(mark))


#: Parts of a mark (`schemas.records.Mark`): its enrolment, its date, and its session.
_ENROLMENT = operator.itemgetter(0, 1)
_DATE = operator.itemgetter(2)
_SESSION = operator.itemgetter(0, 1, 2, 3)
