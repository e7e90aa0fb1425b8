"""mentoring-referral: an LA case officer sees, under a pseudonym, the persistently absent pupils at
schools in its area whose parent consented to a referral to attendance mentoring. Consent is opt-in:
until the consent registry records a consent, no pupil has one and nothing is released."""

from __future__ import annotations

from tests.spec.world import LA_202, at, world

PURPOSE = "mentoring-referral"
NOW = at("2025-09-22 09:00")

SCHOOLS = """
| urn    | la  | phase   |
| 100001 | 202 | Primary |
| 200001 | 203 | Primary |
"""

PUPILS = """
| pupil | upn           | forename | surname | born       | year | sen | fsm |
| amy   | A202100125001 | Amy      | Archer  | 2016-04-02 | 4    | K   | yes |
| ben   | B202100125002 | Ben      | Baker   | 2016-07-19 | 4    | N   | no  |
| cal   | C202100125003 | Cal      | Carter  | 2015-11-30 | 5    | N   | no  |
"""

# Amy and Ben missed 4 of 20 sessions (20%); Cal missed 1 of 20 (5%).
REGISTER = r"""
| pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
| amy   | 100001 | 2025-09-08 to 2025-09-15 | O O | / \ | / \ | / \ | / \ |
| ben   | 100001 | 2025-09-08 to 2025-09-15 | / \ | I I | / \ | / \ | / \ |
| cal   | 100001 | 2025-09-08               | / \ | / \ | / \ | / \ | / \ |
| cal   | 100001 | 2025-09-15               | O \ | / \ | / \ | / \ | / \ |
"""


def test_with_no_consent_recorded_no_pupil_is_released():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(LA_202, PURPOSE, now=NOW)

    assert released.decision.allow
    assert released.rows == []


def test_a_persistently_absent_pupil_with_consent_is_released_under_a_pseudonym_with_four_fields():
    school = world(SCHOOLS, PUPILS, REGISTER)
    school.consented = {"amy", "cal"}

    released = school.ask(LA_202, PURPOSE, now=NOW)

    assert released.rows == [
        {
            "pupil_ref": school.ref("amy", "la:202", 2025),
            "school_urn": 100001,
            "year_group": "4",
            "attendance_rate": 0.8,
        }
    ]


def test_a_consent_does_not_release_a_pupil_who_is_not_persistently_absent():
    school = world(SCHOOLS, PUPILS, REGISTER)
    school.consented = {"cal"}

    assert school.ask(LA_202, PURPOSE, now=NOW).rows == []


def test_an_objection_outweighs_a_consent():
    school = world(SCHOOLS, PUPILS, REGISTER)
    school.consented = {"amy"}
    school.objected = {"amy"}

    assert school.ask(LA_202, PURPOSE, now=NOW).rows == []


def test_naming_a_school_in_another_la_is_refused():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(LA_202, PURPOSE, now=NOW, schools=(200001,))

    assert released.denied_because == ("other_la_school",)
