"""Measures and publication (post-processing, free of budget): rates with their intervals,
reliability, DfE symbols, published rows, tables and sums."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from anonymisation.dp.accounting import (
    LOW_RELIABILITY_DENOMINATOR_SDS,
    LOW_RELIABILITY_RATE_HALF_WIDTH,
    LOW_RELIABILITY_RELATIVE_HALF_WIDTH,
    PUBLICATION_ALPHA,
    RATE_COMPONENT_ALPHA,
    SYMBOL_CONFIDENTIAL,
    SYMBOL_LOW_RELIABILITY,
    SYMBOL_NOT_APPLICABLE,
    SYMBOL_NOT_AVAILABLE,
    Mechanism,
    PlanMismatch,
    UnknownMeasure,
    statistic,
)
from anonymisation.dp.planning import NoisePlan, _half_width, plan_noise

# --------------------------------------------------------------------------------------------------
# Rates, reliability and publication
# --------------------------------------------------------------------------------------------------


def _clip01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def rate_with_interval(
    num_noisy: int, num_half_width: float, den_noisy: int, den_half_width: float
) -> tuple[float | None, float, float]:
    """A rate from a noisy numerator and denominator, with the union-bound interval of
    docs/differential-privacy.md 5.3.

    With each half-width at ``alpha / 2`` (:data:`RATE_COMPONENT_ALPHA` for 95%), both true values lie
    within their half-widths with probability at least ``1 - alpha``, and then the true rate lies in
    ``[max(A - a, 0) / (P + p), (A + a) / max(P - p, 1)]``. The point, the interval and its ends are
    clipped to ``[0, 1]``. With a noisy denominator of zero or less there is no rate (``None``) and
    the interval is the uninformative ``[0, 1]``.
    """
    if num_half_width < 0 or den_half_width < 0:
        raise ValueError("half-widths must not be negative")
    if den_noisy <= 0:
        return None, 0.0, 1.0
    value = _clip01(num_noisy / den_noisy)
    low = _clip01(max(num_noisy - num_half_width, 0) / (den_noisy + den_half_width))
    high = _clip01((num_noisy + num_half_width) / max(den_noisy - den_half_width, 1))
    return value, low, high


@dataclass(frozen=True)
class Measure:
    """A published measure: the statistics it needs and how to split budget between them.

    For a rate r = A / P, the denominator's error enters the interval about r times as strongly as
    the numerator's. Numerator and denominator have the same sensitivity in every measure, so
    minimising the union-bound width (a_A + r a_P, with a ~ 1 / sqrt(rho)) gives
    rho_P / rho_A = r^(2/3). ``typical_rate`` is the national 2025/26 year-to-date figure
    (docs/domain.md section 5; severe absence from 2023/24), public information that only tunes the split.
    """

    name: str
    numerator: str
    denominator: str | None = None
    typical_rate: float = 1.0

    @property
    def statistics(self) -> tuple[str, ...]:
        return (self.numerator,) if self.denominator is None else (self.numerator, self.denominator)

    @property
    def weights(self) -> dict[str, float]:
        if self.denominator is None:
            return {self.numerator: 1.0}
        return {self.numerator: 1.0, self.denominator: self.typical_rate ** (2 / 3)}


#: The measures of docs/design.md, each mapped to exactly the statistics it needs, so that asking for one
#: measure noises (and pays for) nothing else.
MEASURES: Mapping[str, Measure] = {
    m.name: m
    for m in (
        Measure("enrolments", "enrolments"),
        Measure("overall_absence_rate", "absent", "possible", 0.0688),
        Measure("authorised_absence_rate", "authorised", "possible", 0.0452),
        Measure("unauthorised_absence_rate", "unauthorised", "possible", 0.0236),
        Measure("persistent_absence_rate", "pa", "enrolments", 0.188),
        Measure("severe_absence_rate", "severe", "enrolments", 0.023),
    )
}


#: Measures that describe pupils over a term or the year, never a day or a week (docs/domain.md 2.3: DfE
#: publishes persistent absence for term and year-to-date windows only): a pupil absent on one day is
#: "persistently absent" for that day, which says nothing.
LONG_WINDOW_MEASURES: frozenset[str] = frozenset({"persistent_absence_rate", "severe_absence_rate"})
#: The shortest window they are published for, in calendar days: four weeks, shorter than any term or
#: half term, longer than any single week or fortnight of the publication.
MIN_LONG_WINDOW_DAYS = 28


def window_applies(measure_name: str, start: date, end: date, year_start: date) -> bool:
    """Whether ``measure_name`` is published for the window: always, except persistent and severe
    absence, which need a year-to-date window or one of at least :data:`MIN_LONG_WINDOW_DAYS`."""
    if measure_name not in LONG_WINDOW_MEASURES:
        return True
    return start <= year_start or (end - start).days + 1 >= MIN_LONG_WINDOW_DAYS


def measure(name: str) -> Measure:
    """The catalogue entry of a measure, refusing names outside it."""
    try:
        return MEASURES[name]
    except KeyError:
        raise UnknownMeasure(f"unknown measure {name!r}; expected one of {tuple(MEASURES)}") from None


def plan_measure(
    name: str,
    sessions_possible: int,
    allotment_units: int,
    *,
    mechanism: Mechanism = "gaussian",
    published: Mapping[str, float] | None = None,
) -> NoisePlan:
    """The noise plan for one measure over a window with ``sessions_possible`` sessions.

    ``published`` maps statistics to the scales of noisy vectors already published for this window and
    grouping. A rate reuses its denominator from there (one noisy denominator per window, as the US
    Census Bureau's noisy measurement files do); a numerator, and a count's own vector, is always drawn
    afresh, so every measure pays for what it adds."""
    spec = measure(name)
    stats = [statistic(s, sessions_possible) for s in spec.statistics]
    available = published or {}
    reuse = (
        {spec.denominator: available[spec.denominator]}
        if spec.denominator is not None and spec.denominator in available
        else None
    )
    return plan_noise(stats, allotment_units, spec.weights, mechanism=mechanism, reuse=reuse)


def _low_count(noisy: int, half_width: int) -> bool:
    return noisy <= 0 or half_width > LOW_RELIABILITY_RELATIVE_HALF_WIDTH * noisy


def publish_row(
    measure_name: str,
    keys: Mapping[str, Any],
    noisy: Mapping[str, int],
    plan: NoisePlan,
    *,
    applicable: bool = True,
    confidential: bool = False,
) -> dict[str, Any]:
    """One published row: group keys, value, 95% interval, reliability and DfE symbol.

    Everything here is computed from noisy values and public scales only, so it is post-processing
    and costs no budget; true cell sizes are never consulted and nothing is suppressed on them
    (docs/differential-privacy.md 5.3). Counts are published unclipped (they may be negative) so
    that sums of cells stay unbiased; rates are fractions in ``[0, 1]``.

    * ``symbol`` ``z``: the measure does not apply here (``applicable=False``, for example persistent
      absence over a single week, which DfE never publishes, docs/domain.md 2.3); the value is ``z``.
    * ``symbol`` ``c``: withheld by DfE's convention for cells backed by a single school, judged from
      the public register of schools (``confidential=True``); the value is ``c``.
    * ``symbol`` ``x``: a rate whose noisy denominator is zero or less; the value is ``x``.
    * ``symbol`` ``u`` with ``reliability`` ``low``: the value stands, but its 95% half-width exceeds
      20% of it, or a rate's noisy denominator is below 10 noise standard deviations.

    ``noisy`` in the row holds the noisy measurements the value was computed from (a rate's numerator
    and denominator, a count itself), published so that users can aggregate cells or recompute a rate
    without the clipping of the rate to ``[0, 1]``; ``None`` where the cell is withheld (``c``, ``z``).
    """
    spec = measure(measure_name)
    row: dict[str, Any] = dict(keys)
    if not applicable or confidential:
        symbol = SYMBOL_NOT_APPLICABLE if not applicable else SYMBOL_CONFIDENTIAL
        return row | {"value": symbol, "ci95": None, "reliability": None, "symbol": symbol, "noisy": None}
    row["noisy"] = {s: noisy[s] for s in spec.statistics}
    numerator = plan[spec.numerator]
    if spec.denominator is None:
        value = noisy[spec.numerator]
        half_width = numerator.half_width(PUBLICATION_ALPHA)
        low = _low_count(value, half_width)
        return row | {
            "value": value,
            "ci95": [value - half_width, value + half_width],
            "reliability": "low" if low else "normal",
            "symbol": SYMBOL_LOW_RELIABILITY if low else None,
        }
    denominator = plan[spec.denominator]
    rate, lo, hi = rate_with_interval(
        noisy[spec.numerator],
        numerator.half_width(RATE_COMPONENT_ALPHA),
        noisy[spec.denominator],
        denominator.half_width(RATE_COMPONENT_ALPHA),
    )
    if rate is None:
        return row | {
            "value": SYMBOL_NOT_AVAILABLE,
            "ci95": None,
            "reliability": None,
            "symbol": SYMBOL_NOT_AVAILABLE,
        }
    return _rated(row, rate, lo, hi, noisy[spec.denominator], denominator.noise_sd)


def sum_half_width(mechanism: Mechanism, scale: float, cells: int, alpha: float) -> float:
    """Half-width ``h`` with P(|noise| > h) <= alpha for the sum of ``cells`` independent noise draws.

    Discrete Gaussian: each draw is sigma^2-sub-Gaussian (Canonne, Kamath and Steinke 2020), so the
    sum is (cells x sigma^2)-sub-Gaussian and P(|S| >= t) <= 2 exp(-t^2 / (2 cells sigma^2)). Discrete
    Laplace: Chebyshev's inequality on the sum's variance, at most cells x 2 b^2. Both hold for any
    number of cells; one cell keeps its exact half-width (:meth:`PlannedStatistic.half_width`)."""
    if cells < 1 or not 0 < alpha < 1:
        raise ValueError("a sum has at least one cell and alpha lies strictly between 0 and 1")
    if cells == 1:
        return float(_half_width(mechanism, scale, alpha))
    if mechanism == "gaussian":
        return scale * math.sqrt(2 * cells * math.log(2 / alpha))
    return math.sqrt(cells * 2 * scale**2 / alpha)


def publish_sum(
    measure_name: str,
    keys: Mapping[str, Any],
    noisy: Mapping[str, int],
    cells: int,
    plan: NoisePlan,
) -> dict[str, Any]:
    """A coarser cell as the sum of ``cells`` published noisy cells (for example a region from its
    LAs): post-processing of noisy measurements, free of budget. The noise of the sum grows as the
    square root of the cells while the cell grows with them, so small groups (special schools) that
    miss the accuracy target per LA can meet it per region."""
    spec = measure(measure_name)
    row: dict[str, Any] = dict(keys) | {"noisy": {s: noisy[s] for s in spec.statistics}}
    numerator = plan[spec.numerator]
    if spec.denominator is None:
        value = noisy[spec.numerator]
        h = sum_half_width(plan.mechanism, numerator.scale, cells, PUBLICATION_ALPHA)
        low = _low_count(value, math.ceil(h))
        return row | {
            "value": value,
            "ci95": [value - h, value + h],
            "reliability": "low" if low else "normal",
            "symbol": SYMBOL_LOW_RELIABILITY if low else None,
        }
    denominator = plan[spec.denominator]
    den_h = sum_half_width(plan.mechanism, denominator.scale, cells, RATE_COMPONENT_ALPHA)
    rate, lo, hi = rate_with_interval(
        noisy[spec.numerator],
        sum_half_width(plan.mechanism, numerator.scale, cells, RATE_COMPONENT_ALPHA),
        noisy[spec.denominator],
        den_h,
    )
    if rate is None:
        symbol = SYMBOL_NOT_AVAILABLE
        return row | {"value": symbol, "ci95": None, "reliability": None, "symbol": symbol}
    return _rated(row, rate, lo, hi, noisy[spec.denominator], denominator.noise_sd * math.sqrt(cells))


def publish_table(
    measure_name: str,
    keys: Sequence[Mapping[str, Any]],
    noisy: Mapping[str, Sequence[int]],
    plan: NoisePlan,
    *,
    applicable: bool = True,
    withheld: Sequence[str | None] | None = None,
) -> list[dict[str, Any]]:
    """Every cell of a release in published form, in key order (see :func:`publish_row`).
    ``withheld``, one per key: None, or the symbol (``c`` or ``z``) a cell gets from public facts
    alone (:func:`withheld_for_schools`)."""
    spec = measure(measure_name)
    if any(len(noisy[s]) != len(keys) for s in spec.statistics):
        raise PlanMismatch("every noisy vector must have one value per key")
    marks = list(withheld) if withheld is not None else [None] * len(keys)
    if len(marks) != len(keys):
        raise PlanMismatch("one withheld mark per key")
    return [
        publish_row(
            measure_name,
            key,
            {s: noisy[s][i] for s in spec.statistics},
            plan,
            applicable=applicable and marks[i] != SYMBOL_NOT_APPLICABLE,
            confidential=marks[i] == SYMBOL_CONFIDENTIAL,
        )
        for i, key in enumerate(keys)
    ]


def withheld_for_schools(schools: int, minimum: int) -> str | None:
    """DfE's convention for an LA-level cell (docs/domain.md 2.4), from the number of schools the public
    register puts behind it: none, ``z`` (nothing to publish); fewer than ``minimum``, ``c``."""
    if minimum <= 0:
        return None
    if schools == 0:
        return SYMBOL_NOT_APPLICABLE
    return SYMBOL_CONFIDENTIAL if schools < minimum else None


def _rated(
    row: dict[str, Any], rate: float, lo: float, hi: float, denominator: float, denominator_sd: float
) -> dict[str, Any]:
    """A published rate with its interval and the reliability rule of docs/differential-privacy.md 5.3:
    low when the denominator is within a few noise deviations of zero, or the interval is wide."""
    low = (
        denominator < LOW_RELIABILITY_DENOMINATOR_SDS * denominator_sd
        or (hi - lo) / 2 > LOW_RELIABILITY_RELATIVE_HALF_WIDTH * rate
        or (hi - lo) / 2 > LOW_RELIABILITY_RATE_HALF_WIDTH
    )
    return row | {
        "value": rate,
        "ci95": [lo, hi],
        "reliability": "low" if low else "normal",
        "symbol": SYMBOL_LOW_RELIABILITY if low else None,
    }
