"""Noise planning: OpenDP measurements, the scale solved for each statistic's allotment, the plan
of a release, and drawing the noise."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, get_args

import opendp.prelude as dp

from anonymisation.dp.accounting import (
    I64_SAFE_LIMIT,
    MECHANISM_LABELS,
    PUBLICATION_ALPHA,
    BudgetTooSmall,
    Mechanism,
    PlanMismatch,
    Statistic,
    _privacy_map,
    _require,
    rho_to_units_up,
    units_to_rho,
)

# --------------------------------------------------------------------------------------------------
# Noise measurements and planning
# --------------------------------------------------------------------------------------------------


def _build_measurement(mechanism: Mechanism, scale: float) -> dp.Measurement:
    """The OpenDP measurement that noises one statistic vector, with its privacy map in zCDP rho.

    Integer vectors give integer noise (discrete Gaussian / discrete Laplace) drawn by OpenDP's exact
    samplers. ``T="i64"`` matters: ``T=int`` is i32, which refuses values of 2^31 and saturates near it.
    """
    domain = dp.vector_domain(dp.atom_domain(T="i64"))
    if mechanism == "gaussian":
        return dp.m.make_gaussian(domain, dp.l2_distance(T=float), scale)
    if mechanism == "laplace":
        return dp.c.make_pureDP_to_zCDP(dp.m.make_laplace(domain, dp.l1_distance(T="i64"), scale))
    raise ValueError(f"unknown mechanism {mechanism!r}; expected one of {get_args(Mechanism)}")


#: Planned measurements, kept once built; the scale search itself builds uncached ones, or this cache
#: would keep every scale it tried. The caches are bounded because the service runs for months.
_measurement = lru_cache(maxsize=4096)(_build_measurement)


def _d_in(mechanism: Mechanism, sensitivity: int) -> float | int:
    """The input distance in the metric each mechanism is built on (L2 is float, L1 is i64)."""
    return float(sensitivity) if mechanism == "gaussian" else sensitivity


def _search_scale(
    make: Callable[[float], dp.Measurement], d_in: float | int, d_out: float, guess: float
) -> float:
    """OpenDP's binary search for the smallest scale whose privacy map is within ``d_out``.

    ``guess`` (the textbook scale) only brackets the search, to within a relative 2^-20: OpenDP's
    float search bisects down to adjacent floats, so a tight bracket halves the steps, and an
    unbracketed search of the discrete Laplace takes ~600 steps, over a second. The answer is always
    the one OpenDP's map accepts; if the bracket misses it, OpenDP searches without one.
    """
    bracket = (guess * (1 - 2**-20), guess * (1 + 2**-20))
    try:
        return float(dp.binary_search_param(make, d_in=d_in, d_out=d_out, bounds=bracket))
    except ValueError:
        return float(dp.binary_search_param(make, d_in=d_in, d_out=d_out))


@lru_cache(maxsize=4096)
def _solve_scale(mechanism: Mechanism, sensitivity: int, units: int) -> float:
    """The smallest noise scale whose OpenDP privacy map at ``sensitivity`` fits in ``units``."""
    d_out = units_to_rho(units)
    return _search_scale(
        lambda scale: _build_measurement(mechanism, scale),
        _d_in(mechanism, sensitivity),
        d_out,
        guess=sensitivity / math.sqrt(2 * d_out),
    )


#: Above this sigma OpenDP's discrete Gaussian accuracy helper is too slow to call: it sums the pmf
#: term by term, about 1.5 microseconds per unit of sigma (a second at sigma 7e5, minutes at the 2.7e8
#: that a one-unit allotment gives a session sum).
DISCRETE_GAUSSIAN_EXACT_ACCURACY_MAX_SCALE = 2.0**16


@lru_cache(maxsize=4096)
def _half_width(mechanism: Mechanism, scale: float, alpha: float) -> int:
    """Integer half-width ``h`` with P(|noise| > h) <= alpha, from OpenDP's accuracy helpers.

    OpenDP returns ``a`` with P(|noise| >= a) <= alpha; the noise is an integer, so the floor of ``a``
    keeps the coverage of the closed interval ``[x - h, x + h]`` (OpenDP's docs say so for Laplace).

    For a discrete Gaussian with sigma above :data:`DISCRETE_GAUSSIAN_EXACT_ACCURACY_MAX_SCALE` we use
    OpenDP's continuous Gaussian helper instead, rounded up, plus one. That is still a valid bound:
    P[X >= m] <= P[N(0, sigma^2) >= m - 1] for the discrete Gaussian (Canonne, Kamath and Steinke
    2020), so P(|X| > h) <= P(|N| >= h) <= alpha for any h >= the continuous accuracy; the extra one
    is a margin for float rounding, and at that sigma it is a relative 1e-5.
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must lie strictly between 0 and 1")
    scale = float(scale)  # OpenDP infers an integer argument as i32 and then refuses the float alpha
    if mechanism == "laplace":
        return math.floor(float(dp.discrete_laplacian_scale_to_accuracy(scale, alpha)))
    if scale <= DISCRETE_GAUSSIAN_EXACT_ACCURACY_MAX_SCALE:
        return math.floor(float(dp.discrete_gaussian_scale_to_accuracy(scale, alpha)))
    return math.ceil(float(dp.gaussian_scale_to_accuracy(scale, alpha))) + 1


@dataclass(frozen=True)
class PlannedStatistic:
    """One statistic's noise: its scale, what OpenDP says it spends, and what it buys."""

    statistic: Statistic
    mechanism: Mechanism
    scale: float
    allotted_units: int
    #: zCDP rho, from the OpenDP privacy map at the statistic's sensitivity.
    rho: float
    #: ``rho`` rounded up to whole units: what the ledger records.
    units: int
    #: The pure-DP epsilon of the discrete Laplace (from its own map); ``None`` for the Gaussian.
    epsilon: float | None
    half_width_95: int
    #: A noisy vector published before (same window, grouping and key set), reused as this measure's
    #: denominator: post-processing, so this release spends nothing on it (``units`` is 0).
    reused: bool = False

    @property
    def name(self) -> str:
        return self.statistic.name

    @property
    def noise_sd(self) -> float:
        """The noise's standard deviation, at most: sigma for the discrete Gaussian, sqrt(2) b for
        the discrete Laplace (the continuous values, which bound the discrete ones from above)."""
        return self.scale if self.mechanism == "gaussian" else math.sqrt(2) * self.scale

    def half_width(self, alpha: float) -> int:
        """Half-width of this statistic's (1 - alpha) interval; rate components use alpha / 2."""
        return _half_width(self.mechanism, self.scale, alpha)

    def measurement(self) -> dp.Measurement:
        """The OpenDP measurement that draws this statistic's noise."""
        return _measurement(self.mechanism, self.scale)

    def measurement_json(self) -> str:
        """``dp.serialize`` of the measurement, for the ledger: it rebuilds to the same privacy map."""
        return str(dp.serialize(self.measurement()))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class NoisePlan:
    """The noise of one release: per statistic, solved so the whole fits in ``allotment_units``."""

    mechanism: Mechanism
    allotment_units: int
    planned: tuple[PlannedStatistic, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.planned)

    def __getitem__(self, name: str) -> PlannedStatistic:
        for planned in self.planned:
            if planned.name == name:
                return planned
        raise KeyError(name)

    @property
    def drawn(self) -> tuple[str, ...]:
        """The statistics this release noises (and pays for); the others reuse published vectors."""
        return tuple(p.name for p in self.planned if not p.reused)

    @property
    def units_spent(self) -> int:
        """Units to charge: the sum of each statistic's spend rounded up, so at least the true total
        (zCDP composes by adding rho), and never above the allotment."""
        return sum(p.units for p in self.planned)

    @property
    def rho_spent(self) -> float:
        """The spend as a float, for display; the ledger uses :attr:`units_spent`."""
        return math.fsum(p.rho for p in self.planned)

    def describe(self) -> list[dict[str, Any]]:
        """What the ledger and the publication record about each statistic's noise."""
        return [
            {
                "statistic": p.name,
                "kind": p.statistic.kind,
                "sensitivity": p.statistic.sensitivity,
                "mechanism": MECHANISM_LABELS[p.mechanism],
                "scale": p.scale,
                "rho": p.rho,
                "units": p.units,
                "epsilon": p.epsilon,
                "half_width_95": p.half_width_95,
                "reused": p.reused,
                "measurement": p.measurement_json(),
            }
            for p in self.planned
        ]


def _split_units(allotment_units: int, weights: Sequence[Fraction]) -> list[int]:
    """Split whole units in proportion to the weights, largest remainders first, summing exactly."""
    total = sum(weights, Fraction(0))
    shares = [allotment_units * w / total for w in weights]
    units = [math.floor(s) for s in shares]
    leftover = allotment_units - sum(units)
    by_remainder = sorted(range(len(shares)), key=lambda i: (units[i] - shares[i], i))
    for i in by_remainder[:leftover]:
        units[i] += 1
    return units


def allocate_by_need(allotment_units: int, tables: Sequence[tuple[int, int]]) -> list[int]:
    """Split a bundle's allotment across its tables by need, as the US Census Bureau's TopDown
    algorithm allocates its budget across geographic levels: ``tables`` holds each table's
    (noisy vectors, cells of its public key set). A table's cells partition the pupils, so the
    finer the table, the fewer pupils behind each cell and the more noise matters; its weight is
    vectors x cells. A national table of six cells needs a sliver of what 459 LA x phase cells do.
    Only public facts (the key-set sizes) decide it, so the split costs nothing."""
    if not tables or any(v < 1 or c < 1 for v, c in tables):
        raise ValueError("each table has at least one vector and one cell")
    return _split_units(max(operator.index(allotment_units), 0), [Fraction(v * c) for v, c in tables])


def plan_noise(
    statistics: Sequence[Statistic],
    allotment_units: int,
    weights: Mapping[str, float] | None = None,
    *,
    mechanism: Mechanism = "gaussian",
    reuse: Mapping[str, float] | None = None,
) -> NoisePlan:
    """Split an allotment of rho units over statistics by weight, and solve each one's noise scale.

    Each statistic gets a whole number of units. Its scale is the smallest for which OpenDP's privacy
    map at its sensitivity is within those units (``dp.binary_search_param``); nothing here uses a
    textbook formula for the scale. The plan's spend, each statistic's rho rounded up, is therefore at
    most the allotment, so N allotments of ``floor(cap / N)`` units always fit a cap.

    ``weights`` (default: equal) are shares of rho. For a rate, the denominator needs far less than
    the numerator (see :data:`MEASURES`).

    ``reuse`` maps a statistic to the scale of a noisy vector of it already published for the same
    window and grouping: it is planned at that scale and costs nothing, and its share of the allotment
    is not spent (the other statistics keep exactly the shares they would have had).
    """
    names = [s.name for s in statistics]
    if not names:
        raise ValueError("a plan needs at least one statistic")
    if len(set(names)) != len(names):
        raise ValueError("statistic names must be unique")
    if isinstance(allotment_units, bool):
        raise TypeError("allotment_units must be an integer number of units")
    allotment = operator.index(allotment_units)
    if mechanism not in get_args(Mechanism):
        raise ValueError(f"unknown mechanism {mechanism!r}; expected one of {get_args(Mechanism)}")
    if weights is None:
        weights = dict.fromkeys(names, 1.0)
    if set(weights) != set(names):
        raise ValueError("weights must name exactly the statistics planned")
    if not all(math.isfinite(w) and w > 0 for w in weights.values()):
        raise ValueError("weights must be finite and positive")

    reused = dict(reuse or {})
    if not set(reused) <= set(names) or not all(math.isfinite(v) and v > 0 for v in reused.values()):
        raise ValueError("reuse must map planned statistics to positive noise scales")
    if len(reused) == len(names):
        raise ValueError("a plan draws at least one statistic")
    shares = _split_units(max(allotment, 0), [Fraction(weights[n]) for n in names])
    if min(shares) < 1:
        raise BudgetTooSmall(f"{allotment} units cannot give each of {len(names)} statistics one unit")

    planned = []
    for stat, units in zip(statistics, shares, strict=True):
        if stat.name in reused:
            scale = reused[stat.name]
            planned.append(
                PlannedStatistic(
                    statistic=stat,
                    mechanism=mechanism,
                    scale=scale,
                    allotted_units=0,
                    rho=0.0,
                    units=0,
                    epsilon=None,
                    half_width_95=_half_width(mechanism, scale, PUBLICATION_ALPHA),
                    reused=True,
                )
            )
            continue
        scale = _solve_scale(mechanism, stat.sensitivity, units)
        measurement = _measurement(mechanism, scale)
        rho = float(_privacy_map(measurement, _d_in(mechanism, stat.sensitivity)))
        spent = rho_to_units_up(rho)
        _require(rho <= units_to_rho(units) and spent <= units, f"{stat.name} would overspend its allotment")
        epsilon = None
        if mechanism == "laplace":
            laplace = dp.m.make_laplace(
                dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"), scale
            )
            epsilon = float(_privacy_map(laplace, stat.sensitivity))
        planned.append(
            PlannedStatistic(
                statistic=stat,
                mechanism=mechanism,
                scale=scale,
                allotted_units=units,
                rho=rho,
                units=spent,
                epsilon=epsilon,
                half_width_95=_half_width(mechanism, scale, PUBLICATION_ALPHA),
            )
        )
    plan = NoisePlan(mechanism=mechanism, allotment_units=allotment, planned=tuple(planned))
    _require(plan.units_spent <= allotment, "the plan would overspend its allotment")
    _require(all(p.units >= 1 for p in plan.planned if not p.reused), "a drawn statistic costs nothing")
    return plan


# --------------------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------------------


def _as_i64(value: Any) -> int:
    """An exact cell as a Python int well inside i64, refusing floats and bools (a bug upstream)."""
    if isinstance(value, bool):
        raise TypeError("a cell value must be an integer, not a bool")
    number = operator.index(value)
    if abs(number) > I64_SAFE_LIMIT:
        raise ValueError("a cell value is too large to noise safely in 64 bits")
    return number


def release_noisy(plan: NoisePlan, exact: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """Noise exact cells with the plan's OpenDP measurements: one fresh draw per cell.

    ``exact`` must hold exactly the planned statistics: noising one that was not charged would leak,
    and the plan's spend assumes each vector is noised once. Call this once per release and store the
    result: noising the same cells again is a new release and spends again.
    """
    if set(exact) != set(plan.drawn):
        raise PlanMismatch("exact values must hold exactly the statistics the plan draws")
    return {
        name: [int(v) for v in plan[name].measurement()([_as_i64(v) for v in exact[name]])]
        for name in plan.drawn
    }
