"""Differentially private attendance statistics: the pure core.

The gateway releases statistics the way DP-NOTES.md (sections 4 and 5) argues is sound:

1. collapse the data to one row per pupil per academic year (the privacy unit), with session totals
   clamped to ``[0, S_t]``, where ``S_t`` is the public number of sessions possible in the window;
2. aggregate exactly over a public key set (``anonymisation.cell_keysets``), so that adding or removing one
   pupil changes exactly one cell of each statistic, by at most its sensitivity;
3. add noise with OpenDP measurements on ``i64`` vectors, at scales solved from OpenDP's own privacy
   maps so that each statistic spends no more than its share of an integer budget allotment;
4. post-process (free in privacy terms): rates with conservative intervals, reliability flags and
   DfE symbols, computed only from noisy values and public scales.

Production runs step 2 as SQL in the shell. :func:`collapse_to_pupil_year` and :func:`exact_aggregate`
here are the reference implementation that the SQL is tested against.

The budget is kept in zCDP rho, as integers of ``RHO_UNIT`` (pico-rho), because a year ledger that
adds floats drifts: allotments round down, spends round up, and a plan never spends more units than it
was allotted (DP-NOTES.md section 3.6). Discrete Gaussian noise (zCDP) is the default; discrete
Laplace noise (pure DP) is available and is charged in rho as epsilon^2/2, OpenDP's own conversion.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from functools import cache, lru_cache
from typing import Any, Literal, get_args

import opendp.prelude as dp

from anonymisation import cell_keysets, school_calendar

# Every OpenDP constructor we use is gated behind "contrib" in 0.16 (nothing there is fully vetted
# yet). We never enable "honest-but-curious" or "floating-point"/"idealized-numerics": the pipeline is
# all-integer and OpenDP draws all the noise (DP-NOTES.md section 2f).
dp.enable_features("contrib")

# --------------------------------------------------------------------------------------------------
# Constants, each with its source
# --------------------------------------------------------------------------------------------------

#: One budget unit, in zCDP rho. Budgets, allotments and spends are whole numbers of units.
RHO_UNIT = 1e-12
_UNITS_PER_RHO = 10**12  # exact integer form of 1 / RHO_UNIT, so conversions never touch float error

#: Maintained schools must meet for at least 380 sessions a year (DOMAIN.md 2.1); S_t, the sessions
#: possible in a window, is at most that, and it bounds every session sum's sensitivity.
MAX_SESSIONS_PER_YEAR = 380

#: Published intervals are 95% (DESIGN.md: ``ci95``).
PUBLICATION_ALPHA = 0.05
#: A rate's interval is a union bound over numerator and denominator, each at alpha/2 (DP-NOTES 5.3).
RATE_COMPONENT_ALPHA = PUBLICATION_ALPHA / 2

#: Reliability rule of DP-NOTES.md 5.3: low when the 95% half-width exceeds 20% of the noisy value, or
#: when a rate's noisy denominator is below 10 noise standard deviations.
LOW_RELIABILITY_RELATIVE_HALF_WIDTH = 0.2
LOW_RELIABILITY_DENOMINATOR_SDS = 10
#: And a rate whose 95% half-width exceeds half a percentage point, the accuracy DfE needs of an LA
#: cell (issue 19): such a cell stands, marked ``u``, and its region's sum is published beside it.
LOW_RELIABILITY_RATE_HALF_WIDTH = 0.005

#: GSS symbols that DfE uses in its files (DOMAIN.md 2.4).
SYMBOL_NOT_AVAILABLE = "x"
SYMBOL_NOT_APPLICABLE = "z"
SYMBOL_CONFIDENTIAL = "c"
SYMBOL_LOW_RELIABILITY = "u"

#: Exact inputs must stay well inside i64: OpenDP saturates at the i64 limits instead of failing, which
#: would silently bias a cell. 2^62 leaves more headroom than any noise draw could use.
I64_SAFE_LIMIT = 2**62

Mechanism = Literal["gaussian", "laplace"]
StatisticKind = Literal["count", "sum"]

MECHANISM_LABELS: Mapping[str, str] = {
    "gaussian": "discrete Gaussian (zCDP)",
    "laplace": "discrete Laplace (pure DP)",
}

# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class BudgetTooSmall(ValueError):
    """An allotment too small to give every statistic at least one unit of rho."""


class PlanMismatch(ValueError):
    """Exact values that do not match the statistics a plan was charged for."""


class UnknownMeasure(ValueError):
    """A measure name that is not in the catalogue of DESIGN.md."""


class PrivacyAccountingError(RuntimeError):
    """OpenDP reported a spend above the allotment: a bug, and a reason to release nothing."""


def _require(condition: bool, message: str) -> None:
    """Fail closed on a privacy invariant; unlike ``assert`` this survives ``python -O``."""
    if not condition:
        raise PrivacyAccountingError(message)


# --------------------------------------------------------------------------------------------------
# Statistics and their sensitivities
# --------------------------------------------------------------------------------------------------

#: Per cell: pupils with possible sessions (DfE counts enrolments with zero possible sessions out,
#: DOMAIN.md 2.2), session sums, and pupils in persistent (>=10%) and severe (>=50%) absence.
COUNT_STATISTICS: tuple[str, ...] = ("enrolments", "pa", "severe")
SUM_STATISTICS: tuple[str, ...] = ("possible", "absent", "authorised", "unauthorised")
STATISTIC_NAMES: tuple[str, ...] = (
    "enrolments",
    "possible",
    "absent",
    "authorised",
    "unauthorised",
    "pa",
    "severe",
)


def _check_sessions_possible(sessions_possible: int) -> int:
    value = operator.index(sessions_possible)
    if not 1 <= value <= MAX_SESSIONS_PER_YEAR:
        raise ValueError(f"sessions possible must be between 1 and {MAX_SESSIONS_PER_YEAR}")
    return value


@dataclass(frozen=True)
class Statistic:
    """One vector of cells to noise, with the most one pupil-year can change it.

    Adding or removing one pupil-year (symmetric distance 1) changes exactly one cell, because the
    cells partition the pupils, so the L1 and L2 sensitivities are the same number: 1 for a count,
    ``S_t`` for a session sum clamped to ``[0, S_t]`` (DP-NOTES.md section 4).
    """

    name: str
    kind: StatisticKind
    sensitivity: int

    def __post_init__(self) -> None:
        if self.kind not in get_args(StatisticKind):
            raise ValueError(f"unknown statistic kind {self.kind!r}")
        if self.kind == "count" and self.sensitivity != 1:
            raise ValueError("a count changes by exactly one when one pupil is added or removed")
        _check_sessions_possible(self.sensitivity)

    @classmethod
    def count(cls, name: str) -> Statistic:
        """A count of pupils: one pupil moves it by one."""
        return cls(name, "count", 1)

    @classmethod
    def session_sum(cls, name: str, sessions_possible: int) -> Statistic:
        """A sum of sessions clamped to ``[0, S_t]``: one pupil moves it by at most ``S_t``."""
        return cls(name, "sum", _check_sessions_possible(sessions_possible))


def statistic(name: str, sessions_possible: int) -> Statistic:
    """The named gateway statistic for a window with ``sessions_possible`` sessions."""
    if name in COUNT_STATISTICS:
        return Statistic.count(name)
    if name in SUM_STATISTICS:
        return Statistic.session_sum(name, sessions_possible)
    raise ValueError(f"unknown statistic {name!r}; expected one of {STATISTIC_NAMES}")


# --------------------------------------------------------------------------------------------------
# Budget units and conversions
# --------------------------------------------------------------------------------------------------


def _check_rho(rho: float) -> Fraction:
    if not math.isfinite(rho) or rho < 0:
        raise ValueError("rho must be a finite, non-negative number")
    return Fraction(rho)


def rho_to_units_up(rho: float) -> int:
    """Units a spend of ``rho`` costs: rounded up, so the ledger never under-records a spend."""
    return math.ceil(_check_rho(rho) * _UNITS_PER_RHO)


def rho_to_units_down(rho: float) -> int:
    """Units a cap of ``rho`` allows: rounded down, so the ledger never over-states a cap."""
    return math.floor(_check_rho(rho) * _UNITS_PER_RHO)


def units_to_rho(units: int) -> float:
    """The largest float rho not above ``units`` units, so that solving to it cannot overspend.

    ``rho_to_units_up(units_to_rho(n)) == n``: a float a hair above ``n * 1e-12`` would round up to
    ``n + 1`` units, the pitfall of DP-NOTES.md section 3.6.
    """
    count = operator.index(units)
    if count < 0:
        raise ValueError("units must not be negative")
    rho = count / _UNITS_PER_RHO  # int / int is correctly rounded, so at most one step too high
    if Fraction(rho) > Fraction(count, _UNITS_PER_RHO):
        rho = math.nextafter(rho, -math.inf)
    return rho


def _privacy_map(measurement: dp.Measurement, d_in: Any) -> Any:
    """OpenDP's privacy map, behind one typed call: ``Measurement.map`` has no annotations."""
    return measurement.map(d_in)  # type: ignore[no-untyped-call]


def _check_delta(delta: float) -> None:
    if not 0 < delta < 1:
        raise ValueError("delta must lie strictly between 0 and 1")


def _rho_carrier(rho: float) -> tuple[dp.Measurement, float]:
    """A measurement and input distance whose OpenDP privacy map is at least ``rho`` (never below).

    OpenDP converts a zCDP *measurement*, not a number, so we take a unit-scale Gaussian and the
    L2 distance at which it spends ``rho``, nudged up until OpenDP's rounded map is not below ``rho``.
    """
    carrier = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T=float), 1.0)
    d_in = math.sqrt(2 * rho)
    while _privacy_map(carrier, d_in) < rho:
        d_in = math.nextafter(d_in, math.inf)
    return carrier, d_in


def zcdp_to_epsilon(rho: float, delta: float) -> float:
    """The (epsilon, delta)-DP equivalent of rho-zCDP, from OpenDP's zCDP-to-approximate-DP profile.

    Used to show a cap or a spend in the form people know; the ledger itself stays in rho.
    """
    _check_rho(rho)
    _check_delta(delta)
    carrier, d_in = _rho_carrier(rho)
    fixed = dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(carrier), delta)
    epsilon, _ = _privacy_map(fixed, d_in)
    return float(epsilon)


@lru_cache(maxsize=64)
def epsilon_delta_to_rho(epsilon: float, delta: float) -> float:
    """The largest rho whose (epsilon, delta) equivalent is within ``epsilon``: a cap in rho.

    Found by OpenDP's binary search over :func:`zcdp_to_epsilon`, so the two agree by construction.
    """
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise ValueError("epsilon must be a finite, positive number")
    _check_delta(delta)
    rho: float = dp.binary_search(
        lambda r: zcdp_to_epsilon(r, delta) <= epsilon, bounds=(0.0, float(epsilon))
    )
    return rho


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


# --------------------------------------------------------------------------------------------------
# Rates, reliability and publication
# --------------------------------------------------------------------------------------------------


def _clip01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def rate_with_interval(
    num_noisy: int, num_half_width: float, den_noisy: int, den_half_width: float
) -> tuple[float | None, float, float]:
    """A rate from a noisy numerator and denominator, with the union-bound interval of DP-NOTES 5.3.

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
    (DOMAIN.md section 5; severe absence from 2023/24), public information that only tunes the split.
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


#: The measures of DESIGN.md, each mapped to exactly the statistics it needs, so that asking for one
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


#: Measures that describe pupils over a term or the year, never a day or a week (DOMAIN.md 2.3: DfE
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
    (DP-NOTES.md 5.3). Counts are published unclipped (they may be negative) so that sums of cells
    stay unbiased; rates are fractions in ``[0, 1]``.

    * ``symbol`` ``z``: the measure does not apply here (``applicable=False``, for example persistent
      absence over a single week, which DfE never publishes, DOMAIN.md 2.3); the value is ``z``.
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
    low = (
        noisy[spec.denominator] < LOW_RELIABILITY_DENOMINATOR_SDS * denominator.noise_sd
        or (hi - lo) / 2 > LOW_RELIABILITY_RELATIVE_HALF_WIDTH * rate
        or (hi - lo) / 2 > LOW_RELIABILITY_RATE_HALF_WIDTH
    )
    return row | {
        "value": rate,
        "ci95": [lo, hi],
        "reliability": "low" if low else "normal",
        "symbol": SYMBOL_LOW_RELIABILITY if low else None,
    }


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
    low = (
        noisy[spec.denominator] < LOW_RELIABILITY_DENOMINATOR_SDS * denominator.noise_sd * math.sqrt(cells)
        or (hi - lo) / 2 > LOW_RELIABILITY_RELATIVE_HALF_WIDTH * rate
        or (hi - lo) / 2 > LOW_RELIABILITY_RATE_HALF_WIDTH
    )
    return row | {
        "value": rate,
        "ci95": [lo, hi],
        "reliability": "low" if low else "normal",
        "symbol": SYMBOL_LOW_RELIABILITY if low else None,
    }


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
    """DfE's convention for an LA-level cell (DOMAIN.md 2.4), from the number of schools the public
    register puts behind it: none, ``z`` (nothing to publish); fewer than ``minimum``, ``c``."""
    if minimum <= 0:
        return None
    if schools == 0:
        return SYMBOL_NOT_APPLICABLE
    return SYMBOL_CONFIDENTIAL if schools < minimum else None


# --------------------------------------------------------------------------------------------------
# Reference implementation of the privacy-unit collapse and the exact aggregate
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """A pupil's totals at one school in one academic year, as the rollup table holds them."""

    pupil: str
    academic_year: str
    school_urn: str
    la_code: str
    phase: str
    year_group: str
    sen_status: str
    fsm: bool
    possible: int
    authorised: int
    unauthorised: int
    last_date: date


@dataclass(frozen=True)
class PupilYear:
    """One pupil in one academic year: the privacy unit, and one row of the DP input."""

    la_code: str
    phase: str
    year_group: str
    sen_status: str
    fsm: bool
    possible: int
    authorised: int
    unauthorised: int

    @property
    def absent(self) -> int:
        return self.authorised + self.unauthorised

    def keys(self) -> dict[str, cell_keysets.KeyValue]:
        """The grouping attributes, by pupil-row column."""
        return {col: getattr(self, col) for col in cell_keysets.DIMENSION_COLUMNS.values()}


@lru_cache(maxsize=4096)
def sessions_possible_bound(start: dt.date, end: dt.date) -> int:
    """``S_t``: two sessions per school day from ``start`` to ``end`` inclusive, at most 380. School
    days come from the public term dates (:mod:`anonymisation.school_calendar`; every weekday for a year
    it does not cover), never from the data, so the bound and the noise sized by it leak nothing."""
    if end < start:
        return 0
    return min(MAX_SESSIONS_PER_YEAR, 2 * school_calendar.school_days(start, end))


def is_clean_pupil_year(
    possible: int, authorised: int, unauthorised: int, last_date: dt.date, year_start: dt.date
) -> bool:
    """Whether a pupil's year-to-date totals sit within the public bounds of every year-to-date window
    that includes their last register: no negative count, absences within possible sessions, and
    possible sessions within ``sessions_possible_bound(year_start, last_date)``. Clamping such totals
    (:func:`clamp_pupil_year`) changes nothing, so they may be summed ahead of any question
    (``stats_cells``); any other pupil-year is clamped when a statistic is asked for."""
    return (
        authorised >= 0
        and unauthorised >= 0
        and authorised + unauthorised <= possible
        and possible <= sessions_possible_bound(year_start, last_date)
    )


def cell_contribution(possible: int, authorised: int, unauthorised: int) -> tuple[int, int, int, int, int, int]:
    """What one clean pupil-year with possible sessions adds to its ``stats_cells`` row: (pupils,
    possible, authorised, unauthorised, persistent absence, severe absence), as :func:`_contributions`."""
    absent = authorised + unauthorised
    return (1, possible, authorised, unauthorised, int(absent * 10 >= possible), int(absent * 2 >= possible))


def collapse_to_pupil_year(enrolment_rows: Iterable[Enrolment]) -> dict[tuple[str, str], PupilYear]:
    """One row per pupil per academic year, keyed by ``(academic_year, pupil)``.

    Session totals are summed over the pupil's enrolments. The grouping attributes come from one
    enrolment: the one with the most possible sessions; on a tie, the latest (by last date, then by
    school URN, so the choice never depends on row order). Without this a pupil who moved school sits
    in two cells and every sensitivity doubles (DP-NOTES.md section 4, point 1). Totals are clamped
    later, in :func:`exact_aggregate`, because ``S_t`` belongs to the window being released.
    """
    grouped: dict[tuple[str, str], list[Enrolment]] = {}
    for row in enrolment_rows:
        grouped.setdefault((row.academic_year, row.pupil), []).append(row)
    collapsed = {}
    for key, rows in grouped.items():
        main = max(rows, key=lambda r: (r.possible, r.last_date, r.school_urn))
        collapsed[key] = PupilYear(
            la_code=main.la_code,
            phase=main.phase,
            year_group=main.year_group,
            sen_status=main.sen_status,
            fsm=main.fsm,
            possible=sum(r.possible for r in rows),
            authorised=sum(r.authorised for r in rows),
            unauthorised=sum(r.unauthorised for r in rows),
        )
    return collapsed


def clamp_pupil_year(row: PupilYear, sessions_possible: int) -> PupilYear:
    """Clamp totals so one pupil moves any session sum by at most ``S_t``.

    ``possible`` goes to ``[0, S_t]``; ``authorised`` to ``[0, possible]``; ``unauthorised`` to
    ``[0, possible - authorised]``, so that ``absent`` can never exceed ``S_t`` either. For clean data
    (absences within possible sessions, possible within the window) nothing changes. In SQL:
    ``p = LEAST(GREATEST(possible, 0), S)``, ``a = LEAST(GREATEST(authorised, 0), p)``,
    ``u = LEAST(GREATEST(unauthorised, 0), p - a)``.
    """
    cap = _check_sessions_possible(sessions_possible)
    possible = min(max(row.possible, 0), cap)
    authorised = min(max(row.authorised, 0), possible)
    unauthorised = min(max(row.unauthorised, 0), possible - authorised)
    return PupilYear(
        row.la_code, row.phase, row.year_group, row.sen_status, row.fsm, possible, authorised, unauthorised
    )


def _contributions(row: PupilYear) -> dict[str, int]:
    """What one in-scope, clamped pupil-year adds to each statistic of its cell."""
    absent = row.absent
    return {
        "enrolments": 1,
        "possible": row.possible,
        "absent": absent,
        "authorised": row.authorised,
        "unauthorised": row.unauthorised,
        "pa": int(absent * 10 >= row.possible),
        "severe": int(absent * 2 >= row.possible),
    }


@dataclass(frozen=True)
class ExactAggregate:
    """Exact cells over a public key set: ``columns[stat][i]`` belongs to ``keys[i]``.

    Secret: it never leaves the secure zone, and is discarded once noised.
    """

    by: tuple[str, ...]
    keys: tuple[dict[str, cell_keysets.KeyValue], ...]
    columns: dict[str, list[int]]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per cell, keys and statistics together: the shape a SQL GROUP BY returns."""
        return [key | {s: col[i] for s, col in self.columns.items()} for i, key in enumerate(self.keys)]


@cache
def _cell_index(dims: tuple[str, ...]) -> dict[tuple[cell_keysets.KeyValue, ...], int]:
    """Position of each cell's key values in the public key set (cached: there are up to 33,048)."""
    return {values: i for i, values in enumerate(cell_keysets.key_tuples(dims))}


def exact_aggregate(
    pupil_rows: Iterable[PupilYear],
    by: Sequence[str],
    sessions_possible: int,
    statistics: Sequence[str] = STATISTIC_NAMES,
) -> ExactAggregate:
    """The exact GROUP BY over the public key set, with empty cells as 0: the reference for the SQL.

    Rows come from one academic year (one row per pupil, see :func:`collapse_to_pupil_year`). Each is
    clamped (:func:`clamp_pupil_year`), and is out of scope unless it has possible sessions (DfE counts
    enrolments with none out, DOMAIN.md 2.2) and every attribute is in the public key sets (the same
    population whatever the grouping). So each pupil adds to at most one cell of each statistic, at
    most 1 to a count and at most ``S_t`` to a sum: the sensitivities :func:`statistic` declares.

    ``pa`` counts pupils with ``absent * 10 >= possible`` (persistent absence, 10%) and ``severe``
    those with ``absent * 2 >= possible`` (severe absence, 50%), on clamped totals.
    """
    unknown = [s for s in statistics if s not in STATISTIC_NAMES]
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; expected some of {STATISTIC_NAMES}")
    cap = _check_sessions_possible(sessions_possible)
    dims = cell_keysets.canonical_by(by)
    keys = cell_keysets.keys_for(dims)
    columns_of_key = [cell_keysets.DIMENSION_COLUMNS[d] for d in dims]
    index = _cell_index(dims)
    columns = {s: [0] * len(keys) for s in statistics}
    for raw in pupil_rows:
        row = clamp_pupil_year(raw, cap)
        attributes = row.keys()
        if row.possible == 0 or not cell_keysets.in_scope(attributes):
            continue
        cell = index[tuple(attributes[c] for c in columns_of_key)]
        contributions = _contributions(row)
        for s in statistics:
            columns[s][cell] += contributions[s]
    return ExactAggregate(by=dims, keys=tuple(keys), columns=columns)
