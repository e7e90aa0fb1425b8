"""The benchmark snapshot's vectors, noise plan and post-processed group values (pure)."""

from __future__ import annotations

import math

import pytest

from anonymisation import benchmarks
from anonymisation import dp as adp
from policies.school_rates import cohorts


def _school(absent: int) -> list:  # type: ignore[type-arg]
    # Ten pupils of Year 5, 100 possible sessions each; `absent` of them miss 20 (authorised 5).
    return cohorts(["5"] * 10, ["N"] * 9 + ["K"], [False] * 10, [100] * 10,
                   [5] * absent + [0] * (10 - absent), [15] * absent + [0] * (10 - absent))


def test_the_cells_are_every_school_by_every_group_present_or_not() -> None:
    exact = benchmarks.exact_vectors([100001, 100002], {"year_to_date": {100001: _school(2)},
                                                         "last_four_weeks": {}})
    year_groups = exact["year_to_date.year_group.possible"]
    assert len(year_groups) == 2 * len(benchmarks.GROUPS["year_group"])
    assert year_groups[benchmarks.GROUPS["year_group"].index("5")] == 1000
    assert sum(year_groups) == 1000  # the second school's cells are all there, as zeros
    assert exact["year_to_date.all.persistent"] == [2, 0]
    assert exact["last_four_weeks.all.enrolments"] == [0, 0]
    assert exact["year_to_date.sen_status.enrolments"][:3] == [9, 1, 0]


def test_the_plan_spends_within_its_allotment_with_the_windows_bounds_as_sensitivities() -> None:
    allotment = adp.rho_to_units_down(0.01)
    plan = benchmarks.plan(380, allotment)
    assert plan.units_spent <= allotment
    assert len(plan.planned) == 2 * 4 * 6
    by_name = {p.statistic.name: p.statistic.sensitivity for p in plan.planned}
    assert by_name["year_to_date.all.possible"] == 380
    assert by_name["last_four_weeks.fsm.unauthorised"] == benchmarks.FOUR_WEEKS_SESSIONS
    assert by_name["year_to_date.all.persistent"] == 1


def test_a_group_value_is_the_ratio_of_summed_counts_with_a_widening_interval() -> None:
    urns = (1, 2)
    noisy = {benchmarks.name(w, d, s): [0] * (2 * len(benchmarks.GROUPS[d]))
             for w in benchmarks.WINDOWS for d in benchmarks.GROUPS for s in benchmarks.STATISTICS}
    noisy["year_to_date.all.possible"] = [1000, 3000]
    noisy["year_to_date.all.authorised"] = [50, 50]
    noisy["year_to_date.all.unauthorised"] = [50, 250]
    sd = dict.fromkeys(noisy, 10.0)
    snapshot = benchmarks.Snapshot(urns, noisy, sd)
    both = benchmarks.estimate(snapshot, [0, 1], "year_to_date", "all", "all", "overall_absence_rate")
    assert both is not None and both.value == 10.0  # 400 / 4000, not the mean of 10% and 10%
    half_width = benchmarks.Z_95 * math.sqrt(2 * 100 + 2 * 100 + 0.01 * 2 * 100) / 4000 * 100
    assert both.upper - both.value == pytest.approx(half_width, abs=0.01)
    assert both.lower == pytest.approx(both.value - half_width, abs=0.01)
    one = benchmarks.estimate(snapshot, [0], "year_to_date", "all", "all", "overall_absence_rate")
    assert one is not None and one.upper - one.lower > both.upper - both.lower
    assert benchmarks.estimate(snapshot, [], "year_to_date", "all", "all", "overall_absence_rate") is None
    # A denominator the noise took to zero says nothing.
    assert benchmarks.estimate(snapshot, [0], "last_four_weeks", "all", "all", "severe_absence_rate") is None
    assert snapshot.positions_by_urn() == {1: 0, 2: 1}


def test_noise_is_drawn_once_per_cell_with_the_plans_measurements() -> None:
    plan = benchmarks.plan(380, adp.rho_to_units_down(1.0))
    exact = benchmarks.exact_vectors([100001], {"year_to_date": {100001: _school(2)}, "last_four_weeks": {}})
    noisy = benchmarks.noise(plan, exact)
    assert set(noisy) == set(exact) and all(len(noisy[k]) == len(exact[k]) for k in exact)
    assert all(isinstance(v, int) for values in noisy.values() for v in values)
