"""A bundle's budget split across its tables by need (TopDown-like), the school-day bound,
and coarser cells (regions) published as sums of noisy measurements with a valid interval."""

from __future__ import annotations

import datetime as dt

import pytest

from anonymisation import dp as adp
from anonymisation import school_calendar


def test_a_bundle_gives_fine_tables_more_budget_than_coarse_ones_and_spends_exactly_its_allotment() -> None:
    units = adp.allocate_by_need(8_000, [(2, 459), (2, 459), (2, 6), (2, 6)])
    assert sum(units) == 8_000
    assert units[0] == units[1] > 60 * units[2] and units[2] == units[3] > 0


def test_allocation_refuses_a_table_without_cells() -> None:
    with pytest.raises(ValueError, match="at least one"):
        adp.allocate_by_need(100, [(1, 0)])


def test_the_bound_is_twice_the_school_days_of_the_public_calendar() -> None:
    start = dt.date(2025, 8, 1)
    # Autumn term 2025: 1 September to 19 December less the October half term, INSET days included.
    assert school_calendar.school_days(start, dt.date(2025, 12, 19)) == 75
    assert adp.sessions_possible_bound(start, dt.date(2025, 12, 19)) == 150
    # Every weekday from 1 August, the old bound, would have been 101 days (202 sessions).
    assert adp.sessions_possible_bound(start, dt.date(2025, 12, 7)) == 130
    # The early May bank holiday is a closure; the summer holiday has no school day.
    assert school_calendar.school_days(dt.date(2026, 5, 4), dt.date(2026, 5, 8)) == 4
    assert adp.sessions_possible_bound(dt.date(2026, 7, 21), dt.date(2026, 7, 31)) == 0
    assert adp.sessions_possible_bound(start, dt.date(2026, 7, 31)) == 380


def test_a_year_without_published_term_dates_falls_back_to_every_weekday() -> None:
    assert school_calendar.school_days(dt.date(2030, 9, 2), dt.date(2030, 9, 8)) == 5
    source = school_calendar.source(dt.date(2030, 9, 2), dt.date(2030, 9, 8))
    assert "no published calendar for 2030" in source


def test_a_calendar_whose_terms_overlap_is_refused() -> None:
    text = """[[years]]
academic_year = 2025
source = "x"
terms = [[2025-09-01, 2025-10-24], [2025-10-20, 2025-12-19]]
"""
    with pytest.raises(school_calendar.CalendarInvalid, match="in order"):
        school_calendar.parse(text)


@pytest.mark.parametrize("mechanism", ["gaussian", "laplace"])
def test_the_interval_of_a_sum_of_noisy_cells_covers_its_noise(mechanism: adp.Mechanism) -> None:
    plan = adp.plan_noise([adp.Statistic.count("enrolments")], 10**9, mechanism=mechanism)
    planned = plan["enrolments"]
    cells, sums = 12, 400
    draws = adp.release_noisy(plan, {"enrolments": [0] * (cells * sums)})["enrolments"]
    totals = [sum(draws[i * cells : (i + 1) * cells]) for i in range(sums)]
    h = adp.sum_half_width(mechanism, planned.scale, cells, 0.05)
    assert sum(abs(t) > h for t in totals) <= 0.05 * sums
    # Wider than one cell's, narrower than the cells' half-widths added up.
    assert planned.half_width(0.05) < h < cells * planned.half_width(0.05)
    assert adp.sum_half_width(mechanism, planned.scale, 1, 0.05) == planned.half_width(0.05)


def test_a_region_sum_is_published_as_a_rate_with_its_noisy_measurements() -> None:
    plan = adp.plan_measure("overall_absence_rate", 150, 10**11)
    row = adp.publish_sum("overall_absence_rate", {"region_code": "E12000007"},
                          {"absent": 7_000, "possible": 100_000}, 4, plan)
    assert row["noisy"] == {"absent": 7_000, "possible": 100_000} and row["value"] == 0.07
    assert row["ci95"][0] < 0.07 < row["ci95"][1]
    wide = adp.publish_sum("overall_absence_rate", {}, {"absent": 70, "possible": 1_000}, 4, plan)
    assert wide["reliability"] == "low" and wide["symbol"] == "u"
    none = adp.publish_sum("overall_absence_rate", {}, {"absent": 5, "possible": -3}, 4, plan)
    assert none["value"] == "x"
    counts = adp.plan_measure("enrolments", 150, 10**10)
    count = adp.publish_sum("enrolments", {}, {"enrolments": 900}, 3, counts)
    assert count["value"] == 900 and count["ci95"][0] < 900 < count["ci95"][1]


def test_a_rate_wider_than_half_a_percentage_point_either_side_is_low_reliability() -> None:
    plan = adp.plan_measure("overall_absence_rate", 380, 10**10)
    big = adp.publish_row("overall_absence_rate", {}, {"absent": 7 * 10**8, "possible": 10**10}, plan)
    assert big["reliability"] == "normal"
    small = adp.publish_row("overall_absence_rate", {}, {"absent": 7 * 10**4, "possible": 10**6}, plan)
    half_width = (small["ci95"][1] - small["ci95"][0]) / 2
    # Within 20% of the rate, and a denominator of many noise SDs: low by the 0.5 pp rule alone.
    assert 0.005 < half_width < 0.2 * small["value"] and small["reliability"] == "low"


def test_a_rate_over_a_published_denominator_draws_and_pays_for_its_numerator_only() -> None:
    fresh = adp.plan_measure("overall_absence_rate", 150, 10**10)
    reused = adp.plan_measure("overall_absence_rate", 150, 10**10, published={"possible": 1234.5})
    assert fresh.drawn == ("absent", "possible") and reused.drawn == ("absent",)
    assert reused["possible"].scale == 1234.5 and reused["possible"].units == 0
    assert reused["possible"].reused and reused.describe()[1]["reused"] is True
    # The numerator keeps the share it had; only the denominator's part goes unspent.
    assert reused["absent"].scale == fresh["absent"].scale
    assert reused.units_spent == fresh["absent"].units < fresh.units_spent
    # A count is its own numerator: never reused.
    assert adp.plan_measure("enrolments", 150, 10**10, published={"enrolments": 9.0}).drawn == ("enrolments",)
    with pytest.raises(adp.PlanMismatch):
        adp.release_noisy(reused, {"absent": [1], "possible": [2]})


def test_a_plan_refuses_to_reuse_every_statistic_or_an_unplanned_one() -> None:
    stats = [adp.Statistic.count("pa"), adp.Statistic.count("enrolments")]
    with pytest.raises(ValueError, match="draws at least one"):
        adp.plan_noise(stats, 100, reuse={"pa": 1.0, "enrolments": 1.0})
    with pytest.raises(ValueError, match="positive noise scales"):
        adp.plan_noise(stats, 100, reuse={"severe": 1.0})
    with pytest.raises(ValueError, match="positive noise scales"):
        adp.plan_noise(stats, 100, reuse={"pa": -1.0})


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ('[[2025-09-01, "2025-10-24"]]', "two dates"),
        ("[[2025-09-01, 2025-10-24]]\n[[years]]\nacademic_year = 2025\nsource = 'y'\nterms = []", "twice"),
    ],
)
def test_a_malformed_calendar_is_refused(terms: str, message: str) -> None:
    text = f"[[years]]\nacademic_year = 2025\nsource = 'x'\nterms = {terms}\n"
    with pytest.raises(school_calendar.CalendarInvalid, match=message):
        school_calendar.parse(text)


def test_an_empty_window_has_no_school_day() -> None:
    assert school_calendar.school_days(dt.date(2025, 9, 2), dt.date(2025, 9, 1)) == 0
    assert adp.sessions_possible_bound(dt.date(2025, 9, 2), dt.date(2025, 9, 1)) == 0


def test_a_sum_of_no_cells_has_no_interval() -> None:
    with pytest.raises(ValueError, match="at least one cell"):
        adp.sum_half_width("gaussian", 3.0, 0, 0.05)
    assert school_calendar.weekdays(dt.date(2025, 9, 5), dt.date(2025, 9, 1)) == 0
