"""dfe-statistics: the Department for Education's statistics come only as noisy aggregates through
the statistics route. The purpose releases no pupil-level record to anyone, whoever asks."""

from __future__ import annotations

from policies.model import Requester
from tests.spec.world import CATALOGUE, LA_202, at, world

PURPOSE = "dfe-statistics"
NOW = at("2025-09-22 09:00")
STATISTICIAN = Requester(org_type="dfe", org_id="dfe", roles=("statistician",))

SCHOOLS = """
| urn    | la  | phase   |
| 100001 | 202 | Primary |
"""

PUPILS = """
| pupil | upn           | forename | surname | born       | year | sen | fsm |
| amy   | A202100125001 | Amy      | Archer  | 2016-04-02 | 4    | N   | no  |
"""

REGISTER = r"""
| pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
| amy   | 100001 | 2025-09-08 to 2025-09-15 | O O | O O | O O | / \ | / \ |
"""


def test_a_statistician_asking_for_a_release_is_refused_because_the_purpose_is_statistics_only():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(STATISTICIAN, PURPOSE, now=NOW)

    assert released.rows is None
    assert released.denied_because == ("statistics_only",)


def test_anyone_else_asking_is_refused_for_the_same_reason():
    school = world(SCHOOLS, PUPILS, REGISTER)

    released = school.ask(LA_202, PURPOSE, now=NOW)

    assert released.denied_because == ("statistics_only",)


def test_the_catalogue_gives_the_purpose_no_fields_and_no_retention():
    purpose = CATALOGUE.purpose(PURPOSE)

    assert purpose is not None
    assert purpose.output_fields == ()
    assert purpose.retention.describe() == "not applicable: no pupil-level release"
