"""Privacy accounting: the constants and their sources, the errors, each statistic and its
sensitivity, integer budget units and the rho / (epsilon, delta) conversions."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal, get_args

import opendp.prelude as dp

# Every OpenDP constructor we use is gated behind "contrib" in 0.16 (nothing there is fully vetted
# yet). We never enable "honest-but-curious" or "floating-point"/"idealized-numerics": the pipeline is
# all-integer and OpenDP draws all the noise (docs/differential-privacy.md section 2f).
dp.enable_features("contrib")

# --------------------------------------------------------------------------------------------------
# Constants, each with its source
# --------------------------------------------------------------------------------------------------

#: One budget unit, in zCDP rho. Budgets, allotments and spends are whole numbers of units.
RHO_UNIT = 1e-12
_UNITS_PER_RHO = 10**12  # exact integer form of 1 / RHO_UNIT, so conversions never touch float error

#: Maintained schools must meet for at least 380 sessions a year (docs/domain.md 2.1); S_t, the sessions
#: possible in a window, is at most that, and it bounds every session sum's sensitivity.
MAX_SESSIONS_PER_YEAR = 380

#: Published intervals are 95% (docs/design.md: ``ci95``).
PUBLICATION_ALPHA = 0.05
#: A rate's interval is a union bound over numerator and denominator, each at alpha/2
#: (docs/differential-privacy.md 5.3).
RATE_COMPONENT_ALPHA = PUBLICATION_ALPHA / 2

#: Reliability rule of docs/differential-privacy.md 5.3: low when the 95% half-width exceeds 20% of
#: the noisy value, or when a rate's noisy denominator is below 10 noise standard deviations.
LOW_RELIABILITY_RELATIVE_HALF_WIDTH = 0.2
LOW_RELIABILITY_DENOMINATOR_SDS = 10
#: And a rate whose 95% half-width exceeds half a percentage point, the accuracy DfE needs of an LA
#: cell: such a cell stands, marked ``u``, and its region's sum is published beside it.
LOW_RELIABILITY_RATE_HALF_WIDTH = 0.005

#: GSS symbols that DfE uses in its files (docs/domain.md 2.4).
SYMBOL_NOT_AVAILABLE = "x"
SYMBOL_NOT_APPLICABLE = "z"
SYMBOL_CONFIDENTIAL = "c"
SYMBOL_LOW_RELIABILITY = "u"
#: What each symbol means, for every legend and key that explains them (one list, so none drifts).
SYMBOL_MEANINGS: dict[str, str] = {
    SYMBOL_LOW_RELIABILITY: "low reliability: the value stands, but its 95% interval is wide for it",
    SYMBOL_CONFIDENTIAL: "withheld: the cell is backed by a single school in the public register",
    SYMBOL_NOT_AVAILABLE: "not available: the noisy denominator is zero or less, so there is no rate",
    SYMBOL_NOT_APPLICABLE: "not applicable: the measure does not apply, or no school is behind the cell",
}

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
    """A measure name that is not in the catalogue of docs/design.md."""


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
#: docs/domain.md 2.2), session sums, and pupils in persistent (>=10%) and severe (>=50%) absence.
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
    ``S_t`` for a session sum clamped to ``[0, S_t]`` (docs/differential-privacy.md section 4).
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
    ``n + 1`` units, the pitfall of docs/differential-privacy.md section 3.6.
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
