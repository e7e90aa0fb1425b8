"""Differentially private attendance statistics: the pure core.

The gateway releases statistics the way docs/differential-privacy.md (sections 4 and 5) argues
is sound:

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
was allotted (docs/differential-privacy.md section 3.6). Discrete Gaussian noise (zCDP) is the
default; discrete Laplace noise (pure DP) is available and is charged in rho as epsilon^2/2,
OpenDP's own conversion.
"""

from anonymisation.dp.accounting import (
    COUNT_STATISTICS,
    I64_SAFE_LIMIT,
    LOW_RELIABILITY_DENOMINATOR_SDS,
    LOW_RELIABILITY_RATE_HALF_WIDTH,
    LOW_RELIABILITY_RELATIVE_HALF_WIDTH,
    MAX_SESSIONS_PER_YEAR,
    MECHANISM_LABELS,
    PUBLICATION_ALPHA,
    RATE_COMPONENT_ALPHA,
    RHO_UNIT,
    STATISTIC_NAMES,
    SUM_STATISTICS,
    SYMBOL_CONFIDENTIAL,
    SYMBOL_LOW_RELIABILITY,
    SYMBOL_MEANINGS,
    SYMBOL_NOT_APPLICABLE,
    SYMBOL_NOT_AVAILABLE,
    BudgetTooSmall,
    Mechanism,
    PlanMismatch,
    PrivacyAccountingError,
    Statistic,
    StatisticKind,
    UnknownMeasure,
    epsilon_delta_to_rho,
    rho_to_units_down,
    rho_to_units_up,
    statistic,
    units_to_rho,
    zcdp_to_epsilon,
)
from anonymisation.dp.planning import (
    DISCRETE_GAUSSIAN_EXACT_ACCURACY_MAX_SCALE,
    NoisePlan,
    PlannedStatistic,
    allocate_by_need,
    plan_noise,
    release_noisy,
)
from anonymisation.dp.publication import (
    LONG_WINDOW_MEASURES,
    MEASURES,
    MIN_LONG_WINDOW_DAYS,
    Measure,
    measure,
    plan_measure,
    publish_row,
    publish_sum,
    publish_table,
    rate_with_interval,
    sum_half_width,
    window_applies,
    withheld_for_schools,
)
from anonymisation.dp.reference import (
    Enrolment,
    ExactAggregate,
    PupilYear,
    cell_contribution,
    clamp_pupil_year,
    collapse_to_pupil_year,
    exact_aggregate,
    is_clean_pupil_year,
    sessions_possible_bound,
)

__all__ = [
    "BudgetTooSmall",
    "COUNT_STATISTICS",
    "DISCRETE_GAUSSIAN_EXACT_ACCURACY_MAX_SCALE",
    "Enrolment",
    "ExactAggregate",
    "I64_SAFE_LIMIT",
    "LONG_WINDOW_MEASURES",
    "LOW_RELIABILITY_DENOMINATOR_SDS",
    "LOW_RELIABILITY_RATE_HALF_WIDTH",
    "LOW_RELIABILITY_RELATIVE_HALF_WIDTH",
    "MAX_SESSIONS_PER_YEAR",
    "MEASURES",
    "MECHANISM_LABELS",
    "MIN_LONG_WINDOW_DAYS",
    "Measure",
    "Mechanism",
    "NoisePlan",
    "PUBLICATION_ALPHA",
    "PlanMismatch",
    "PlannedStatistic",
    "PrivacyAccountingError",
    "PupilYear",
    "RATE_COMPONENT_ALPHA",
    "RHO_UNIT",
    "STATISTIC_NAMES",
    "SUM_STATISTICS",
    "SYMBOL_CONFIDENTIAL",
    "SYMBOL_LOW_RELIABILITY",
    "SYMBOL_MEANINGS",
    "SYMBOL_NOT_APPLICABLE",
    "SYMBOL_NOT_AVAILABLE",
    "Statistic",
    "StatisticKind",
    "UnknownMeasure",
    "allocate_by_need",
    "cell_contribution",
    "clamp_pupil_year",
    "collapse_to_pupil_year",
    "epsilon_delta_to_rho",
    "exact_aggregate",
    "is_clean_pupil_year",
    "measure",
    "plan_measure",
    "plan_noise",
    "publish_row",
    "publish_sum",
    "publish_table",
    "rate_with_interval",
    "release_noisy",
    "rho_to_units_down",
    "rho_to_units_up",
    "sessions_possible_bound",
    "statistic",
    "sum_half_width",
    "units_to_rho",
    "window_applies",
    "withheld_for_schools",
    "zcdp_to_epsilon",
]
