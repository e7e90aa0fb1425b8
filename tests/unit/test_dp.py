"""The differentially private statistics core: sensitivity, budget, noise, intervals and symbols.

Noise is drawn by OpenDP from the operating system's CSPRNG and cannot be seeded, so the statistical
tests use bands that a correct implementation leaves with probability below one in a million.
"""

from __future__ import annotations

import math
import random
from datetime import date
from fractions import Fraction
from typing import Any

import opendp.prelude as dp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymisation import cell_keysets
from anonymisation import dp as adp
from anonymisation.dp import planning

# A handful of real LAs plus one code that is not in the key set, and likewise for other dimensions,
# so that generated pupils also exercise the scope filter.
LA_CODES = ["201", "420", "942", "943", "999"]
PHASES = ["primary", "secondary", "special", "nursery"]
YEAR_GROUPS = ["R", "1", "6", "7", "11", "12"]
SEN = ["N", "K", "E"]
# Groupings the property tests run on; the full five-way grouping (33,048 cells) is tested once below.
BYS = [
    [],
    ["la"],
    ["phase"],
    ["la", "phase"],
    ["year_group", "sen_status", "fsm"],
    ["phase", "year_group", "sen_status", "fsm"],
]

sessions = st.integers(min_value=-5, max_value=450)

pupil_years = st.builds(
    adp.PupilYear,
    la_code=st.sampled_from(LA_CODES),
    phase=st.sampled_from(PHASES),
    year_group=st.sampled_from(YEAR_GROUPS),
    sen_status=st.sampled_from(SEN),
    fsm=st.booleans(),
    possible=sessions,
    authorised=sessions,
    unauthorised=sessions,
)


def pupil(**overrides: Any) -> adp.PupilYear:
    """A clean, in-scope pupil-year; tests override what they are about."""
    fields: dict[str, Any] = {
        "la_code": "201",
        "phase": "primary",
        "year_group": "3",
        "sen_status": "N",
        "fsm": False,
        "possible": 100,
        "authorised": 4,
        "unauthorised": 1,
    }
    return adp.PupilYear(**(fields | overrides))


def enrolment(**overrides: Any) -> adp.Enrolment:
    fields: dict[str, Any] = {
        "pupil": "p1",
        "academic_year": "2025/26",
        "school_urn": "100001",
        "la_code": "201",
        "phase": "primary",
        "year_group": "3",
        "sen_status": "N",
        "fsm": False,
        "possible": 100,
        "authorised": 4,
        "unauthorised": 1,
        "last_date": date(2026, 7, 17),
    }
    return adp.Enrolment(**(fields | overrides))


def assert_within_sensitivity(
    before: adp.ExactAggregate, after: adp.ExactAggregate, sessions_possible: int
) -> None:
    for name in adp.STATISTIC_NAMES:
        diffs = [b - a for a, b in zip(before.columns[name], after.columns[name], strict=True)]
        changed = [d for d in diffs if d]
        sensitivity = adp.statistic(name, sessions_possible).sensitivity
        assert len(changed) <= 1, name
        assert sum(abs(d) for d in diffs) <= sensitivity, name
        assert math.sqrt(sum(d * d for d in diffs)) <= sensitivity, name


# --------------------------------------------------------------------------------------------------
# Sensitivity: the claim every noise scale rests on
# --------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(pupil_years, max_size=30),
    extra=pupil_years,
    by=st.sampled_from(BYS),
    sessions_possible=st.integers(min_value=1, max_value=380),
)
def test_adding_or_removing_one_pupil_changes_every_cell_within_the_claimed_sensitivity(
    rows: list[adp.PupilYear], extra: adp.PupilYear, by: list[str], sessions_possible: int
) -> None:
    without = adp.exact_aggregate(rows, by, sessions_possible)
    with_pupil = adp.exact_aggregate([*rows, extra], by, sessions_possible)
    assert_within_sensitivity(without, with_pupil, sessions_possible)


enrolments = st.builds(
    adp.Enrolment,
    pupil=st.sampled_from(["p1", "p2", "p3", "p4"]),
    academic_year=st.just("2025/26"),
    school_urn=st.sampled_from(["100001", "100002", "100003"]),
    la_code=st.sampled_from(LA_CODES),
    phase=st.sampled_from(PHASES),
    year_group=st.sampled_from(YEAR_GROUPS),
    sen_status=st.sampled_from(SEN),
    fsm=st.booleans(),
    possible=sessions,
    authorised=sessions,
    unauthorised=sessions,
    last_date=st.dates(min_value=date(2025, 9, 1), max_value=date(2026, 7, 31)),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(enrolments, max_size=20),
    by=st.sampled_from(BYS),
    sessions_possible=st.integers(min_value=1, max_value=380),
)
def test_removing_all_of_one_pupils_enrolments_changes_every_cell_within_the_claimed_sensitivity(
    rows: list[adp.Enrolment], by: list[str], sessions_possible: int
) -> None:
    everyone = adp.exact_aggregate(adp.collapse_to_pupil_year(rows).values(), by, sessions_possible)
    without_p1 = [r for r in rows if r.pupil != "p1"]
    others = adp.exact_aggregate(adp.collapse_to_pupil_year(without_p1).values(), by, sessions_possible)
    assert_within_sensitivity(others, everyone, sessions_possible)


def test_one_more_pupil_changes_one_cell_of_the_full_five_way_grouping() -> None:
    rows = [pupil(la_code=la, fsm=fsm) for la in ("201", "942") for fsm in (False, True)]
    extra = pupil(
        la_code="943",
        phase="special",
        year_group="11",
        sen_status="E",
        fsm=True,
        possible=380,
        authorised=200,
        unauthorised=180,
    )
    by = list(cell_keysets.DIMENSIONS)
    before, after = adp.exact_aggregate(rows, by, 380), adp.exact_aggregate([*rows, extra], by, 380)
    assert len(after.keys) == 153 * 3 * 12 * 3 * 2
    assert_within_sensitivity(before, after, 380)
    assert sum(after.columns["absent"]) - sum(before.columns["absent"]) == 380


@given(row=pupil_years, sessions_possible=st.integers(min_value=1, max_value=380))
def test_clamping_keeps_every_session_total_and_absence_within_the_window(
    row: adp.PupilYear, sessions_possible: int
) -> None:
    clamped = adp.clamp_pupil_year(row, sessions_possible)
    assert 0 <= clamped.possible <= sessions_possible
    assert 0 <= clamped.authorised and 0 <= clamped.unauthorised
    assert clamped.absent <= clamped.possible


def test_clamping_leaves_clean_data_alone() -> None:
    row = pupil(possible=300, authorised=20, unauthorised=10)
    assert adp.clamp_pupil_year(row, 380) == row


def test_clamping_cuts_totals_to_the_sessions_possible_in_the_window() -> None:
    row = pupil(possible=400, authorised=390, unauthorised=50)
    clamped = adp.clamp_pupil_year(row, 380)
    assert (clamped.possible, clamped.authorised, clamped.unauthorised) == (380, 380, 0)


# --------------------------------------------------------------------------------------------------
# The privacy-unit collapse and the reference aggregate
# --------------------------------------------------------------------------------------------------


def test_a_pupil_who_moved_school_becomes_one_row_with_summed_sessions() -> None:
    rows = [
        enrolment(
            school_urn="100001", possible=120, authorised=6, unauthorised=2, last_date=date(2025, 12, 19)
        ),
        enrolment(school_urn="100002", la_code="942", possible=200, authorised=10, unauthorised=4),
    ]
    collapsed = adp.collapse_to_pupil_year(rows)
    assert list(collapsed) == [("2025/26", "p1")]
    row = collapsed[("2025/26", "p1")]
    assert (row.possible, row.authorised, row.unauthorised) == (320, 16, 6)
    assert row.la_code == "942"


def test_keys_come_from_the_enrolment_with_the_most_possible_sessions() -> None:
    rows = [
        enrolment(school_urn="100001", la_code="201", possible=250, last_date=date(2026, 2, 13)),
        enrolment(school_urn="100002", la_code="942", possible=100, last_date=date(2026, 7, 17)),
    ]
    assert adp.collapse_to_pupil_year(rows)[("2025/26", "p1")].la_code == "201"


def test_a_tie_on_possible_sessions_goes_to_the_latest_enrolment() -> None:
    rows = [
        enrolment(school_urn="100009", la_code="201", possible=100, last_date=date(2026, 2, 13)),
        enrolment(school_urn="100002", la_code="942", possible=100, last_date=date(2026, 7, 17)),
    ]
    assert adp.collapse_to_pupil_year(rows)[("2025/26", "p1")].la_code == "942"


def test_a_full_tie_goes_to_the_later_school_whatever_the_row_order() -> None:
    first = enrolment(school_urn="100001", la_code="201")
    second = enrolment(school_urn="100002", la_code="942")
    for rows in ([first, second], [second, first]):
        assert adp.collapse_to_pupil_year(rows)[("2025/26", "p1")].la_code == "942"


def test_each_pupil_and_year_is_its_own_row() -> None:
    rows = [enrolment(pupil="p1"), enrolment(pupil="p2"), enrolment(pupil="p1", academic_year="2024/25")]
    assert sorted(adp.collapse_to_pupil_year(rows)) == [
        ("2024/25", "p1"),
        ("2025/26", "p1"),
        ("2025/26", "p2"),
    ]


def test_the_aggregate_covers_every_public_cell_and_empty_cells_are_zero() -> None:
    table = adp.exact_aggregate([pupil(la_code="420", phase="special")], ["la", "phase"], 380)
    assert len(table.keys) == 459
    assert table.keys == tuple(cell_keysets.keys_for(["la", "phase"]))
    assert sum(table.columns["enrolments"]) == 1
    cell = table.keys.index({"la_code": "420", "phase": "special"})
    assert table.columns["enrolments"][cell] == 1
    assert table.rows()[cell] == {
        "la_code": "420",
        "phase": "special",
        "enrolments": 1,
        "possible": 100,
        "absent": 5,
        "authorised": 4,
        "unauthorised": 1,
        "pa": 0,
        "severe": 0,
    }


def test_persistent_absence_starts_at_exactly_ten_percent_and_severe_at_fifty() -> None:
    rows = [
        pupil(possible=100, authorised=9, unauthorised=0),
        pupil(possible=100, authorised=5, unauthorised=5),
        pupil(possible=100, authorised=49, unauthorised=0),
        pupil(possible=100, authorised=25, unauthorised=25),
    ]
    table = adp.exact_aggregate(rows, [], 380)
    assert table.columns["pa"] == [3]
    assert table.columns["severe"] == [1]
    assert table.columns["absent"] == [9 + 10 + 49 + 50]


def test_pupils_with_no_possible_sessions_are_left_out() -> None:
    table = adp.exact_aggregate([pupil(possible=0, authorised=0, unauthorised=0)], [], 380)
    assert table.rows() == [dict.fromkeys(adp.STATISTIC_NAMES, 0)]


def test_pupils_outside_the_key_sets_are_left_out_whatever_the_grouping() -> None:
    outside = [pupil(la_code="999"), pupil(year_group="12"), pupil(phase="nursery")]
    for by in BYS:
        assert sum(adp.exact_aggregate(outside, by, 380).columns["enrolments"]) == 0


def test_the_aggregate_can_be_limited_to_the_statistics_a_measure_needs() -> None:
    table = adp.exact_aggregate([pupil()], [], 380, statistics=("absent", "possible"))
    assert table.columns == {"absent": [5], "possible": [100]}
    with pytest.raises(ValueError, match="unknown statistics"):
        adp.exact_aggregate([pupil()], [], 380, statistics=("attendance",))


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------


def test_counts_have_sensitivity_one_and_session_sums_the_sessions_in_the_window() -> None:
    assert adp.statistic("enrolments", 200) == adp.Statistic("enrolments", "count", 1)
    assert adp.statistic("pa", 200).sensitivity == 1
    assert adp.statistic("severe", 200).sensitivity == 1
    for name in adp.SUM_STATISTICS:
        assert adp.statistic(name, 200) == adp.Statistic(name, "sum", 200)


@pytest.mark.parametrize("bad", [0, 381, -1])
def test_a_window_outside_one_to_380_sessions_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="sessions possible"):
        adp.Statistic.session_sum("possible", bad)


def test_a_count_cannot_claim_a_sensitivity_other_than_one() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        adp.Statistic("enrolments", "count", 2)


def test_unknown_statistics_and_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown statistic"):
        adp.statistic("attendance", 380)
    with pytest.raises(ValueError, match="unknown statistic kind"):
        adp.Statistic("possible", "mean", 380)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Budget units
# --------------------------------------------------------------------------------------------------


@given(units=st.integers(min_value=0, max_value=10**15))
def test_units_converted_to_rho_round_up_to_the_same_units_and_never_exceed_them(units: int) -> None:
    rho = adp.units_to_rho(units)
    assert Fraction(rho) <= Fraction(units, 10**12)
    assert adp.rho_to_units_up(rho) == units


@given(rho=st.floats(min_value=0, max_value=1e3))
def test_spends_round_up_and_caps_round_down(rho: float) -> None:
    up, down = adp.rho_to_units_up(rho), adp.rho_to_units_down(rho)
    assert Fraction(down, 10**12) <= Fraction(rho) <= Fraction(up, 10**12)
    assert up - down in (0, 1)


def test_one_unit_is_a_pico_rho() -> None:
    assert adp.RHO_UNIT == 1e-12
    assert adp.rho_to_units_up(1e-12) == 1
    assert adp.rho_to_units_up(1.5e-12) == 2


@pytest.mark.parametrize("bad", [-1e-12, math.inf, math.nan])
def test_invalid_rho_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        adp.rho_to_units_up(bad)


def test_negative_units_are_refused() -> None:
    with pytest.raises(ValueError):
        adp.units_to_rho(-1)


def test_an_annual_cap_of_epsilon_10_at_delta_1e_9_is_about_rho_1_09() -> None:
    # The anchor of docs/differential-privacy.md 3.5 and 5.2, both ways round.
    rho = adp.epsilon_delta_to_rho(10.0, 1e-9)
    assert rho == pytest.approx(1.0908, abs=1e-3)
    assert adp.zcdp_to_epsilon(rho, 1e-9) <= 10.0
    assert adp.zcdp_to_epsilon(rho * 1.0001, 1e-9) > 10.0
    assert adp.zcdp_to_epsilon(1.09, 1e-9) == pytest.approx(9.996, abs=1e-3)


def test_the_epsilon_of_a_cap_held_in_units_never_exceeds_the_stated_epsilon() -> None:
    cap_units = adp.rho_to_units_down(adp.epsilon_delta_to_rho(4.0, 1e-9))
    assert adp.zcdp_to_epsilon(adp.units_to_rho(cap_units), 1e-9) <= 4.0


def test_no_spend_is_no_epsilon() -> None:
    assert adp.zcdp_to_epsilon(0.0, 1e-9) == 0.0


@pytest.mark.parametrize(
    ("epsilon", "delta"), [(0.0, 1e-9), (-1.0, 1e-9), (math.inf, 1e-9), (1.0, 0.0), (1.0, 1.0)]
)
def test_invalid_privacy_parameters_are_refused(epsilon: float, delta: float) -> None:
    with pytest.raises(ValueError):
        adp.epsilon_delta_to_rho(epsilon, delta)


# --------------------------------------------------------------------------------------------------
# Planning noise
# --------------------------------------------------------------------------------------------------

ALL_STATS = [adp.statistic(name, 380) for name in adp.STATISTIC_NAMES]


@settings(max_examples=10, deadline=None)
@given(
    names=st.lists(st.sampled_from(adp.STATISTIC_NAMES), min_size=1, max_size=4, unique=True),
    allotment=st.integers(min_value=10**6, max_value=10**13),
    weights=st.lists(st.floats(min_value=0.01, max_value=100), min_size=4, max_size=4),
    sessions_possible=st.integers(min_value=1, max_value=380),
    mechanism=st.sampled_from(["gaussian", "laplace"]),
)
def test_the_planned_spend_never_exceeds_the_allotment(
    names: list[str], allotment: int, weights: list[float], sessions_possible: int, mechanism: adp.Mechanism
) -> None:
    stats = [adp.statistic(name, sessions_possible) for name in names]
    plan = adp.plan_noise(stats, allotment, dict(zip(names, weights, strict=False)), mechanism=mechanism)
    assert plan.units_spent <= allotment
    assert sum(p.allotted_units for p in plan.planned) == allotment
    for planned in plan.planned:
        assert planned.rho <= adp.units_to_rho(planned.allotted_units)
        assert planned.units == adp.rho_to_units_up(planned.rho) <= planned.allotted_units
        # OpenDP's own privacy map agrees with the plan.
        d_in = (
            float(planned.statistic.sensitivity) if mechanism == "gaussian" else planned.statistic.sensitivity
        )
        assert planned.measurement().map(d_in) == planned.rho


def test_exactly_n_equal_allotments_fit_a_cap_of_n_allotments() -> None:
    # 26 fortnightly releases under the annual cap of docs/differential-privacy.md 3.6, where naive float splits fail.
    cap = adp.rho_to_units_down(adp.epsilon_delta_to_rho(10.0, 1e-9))
    allotment = cap // 26
    spent = 0
    for _ in range(26):
        plan = adp.plan_noise(ALL_STATS, allotment)
        assert plan.units_spent <= allotment
        spent += plan.units_spent
    assert spent <= cap
    assert 27 * allotment > cap


def test_each_scale_is_the_smallest_that_opendp_accepts_for_its_allotment() -> None:
    plan = adp.plan_noise(ALL_STATS, 10**9)
    for planned in plan.planned:
        tighter = dp.m.make_gaussian(
            dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T=float), planned.scale * (1 - 1e-9)
        )
        assert tighter.map(float(planned.statistic.sensitivity)) > adp.units_to_rho(planned.allotted_units)


def test_scales_grow_when_the_allotment_shrinks() -> None:
    stats = [adp.statistic("enrolments", 380), adp.statistic("absent", 380)]
    for mechanism in ("gaussian", "laplace"):
        plans = [adp.plan_noise(stats, units, mechanism=mechanism) for units in (10**12, 10**9, 10**6)]
        for name in ("enrolments", "absent"):
            scales = [p[name].scale for p in plans]
            assert scales == sorted(scales) and len(set(scales)) == len(scales)
            widths = [p[name].half_width_95 for p in plans]
            assert widths == sorted(widths)


def test_a_session_sum_needs_s_t_times_the_scale_of_a_count_at_the_same_rho() -> None:
    plan = adp.plan_noise([adp.statistic("enrolments", 380), adp.statistic("possible", 380)], 2 * 10**10)
    assert plan["possible"].scale == pytest.approx(380 * plan["enrolments"].scale, rel=1e-9)


def test_a_heavier_weight_buys_a_smaller_scale() -> None:
    stats = [adp.statistic("pa", 380), adp.statistic("enrolments", 380)]
    plan = adp.plan_noise(stats, 10**10, {"pa": 3.0, "enrolments": 1.0})
    assert plan["pa"].allotted_units == 3 * plan["enrolments"].allotted_units
    assert plan["pa"].scale < plan["enrolments"].scale


def test_leftover_units_go_to_the_largest_remainders() -> None:
    stats = [adp.statistic(n, 380) for n in ("enrolments", "pa", "severe")]
    plan = adp.plan_noise(stats, 10, {"enrolments": 1.0, "pa": 1.0, "severe": 1.0})
    assert [p.allotted_units for p in plan.planned] == [4, 3, 3]


def test_the_laplace_alternative_is_charged_as_epsilon_squared_over_two() -> None:
    plan = adp.plan_noise(
        [adp.statistic("enrolments", 380), adp.statistic("possible", 380)], 25 * 10**10, mechanism="laplace"
    )
    for planned in plan.planned:
        assert planned.epsilon is not None
        assert planned.rho == pytest.approx(planned.epsilon**2 / 2, rel=1e-12)
        assert planned.epsilon == pytest.approx(planned.statistic.sensitivity / planned.scale, rel=1e-12)
    # rho 0.125 each is epsilon 0.5 each: scale 2 for a count and 760 for a 380-session sum.
    assert plan["enrolments"].scale == pytest.approx(2.0)
    assert plan["possible"].scale == pytest.approx(760.0)


def test_the_gaussian_default_has_no_pure_epsilon_and_matches_dp_notes() -> None:
    plan = adp.plan_noise(
        [adp.statistic("enrolments", 380), adp.statistic("possible", 380)], 2 * (10**12 // 64)
    )
    assert plan.mechanism == "gaussian"
    assert plan["enrolments"].epsilon is None
    # docs/differential-privacy.md 3.5: rho = 1/64 per aggregate gives sigma 5.66 (+-12) for counts, 2150 (+-4214) for sums.
    assert plan["enrolments"].scale == pytest.approx(5.657, abs=1e-3)
    assert plan["enrolments"].half_width_95 == 12
    assert plan["possible"].scale == pytest.approx(2149.60, abs=0.01)
    assert plan["possible"].half_width_95 == pytest.approx(4214, abs=1)


def test_a_plan_describes_itself_for_the_ledger_and_its_measurements_rebuild() -> None:
    plan = adp.plan_noise([adp.statistic("enrolments", 380)], 10**9)
    (entry,) = plan.describe()
    assert entry["statistic"] == "enrolments" and entry["mechanism"] == "discrete Gaussian (zCDP)"
    assert entry["units"] == plan.units_spent
    rebuilt = dp.deserialize(entry["measurement"])
    assert rebuilt.map(1.0) == plan["enrolments"].rho
    assert plan.rho_spent == plan["enrolments"].rho
    with pytest.raises(KeyError):
        plan["absent"]


def test_an_allotment_too_small_for_one_unit_per_statistic_is_refused() -> None:
    with pytest.raises(adp.BudgetTooSmall):
        adp.plan_noise(ALL_STATS, 6)
    with pytest.raises(adp.BudgetTooSmall):
        adp.plan_noise(ALL_STATS, 0)


@pytest.mark.parametrize(
    ("statistics", "allotment", "weights", "mechanism", "error"),
    [
        ([], 10, None, "gaussian", ValueError),
        ([adp.statistic("pa", 380)] * 2, 10, None, "gaussian", ValueError),
        ([adp.statistic("pa", 380)], 10, {"severe": 1.0}, "gaussian", ValueError),
        ([adp.statistic("pa", 380)], 10, {"pa": 0.0}, "gaussian", ValueError),
        ([adp.statistic("pa", 380)], 10, {"pa": math.inf}, "gaussian", ValueError),
        ([adp.statistic("pa", 380)], 10, None, "gumbel", ValueError),
        ([adp.statistic("pa", 380)], True, None, "gaussian", TypeError),
        ([adp.statistic("pa", 380)], 10.0, None, "gaussian", TypeError),
    ],
)
def test_malformed_plans_are_refused(
    statistics: list[adp.Statistic], allotment: Any, weights: Any, mechanism: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        adp.plan_noise(statistics, allotment, weights, mechanism=mechanism)


def test_an_unknown_mechanism_has_no_measurement() -> None:
    with pytest.raises(ValueError, match="unknown mechanism"):
        planning._measurement("gumbel", 1.0)  # type: ignore[arg-type]


def test_a_search_bracket_that_misses_still_finds_opendps_scale() -> None:
    def make(scale: float) -> dp.Measurement:
        return dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T=float), scale)

    far = planning._search_scale(make, 1.0, 0.125, guess=1e6)
    assert far == planning._search_scale(make, 1.0, 0.125, guess=2.0)


def test_a_scale_that_opendp_says_overspends_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planning, "_solve_scale", lambda mechanism, sensitivity, units: 1e-3)
    with pytest.raises(adp.PrivacyAccountingError):
        adp.plan_noise([adp.statistic("enrolments", 380)], 10**6)


def test_half_widths_need_an_alpha_strictly_between_zero_and_one() -> None:
    planned = adp.plan_noise([adp.statistic("enrolments", 380)], 10**9)["enrolments"]
    assert planned.half_width(0.025) > planned.half_width(0.05) == planned.half_width_95
    with pytest.raises(ValueError):
        planned.half_width(0.0)


@pytest.mark.parametrize("scale", [70_000.0, 250_000.0])
def test_half_widths_for_large_sigmas_are_never_narrower_than_opendps_exact_ones(scale: float) -> None:
    # Past the threshold the continuous bound stands in for OpenDP's slow exact sum; check the two
    # just past it (OpenDP's exact helper still answers there, in 0.05-0.4 s).
    assert scale > adp.DISCRETE_GAUSSIAN_EXACT_ACCURACY_MAX_SCALE
    for alpha in (adp.PUBLICATION_ALPHA, adp.RATE_COMPONENT_ALPHA):
        exact = math.floor(dp.discrete_gaussian_scale_to_accuracy(scale, alpha))
        assert exact <= planning._half_width("gaussian", scale, alpha) <= exact + 2


def test_a_one_unit_allotment_still_plans_quickly() -> None:
    plan = adp.plan_noise([adp.statistic("possible", 380)], 1)
    assert plan["possible"].scale > 2e8
    assert plan["possible"].half_width_95 > 1.95 * plan["possible"].scale


# --------------------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------------------


def synthetic_pupils(n: int, seed: int) -> list[adp.PupilYear]:
    """England-shaped pupils: skewed LA sizes, 2% special, a quarter FSM, absence near 7%."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible synthetic data, not secrets or noise
    las = [str(code) for code in cell_keysets.values_for("la")]
    year_groups = [str(year) for year in cell_keysets.values_for("year_group")]
    la_weights = [1 + (i * 37) % 19 for i in range(len(las))]
    pupils = []
    for la in rng.choices(las, weights=la_weights, k=n):
        possible = rng.randint(200, 380)
        absent = min(possible, int(rng.expovariate(1 / (0.07 * possible))))
        unauthorised = rng.randint(0, absent // 2)
        pupils.append(
            adp.PupilYear(
                la_code=la,
                phase=rng.choices(["primary", "secondary", "special"], weights=[55, 43, 2])[0],
                year_group=rng.choice(year_groups),
                sen_status=rng.choices(["N", "K", "E"], weights=[83, 13, 4])[0],
                fsm=rng.random() < 0.245,
                possible=possible,
                authorised=absent - unauthorised,
                unauthorised=unauthorised,
            )
        )
    return pupils


@pytest.fixture(scope="module")
def la_phase_table() -> adp.ExactAggregate:
    return adp.exact_aggregate(synthetic_pupils(15_000, seed=2026), ["la", "phase"], 380)


@pytest.mark.parametrize("mechanism", ["gaussian", "laplace"])
def test_about_95_percent_of_cells_lie_within_their_95_percent_half_width(
    la_phase_table: adp.ExactAggregate, mechanism: adp.Mechanism
) -> None:
    # Scales near 50 for counts keep the integer rounding of the half-width from inflating coverage.
    plan = adp.plan_noise(ALL_STATS, 7 * 2 * 10**8, mechanism=mechanism)
    noisy = adp.release_noisy(plan, la_phase_table.columns)
    covered = total = 0
    for name in adp.STATISTIC_NAMES:
        half_width = plan[name].half_width_95
        hits = [
            abs(n - e) <= half_width for n, e in zip(noisy[name], la_phase_table.columns[name], strict=True)
        ]
        # 459 cells per statistic: a correct 95% interval leaves [0.88, 0.995] with probability < 1e-5.
        assert 0.88 <= sum(hits) / len(hits) <= 0.995, name
        covered += sum(hits)
        total += len(hits)
    # 3,213 cells in all: outside [0.93, 0.97] with probability < 1e-6.
    assert 0.93 <= covered / total <= 0.97


def test_rate_intervals_cover_the_true_rate_in_at_least_95_percent_of_cells(
    la_phase_table: adp.ExactAggregate,
) -> None:
    plan = adp.plan_measure("overall_absence_rate", 380, 10**9)
    exact = {s: la_phase_table.columns[s] for s in ("absent", "possible")}
    noisy = adp.release_noisy(plan, exact)
    a_num = plan["absent"].half_width(adp.RATE_COMPONENT_ALPHA)
    a_den = plan["possible"].half_width(adp.RATE_COMPONENT_ALPHA)
    hits = []
    for i, possible in enumerate(exact["possible"]):
        if possible == 0:
            continue
        _, lo, hi = adp.rate_with_interval(noisy["absent"][i], a_num, noisy["possible"][i], a_den)
        hits.append(lo <= exact["absent"][i] / possible <= hi)
    assert len(hits) > 400
    # The union bound is conservative (docs/differential-privacy.md 5.3 saw 98.9-99.6%).
    assert sum(hits) / len(hits) >= 0.95


def test_values_near_and_above_two_to_the_31_survive_noise_without_saturation() -> None:
    # National session sums are already about 1.6e9 a cell; i32 would refuse or clip these.
    exact = [2**31 - 1, 2**31, 2**31 + 1, 2**31 + 10**6, 2_445_419_687, 5 * 10**12, -(2**31) - 7]
    plan = adp.plan_noise([adp.statistic("possible", 380)], 10**12)
    (noisy,) = adp.release_noisy(plan, {"possible": exact}).values()
    bound = 10 * plan["possible"].noise_sd
    assert all(isinstance(v, int) for v in noisy)
    assert all(abs(n - e) <= bound for n, e in zip(noisy, exact, strict=True))
    assert noisy[3] > 2**31 + 10**6 - bound > 2**31 - 1


def test_each_cell_gets_its_own_noise() -> None:
    plan = adp.plan_noise([adp.statistic("enrolments", 380)], 10**6)  # sigma about 707
    (noisy,) = adp.release_noisy(plan, {"enrolments": [0] * 50}).values()
    assert len(set(noisy)) > 40


def test_noising_accepts_integer_like_values_but_refuses_floats_bools_and_huge_values() -> None:
    class NumpyLikeInt:
        def __index__(self) -> int:
            return 7

    plan = adp.plan_noise([adp.statistic("enrolments", 380)], 10**12)
    assert len(adp.release_noisy(plan, {"enrolments": [NumpyLikeInt()]})["enrolments"]) == 1  # type: ignore[list-item]
    with pytest.raises(TypeError):
        adp.release_noisy(plan, {"enrolments": [1.0]})  # type: ignore[list-item]
    with pytest.raises(TypeError):
        adp.release_noisy(plan, {"enrolments": [True]})
    with pytest.raises(ValueError, match="too large"):
        adp.release_noisy(plan, {"enrolments": [2**62 + 1]})


def test_only_the_planned_statistics_can_be_noised() -> None:
    plan = adp.plan_noise([adp.statistic("enrolments", 380)], 10**9)
    with pytest.raises(adp.PlanMismatch):
        adp.release_noisy(plan, {"enrolments": [1], "pa": [1]})
    with pytest.raises(adp.PlanMismatch):
        adp.release_noisy(plan, {})


# --------------------------------------------------------------------------------------------------
# Rates
# --------------------------------------------------------------------------------------------------

noisy_ints = st.integers(min_value=-(10**6), max_value=10**9)
half_widths = st.integers(min_value=0, max_value=10**6)


@given(num=noisy_ints, a_num=half_widths, den=noisy_ints, a_den=half_widths)
def test_a_rate_interval_contains_its_point_and_lies_in_zero_to_one(
    num: int, a_num: int, den: int, a_den: int
) -> None:
    value, lo, hi = adp.rate_with_interval(num, a_num, den, a_den)
    assert 0.0 <= lo <= hi <= 1.0
    if value is not None:
        assert lo <= value <= hi


def test_the_rate_interval_is_the_union_bound_of_dp_notes() -> None:
    value, lo, hi = adp.rate_with_interval(700, 100, 10_000, 500)
    assert value == 0.07
    assert lo == pytest.approx(600 / 10_500)
    assert hi == pytest.approx(800 / 9_500)


def test_a_rate_is_clipped_to_zero_and_one() -> None:
    assert adp.rate_with_interval(-50, 10, 1000, 10) == (0.0, 0.0, 0.0)
    value, lo, hi = adp.rate_with_interval(1200, 300, 1000, 10)
    assert (value, hi) == (1.0, 1.0) and lo < 1.0


def test_there_is_no_rate_when_the_noisy_denominator_is_not_positive() -> None:
    assert adp.rate_with_interval(5, 3, 0, 3) == (None, 0.0, 1.0)
    assert adp.rate_with_interval(5, 3, -4, 3) == (None, 0.0, 1.0)


def test_negative_half_widths_are_refused() -> None:
    with pytest.raises(ValueError):
        adp.rate_with_interval(5, -1, 10, 1)


# --------------------------------------------------------------------------------------------------
# Measures, reliability and symbols
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "statistics"),
    [
        ("enrolments", ("enrolments",)),
        ("overall_absence_rate", ("absent", "possible")),
        ("authorised_absence_rate", ("authorised", "possible")),
        ("unauthorised_absence_rate", ("unauthorised", "possible")),
        ("persistent_absence_rate", ("pa", "enrolments")),
        ("severe_absence_rate", ("severe", "enrolments")),
    ],
)
def test_a_measure_noises_only_the_statistics_it_needs(name: str, statistics: tuple[str, ...]) -> None:
    assert adp.measure(name).statistics == statistics
    plan = adp.plan_measure(name, 190, 10**9)
    assert plan.names == statistics
    assert plan.units_spent <= 10**9


def test_a_rates_denominator_gets_less_budget_than_its_numerator() -> None:
    for spec in adp.MEASURES.values():
        if spec.denominator is not None:
            assert spec.weights[spec.denominator] < spec.weights[spec.numerator] == 1.0


def test_an_unknown_measure_is_refused() -> None:
    with pytest.raises(adp.UnknownMeasure):
        adp.plan_measure("attendance_rate", 380, 10**9)


@pytest.fixture(scope="module")
def rate_plan() -> adp.NoisePlan:
    return adp.plan_measure("persistent_absence_rate", 380, 10**10)  # sigma about 8 for pa, 12 for enrolments


def test_a_large_cell_is_published_with_its_interval_and_normal_reliability(rate_plan: adp.NoisePlan) -> None:
    row = adp.publish_row(
        "persistent_absence_rate", {"la_code": "201"}, {"pa": 2000, "enrolments": 10_000}, rate_plan
    )
    assert row["la_code"] == "201"
    assert row["value"] == 0.2
    assert row["ci95"][0] < 0.2 < row["ci95"][1]
    assert (row["reliability"], row["symbol"]) == ("normal", None)


def test_a_rate_with_a_wide_interval_is_flagged_low_reliability(rate_plan: adp.NoisePlan) -> None:
    row = adp.publish_row("persistent_absence_rate", {}, {"pa": 10, "enrolments": 10_000}, rate_plan)
    assert row["value"] == 0.001
    assert (row["reliability"], row["symbol"]) == ("low", "u")


def test_a_rate_over_a_denominator_below_ten_sigma_is_flagged_low_reliability(
    rate_plan: adp.NoisePlan,
) -> None:
    below = math.floor(10 * rate_plan["enrolments"].noise_sd) - 1
    row = adp.publish_row("persistent_absence_rate", {}, {"pa": below // 2, "enrolments": below}, rate_plan)
    assert (row["reliability"], row["symbol"]) == ("low", "u")


def test_a_rate_over_a_non_positive_noisy_denominator_is_x(rate_plan: adp.NoisePlan) -> None:
    row = adp.publish_row("persistent_absence_rate", {"fsm": True}, {"pa": 3, "enrolments": -2}, rate_plan)
    assert row == {
        "fsm": True,
        "value": "x",
        "ci95": None,
        "reliability": None,
        "symbol": "x",
        "noisy": {"pa": 3, "enrolments": -2},
    }


def test_a_measure_that_does_not_apply_is_z(rate_plan: adp.NoisePlan) -> None:
    row = adp.publish_row(
        "persistent_absence_rate", {}, {"pa": 3, "enrolments": 50}, rate_plan, applicable=False
    )
    assert row == {"value": "z", "ci95": None, "reliability": None, "symbol": "z", "noisy": None}


def test_counts_are_published_unclipped_with_their_interval() -> None:
    plan = adp.plan_measure("enrolments", 380, 10**10)
    half_width = plan["enrolments"].half_width_95
    big = adp.publish_row("enrolments", {}, {"enrolments": 5000}, plan)
    assert big == {
        "value": 5000,
        "ci95": [5000 - half_width, 5000 + half_width],
        "reliability": "normal",
        "symbol": None,
        "noisy": {"enrolments": 5000},
    }
    negative = adp.publish_row("enrolments", {}, {"enrolments": -3}, plan)
    assert negative["value"] == -3
    assert (negative["reliability"], negative["symbol"]) == ("low", "u")
    small = adp.publish_row("enrolments", {}, {"enrolments": 4 * half_width}, plan)
    assert small["reliability"] == "low"


def test_a_whole_table_is_published_in_key_order(rate_plan: adp.NoisePlan) -> None:
    keys = cell_keysets.keys_for(["fsm"])
    rows = adp.publish_table(
        "persistent_absence_rate", keys, {"pa": [200, 300], "enrolments": [1000, 0]}, rate_plan
    )
    assert [r["fsm"] for r in rows] == [False, True]
    assert rows[0]["value"] == 0.2 and rows[1]["value"] == "x"
    with pytest.raises(adp.PlanMismatch):
        adp.publish_table("persistent_absence_rate", keys, {"pa": [1], "enrolments": [1, 2]}, rate_plan)


def test_publication_depends_only_on_noisy_values_and_the_plan(rate_plan: adp.NoisePlan) -> None:
    # Two releases with the same noisy values publish the same row, whatever the true cells were:
    # publish_row has no access to them.
    noisy = {"pa": 40, "enrolments": 200}
    assert adp.publish_row("persistent_absence_rate", {}, noisy, rate_plan) == adp.publish_row(
        "persistent_absence_rate", {}, dict(noisy), rate_plan
    )
