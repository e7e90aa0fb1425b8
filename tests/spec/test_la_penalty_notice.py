"""la-penalty-notice: an LA case officer learns which pupils at schools in its area had 10 or more
sessions of unauthorised absence (codes G, N, O, U) within the rolling 10 school weeks ending at `to`,
with the date, session and code of each, so that it can consider a penalty notice.

A school week is a week (Monday to Sunday) with at least one possible session for the pupil: the
October half term (week of 27 October 2025, marked # below) is not one, so the ten school weeks
ending with the week of 1 December 2025 go back to the week of 22 September, eleven calendar weeks.
"""

from __future__ import annotations

import datetime as dt

from tests.spec.world import LA_202, LA_203, at, session, world

PURPOSE = "la-penalty-notice"
NOW = at("2025-12-05 16:00")  # Friday; `to` defaults to today

SCHOOLS = """
| urn    | la  | phase   |
| 100001 | 202 | Primary |
| 100002 | 202 | Primary |
| 200001 | 203 | Primary |
"""

PUPILS = """
| pupil | upn           | forename | surname | born       | year | sen | fsm |
| dan   | D202100125001 | Dan      | Dunn    | 2016-04-02 | 4    | N   | no  |
| eve   | E202100125002 | Eve      | Evans   | 2016-07-19 | 4    | K   | yes |
| fay   | F202100125003 | Fay      | Fox     | 2015-11-30 | 5    | N   | no  |
| gus   | G202100125004 | Gus      | Gray    | 2015-01-12 | 5    | N   | yes |
| hal   | H203200125005 | Hal      | Hill    | 2016-02-14 | 4    | N   | no  |
| jon   | J202100125006 | Jon      | Jones   | 2015-03-03 | 5    | N   | no  |
"""

# Dan: 10 unauthorised sessions in the last ten school weeks: 1 on 22 September, 4 of holiday not
# granted (G) on 3-4 November, 1 on 26 November and 4 in the week of 1 December. Illness (I) and
# arriving late before the register closed (L) do not count.
DAN = r"""
| pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
| dan   | 100001 | 2025-09-01 to 2025-09-15 | / \ | / \ | / \ | / \ | / \ |
| dan   | 100001 | 2025-09-22               | O \ | / \ | / \ | / \ | / \ |
| dan   | 100001 | 2025-09-29 to 2025-10-20 | / \ | / \ | / \ | / \ | / \ |
| dan   | 100001 | 2025-10-27               | # # | # # | # # | # # | # # |
| dan   | 100001 | 2025-11-03               | G G | G G | / \ | / \ | / \ |
| dan   | 100001 | 2025-11-10 to 2025-11-17 | / \ | / \ | / \ | I I | / \ |
| dan   | 100001 | 2025-11-24               | / \ | / \ | N \ | / \ | / \ |
| dan   | 100001 | 2025-12-01               | U \ | / O | N \ | / G | L \ |
"""

DANS_SESSIONS = [
    session("2025-09-22", "AM", "O"),
    session("2025-11-03", "AM", "G"),
    session("2025-11-03", "PM", "G"),
    session("2025-11-04", "AM", "G"),
    session("2025-11-04", "PM", "G"),
    session("2025-11-26", "AM", "N"),
    session("2025-12-01", "AM", "U"),
    session("2025-12-02", "PM", "O"),
    session("2025-12-03", "AM", "N"),
    session("2025-12-04", "PM", "G"),
]


def test_ten_unauthorised_sessions_in_ten_school_weeks_spanning_half_term_are_released_with_each_session():
    school = world(SCHOOLS, PUPILS, DAN)

    released = school.ask(LA_202, PURPOSE, now=NOW)

    assert released.rows == [
        {
            "upn": "D202100125001",
            "forename": "Dan",
            "surname": "Dunn",
            "school_urn": 100001,
            "unauthorised_sessions": DANS_SESSIONS,
        }
    ]


def test_nine_unauthorised_sessions_are_not_enough():
    # Eve's register is Dan's without the absence on 22 September.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | eve   | 100001 | 2025-09-01 to 2025-10-20 | / \ | / \ | / \ | / \ | / \ |
        | eve   | 100001 | 2025-10-27               | # # | # # | # # | # # | # # |
        | eve   | 100001 | 2025-11-03               | G G | G G | / \ | / \ | / \ |
        | eve   | 100001 | 2025-11-10 to 2025-11-17 | / \ | / \ | / \ | I I | / \ |
        | eve   | 100001 | 2025-11-24               | / \ | / \ | N \ | / \ | / \ |
        | eve   | 100001 | 2025-12-01               | U \ | / O | N \ | / G | L \ |
        """,
    )

    assert school.ask(LA_202, PURPOSE, now=NOW).rows == []


def test_a_session_in_the_eleventh_school_week_back_does_not_count():
    # Fay's register is Dan's with the absence on 15 September instead of 22 September: that is the
    # eleventh school week back, outside the rolling window, so only 9 sessions count.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | fay   | 100001 | 2025-09-01 to 2025-09-08 | / \ | / \ | / \ | / \ | / \ |
        | fay   | 100001 | 2025-09-15               | O \ | / \ | / \ | / \ | / \ |
        | fay   | 100001 | 2025-09-22 to 2025-10-20 | / \ | / \ | / \ | / \ | / \ |
        | fay   | 100001 | 2025-10-27               | # # | # # | # # | # # | # # |
        | fay   | 100001 | 2025-11-03               | G G | G G | / \ | / \ | / \ |
        | fay   | 100001 | 2025-11-10 to 2025-11-17 | / \ | / \ | / \ | I I | / \ |
        | fay   | 100001 | 2025-11-24               | / \ | / \ | N \ | / \ | / \ |
        | fay   | 100001 | 2025-12-01               | U \ | / O | N \ | / G | L \ |
        """,
    )

    assert school.ask(LA_202, PURPOSE, now=NOW).rows == []


def test_the_ten_school_weeks_end_at_to_so_later_sessions_do_not_count():
    # Ending on Friday 28 November, the window holds only 6 of Dan's sessions.
    school = world(SCHOOLS, PUPILS, DAN)

    released = school.ask(LA_202, PURPOSE, now=NOW, to_date=dt.date(2025, 11, 28))

    assert released.rows == []


def test_a_pupil_who_moved_school_is_judged_at_each_school_separately():
    # Gus had 6 unauthorised sessions at 100001 before half term, moved to 100002 and had 6 more.
    # Each enrolment is below the threshold, so neither is released (DfE counts enrolments; a notice
    # is considered for absence from one school).
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | gus   | 100001 | 2025-09-01 to 2025-09-29 | / \ | / \ | / \ | / \ | / \ |
        | gus   | 100001 | 2025-10-06 to 2025-10-20 | / \ | O O | / \ | / \ | / \ |
        | gus   | 100002 | 2025-11-03 to 2025-11-24 | / \ | / \ | / \ | / \ | G \ |
        | gus   | 100002 | 2025-12-01               | / \ | / \ | / \ | / \ | G G |
        """,
    )

    assert school.ask(LA_202, PURPOSE, now=NOW).rows == []


def test_the_pupils_own_la_is_told_and_no_other():
    # Hal is at a school in LA 203: 5 unauthorised sessions in each of the last two weeks.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | hal   | 200001 | 2025-11-24 to 2025-12-01 | O O | O O | O \ | / \ | / \ |
        """,
    )

    assert school.ask(LA_202, PURPOSE, now=NOW).rows == []
    assert school.ask(LA_203, PURPOSE, now=NOW).rows == [
        {
            "upn": "H203200125005",
            "forename": "Hal",
            "surname": "Hill",
            "school_urn": 200001,
            "unauthorised_sessions": [
                session("2025-11-24", "AM", "O"),
                session("2025-11-24", "PM", "O"),
                session("2025-11-25", "AM", "O"),
                session("2025-11-25", "PM", "O"),
                session("2025-11-26", "AM", "O"),
                session("2025-12-01", "AM", "O"),
                session("2025-12-01", "PM", "O"),
                session("2025-12-02", "AM", "O"),
                session("2025-12-02", "PM", "O"),
                session("2025-12-03", "AM", "O"),
            ],
        }
    ]


def test_the_rolling_window_reaches_back_across_the_summer_holiday_into_the_previous_school_year():
    # Asked on Friday 19 September 2025, the ten school weeks are the three weeks of September 2025
    # and the last seven weeks of the summer term (weeks of 2 June to 14 July 2025); the week of
    # 26 May is the eleventh. Jon had 5 unauthorised sessions in the week of 2 June and 5 in September.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | jon   | 100001 | 2025-05-26               | G G | / \ | / \ | / \ | / \ |
        | jon   | 100001 | 2025-06-02               | G G | G G | G \ | / \ | / \ |
        | jon   | 100001 | 2025-06-09 to 2025-07-14 | / \ | / \ | / \ | / \ | / \ |
        | jon   | 100001 | 2025-09-01               |     |     | / \ | / \ | O O |
        | jon   | 100001 | 2025-09-08               | / \ | / \ | / \ | / \ | / \ |
        | jon   | 100001 | 2025-09-15               | N N | U \ | / \ | / \ | / \ |
        """,
    )

    released = school.ask(LA_202, PURPOSE, now=at("2025-09-19 16:00"))

    assert released.rows == [
        {
            "upn": "J202100125006",
            "forename": "Jon",
            "surname": "Jones",
            "school_urn": 100001,
            "unauthorised_sessions": [
                session("2025-06-02", "AM", "G"),
                session("2025-06-02", "PM", "G"),
                session("2025-06-03", "AM", "G"),
                session("2025-06-03", "PM", "G"),
                session("2025-06-04", "AM", "G"),
                session("2025-09-05", "AM", "O"),
                session("2025-09-05", "PM", "O"),
                session("2025-09-15", "AM", "N"),
                session("2025-09-15", "PM", "N"),
                session("2025-09-16", "AM", "U"),
            ],
        }
    ]


def test_a_pupil_whose_parent_objected_is_not_released():
    school = world(SCHOOLS, PUPILS, DAN)
    school.objected = {"dan"}

    assert school.ask(LA_202, PURPOSE, now=NOW).rows == []
