"""The benchmark snapshot of the schools' reports: every open school's cohort counts, noised once a
fortnight, and the group and national values derived from them (pure).

The cells are public: every open school (GIAS) crossed with every group a dimension can have, present
or not, so that which cells exist says nothing. Within a dimension and a window the cells partition
the pupils, provided each pupil counts at one school only (the shell keeps one enrolment per pupil and
window), so one pupil-year moves one cell of each vector: by one for a count, by at most the window's
bound ``S`` for a session sum clamped to ``[0, S]`` (docs/differential-privacy.md section 4). The
vectors of the four dimensions and two windows compose (zCDP adds up): the plan's spend is their sum.

Everything after the noise is post-processing and spends nothing: a group's value is the ratio of its
schools' summed noisy counts, its interval the 95% normal interval of that ratio (the noise of a sum
of ``n`` cells has variance ``n`` times a cell's; the ratio's by the delta method).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from anonymisation.dp.accounting import Statistic
from anonymisation.dp.planning import NoisePlan, plan_noise, release_noisy
from policies.school_rates import DIMENSIONS, SEN_NAMES, Cohort

WINDOWS = ("year_to_date", "last_four_weeks")
#: Every group a dimension can have (schemas.feeds.YEAR_GROUPS, the SEN statuses, FSM or not).
GROUPS: Mapping[str, tuple[str, ...]] = {
    "all": ("all",),
    "year_group": ("N1", "N2", "R", *(str(n) for n in range(1, 15))),
    "sen_status": tuple(SEN_NAMES.values()),
    "fsm": ("FSM", "not FSM"),
}
COUNTS = ("enrolments", "persistent", "severe")
SUMS = ("possible", "authorised", "unauthorised")
STATISTICS = ("enrolments", "possible", "authorised", "unauthorised", "persistent", "severe")
#: Shares of a vector's rho: the denominators are large and need less (as policies' MEASURES weigh them).
WEIGHTS = {
    "enrolments": 0.25,
    "possible": 0.25,
    "authorised": 1.0,
    "unauthorised": 1.0,
    "persistent": 1.0,
    "severe": 1.0,
}
#: Shares of rho by dimension: the headline (all pupils) is what every overview and the ABIE read.
DIMENSION_WEIGHTS = {"all": 4.0, "year_group": 1.0, "sen_status": 1.0, "fsm": 1.0}
#: Four school weeks of two sessions a day: the most one pupil can add to a last-four-weeks sum.
FOUR_WEEKS_SESSIONS = 40
Z_95 = 1.959963984540054


def name(window: str, dimension: str, statistic: str) -> str:
    return f"{window}.{dimension}.{statistic}"


def statistics(year_to_date_sessions: int) -> list[Statistic]:
    """The snapshot's vectors; ``year_to_date_sessions`` is the public bound of the year so far."""
    bounds = {"year_to_date": year_to_date_sessions, "last_four_weeks": FOUR_WEEKS_SESSIONS}
    out = []
    for window in WINDOWS:
        for dimension in DIMENSIONS:
            for stat in STATISTICS:
                key = name(window, dimension, stat)
                out.append(
                    Statistic.count(key) if stat in COUNTS else Statistic.session_sum(key, bounds[window])
                )
    return out


def plan(year_to_date_sessions: int, allotment_units: int) -> NoisePlan:
    stats = statistics(year_to_date_sessions)
    weights = {s.name: WEIGHTS[s.name.split(".")[2]] * DIMENSION_WEIGHTS[s.name.split(".")[1]] for s in stats}
    return plan_noise(stats, allotment_units, weights)


def exact_vectors(
    urns: Sequence[int], cohorts: Mapping[str, Mapping[int, Sequence[Cohort]]]
) -> dict[str, list[int]]:
    """``cohorts[window][urn]``: a school's cohorts (absent: none) -> each vector, school by school
    and group by group in the order of ``GROUPS``."""
    out: dict[str, list[int]] = {}
    for window in WINDOWS:
        for dimension in DIMENSIONS:
            groups = GROUPS[dimension]
            vectors: dict[str, list[int]] = {stat: [] for stat in STATISTICS}
            for urn in urns:
                found = {c.group: c for c in cohorts[window].get(urn, ()) if c.dimension == dimension}
                for group in groups:
                    cohort = found.get(group)
                    for stat in STATISTICS:
                        vectors[stat].append(0 if cohort is None else int(getattr(cohort, stat)))
            for stat, values in vectors.items():
                out[name(window, dimension, stat)] = values
    return out


def noise(plan_: NoisePlan, exact: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    return release_noisy(plan_, exact)


class Estimate(NamedTuple):
    value: float
    lower: float
    upper: float


class Snapshot(NamedTuple):
    """A stored snapshot, read back: the schools in cell order, the noisy vectors and each vector's
    noise standard deviation."""

    urns: tuple[int, ...]
    noisy: Mapping[str, Sequence[int]]
    noise_sd: Mapping[str, float]

    def positions_by_urn(self) -> dict[int, int]:
        return {urn: i for i, urn in enumerate(self.urns)}


#: Each rate: (numerator statistics, denominator statistic).
RATES: Mapping[str, tuple[tuple[str, ...], str]] = {
    "overall_absence_rate": (("authorised", "unauthorised"), "possible"),
    "authorised_absence_rate": (("authorised",), "possible"),
    "unauthorised_absence_rate": (("unauthorised",), "possible"),
    "persistent_absence_rate": (("persistent",), "enrolments"),
    "severe_absence_rate": (("severe",), "enrolments"),
}


def estimate(
    snapshot: Snapshot, positions: Sequence[int], window: str, dimension: str, group: str, rate: str
) -> Estimate | None:
    """The rate of the schools at ``positions`` (their cell rows) for one group; None when the noisy
    denominator is not positive (too few to say anything)."""
    if not positions:
        return None
    offset = GROUPS[dimension].index(group)
    width = len(GROUPS[dimension])
    cells = [p * width + offset for p in positions]
    numerators, denominator = RATES[rate]

    def total(stat: str) -> tuple[float, float]:
        key = name(window, dimension, stat)
        vector = snapshot.noisy[key]
        return float(sum(vector[c] for c in cells)), len(cells) * snapshot.noise_sd[key] ** 2

    num = [total(s) for s in numerators]
    top, top_var = sum(n for n, _ in num), sum(v for _, v in num)
    bottom, bottom_var = total(denominator)
    if bottom <= 0:
        return None
    ratio = max(0.0, top / bottom)
    sd = math.sqrt(top_var + ratio**2 * bottom_var) / bottom
    clamp = min(ratio, 1.0)
    return Estimate(
        round(100 * clamp, 2),
        round(100 * max(0.0, ratio - Z_95 * sd), 2),
        round(100 * min(1.0, ratio + Z_95 * sd), 2),
    )
