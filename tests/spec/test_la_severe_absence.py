"""la-severe-absence: an LA case officer sees, with their names, the severely absent pupils (50% or
more of their possible sessions missed) at schools in its own area, for joint casework."""

from __future__ import annotations

import datetime as dt

from tests.spec.world import LA_202, at, world

PURPOSE = "la-severe-absence"
NOW = at("2025-09-22 09:00")

SCHOOLS = """
| urn    | la  | phase     |
| 100001 | 202 | Primary   |
| 100003 | 202 | Secondary |
| 200001 | 203 | Primary   |
"""

PUPILS = """
| pupil | upn           | forename | surname | born       | year | sen | fsm |
| amy   | A202100125001 | Amy      | Archer  | 2016-04-02 | 4    | N   | yes |
| ben   | B202100125002 | Ben      | Baker   | 2016-07-19 | 4    | K   | no  |
| cal   | C202100325003 | Cal      | Carter  | 2012-11-30 | 8    | E   | yes |
| eve   | E203200125005 | Eve      | Ellis   | 2016-02-14 | 4    | N   | no  |
"""


def test_a_pupil_who_missed_exactly_half_is_released_with_identifiers_and_one_who_missed_45_percent_is_not():
    # Amy: 10 of 20 sessions missed (50%). Ben: 9 of 20 (45%).
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks      | Mon | Tue | Wed | Thu | Fri |
        | amy   | 100001 | 2025-09-08 | O O | O O | / \ | / \ | / \ |
        | amy   | 100001 | 2025-09-15 | / \ | G G | I I | / \ | N N |
        | ben   | 100001 | 2025-09-08 | O O | O O | / \ | / \ | / \ |
        | ben   | 100001 | 2025-09-15 | / \ | G G | I I | / \ | / N |
        """,
    )

    released = school.ask(LA_202, PURPOSE, now=NOW)

    assert released.rows == [
        {
            "upn": "A202100125001",
            "forename": "Amy",
            "surname": "Archer",
            "date_of_birth": dt.date(2016, 4, 2),
            "school_urn": 100001,
            "year_group": "4",
            "sen_status": "N",
            "sessions_possible": 20,
            "sessions_authorised_absence": 2,
            "sessions_unauthorised_absence": 8,
            "attendance_rate": 0.5,
        }
    ]


def test_authorised_absence_counts_towards_severe_absence():
    # Cal was ill for 12 of 20 sessions, all authorised: 60% missed.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks      | Mon | Tue | Wed | Thu | Fri |
        | cal   | 100003 | 2025-09-08 | I I | I I | I I | I I | I I |
        | cal   | 100003 | 2025-09-15 | I I | / \ | / \ | / \ | M \ |
        """,
    )

    released = school.ask(LA_202, PURPOSE, now=NOW)

    assert released.rows == [
        {
            "upn": "C202100325003",
            "forename": "Cal",
            "surname": "Carter",
            "date_of_birth": dt.date(2012, 11, 30),
            "school_urn": 100003,
            "year_group": "8",
            "sen_status": "E",
            "sessions_possible": 20,
            "sessions_authorised_absence": 13,
            "sessions_unauthorised_absence": 0,
            "attendance_rate": 0.35,
        }
    ]


def test_approved_educational_activity_is_attendance_not_absence():
    # Ben was on a school trip (V) and at work experience (W) for 10 of 20 sessions: he attended all.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks      | Mon | Tue | Wed | Thu | Fri |
        | ben   | 100001 | 2025-09-08 | V V | V V | V V | / \ | / \ |
        | ben   | 100001 | 2025-09-15 | W W | W W | / \ | / \ | / \ |
        """,
    )

    assert school.ask(LA_202, PURPOSE, now=NOW).rows == []


def test_free_school_meal_eligibility_is_not_released_for_casework():
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | amy   | 100001 | 2025-09-08 to 2025-09-15 | O O | O O | O O | / \ | / \ |
        """,
    )

    (row,) = school.ask(LA_202, PURPOSE, now=NOW).rows or []

    assert "fsm_eligible" not in row
    assert "pupil_ref" not in row


def test_a_severely_absent_pupil_in_another_la_is_not_released():
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | eve   | 200001 | 2025-09-08 to 2025-09-15 | O O | O O | O O | O O | O O |
        """,
    )

    assert school.ask(LA_202, PURPOSE, now=NOW).rows == []


def test_a_request_without_a_justification_is_refused():
    school = world(SCHOOLS, PUPILS, "| pupil | school | weeks | Mon | Tue | Wed | Thu | Fri |")

    released = school.ask(LA_202, PURPOSE, now=NOW, justification="   ")

    assert released.rows is None
    assert released.denied_because == ("missing_justification",)
