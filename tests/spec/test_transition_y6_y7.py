"""transition-y6-y7: a secondary school names the pupils joining it in Year 7 by UPN and receives,
for each, only a band of their Year 6 attendance (95+, 90-95, 50-90, <50; a boundary belongs to the
band above it) and whether they were persistently absent. It learns nothing about their primary
school, nor about any pupil it did not name, and keeps the summary until 31 December of Year 7."""

from __future__ import annotations

import datetime as dt

from policies.model import Requester
from tests.spec.world import LA_202, at, world

PURPOSE = "transition-y6-y7"
NOW = at("2025-07-01 10:00")  # summer term of Year 6 (2024/25)

SECONDARY = Requester(org_type="school", org_id="100003", roles=("attendance_officer",))
ALL_THROUGH = Requester(org_type="school", org_id="100004", roles=("attendance_officer",))
PRIMARY = Requester(org_type="school", org_id="100001", roles=("attendance_officer",))

SCHOOLS = """
| urn    | la  | phase       |
| 100001 | 202 | Primary     |
| 100003 | 202 | Secondary   |
| 100004 | 202 | All-through |
| 200001 | 203 | Primary     |
"""

PUPILS = """
| pupil | upn           | forename | surname | born       | year | sen | fsm |
| amy   | A202100124001 | Amy      | Archer  | 2013-10-02 | 6    | N   | no  |
| ben   | B202100124002 | Ben      | Baker   | 2014-01-19 | 6    | K   | yes |
| cal   | C202100124003 | Cal      | Carter  | 2013-11-30 | 6    | E   | no  |
| dee   | D202100124004 | Dee      | Dawson  | 2014-05-12 | 6    | N   | yes |
| eve   | E202100124005 | Eve      | Ellis   | 2014-02-14 | 6    | N   | no  |
| fay   | F202100124006 | Fay      | Foster  | 2014-06-06 | 6    | K   | no  |
| gus   | G202100125007 | Gus      | Gray    | 2015-03-03 | 5    | N   | no  |
"""

# Two weeks of Year 6 in June 2025, 20 possible sessions each.
# Amy missed 1 (95%), Ben 2 (90%, exactly 10% missed), Cal 10 (50%), Dee 11 (45%).
# Eve moved primary school, into LA 203, after the first week: 3 of 20 missed across both (85%).
# Fay was not named. Gus is in Year 5.
REGISTER = r"""
| pupil | school | weeks      | Mon | Tue | Wed | Thu | Fri |
| amy   | 100001 | 2025-06-09 | / \ | / \ | / \ | / \ | / \ |
| amy   | 100001 | 2025-06-16 | / \ | / \ | I \ | / \ | / \ |
| ben   | 100001 | 2025-06-09 | / \ | G G | / \ | / \ | / \ |
| ben   | 100001 | 2025-06-16 | / \ | / \ | / \ | / \ | / \ |
| cal   | 100001 | 2025-06-09 | O O | O O | O O | / \ | / \ |
| cal   | 100001 | 2025-06-16 | I I | I I | / \ | / \ | / \ |
| dee   | 100001 | 2025-06-09 | O O | O O | O O | O \ | / \ |
| dee   | 100001 | 2025-06-16 | I I | I I | / \ | / \ | / \ |
| eve   | 100001 | 2025-06-09 | / \ | / \ | / \ | / \ | / \ |
| eve   | 200001 | 2025-06-16 | / O | / \ | N N | / \ | / \ |
| fay   | 100001 | 2025-06-09 | O O | O O | O O | O O | O O |
| fay   | 100001 | 2025-06-16 | O O | O O | O O | O O | O O |
| gus   | 100001 | 2025-06-09 | O O | O O | O O | O O | O O |
| gus   | 100001 | 2025-06-16 | O O | O O | O O | O O | O O |
"""

NAMED = ("amy", "ben", "cal", "dee", "eve", "gus", "Z999999999999")


def test_each_named_year_6_pupil_is_released_as_an_attendance_band_with_boundaries_in_the_band_above():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(SECONDARY, PURPOSE, now=NOW, pupils=NAMED)

    assert released.rows == [
        {"upn": "A202100124001", "attendance_band": "95+", "persistent_absence": False},
        {"upn": "B202100124002", "attendance_band": "90-95", "persistent_absence": True},
        {"upn": "C202100124003", "attendance_band": "50-90", "persistent_absence": True},
        {"upn": "D202100124004", "attendance_band": "<50", "persistent_absence": True},
        {"upn": "E202100124005", "attendance_band": "50-90", "persistent_absence": True},
    ]


def test_the_summary_is_kept_until_31_december_of_year_7():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(SECONDARY, PURPOSE, now=NOW, pupils=NAMED)

    assert released.decision.obligations is not None
    assert released.decision.obligations.expires_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_asked_in_the_autumn_of_year_7_the_summary_is_of_last_years_year_6():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(SECONDARY, PURPOSE, now=at("2025-10-06 10:00"), pupils=("amy", "dee"))

    assert released.rows == [
        {"upn": "A202100124001", "attendance_band": "95+", "persistent_absence": False},
        {"upn": "D202100124004", "attendance_band": "<50", "persistent_absence": True},
    ]
    assert released.decision.obligations is not None
    assert released.decision.obligations.expires_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_after_31_december_of_year_7_the_summary_is_refused():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(
        SECONDARY,
        PURPOSE,
        now=at("2026-01-05 10:00"),
        pupils=("amy",),
        from_date=dt.date(2024, 9, 1),
        to_date=dt.date(2025, 7, 18),
    )

    assert released.denied_because == ("retention_elapsed",)


def test_an_all_through_school_may_ask():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(ALL_THROUGH, PURPOSE, now=NOW, pupils=("amy",))

    assert released.rows == [{"upn": "A202100124001", "attendance_band": "95+", "persistent_absence": False}]


def test_a_primary_school_may_not_ask():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(PRIMARY, PURPOSE, now=NOW, pupils=("amy",))

    assert released.rows is None
    assert released.denied_because == ("wrong_phase",)


def test_a_secondary_school_must_name_the_pupils_and_cannot_ask_for_a_school():
    school = world(SCHOOLS, PUPILS, REGISTER)

    unnamed = school.ask(SECONDARY, PURPOSE, now=NOW)
    by_school = school.ask(SECONDARY, PURPOSE, now=NOW, schools=(100001,), pupils=("amy",))

    assert unnamed.denied_because == ("upns_required",)
    assert by_school.denied_because == ("schools_not_allowed",)


def test_an_la_cannot_ask_for_transition_summaries():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(LA_202, PURPOSE, now=NOW, pupils=("amy",))

    assert released.denied_because == ("wrong_org_type", "wrong_role")


def test_a_pupil_whose_parent_objected_is_not_released():
    school = world(SCHOOLS, PUPILS, REGISTER)
    school.objected = {"amy"}

    released = school.ask(SECONDARY, PURPOSE, now=NOW, pupils=("amy", "ben"))

    assert released.rows == [{"upn": "B202100124002", "attendance_band": "90-95", "persistent_absence": True}]
