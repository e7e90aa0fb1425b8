"""The attendance baseline improvement expectation (ABIE) of a school for the next year (pure).

A school is expected to close a share of the gap between its own prior-year attendance and what its
better similar schools achieved (a quantile of their prior-year attendance), at least a floor and at
most a cap, all from the catalogue. A school already at or above the benchmark is expected to improve
by the floor. The similar schools at or above the benchmark are the ones it could learn from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from policies.report_policy import AbieRule


class Exemplar(NamedTuple):
    urn: int
    attendance: float


class Expectation(NamedTuple):
    #: The school's prior-year attendance, percent of possible sessions.
    prior_attendance: float
    #: The quantile of its similar schools' prior-year attendance that it is measured against.
    benchmark: float
    #: The minimum improvement expected next year, in percentage points.
    expectation_pp: float
    #: prior_attendance + expectation_pp, at most 100.
    target: float
    learn_from: tuple[Exemplar, ...]


def expectation(
    prior_attendance: float | None,
    similar: Sequence[int],
    prior_by_urn: Mapping[int, float],
    rule: AbieRule,
) -> Expectation | None:
    """None when the school, or every one of its similar schools, has no prior year to go on."""
    rates = [(urn, prior_by_urn[urn]) for urn in similar if urn in prior_by_urn]
    if prior_attendance is None or not rates:
        return None
    benchmark = round(float(np.quantile([r for _, r in rates], rule.benchmark_quantile)), 2)
    gap = max(0.0, benchmark - prior_attendance)
    expected = round(min(rule.cap_pp, max(rule.floor_pp, rule.share_of_gap * gap)), 2)
    exemplars = sorted((r for r in rates if r[1] >= benchmark), key=lambda r: (-r[1], r[0]))
    return Expectation(
        prior_attendance=round(prior_attendance, 2),
        benchmark=benchmark,
        expectation_pp=expected,
        target=round(min(100.0, prior_attendance + expected), 2),
        learn_from=tuple(Exemplar(urn, round(rate, 2)) for urn, rate in exemplars[: rule.learn_from]),
    )
