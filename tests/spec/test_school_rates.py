"""A school's measures by pupil group, as DfE defines them: per enrolment, from session totals."""

from __future__ import annotations

import pytest

from policies.school_rates import Cohort, cohorts, combine

#: year group, SEN, FSM, possible, authorised, unauthorised
PUPILS = [
    ("7", "N", False, 100, 2, 0),   # 2% absent
    ("7", "K", True, 100, 5, 5),    # exactly 10%: persistently absent
    ("8", "E", True, 100, 30, 30),  # 60%: persistently and severely absent
    ("8", "N", False, 0, 0, 0),     # no possible session: counts nowhere
]


def _measures():
    return {(c.dimension, c.group): c for c in cohorts(*zip(*PUPILS, strict=True))}


def test_all_enrolments_with_possible_sessions_count_and_exactly_ten_percent_is_persistent():
    whole = _measures()[("all", "all")]
    assert whole == Cohort("all", "all", enrolments=3, possible=300, authorised=37, unauthorised=35,
                           persistent=2, severe=1)
    assert whole.overall_absence_rate == 24.0
    assert whole.persistent_absence_rate == pytest.approx(200 / 3)
    assert whole.severe_absence_rate == pytest.approx(100 / 3)


def test_groups_by_year_sen_and_fsm():
    measures = _measures()
    assert measures[("year_group", "7")].overall_absence_rate == 6.0
    assert measures[("year_group", "8")].enrolments == 1  # the pupil with no possible session is out
    assert measures[("sen_status", "EHC plan")].severe_absence_rate == 100.0
    assert measures[("fsm", "FSM")].unauthorised_absence_rate == 17.5
    assert ("sen_status", "No SEN") in measures and measures[("fsm", "not FSM")].enrolments == 1
    assert [g for d, g in measures if d == "year_group"] == ["7", "8"]


def test_a_group_of_schools_is_the_ratio_of_summed_counts_not_a_mean_of_rates():
    small = Cohort("all", "all", 1, 100, 50, 0, 1, 1)   # 50% absence
    large = Cohort("all", "all", 9, 900, 0, 0, 0, 0)    # 0%
    assert combine([small, large]).overall_absence_rate == 5.0
    assert cohorts([], [], [], [], [], []) == [Cohort("all", "all", 0, 0, 0, 0, 0, 0)]
