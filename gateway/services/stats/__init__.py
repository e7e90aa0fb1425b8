"""Use cases: differentially private statistics for DfE, and the yearly privacy budget behind them.

DfE gets the national picture without ever holding a pupil's row (docs/differential-privacy.md, sections 4-5):

* the exact aggregate is computed where the data lives, in SQL (``gateway.db.repositories.statistics``):
  one row per pupil-year (the privacy unit), clamped to ``S_t``, grouped over public key sets;
* noise comes from OpenDP core measurements on ``i64`` vectors (``anonymisation.dp``): the discrete
  Gaussian under zCDP by default, at scales solved from OpenDP's privacy maps;
* the budget is one persistent ledger per academic year for every statistics consumer together, in
  integer units of rho: reserved (and audited) before any noise is drawn, never refunded;
* every answer is stored: the same question again gets the stored noisy answer and spends nothing,
  and every noisy vector is kept, so that a later rate over the same window reuses its denominator.

How the budget is split. One cap bounds everything released about a year, whoever asks: the rho whose
(epsilon, delta) equivalent is ``stats_epsilon_per_year`` at ``stats_delta`` (10 at 1e-9 by default: rho
~ 1.09), never above the catalogue's ceiling. It is fixed in the year's ledger row when the year is
first spent from; a later change of the setting is logged and ignored, and only a DPO's audited approval
(``approve_cap``, ``gateway stats approve-cap``) changes a fixed cap, never above the ceiling nor below
what was spent. The catalogue gives each consumer a share of the cap (``[privacy_budget]``: DfE's
statistics, the schools' benchmark snapshots); every DfE org id and statistician draws on the one DfE
share, so asking from ten org ids buys no extra noise reduction. A share is spread over
``stats_releases_per_year`` x ``stats_statistics_per_release`` equal *slots* (26 fortnightly releases of
8 noisy vectors, docs/differential-privacy.md 3.5), each a whole number of units. A request is allotted
one slot per noisy vector its measure needs (one for ``enrolments``, two for a rate), split between the
vectors by the measure's weights (a rate's denominator gets r^(2/3) of its numerator's share,
``dp.Measure``); a denominator already published for the same window, grouping and consumer is reused
and its part of the allotment is not spent. What is charged is OpenDP's own privacy map of the vectors
drawn, rounded up to units.

Windows. ``from`` and ``to`` lie in one academic year, ``to`` no later than today. ``S_t``, the most
sessions one pupil can have in the window, is public and data-independent: two sessions for every
school day of the window in the published term dates (``anonymisation.school_calendar``; every weekday
for a year they do not cover), at most 380. The year to date (``from`` = 1 August, and no register
sent after ``to``) is read from the running totals; any other window sums the marks dated inside it.

Stored answers. A question is the consumer (the catalogue share), measure(s), canonical grouping,
resolved window, key-set version and mechanism. Its answer is kept and returned again even if registers
were corrected since: a fresh answer to the same question would be a second release of the same cells,
paid again, and two noisy answers to one question average out the noise. To see newer data, ask a new
question (a later ``to``). Lifetime exposure: the cap resets each academic year because the privacy
unit is a pupil's year, so a pupil's total loss is the sum over the years they are in school.

The package: ``questions`` (a question, its window and its audit events), ``ledger`` (the cap, the
shares, the budget view, a DPO's cap change), ``reservations`` (spending under the ledger's lock),
``answers`` (the use cases that answer), ``trend`` (the fortnightly trend by school week),
``publication`` (the JSON tables and DfE's CSV)
and ``results`` (what the use cases return: frozen dataclasses).
"""

from gateway.services.stats.answers import create_bundle, get_bundle, get_bundle_csv, get_statistics
from gateway.services.stats.ledger import BudgetRules, approve_cap, budget, budget_policy, rules, year_rules
from gateway.services.stats.questions import (
    BUNDLE_NAME,
    DFE_SHARE,
    MAX_BUNDLE_TABLES,
    PURPOSE,
    ROLE,
    Question,
    Table,
    Window,
    resolve_window,
    today,
)
from gateway.services.stats.results import Amount, Answer, Budget, BudgetSummary, CapApproval, Trend
from gateway.services.stats.trend import TREND_MEASURES, fortnights, get_trend, release_trend

__all__ = [
    "BUNDLE_NAME",
    "DFE_SHARE",
    "MAX_BUNDLE_TABLES",
    "PURPOSE",
    "ROLE",
    "TREND_MEASURES",
    "Amount",
    "Answer",
    "Budget",
    "BudgetSummary",
    "CapApproval",
    "BudgetRules",
    "Question",
    "Table",
    "Trend",
    "Window",
    "approve_cap",
    "budget",
    "budget_policy",
    "create_bundle",
    "fortnights",
    "get_bundle",
    "get_bundle_csv",
    "get_statistics",
    "get_trend",
    "release_trend",
    "resolve_window",
    "rules",
    "today",
    "year_rules",
]
