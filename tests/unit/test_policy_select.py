"""Selection criteria and the second check of scope and window (the spec tests hold the worked cases)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.decide import decide
from policies.fields import Criterion
from policies.loader import load_catalogue
from policies.model import ConsentRule, Obligations, ReleaseRequest, Requester, RequestFacts, Scope
from policies.select import (
    OutOfScope,
    Selected,
    is_persistently_absent,
    is_severely_absent,
    misses_at_least,
    penalty_notice_sessions,
    select,
    year_6_summaries,
)
from schemas.records import EnrolmentTotals, Mark

CATALOGUE = load_catalogue()
NOW = dt.datetime(2025, 11, 14, 16, tzinfo=dt.UTC)
LA = Requester(org_type="la", org_id="202", roles=("case_officer",))


def obligations(purpose: str = "la-targeting-support", **changes: object) -> Obligations:
    requester = LA
    request = ReleaseRequest(purpose=purpose, justification="Checking the selection criteria")
    facts = RequestFacts()
    if purpose == "transition-y6-y7":
        requester = Requester(org_type="school", org_id="100003", roles=("attendance_officer",))
        request = request.model_copy(update={"upns": ("A1",)})
        facts = RequestFacts(requester_phase="Secondary")
    decision = decide(CATALOGUE, requester, request, facts, now=NOW)
    assert decision.obligations is not None
    return decision.obligations.model_copy(update=changes)


def totals(
    pupil: str = "p1",
    *,
    possible: int = 20,
    authorised: int = 0,
    unauthorised: int = 0,
    aea: int = 0,
    school: int = 100001,
    la: str = "202",
    year_group: str = "4",
    academic_year: int = 2025,
) -> EnrolmentTotals:
    return EnrolmentTotals(
        pupil_id=pupil,
        school_urn=school,
        la_code=la,
        academic_year=academic_year,
        year_group=year_group,
        sen_status="N",
        fsm_eligible=False,
        sessions_possible=possible,
        sessions_present=possible - authorised - unauthorised - aea,
        sessions_aea=aea,
        sessions_authorised=authorised,
        sessions_unauthorised=unauthorised,
    )


def mark(day: str, session: str = "AM", code: str = "O", pupil: str = "p1", school: int = 100001) -> Mark:
    return Mark(pupil, school, dt.date.fromisoformat(day), session, code)  # type: ignore[arg-type]


def weekdays(first_monday: str, weeks: int) -> list[dt.date]:
    start = dt.date.fromisoformat(first_monday)
    return [start + dt.timedelta(weeks=w, days=d) for w in range(weeks) for d in range(5)]


# --- thresholds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("absent", "possible", "percent", "expected"),
    [
        (2, 20, 10, True),
        (1, 11, 10, False),
        (1, 10, 10, True),
        (10, 20, 50, True),
        (9, 19, 50, False),
        (0, 0, 10, False),
    ],
)
def test_a_threshold_is_met_exactly_at_its_percentage_and_never_with_no_possible_sessions(
    absent: int, possible: int, percent: int, expected: bool
):
    assert misses_at_least(absent, possible, percent) is expected


@given(possible=st.integers(1, 400), absent=st.integers(0, 400))
def test_persistent_and_severe_absence_agree_with_exact_arithmetic(possible: int, absent: int):
    absent = min(absent, possible)
    enrolment = totals(possible=possible, unauthorised=absent)

    assert is_persistently_absent(enrolment) == (Fraction(absent, possible) >= Fraction(1, 10))
    assert is_severely_absent(enrolment) == (absent * 2 >= possible)
    assert not is_severely_absent(enrolment) or is_persistently_absent(enrolment)


# --- penalty notice ------------------------------------------------------------------------------


def test_qualifying_sessions_are_returned_in_date_and_session_order_whatever_order_they_came_in():
    marks = [
        mark(day.isoformat(), session, "G")
        for day in reversed(weekdays("2025-11-03", 1))
        for session in ("PM", "AM")
    ]

    sessions = penalty_notice_sessions(marks, dt.date(2025, 11, 7))

    assert [(m.date.day, m.session) for m in sessions] == [
        (day, session) for day in range(3, 8) for session in ("AM", "PM")
    ]


def test_authorised_and_present_codes_do_not_count_towards_the_penalty_threshold():
    marks = [mark(day.isoformat(), "AM", "I") for day in weekdays("2025-09-08", 2)]
    marks += [mark(day.isoformat(), "PM", "L") for day in weekdays("2025-09-08", 2)]

    assert penalty_notice_sessions(marks, dt.date(2025, 9, 19)) == ()


def test_a_week_with_only_closures_or_unavoidable_absence_is_not_a_school_week():
    # Ten weeks from 1 September; the weeks of 22 September (closed, #) and 6 October (Y1: no
    # transport) have no possible session, so the ten school weeks reach back to 1 September.
    marks = []
    for day in weekdays("2025-09-01", 10):
        week = day - dt.timedelta(days=day.weekday())
        code = {dt.date(2025, 9, 22): "#", dt.date(2025, 10, 6): "Y1"}.get(week, "/")
        marks.append(mark(day.isoformat(), "AM", code))
    marks += [mark("2025-09-01", "PM", "O"), mark("2025-09-02", "PM", "O"), mark("2025-09-03", "PM", "O")]
    marks += [mark(f"2025-11-{d:02d}", "PM", "G") for d in (3, 4, 5, 6, 7, 10, 11)]

    sessions = penalty_notice_sessions(marks, dt.date(2025, 11, 14))

    assert len(sessions) == 10


def test_marks_after_to_are_ignored():
    marks = [mark(day.isoformat(), "AM", "O") for day in weekdays("2025-11-03", 2)]

    assert len(penalty_notice_sessions(marks, dt.date(2025, 11, 14))) == 10
    assert penalty_notice_sessions(marks, dt.date(2025, 11, 13)) == ()


# --- year 6 ----------------------------------------------------------------------------------------


def test_year_6_summaries_add_up_a_named_pupils_year_6_enrolments_and_leave_out_everything_else():
    rows = [
        totals("named", school=100001, possible=10, unauthorised=1),
        totals("named", school=200001, la="203", possible=10, authorised=2, year_group="6"),
        totals("named", school=100002, possible=10, aea=3, year_group="6"),
        totals("not-named", year_group="6"),
        totals("no-sessions", possible=0, year_group="6"),
    ]

    summaries = year_6_summaries(rows, {"named", "no-sessions"})

    assert summaries == [
        Selected(
            pupil_id="named",
            school_urn=None,
            year_group="6",
            sen_status=None,
            fsm_eligible=None,
            sessions_possible=20,
            sessions_attended=18,
            sessions_authorised=2,
            sessions_unauthorised=0,
        )
    ]


# --- select: consent, order and the second check of scope -----------------------------------------


def test_select_orders_rows_by_school_then_pupil_key():
    rows = [
        totals("b", unauthorised=5, school=100002),
        totals("c", unauthorised=5),
        totals("a", unauthorised=5),
    ]

    selected = select(obligations(), rows)

    assert [(r.school_urn, r.pupil_id) for r in selected] == [(100001, "a"), (100001, "c"), (100002, "b")]


@pytest.mark.parametrize(
    ("rule", "consented", "objected", "released"),
    [
        (ConsentRule.NONE, set(), {"a"}, ["a", "b"]),
        (ConsentRule.OBJECTION_HONOURED, set(), {"a"}, ["b"]),
        (ConsentRule.OPT_IN, set(), set(), []),
        (ConsentRule.OPT_IN, {"a"}, set(), ["a"]),
        (ConsentRule.OPT_IN, {"a", "b"}, {"a"}, ["b"]),
    ],
)
def test_consent_rules_decide_who_may_be_released(
    rule: ConsentRule, consented: set[str], objected: set[str], released: list[str]
):
    rows = [totals("a", unauthorised=5), totals("b", unauthorised=5)]

    selected = select(obligations(consent=rule), rows, consented=consented, objected=objected)

    assert [r.pupil_id for r in selected] == released


def test_an_enrolment_in_another_la_is_refused_rather_than_released():
    with pytest.raises(OutOfScope, match="outside the decision's scope"):
        select(obligations(), [totals(la="203", school=200001)])


def test_an_enrolment_at_a_school_the_request_did_not_name_is_refused():
    narrowed = obligations(scope=Scope(la_code="202", school_urns=(100001,), named_pupils=False))

    with pytest.raises(OutOfScope):
        select(narrowed, [totals(school=100002)])


def test_a_pupil_a_named_pupils_request_did_not_name_is_refused():
    with pytest.raises(OutOfScope, match="did not name"):
        select(obligations("transition-y6-y7"), [totals("other", year_group="6")], named_pupil_ids={"named"})


def test_a_named_pupils_release_needs_the_named_pupil_keys():
    with pytest.raises(ValueError, match="pupil keys"):
        select(obligations("transition-y6-y7"), [])


def test_a_mark_without_an_enrolment_in_scope_is_refused():
    with pytest.raises(OutOfScope, match="belongs to no enrolment"):
        select(obligations("la-penalty-notice"), [totals()], [mark("2025-11-03", pupil="p2")])


def test_a_mark_outside_the_window_is_refused():
    with pytest.raises(OutOfScope, match="outside the decision's window"):
        select(obligations("la-penalty-notice"), [totals()], [mark("2025-11-17")])


def test_two_marks_for_one_session_are_refused():
    with pytest.raises(ValueError, match="two marks for one session"):
        select(
            obligations("la-penalty-notice"), [totals()], [mark("2025-11-03"), mark("2025-11-03", code="G")]
        )


def test_totals_that_do_not_add_up_are_refused():
    broken = totals(possible=20, unauthorised=2)._replace(sessions_possible=21)

    with pytest.raises(ValueError, match="do not add up"):
        select(obligations(), [broken])


def test_a_statistics_only_criterion_selects_no_records():
    with pytest.raises(ValueError, match="selects no pupil-level records"):
        select(obligations(criterion=Criterion.AGGREGATES_ONLY), [totals()])


def test_a_penalty_notice_row_describes_the_enrolment_by_its_latest_academic_year():
    rows = [totals(academic_year=2024, year_group="3"), totals(academic_year=2025, year_group="4")]
    marks = [mark(day.isoformat(), "AM", "O") for day in weekdays("2025-11-03", 2)]

    (selected,) = select(obligations("la-penalty-notice"), rows, marks)
    (reversed_,) = select(obligations("la-penalty-notice"), rows[::-1], marks)

    assert selected.year_group == reversed_.year_group == "4"
    assert len(selected.unauthorised_sessions) == 10


def test_a_penalty_notice_enrolment_with_no_marks_is_not_selected():
    assert select(obligations("la-penalty-notice"), [totals()], []) == []


def test_a_row_with_no_possible_sessions_has_no_attendance():
    assert Selected.from_totals(totals(possible=0)).attendance is None
