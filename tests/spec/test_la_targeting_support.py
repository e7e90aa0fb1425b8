"""la-targeting-support: an LA case officer sees the persistently absent pupils (10% or more of their
possible sessions missed) at schools in its own area, under a pseudonym, with their characteristics
and totals, to prepare targeting support meetings."""

from __future__ import annotations

import datetime as dt

from policies.model import Requester
from tests.spec.world import LA_202, LA_203, at, world

PURPOSE = "la-targeting-support"
NOW = at("2025-09-22 09:00")  # the Monday after two weeks of term

SCHOOLS = """
| urn    | la  | phase   |
| 100001 | 202 | Primary |
| 100002 | 202 | Primary |
| 200001 | 203 | Primary |
"""

PUPILS = """
| pupil | upn           | forename | surname | born       | year | sen | fsm |
| amy   | A202100125001 | Amy      | Archer  | 2016-04-02 | 4    | N   | no  |
| ben   | B202100125002 | Ben      | Baker   | 2016-07-19 | 4    | K   | yes |
| cal   | C202100125003 | Cal      | Carter  | 2015-11-30 | 5    | E   | no  |
| dee   | D202100125004 | Dee      | Dawson  | 2015-01-12 | 5    | N   | yes |
| eve   | E203200125005 | Eve      | Ellis   | 2016-02-14 | 4    | N   | no  |
| fay   | F203200125006 | Fay      | Foster  | 2015-06-06 | 5    | K   | no  |
"""


def test_a_pupil_who_missed_exactly_10_percent_is_released_and_one_who_missed_5_percent_is_not():
    # Amy: 2 sessions missed of 20 (one illness, one unauthorised) = exactly 10%.
    # Ben: 1 session missed of 20 = 5%.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks      | Mon | Tue | Wed | Thu | Fri |
        | amy   | 100001 | 2025-09-08 | / \ | / \ | I \ | / \ | / \ |
        | amy   | 100001 | 2025-09-15 | / \ | / \ | / \ | / O | / \ |
        | ben   | 100001 | 2025-09-08 | / \ | / \ | / \ | / \ | / \ |
        | ben   | 100001 | 2025-09-15 | / \ | O \ | / \ | / \ | / \ |
        """,
    )

    released = school.ask(LA_202, PURPOSE, now=NOW)

    assert released.rows == [
        {
            "pupil_ref": school.ref("amy", "la:202", 2025),
            "school_urn": 100001,
            "year_group": "4",
            "sen_status": "N",
            "fsm_eligible": False,
            "sessions_possible": 20,
            "sessions_authorised_absence": 1,
            "sessions_unauthorised_absence": 1,
            "attendance_rate": 0.9,
        }
    ]


def test_sessions_that_are_not_possible_sessions_do_not_dilute_absence():
    # Cal: 2 sessions missed; 2 sessions at another school where he is dual registered (D) and a
    # whole-school closure day (#) are not possible sessions, so 2 of 16 possible = 12.5%.
    # Counting them as possible would give 2 of 20 = 10%.
    # Dee: 1 session missed of 18 possible (strike day Y2 not counted) = 5.6%.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks      | Mon | Tue | Wed | Thu | Fri |
        | cal   | 100001 | 2025-09-08 | / \ | D D | / \ | / \ | # # |
        | cal   | 100001 | 2025-09-15 | / \ | I I | / \ | / \ | / \ |
        | dee   | 100001 | 2025-09-08 | / \ | / \ | Y2 Y2 | / \ | / \ |
        | dee   | 100001 | 2025-09-15 | / \ | / \ | / \ | / \ | / N |
        """,
    )

    released = school.ask(LA_202, PURPOSE, now=NOW)

    assert released.rows == [
        {
            "pupil_ref": school.ref("cal", "la:202", 2025),
            "school_urn": 100001,
            "year_group": "5",
            "sen_status": "E",
            "fsm_eligible": False,
            "sessions_possible": 16,
            "sessions_authorised_absence": 2,
            "sessions_unauthorised_absence": 0,
            "attendance_rate": 0.875,
        }
    ]


def test_an_la_sees_only_pupils_at_schools_in_its_own_area():
    # Eve is at a school in LA 203 and missed half her sessions.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | amy   | 100001 | 2025-09-08 to 2025-09-15 | O O | / \ | / \ | / \ | / \ |
        | eve   | 200001 | 2025-09-08 to 2025-09-15 | O O | O O | / \ | O \ | / \ |
        """,
    )

    to_202 = school.ask(LA_202, PURPOSE, now=NOW)
    to_203 = school.ask(LA_203, PURPOSE, now=NOW)

    assert [row["school_urn"] for row in to_202.rows or []] == [100001]
    assert [row["school_urn"] for row in to_203.rows or []] == [200001]
    assert to_203.rows == [
        {
            "pupil_ref": school.ref("eve", "la:203", 2025),
            "school_urn": 200001,
            "year_group": "4",
            "sen_status": "N",
            "fsm_eligible": False,
            "sessions_possible": 20,
            "sessions_authorised_absence": 0,
            "sessions_unauthorised_absence": 10,
            "attendance_rate": 0.5,
        }
    ]


def test_naming_a_school_in_another_la_is_refused_and_nothing_is_released():
    school = world(SCHOOLS, PUPILS, "| pupil | school | weeks | Mon | Tue | Wed | Thu | Fri |")

    released = school.ask(LA_202, PURPOSE, now=NOW, schools=(100001, 200001))

    assert released.rows is None
    assert released.denied_because == ("other_la_school",)
    assert released.decision.reasons == ("other_la_school: school 200001 is not in LA 202",)


def test_naming_one_of_its_own_schools_narrows_the_release_to_that_school():
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | amy   | 100001 | 2025-09-08 to 2025-09-15 | O O | / \ | / \ | / \ | / \ |
        | ben   | 100002 | 2025-09-08 to 2025-09-15 | O O | / \ | / \ | / \ | / \ |
        """,
    )

    released = school.ask(LA_202, PURPOSE, now=NOW, schools=(100002,))

    assert [row["pupil_ref"] for row in released.rows or []] == [school.ref("ben", "la:202", 2025)]


def test_a_pupil_who_moved_school_is_judged_at_each_school_separately():
    # Dee missed 1 of 10 sessions at 100001 (10%), then moved to 100002 and missed none of 10.
    # Together that is 5%, but each enrolment counts on its own, so her 100001 enrolment is released.
    # Fay moved from a school in LA 203, where she missed 4 of 10, to 100002, where she missed none:
    # LA 202 sees nothing of her time in LA 203.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks      | Mon | Tue | Wed | Thu | Fri |
        | dee   | 100001 | 2025-09-08 | / \ | / \ | / \ | / \ | / G |
        | dee   | 100002 | 2025-09-15 | / \ | / \ | / \ | / \ | / \ |
        | fay   | 200001 | 2025-09-08 | O O | / \ | / \ | O O | / \ |
        | fay   | 100002 | 2025-09-15 | / \ | / \ | / \ | / \ | / \ |
        """,
    )

    to_202 = school.ask(LA_202, PURPOSE, now=NOW)
    to_203 = school.ask(LA_203, PURPOSE, now=NOW)

    assert to_202.rows == [
        {
            "pupil_ref": school.ref("dee", "la:202", 2025),
            "school_urn": 100001,
            "year_group": "5",
            "sen_status": "N",
            "fsm_eligible": True,
            "sessions_possible": 10,
            "sessions_authorised_absence": 0,
            "sessions_unauthorised_absence": 1,
            "attendance_rate": 0.9,
        }
    ]
    assert [(row["pupil_ref"], row["school_urn"]) for row in to_203.rows or []] == [
        (school.ref("fay", "la:203", 2025), 200001)
    ]


def test_the_same_child_at_two_schools_in_one_la_has_one_pupil_ref_but_another_la_sees_a_different_one():
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks      | Mon | Tue | Wed | Thu | Fri |
        | amy   | 100001 | 2025-09-08 | O O | / \ | / \ | / \ | / \ |
        | amy   | 100002 | 2025-09-15 | / \ | O O | / \ | / \ | / \ |
        | amy   | 200001 | 2025-09-22 | / \ | / \ | O O | / \ | / \ |
        """,
    )

    to_202 = school.ask(LA_202, PURPOSE, now=at("2025-09-29 09:00"))
    to_203 = school.ask(LA_203, PURPOSE, now=at("2025-09-29 09:00"))

    refs_202 = {row["pupil_ref"] for row in to_202.rows or []}
    refs_203 = {row["pupil_ref"] for row in to_203.rows or []}
    assert len(to_202.rows or []) == 2
    assert len(refs_202) == 1
    assert len(refs_203) == 1
    assert refs_202.isdisjoint(refs_203)


def test_a_pupil_whose_parent_objected_is_not_released():
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
        | amy   | 100001 | 2025-09-08 to 2025-09-15 | O O | / \ | / \ | / \ | / \ |
        | ben   | 100001 | 2025-09-08 to 2025-09-15 | O O | / \ | / \ | / \ | / \ |
        """,
    )
    school.objected = {"amy"}

    released = school.ask(LA_202, PURPOSE, now=NOW)

    assert [row["pupil_ref"] for row in released.rows or []] == [school.ref("ben", "la:202", 2025)]


def test_only_the_marks_inside_the_requested_window_count():
    # Amy's two absences are both in the second week; a window of the first week finds none.
    school = world(
        SCHOOLS,
        PUPILS,
        r"""
        | pupil | school | weeks      | Mon | Tue | Wed | Thu | Fri |
        | amy   | 100001 | 2025-09-08 | / \ | / \ | / \ | / \ | / \ |
        | amy   | 100001 | 2025-09-15 | O O | / \ | / \ | / \ | / \ |
        """,
    )

    first_week = school.ask(
        LA_202, PURPOSE, now=NOW, from_date=dt.date(2025, 9, 8), to_date=dt.date(2025, 9, 12)
    )
    both_weeks = school.ask(LA_202, PURPOSE, now=NOW)

    assert first_week.rows == []
    assert len(both_weeks.rows or []) == 1


def test_a_school_cannot_ask_for_targeting_support_data():
    school = world(SCHOOLS, PUPILS, "| pupil | school | weeks | Mon | Tue | Wed | Thu | Fri |")

    released = school.ask(
        Requester(org_type="school", org_id="100001", roles=("attendance_officer",)), PURPOSE, now=NOW
    )

    assert released.denied_because == ("wrong_org_type", "wrong_role")
