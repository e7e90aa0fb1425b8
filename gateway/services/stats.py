"""Use cases: differentially private statistics for DfE, and the yearly privacy budget behind them.

DfE gets the national picture without ever holding a pupil's row (issue 8; DP-NOTES.md sections 4-5):

* the exact aggregate is computed where the data lives, in SQL (``gateway.db.stats_repository``):
  one row per pupil-year (the privacy unit), clamped to ``S_t``, grouped over public key sets;
* noise comes from OpenDP core measurements on ``i64`` vectors (``anonymisation.dp``): the discrete
  Gaussian under zCDP by default, at scales solved from OpenDP's privacy maps;
* the budget is one persistent ledger per academic year for every statistics consumer together, in
  integer units of rho: reserved (and audited) before any noise is drawn, never refunded;
* every answer is stored: the same question again gets the stored noisy answer and spends nothing,
  and every noisy vector is kept, so that a later rate over the same window reuses its denominator.

How the budget is split (issue 19). One cap bounds everything released about a year, whoever asks:
the rho whose (epsilon, delta) equivalent is ``stats_epsilon_per_year`` at ``stats_delta`` (10 at
1e-9 by default: rho ~ 1.09), never above the catalogue's ceiling. It is fixed in the year's ledger
row when the year is first spent from; a later change of the setting is logged and ignored, and only
a DPO's audited approval (``approve_cap``, ``gateway stats approve-cap``) changes a fixed cap, never
above the ceiling nor below what was spent. The catalogue gives each consumer a share of the cap
(``[privacy_budget]``: DfE's statistics, the schools' benchmark snapshots); every DfE org id and
statistician draws on the one DfE share, so asking from ten org ids buys no extra noise reduction.
A share is spread over ``stats_releases_per_year`` x ``stats_statistics_per_release`` equal *slots*
(26 fortnightly releases of 8 noisy vectors, DP-NOTES.md 3.5), each a whole number of units. A
request is allotted one slot per noisy vector its measure needs (one for ``enrolments``, two for a
rate), split between the vectors by the measure's weights (a rate's denominator gets r^(2/3) of its
numerator's share, ``dp.Measure``); a denominator already published for the same window, grouping and
consumer is reused and its part of the allotment is not spent. What is charged is OpenDP's own privacy
map of the vectors drawn, rounded up to units.

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
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from anonymisation import dp as adp
from anonymisation import keysets, school_calendar
from gateway.auth import Principal
from gateway.db.base import utcnow
from gateway.db.repositories import budget as budget_repo
from gateway.db.repositories import statistics as srepo
from gateway.db.session import transaction
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable
from gateway.services import access, audit
from gateway.services.access import Target
from gateway.services.feeds import LONDON, OPEN_STATUSES
from gateway.settings import Settings
from policies.access import BUDGET_VIEW, STATS_ASK
from policies.loader import load_catalogue
from policies.model import PrivacyBudget
from schemas.calendar import academic_year_bounds, academic_year_label, academic_year_of
from schemas.codes import codes_by_class

log = structlog.get_logger("gateway.stats")

PURPOSE = "dfe-statistics"
ROLE = "statistician"
#: The catalogue share every DfE statistics request draws on.
DFE_SHARE = "dfe-statistics"
#: A reservation not released within this long is taken as abandoned (the process died between
#: reserving and storing): it stays spent, and the same question may then be paid and answered anew.
ABANDONED_RESERVATION = dt.timedelta(minutes=5)
#: How long a request waits for an identical question already being answered, before a 409.
WAIT_FOR_SAME_QUESTION_SECONDS = 30.0
#: Most tables in one named bundle.
MAX_BUNDLE_TABLES = 20
BUNDLE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
_BUNDLE_TAKEN = "a bundle of that name was already released with other tables or another window"

Kind = Literal["query", "bundle"]

# --------------------------------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    measure: str
    by: tuple[str, ...]

    @property
    def slots(self) -> int:
        return len(adp.measure(self.measure).statistics)


@dataclass(frozen=True)
class Window:
    start: dt.date
    end: dt.date
    academic_year: int
    sessions_possible: int


@dataclass(frozen=True)
class Question:
    kind: Kind
    consumer: str
    window: Window
    tables: tuple[Table, ...]
    mechanism: str
    bundle: str | None = None

    def canonical(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "consumer": self.consumer,
            "bundle": self.bundle,
            "from": self.window.start.isoformat(),
            "to": self.window.end.isoformat(),
            "tables": [{"measure": t.measure, "by": list(t.by)} for t in self.tables],
            "keyset_version": keysets.KEYSET_VERSION,
            "mechanism": self.mechanism,
        }

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()

    @property
    def slots(self) -> int:
        return sum(t.slots for t in self.tables)


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput([{"row": None, "field": field, "message": message}])


def today() -> dt.date:
    return dt.datetime.now(LONDON).date()


sessions_possible_bound = adp.sessions_possible_bound


def resolve_window(start: dt.date | None, end: dt.date | None, now: dt.date) -> Window:
    end_ = end or now
    if end_ > now:
        raise _invalid(
            "to",
            "the window must not end after today: an answer is stored and would never see later registers",
        )
    year = academic_year_of(end_)
    start_ = start or academic_year_bounds(year)[0]
    if start_ > end_:
        raise _invalid("from", "the window starts after it ends")
    if academic_year_of(start_) != year:
        raise _invalid("from", "the window must lie within one academic year (1 August to 31 July)")
    bound = sessions_possible_bound(start_, end_)
    if bound < 1:
        raise _invalid("from", "the window has no school day, so no session could be possible in it")
    return Window(start_, end_, year, bound)


def _check_window_applies(table: Table, window: Window, field: str = "") -> None:
    """Refuse, before any budget is touched, a measure the window is too short for (DOMAIN.md 2.3)."""
    year_start = academic_year_bounds(window.academic_year)[0]
    if not adp.window_applies(table.measure, window.start, window.end, year_start):
        raise _invalid(
            f"{field}measure",
            f"{table.measure} is published for term or year-to-date windows only, never for a day or a week: "
            f"ask from the start of the academic year, or over at least {adp.MIN_LONG_WINDOW_DAYS} days",
        )


def _table(measure: str, by: Sequence[str], field: str = "") -> Table:
    try:
        adp.measure(measure)
    except adp.UnknownMeasure:
        raise _invalid(
            f"{field}measure", f"not a measure; expected one of {', '.join(adp.MEASURES)}"
        ) from None
    try:
        dims = keysets.canonical_by([d.strip() for d in by])
    except keysets.UnknownDimension as exc:
        raise _invalid(f"{field}by", f"{exc}") from None
    return Table(measure, dims)


# --------------------------------------------------------------------------------------------------
# Who may ask, and the budget's numbers
# --------------------------------------------------------------------------------------------------


@cache
def _catalogue_budget(policy_file: Path | None) -> PrivacyBudget | None:
    return load_catalogue(policy_file).privacy_budget


def budget_policy(settings: Settings) -> PrivacyBudget:
    """The catalogue's yearly budget: its ceiling and each consumer's share. Without one, nothing."""
    policy = _catalogue_budget(settings.policy_file)
    if policy is None:
        raise ServiceUnavailable("the purpose catalogue declares no privacy budget: no statistic is released")
    return policy


def consumer_of(principal: Principal, policy: PrivacyBudget) -> str | None:
    """The catalogue share an organisation draws on: one for all of DfE, whichever org id or
    statistician asks, so that they share one budget (issue 19)."""
    share = policy.share_for(principal.org_type)
    return share.consumer if share is not None else None


@dataclass(frozen=True)
class BudgetRules:
    #: The year's cap in force: the ledger's once fixed, else what the settings would fix.
    cap_units: int
    cap_fixed: bool
    #: What the settings give (within the ceiling), whether or not it is in force.
    configured_units: int
    ceiling_units: int
    consumer: str
    share: Fraction
    share_reason: str
    slot_units: int
    epsilon: float
    delta: float
    mechanism: adp.Mechanism
    releases_per_year: int
    statistics_per_release: int

    @property
    def share_units(self) -> int:
        return share_units(self.cap_units, self.share)


def share_units(cap_units: int, share: Fraction) -> int:
    """A consumer's part of the cap, rounded down, so that the shares never add up to more than it."""
    return math.floor(cap_units * share)


#: OpenDP's searches (the cap's rho, each statistic's scale) are cached by the core, but twenty
#: requests arriving together would all miss the cache and search at once, each holding the GIL. One
#: lock makes the first search and lets the others read its result.
_PLANNING = threading.Lock()


def _cap_units(epsilon: float, delta: float) -> int:
    with _PLANNING:
        rho = adp.epsilon_delta_to_rho(epsilon, delta)
    return adp.rho_to_units_down(rho)


def rules(settings: Settings, consumer: str = DFE_SHARE, ledger_cap: int | None = None) -> BudgetRules:
    """The numbers a request is planned with: the year's cap (``ledger_cap`` once the year is fixed,
    else the setting, never above the catalogue's ceiling), the consumer's share and its slot."""
    policy = budget_policy(settings)
    share = policy.share(consumer)
    if share is None:
        raise _invalid("consumer", f"not a consumer of the budget; expected one of "
                       f"{', '.join(s.consumer for s in policy.shares)}")
    ceiling = _cap_units(policy.ceiling_epsilon_per_year, settings.stats_delta)
    configured = min(_cap_units(settings.stats_epsilon_per_year, settings.stats_delta), ceiling)
    cap = ledger_cap if ledger_cap is not None else configured
    fraction = Fraction(str(share.share))
    slots = settings.stats_releases_per_year * settings.stats_statistics_per_release
    return BudgetRules(
        cap_units=cap,
        cap_fixed=ledger_cap is not None,
        configured_units=configured,
        ceiling_units=ceiling,
        consumer=consumer,
        share=fraction,
        share_reason=share.reason,
        slot_units=share_units(cap, fraction) // slots,
        epsilon=settings.stats_epsilon_per_year,
        delta=settings.stats_delta,
        mechanism=settings.stats_mechanism,
        releases_per_year=settings.stats_releases_per_year,
        statistics_per_release=settings.stats_statistics_per_release,
    )


#: (database, year, configured cap, cap in force) already warned about by this process: once is enough.
_WARNED: set[tuple[int, int, int, int]] = set()


def year_rules(
    sessions: sessionmaker[Session], settings: Settings, year: int, consumer: str = DFE_SHARE
) -> BudgetRules:
    """:func:`rules` for an academic year, with its cap as the ledger fixed it. A setting that
    differs from a fixed cap changes nothing (issue 19: raising it mid-year would have raised the
    cap); it is logged, and the budget shows both."""
    with transaction(sessions) as db:
        ledger = budget_repo.get_ledger(db, year)
    r = rules(settings, consumer, ledger.cap_units if ledger is not None else None)
    if ledger is not None and r.configured_units != ledger.cap_units:
        key = (id(sessions), year, r.configured_units, ledger.cap_units)
        if key not in _WARNED:
            _WARNED.add(key)
            log.warning(
                "stats_cap_setting_ignored",
                academic_year=year,
                cap_units=ledger.cap_units,
                configured_units=r.configured_units,
                reason="the year's cap is fixed in its ledger; a DPO changes it: `gateway stats approve-cap`",
            )
    return r


def _amount(units: int, delta: float) -> dict[str, Any]:
    rho = adp.units_to_rho(units)
    return {"units": units, "rho": rho, "epsilon": adp.zcdp_to_epsilon(rho, delta)}


def _budget_summary(
    year: int, r: BudgetRules, share_spent: int, spent_by: Mapping[str, int], policy: PrivacyBudget
) -> dict[str, Any]:
    """The consumer's share (cap, spent, remaining), and the year's one ledger behind every share;
    each amount in units, rho and its (epsilon, delta) equivalent taken alone."""
    share_cap = r.share_units
    year_spent = sum(spent_by.values())
    return {
        "academic_year": year,
        "academic_year_label": academic_year_label(year),
        "consumer": r.consumer,
        "privacy_measure": "zero-concentrated DP (rho), with its (epsilon, delta) equivalent",
        "delta": r.delta,
        "cap": _amount(share_cap, r.delta),
        "spent": _amount(share_spent, r.delta),
        "remaining": _amount(max(share_cap - share_spent, 0), r.delta),
        "ledger": {
            "scope": "one ledger per academic year for every statistics consumer; each draws on its share",
            "cap": _amount(r.cap_units, r.delta),
            "cap_fixed": r.cap_fixed,
            "ceiling": _amount(r.ceiling_units, r.delta),
            "spent": _amount(year_spent, r.delta),
            "remaining": _amount(max(r.cap_units - year_spent, 0), r.delta),
            "shares": [
                {
                    "consumer": s.consumer,
                    "share": s.share,
                    "cap_units": share_units(r.cap_units, Fraction(str(s.share))),
                    "spent_units": spent_by.get(s.consumer, 0),
                    "reason": s.reason,
                }
                for s in policy.shares
            ],
        },
    }


def _allotment(r: BudgetRules) -> dict[str, Any]:
    return {
        "releases_per_year": r.releases_per_year,
        "statistics_per_release": r.statistics_per_release,
        "units_per_statistic": r.slot_units,
        "rho_per_statistic": adp.units_to_rho(r.slot_units),
        "rule": "a slot per noisy vector: 1 for enrolments, 2 for a rate; a bundle pays its tables' sum; "
        "a denominator already published for the window and grouping is reused and not paid again",
    }


# --------------------------------------------------------------------------------------------------
# Public use cases
# --------------------------------------------------------------------------------------------------


def get_statistics(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    measure: str,
    by: Sequence[str],
    from_: dt.date | None,
    to: dt.date | None,
) -> dict[str, Any]:
    """One noisy table (``GET /v1/stats``): rows with values and 95% intervals, noise and budget."""
    table = _table(measure, by)
    window = resolve_window(from_, to, today())
    _check_window_applies(table, window)
    r = year_rules(sessions, settings, window.academic_year)
    question = Question("query", DFE_SHARE, window, (table,), r.mechanism)
    body = _answer(sessions, settings, principal, question, r)
    return body


def create_bundle(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    name: str,
    tables: Sequence[tuple[str, Sequence[str]]],
    from_: dt.date | None,
    to: dt.date | None,
) -> dict[str, Any]:
    """A named release bundle (``POST /v1/stats/releases``): several tables, one reservation, one
    CSV in DfE's open-data layout. Posting the same bundle again returns it, spending nothing."""
    if not BUNDLE_NAME.fullmatch(name):
        raise _invalid("name", "a bundle name is 1 to 80 lower-case letters, digits and hyphens")
    if not 1 <= len(tables) <= MAX_BUNDLE_TABLES:
        raise _invalid("tables", f"a bundle has 1 to {MAX_BUNDLE_TABLES} tables")
    parsed = tuple(_table(m, b, f"tables.{i}.") for i, (m, b) in enumerate(tables))
    if len(set(parsed)) != len(parsed):
        raise _invalid("tables", "a table is listed twice")
    window = resolve_window(from_, to, today())
    for i, table in enumerate(parsed):
        _check_window_applies(table, window, f"tables.{i}.")
    r = year_rules(sessions, settings, window.academic_year)
    question = Question("bundle", DFE_SHARE, window, parsed, r.mechanism, bundle=name)
    return _answer(sessions, settings, principal, question, r)


def get_bundle(
    sessions: sessionmaker[Session], settings: Settings, principal: Principal, name: str
) -> dict[str, Any]:
    """A bundle already released to this consumer, again (audited, free)."""
    _authorise(sessions, principal, {"bundle": name})
    with transaction(sessions) as db:
        stored = budget_repo.get_bundle(db, DFE_SHARE, name)
        if stored is None:
            raise NotFound("no bundle of that name was released to your organisation")
        body = json.loads(stored.answer)
        index = _record_served(db, principal, body, stored.spend_id, cached=True)
    return _finish(sessions, settings, body, cached=True, index=index)


def get_bundle_csv(sessions: sessionmaker[Session], principal: Principal, name: str) -> str:
    _authorise(sessions, principal, {"bundle": name})
    with transaction(sessions) as db:
        stored = budget_repo.get_bundle(db, DFE_SHARE, name)
        if stored is None or stored.csv is None:
            raise NotFound("no bundle of that name was released to your organisation")
        _record_served(db, principal, json.loads(stored.answer), stored.spend_id, cached=True)
        return stored.csv


def budget(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    year: int | None,
    consumer: str | None = None,
) -> dict[str, Any]:
    """The privacy budget of an academic year (``GET /v1/stats/budget``): the year's one ledger with
    every consumer's share, and the releases of one share with their noise. Statisticians see DfE's
    share, whichever DfE org id they belong to; a DPO their organisation's, the operator's DPO any."""
    policy = budget_policy(settings)
    own = consumer_of(principal, policy)
    decision = access.authorise(sessions, principal, BUDGET_VIEW, Target(consumer=consumer, own_consumer=own),
                                purpose=PURPOSE)
    # Unasked, a requester sees its own share; the operator's DPO, who has none, sees DfE's.
    wanted = consumer or own or DFE_SHARE
    if policy.share(wanted) is None:
        raise NotFound("there is no such share of the privacy budget in the catalogue")
    if decision.scope != "all" and wanted != own:
        raise AssertionError("the budget rule allowed a share that is not the requester's")
    year_ = year if year is not None else academic_year_of(today())
    r = year_rules(sessions, settings, year_, wanted)
    with transaction(sessions) as db:
        ledger = budget_repo.spends(db, year_, wanted)
        spent_by = budget_repo.spent_by_consumer(db, year_)
        fixed = budget_repo.get_ledger(db, year_)
        releases = [
            {
                "release_id": s.id,
                "kind": s.kind,
                "status": s.status,
                "requester": s.requester,
                "question": json.loads(s.question),
                "units": s.units,
                "rho": adp.units_to_rho(s.units),
                "created_at": s.created_at,
                "released_at": s.released_at,
                "audit_index": s.audit_index,
                "noise": json.loads(s.measurement),
            }
            for s in ledger
        ]
        audit.record(db, audit.new_event(
            principal, "budget.viewed", purpose=PURPOSE, decision="allow",
            record_count=len(releases), details={"academic_year": year_, "consumer": wanted}))
    summary = _budget_summary(year_, r, spent_by.get(wanted, 0), spent_by, policy)
    summary["ledger"]["fixed_by"] = fixed.fixed_by if fixed is not None else None
    return summary | {
        "share": {"fraction": float(r.share), "reason": r.share_reason},
        "mechanism": adp.MECHANISM_LABELS[r.mechanism],
        "configured": {
            "epsilon_per_year": r.epsilon,
            "delta": r.delta,
            "cap_units": r.configured_units,
            "in_force": r.configured_units == r.cap_units,
            "rule": "the setting fixes a year's cap when the year is first spent from; after that only a "
            "DPO's audited approval changes it, never above the catalogue's ceiling",
        },
        "allotment": _allotment(r),
        "lifetime": "the cap resets each academic year because the privacy unit is a pupil's year; a pupil's "
        "lifetime privacy loss is the sum over the years they are in school",
        "releases": releases,
    }


def approve_cap(
    sessions: sessionmaker[Session], settings: Settings, year: int, epsilon: float, dpo: str, reason: str
) -> dict[str, Any]:
    """A DPO's approval of a new cap for an academic year (``gateway stats approve-cap``): the only way
    a year's cap changes once fixed. Refused, and the refusal audited, above the catalogue's ceiling or
    below what the year has already spent; approved, the change is audited before it takes effect."""
    policy = budget_policy(settings)
    # The operator runs the command; the DPO it names is who approves (their subject, no personal data).
    actor = {"org_type": "operator", "org_id": "operator", "sub": dpo}
    details: dict[str, Any] = {
        "approver_role": "dpo",
        "academic_year": year,
        "epsilon": epsilon,
        "delta": settings.stats_delta,
        "ceiling_epsilon": policy.ceiling_epsilon_per_year,
        "reason": reason,
    }
    now = utcnow()
    with transaction(sessions) as db:
        refusal = None
        if not math.isfinite(epsilon) or epsilon <= 0:
            refusal = "invalid_cap: epsilon must be a finite, positive number"
        elif epsilon > policy.ceiling_epsilon_per_year:
            refusal = (
                f"above_ceiling: epsilon {epsilon} is above the catalogue's ceiling of "
                f"{policy.ceiling_epsilon_per_year} a year, which no approval can exceed"
            )
        else:
            new_units = _cap_units(epsilon, settings.stats_delta)
            r = rules(settings)
            budget_repo.ensure_ledger(
                db,
                {
                    "academic_year": year,
                    "cap_units": r.configured_units,
                    "epsilon": min(settings.stats_epsilon_per_year, policy.ceiling_epsilon_per_year),
                    "delta": settings.stats_delta,
                    "fixed_by": "settings",
                    "created_at": now,
                    "updated_at": now,
                },
            )
            row = budget_repo.lock_ledger(db, year)
            spent = budget_repo.spent_units(db, year)
            by_consumer = budget_repo.spent_by_consumer(db, year)
            over = [
                s.consumer
                for s in policy.shares
                if by_consumer.get(s.consumer, 0) > share_units(new_units, Fraction(str(s.share)))
            ]
            details |= {"old_cap_units": row.cap_units, "new_cap_units": new_units, "spent_units": spent}
            if new_units < spent or over:
                refusal = (
                    f"below_spent: the {academic_year_label(year)} budget has spent {spent} units, more than "
                    f"the new cap (or a share of it: {', '.join(over) or 'the whole'}) allows"
                )
        if refusal is not None:
            audit.record(
                db,
                audit.new_event(
                    None, "budget.cap_refused", decision="deny", reasons=[refusal], details=details,
                    actor=actor,
                ),
            )
        else:
            # Under the same lock as the check: no reservation can slip in between.
            index = audit.record(
                db,
                audit.new_event(None, "budget.cap_approved", decision="allow", details=details, actor=actor),
            )
            budget_repo.set_cap(
                db,
                year,
                {
                    "cap_units": new_units,
                    "epsilon": epsilon,
                    "delta": settings.stats_delta,
                    "fixed_by": dpo,
                    "updated_at": now,
                },
            )
    if refusal is not None:
        log.info("stats_cap_refused", academic_year=year, reason=refusal.split(":")[0])
        raise Forbidden([refusal])
    log.info("stats_cap_approved", academic_year=year, cap_units=new_units, audit_index=index)
    return {
        "academic_year": year,
        "academic_year_label": academic_year_label(year),
        "old_cap_units": details["old_cap_units"],
        "cap": _amount(new_units, settings.stats_delta),
        "approved_by": dpo,
        "audit_index": index,
    }


# --------------------------------------------------------------------------------------------------
# The answer to a question: cached, or reserved -> noised -> stored
# --------------------------------------------------------------------------------------------------


def _authorise(sessions: sessionmaker[Session], principal: Principal, details: dict[str, Any]) -> None:
    access.authorise(sessions, principal, STATS_ASK, purpose=PURPOSE, details=details)


def _deny_budget(
    db: Session, principal: Principal, question: Question, spent: int, cap: int, cost: int
) -> Forbidden:
    reasons = [
        f"budget_exhausted: this question needs {cost} units of rho but {max(cap - spent, 0)} of the "
        f"{cap} in the {academic_year_label(question.window.academic_year)} budget remain; "
        "nothing was released"
    ]
    _record_denial(db, principal, reasons, question.canonical() | {"question_hash": question.hash})
    return Forbidden(reasons)


def _record_denial(db: Session, principal: Principal, reasons: list[str], details: dict[str, Any]) -> None:
    event = audit.new_event(
        principal, "stats.denied", purpose=PURPOSE, decision="deny", reasons=reasons, record_count=0, details=details
    )
    audit.record(db, event)


def _allotments(question: Question, r: BudgetRules) -> list[int]:
    """Units each table may spend: a query its slots; a bundle the sum of its tables' slots, split
    across them by need (``adp.allocate_by_need``: LA cells get far more than national ones)."""
    if len(question.tables) == 1:
        return [question.slots * r.slot_units]
    return adp.allocate_by_need(
        question.slots * r.slot_units,
        [(t.slots, len(keysets.keys_for(t.by))) for t in question.tables],
    )


def _measurement_hash(question: Question, table: Table, statistic: str) -> str:
    """Identifies one noisy vector: the same statistic over the same window, grouping, key set and
    mechanism, for the same consumer, is the same published measurement whatever measure asked."""
    key = {
        "consumer": question.consumer,
        "from": question.window.start.isoformat(),
        "to": question.window.end.isoformat(),
        "by": list(table.by),
        "statistic": statistic,
        "sensitivity": adp.statistic(statistic, question.window.sessions_possible).sensitivity,
        "keyset_version": keysets.KEYSET_VERSION,
        "mechanism": question.mechanism,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _answer(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    question: Question,
    r: BudgetRules,
) -> dict[str, Any]:
    _authorise(sessions, principal, question.canonical())
    qhash = question.hash
    hashes = [
        {s: _measurement_hash(question, t, s) for s in adp.measure(t.measure).statistics}
        for t in question.tables
    ]
    with transaction(sessions) as db:
        stored = budget_repo.measurements(db, sorted({h for table in hashes for h in table.values()}))
    # 1. Plan the noise (pure: OpenDP privacy maps). Each table gets its slots, and is charged what
    #    OpenDP says the vectors it draws spend, rounded up to units. A denominator published before
    #    for this window and grouping (or drawn by an earlier table of this bundle) is reused.
    available = {h: m.scale for h, m in stored.items()}
    allotments = _allotments(question, r)
    plans = []
    try:
        with _PLANNING:
            for table, table_hashes, allotment in zip(question.tables, hashes, allotments, strict=True):
                plan = adp.plan_measure(
                    table.measure,
                    question.window.sessions_possible,
                    allotment,
                    mechanism=r.mechanism,
                    published={s: available[h] for s, h in table_hashes.items() if h in available},
                )
                plans.append(plan)
                for name in plan.drawn:
                    available.setdefault(table_hashes[name], plan[name].scale)
    except adp.BudgetTooSmall:
        reasons = ["budget_too_small: the configured yearly budget cannot give each statistic one unit"]
        with transaction(sessions) as db:
            _record_denial(db, principal, reasons, question.canonical())
        raise Forbidden(reasons) from None
    cost = sum(p.units_spent for p in plans)
    # 2. Already answered? Serve it. Over the cap? Refuse before touching pupil data.
    denial = None
    with transaction(sessions) as db:
        served = _serve_stored(db, principal, qhash)
        if served is None and question.bundle is not None:
            if budget_repo.get_bundle(db, question.consumer, question.bundle) is not None:
                raise Conflict(_BUNDLE_TAKEN)
        if served is None and budget_repo.latest_spend_for(db, qhash) is None:
            denial = _over_budget(db, principal, question, r.cap_units, r.share, cost)
    if served is not None:
        return _finish(sessions, settings, served[0], cached=True, index=served[1])
    if denial is not None:
        raise denial
    # The exact cells of the vectors to draw, in SQL where the data is; secret, discarded once noised.
    with transaction(sessions) as db:
        exact = _exact_tables(db, question.window, question.tables, plans)

    # 3. Reserve (audited, committed) before any noise; wait if the same question is in flight.
    spend_id = _reserve(sessions, principal, question, plans, cost, r)
    if isinstance(spend_id, tuple):
        return _finish(sessions, settings, spend_id[0], cached=True, index=spend_id[1])

    # 4. Noise, post-process, store and release.
    now = utcnow()
    tables = []
    fresh: dict[str, list[int]] = {}
    kept: list[dict[str, Any]] = []
    register = _register_schools(sessions, settings, question.tables)
    for table, plan, cells, table_hashes in zip(question.tables, plans, exact, hashes, strict=True):
        drawn = adp.release_noisy(plan, {s: [c[s] for c in cells] for s in plan.drawn})
        noisy = dict(drawn)
        for name in plan.names:
            h = table_hashes[name]
            if name in drawn:
                if h not in fresh and h not in stored:
                    fresh[h] = drawn[name]
                    kept.append(_kept_measurement(h, spend_id, question, table, plan[name], drawn[name], now))
            else:
                noisy[name] = fresh[h] if h in fresh else json.loads(stored[h].noisy)
        keys = [{k: v for k, v in c.items() if k not in adp.STATISTIC_NAMES} for c in cells]
        withheld = _withheld(register, settings, table, keys)
        rows = adp.publish_table(table.measure, keys, noisy, plan, withheld=withheld)
        tables.append(_table_body(table, plan, rows))
    del exact
    body: dict[str, Any] = {
        "release_id": spend_id,
        "kind": question.kind,
        "consumer": question.consumer,
        "from": question.window.start.isoformat(),
        "to": question.window.end.isoformat(),
        "academic_year": question.window.academic_year,
        "academic_year_label": academic_year_label(question.window.academic_year),
        "sessions_possible_bound": question.window.sessions_possible,
        "sessions_possible_source": "two sessions per school day of "
        + school_calendar.source(question.window.start, question.window.end),
        "keyset_version": keysets.KEYSET_VERSION,
        "mechanism": adp.MECHANISM_LABELS[r.mechanism],
        "released_at": now.isoformat(),
        "release_rho": adp.units_to_rho(cost),
        "release_units": cost,
        "release_epsilon": adp.zcdp_to_epsilon(adp.units_to_rho(cost), r.delta),
    }
    if question.kind == "query":
        body |= tables[0]
    else:
        body |= {"bundle": question.bundle, "tables": tables}
    csv_text = _bundle_csv(question, tables) if question.kind == "bundle" else None
    try:
        with transaction(sessions) as db:
            index = audit.record(db, _released_event(principal, body, spend_id, cached=False))
            budget_repo.insert_answer(
                db,
                {
                    "question_hash": qhash,
                    "spend_id": spend_id,
                    "academic_year": question.window.academic_year,
                    "consumer": question.consumer,
                    "kind": question.kind,
                    "bundle": question.bundle,
                    "answer": json.dumps(body),
                    "csv": csv_text,
                    "created_at": now,
                    "audit_index": index,
                },
            )
            budget_repo.insert_measurements(db, kept)
            budget_repo.mark_released(db, spend_id, now)
    except IntegrityError:
        raise Conflict(
            "a bundle of that name was released meanwhile with other tables; this reservation stays spent"
        ) from None
    log.info("stats_released", kind=question.kind, tables=len(tables), units=cost, audit_index=index)
    return _finish(sessions, settings, body, cached=False, index=index, spent=cost)


def _kept_measurement(
    key_hash: str,
    spend_id: str,
    question: Question,
    table: Table,
    planned: adp.PlannedStatistic,
    values: list[int],
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "key_hash": key_hash,
        "spend_id": spend_id,
        "academic_year": question.window.academic_year,
        "consumer": question.consumer,
        "statistic": planned.name,
        "key": json.dumps(
            {
                "from": question.window.start.isoformat(),
                "to": question.window.end.isoformat(),
                "by": list(table.by),
            }
        ),
        "sensitivity": planned.statistic.sensitivity,
        "scale": planned.scale,
        "units": planned.units,
        "noisy": json.dumps(values),
        "created_at": now,
    }


def _over_budget(
    db: Session, principal: Principal, question: Question, cap_units: int, share: Fraction, cost: int
) -> Forbidden | None:
    """The refusal (audited) of a question whose cost does not fit the consumer's share of the year,
    or the year's whole cap; None when it fits."""
    year = question.window.academic_year
    spent = budget_repo.spent_units(db, year, question.consumer)
    share_cap = share_units(cap_units, share)
    year_spent = budget_repo.spent_units(db, year)
    if spent + cost > share_cap:
        return _deny_budget(db, principal, question, spent, share_cap, cost)
    if year_spent + cost > cap_units:
        return _deny_budget(db, principal, question, year_spent, cap_units, cost)
    return None


def _register_schools(
    sessions: sessionmaker[Session], settings: Settings, tables: Sequence[Table]
) -> dict[tuple[str, str], int]:
    """Open schools per (LA, phase) in the public register, read once per answer, and only when a
    table is split by LA and the single-school convention is on."""
    if settings.stats_min_schools_per_la_cell <= 0 or not any("la" in t.by for t in tables):
        return {}
    with transaction(sessions) as db:
        return srepo.register_schools(db, sorted(OPEN_STATUSES))


def _withheld(
    register: Mapping[tuple[str, str], int], settings: Settings, table: Table, keys: Sequence[Mapping[str, Any]]
) -> list[str | None] | None:
    """DfE's single-school convention for LA-level cells (``c``; ``z`` where the register has no
    school), judged from the public register of schools only: post-processing, free of budget."""
    minimum = settings.stats_min_schools_per_la_cell
    if "la" not in table.by or minimum <= 0:
        return None
    by_la: dict[str, int] = {}
    for (la, _), n in register.items():
        by_la[la] = by_la.get(la, 0) + n
    out = []
    for key in keys:
        schools = register.get((key["la_code"], key["phase"]), 0) if "phase" in table.by else by_la.get(key["la_code"], 0)
        out.append(adp.withheld_for_schools(schools, minimum))
    return out


def _exact_tables(
    db: Session, window: Window, tables: Sequence[Table], plans: Sequence[adp.NoisePlan]
) -> list[list[dict[str, Any]]]:
    """Each table's exact cells. A bundle collapses the pupils once, grouped by the union of its
    tables' dimensions, and sums that into each table (``stats_repository.marginalise``)."""
    if len(tables) == 1:
        return [_exact(db, window, tables[0].by, plans[0].drawn)]
    union = keysets.canonical_by(sorted({d for t in tables for d in t.by}))
    statistics = tuple(dict.fromkeys(s for p in plans for s in p.drawn))
    fine = _exact(db, window, union, statistics)
    return [srepo.marginalise(fine, t.by, p.drawn) for t, p in zip(tables, plans, strict=True)]


def _exact(db: Session, window: Window, by: Sequence[str], statistics: Sequence[str]) -> list[dict[str, Any]]:
    year_start = academic_year_bounds(window.academic_year)[0]
    year_to_date = False
    if window.start == year_start:
        latest = srepo.latest_feed_date(db, window.academic_year)
        year_to_date = latest is None or latest <= window.end
    return srepo.exact_cells(
        db,
        window.academic_year,
        by,
        window.sessions_possible,
        statistics,
        window=None if year_to_date else (window.start, window.end),
        codes=None if year_to_date else codes_by_class(),
    )


def _reserve(
    sessions: sessionmaker[Session],
    principal: Principal,
    question: Question,
    plans: list[adp.NoisePlan],
    cost: int,
    r: BudgetRules,
) -> str | tuple[dict[str, Any], int]:
    """Reserve ``cost`` units under the lock of the year's ledger row (one for every consumer);
    returns the spend id, or the stored answer (and its audit index) if the same question was
    answered meanwhile."""
    year, consumer, qhash = question.window.academic_year, question.consumer, question.hash
    deadline = time.monotonic() + WAIT_FOR_SAME_QUESTION_SECONDS
    while True:
        now = utcnow()
        with transaction(sessions) as db:
            # The first reservation of a year fixes its cap; after that the ledger's cap holds.
            budget_repo.ensure_ledger(
                db,
                {
                    "academic_year": year,
                    "cap_units": r.configured_units,
                    "epsilon": adp.zcdp_to_epsilon(adp.units_to_rho(r.configured_units), r.delta),
                    "delta": r.delta,
                    "fixed_by": "settings",
                    "created_at": now,
                    "updated_at": now,
                },
            )
            row = budget_repo.lock_ledger(db, year)
            served = _serve_stored(db, principal, qhash)
            if served is not None:
                return served
            in_flight = budget_repo.latest_spend_for(db, qhash)
            waiting = (
                in_flight is not None
                and in_flight.status == "reserved"
                and now - in_flight.created_at < ABANDONED_RESERVATION
            )
            if not waiting:
                if (
                    question.bundle is not None
                    and budget_repo.get_bundle(db, consumer, question.bundle) is not None
                ):
                    raise Conflict(_BUNDLE_TAKEN)
                spent = budget_repo.spent_units(db, year, consumer)
                denial = _over_budget(db, principal, question, row.cap_units, r.share, cost)
                if denial is None:
                    spend_id = "st_" + uuid.uuid4().hex
                    measurement = [
                        {"table": {"measure": t.measure, "by": list(t.by)}, "statistics": p.describe()}
                        for t, p in zip(question.tables, plans, strict=True)
                    ]
                    index = audit.record(
                        db,
                        audit.new_event(
                            principal,
                            "budget.spent",
                            purpose=PURPOSE,
                            decision="allow",
                            release_id=spend_id,
                            details={
                                "academic_year": year,
                                "consumer": consumer,
                                "requester": principal.recipient,
                                "units": cost,
                                "rho": adp.units_to_rho(cost),
                                "spent_before": spent,
                                "share_cap_units": share_units(row.cap_units, r.share),
                                "cap_units": row.cap_units,
                                "question_hash": qhash,
                                "question": question.canonical(),
                                "noise": [
                                    {
                                        "measure": t.measure,
                                        "statistic": s["statistic"],
                                        "sensitivity": s["sensitivity"],
                                        "scale": s["scale"],
                                        "units": s["units"],
                                    }
                                    for t, p in zip(question.tables, plans, strict=True)
                                    for s in p.describe()
                                ],
                            },
                        ),
                    )
                    budget_repo.insert_spend(
                        db,
                        {
                            "id": spend_id,
                            "academic_year": year,
                            "consumer": consumer,
                            "requester": principal.recipient,
                            "units": cost,
                            "status": "reserved",
                            "kind": question.kind,
                            "question_hash": qhash,
                            "question": json.dumps(question.canonical()),
                            "measurement": json.dumps(measurement),
                            "requested_by": principal.sub,
                            "created_at": now,
                            "released_at": None,
                            "audit_index": index,
                        },
                    )
        if not waiting:
            if denial is not None:
                log.info("stats_budget_exhausted", units=cost)
                raise denial
            return spend_id
        if time.monotonic() > deadline:
            raise Conflict("the same question is being answered by another request; ask again shortly")
        time.sleep(0.1)


def _serve_stored(db: Session, principal: Principal, qhash: str) -> tuple[dict[str, Any], int] | None:
    stored = budget_repo.get_answer(db, qhash)
    if stored is None:
        return None
    body = json.loads(stored.answer)
    return body, _record_served(db, principal, body, stored.spend_id, cached=True)


def _released_event(principal: Principal, body: dict[str, Any], spend_id: str, *, cached: bool) -> Any:
    tables = body.get("tables") or [body]
    return audit.new_event(
        principal,
        "stats.released",
        purpose=PURPOSE,
        decision="allow",
        release_id=spend_id,
        record_count=sum(len(t["rows"]) for t in tables),
        details={
            "cached": cached,
            "kind": body["kind"],
            "bundle": body.get("bundle"),
            "from": body["from"],
            "to": body["to"],
            "tables": [{"measure": t["measure"], "by": t["by"]} for t in tables],
            "release_units": body["release_units"],
            "keyset_version": body["keyset_version"],
        },
    )


def _record_served(
    db: Session, principal: Principal, body: dict[str, Any], spend_id: str, *, cached: bool
) -> int:
    return audit.record(db, _released_event(principal, body, spend_id, cached=cached))


def _finish(
    sessions: sessionmaker[Session],
    settings: Settings,
    body: dict[str, Any],
    *,
    cached: bool,
    index: int,
    spent: int = 0,
) -> dict[str, Any]:
    """The stored body plus what belongs to this request: cached or not, what it spent, the budget now."""
    year, consumer = body["academic_year"], body["consumer"]
    if consumer.startswith("dfe:"):
        # An answer stored before issue 19 names the organisation; its spend is now DfE's share's.
        consumer = DFE_SHARE
    r = year_rules(sessions, settings, year, consumer)
    with transaction(sessions) as db:
        spent_by = budget_repo.spent_by_consumer(db, year)
    summary = _budget_summary(year, r, spent_by.get(consumer, 0), spent_by, budget_policy(settings))
    rho = adp.units_to_rho(spent)
    return body | {
        "cached": cached,
        "audit_index": index,
        "rho_spent": rho,
        "epsilon_spent": adp.zcdp_to_epsilon(rho, r.delta),
        "delta": r.delta,
        "budget_remaining": summary["remaining"],
        "budget": summary,
    }


# --------------------------------------------------------------------------------------------------
# Published shapes: JSON rows and DfE's open-data CSV
# --------------------------------------------------------------------------------------------------


@cache
def _la_names() -> dict[str, keysets.LocalAuthority]:
    return {la.old_la_code: la for la in keysets.local_authorities()}


def _table_body(table: Table, plan: adp.NoisePlan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    las = _la_names()
    published = []
    for row in rows:
        if "la_code" in row:
            row = {"la_code": row["la_code"], "la_name": las[row["la_code"]].la_name} | row
        published.append(row)
    body: dict[str, Any] = {
        "measure": table.measure,
        "by": list(table.by),
        "allotment_units": plan.allotment_units,
        "rows": published,
    }
    if "la" in table.by:
        body["regions"] = _regions(table, plan, rows)
    return body | {
        "noise": [
            {
                "statistic": p.name,
                "kind": p.statistic.kind,
                "sensitivity": p.statistic.sensitivity,
                "mechanism": adp.MECHANISM_LABELS[p.mechanism],
                "scale": p.scale,
                "noise_sd": p.noise_sd,
                "half_width_95": p.half_width_95,
                "half_width_97_5": p.half_width(adp.RATE_COMPONENT_ALPHA),
                "rho": p.rho,
                "units": p.units,
                "reused": p.reused,
            }
            for p in plan.planned
        ],
        "interval": "95% for counts; for rates a union bound over the noisy numerator and denominator, "
        "each at 97.5%; intervals cover the noise only and are per cell, not simultaneous; a region's "
        "interval bounds the sum of its LAs' noise (sub-Gaussian tail)",
    }


def _regions(table: Table, plan: adp.NoisePlan, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each region's cells as sums of its LAs' published noisy measurements (post-processing, free):
    where LA cells of small groups (special schools) miss 0.5 pp and are marked ``u``, the region
    meets it. Withheld LA cells (``c``, ``z``) are left out of the sums, and counted, so that no sum
    minus the published cells gives a withheld cell back."""
    las, regions = _la_names(), _region_codes()
    others = [keysets.DIMENSION_COLUMNS[d] for d in table.by if d != "la"]
    statistics = adp.measure(table.measure).statistics
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        la = las[row["la_code"]]
        key = (regions.get(row["la_code"], ""), la.region_name, *(row[c] for c in others))
        group = groups.setdefault(key, {"sums": dict.fromkeys(statistics, 0), "cells": 0, "withheld": 0})
        if row["noisy"] is None:
            group["withheld"] += 1
            continue
        group["cells"] += 1
        for name in statistics:
            group["sums"][name] += row["noisy"][name]
    out = []
    for (code, name, *values), group in sorted(groups.items(), key=lambda g: tuple(map(str, g[0]))):
        keys = {"region_code": code, "region_name": name} | dict(zip(others, values, strict=True))
        counts = {"las": group["cells"], "las_withheld": group["withheld"]}
        if group["cells"] == 0:
            symbol = adp.SYMBOL_NOT_AVAILABLE
            out.append(keys | counts | {"value": symbol, "ci95": None, "reliability": None, "symbol": symbol})
            continue
        out.append(keys | counts | adp.publish_sum(table.measure, {}, group["sums"], group["cells"], plan))
    return out


#: DfE's column names where DfE publishes the measure (``pa_perc`` in its attendance files).
_CSV_MEASURE_COLUMNS = {
    "enrolments": "enrolments",
    "overall_absence_rate": "overall_absence_perc",
    "authorised_absence_rate": "authorised_absence_perc",
    "unauthorised_absence_rate": "unauthorised_absence_perc",
    "persistent_absence_rate": "pa_perc",
    "severe_absence_rate": "severe_absence_perc",
}
_SEN_LABELS = {"N": "No SEN", "K": "SEN support", "E": "EHC plan"}
_ENGLAND = ("E92000001", "England")


@cache
def _region_codes() -> dict[str, str]:
    """Region code of each LA, from DfE's published file shipped with the gateway (public data)."""
    source = resources.files("gateway.data").joinpath("dfe-pupil-attendance-ytd-2025-26.csv")
    text = source.read_text(encoding="utf-8-sig")
    return {
        r["old_la_code"]: r["region_code"]
        for r in csv.DictReader(io.StringIO(text, newline=""))
        if r["old_la_code"]
    }


def _year_group_label(value: str) -> str:
    return "Reception" if value == "R" else f"Year {value}"


def _bundle_csv(question: Question, tables: list[dict[str, Any]]) -> str:
    """One tidy file in the layout of DfE's open data (Explore Education Statistics): time and
    geography columns, filter columns (``Total`` when a table is not split by them), then each
    measure's value and interval. Rates are percentages, unrounded. Symbols (DOMAIN.md 2.4): ``c``
    withheld under the single-school convention, ``x``
    not available (no rate over a non-positive noisy denominator, or a measure not in that table),
    ``z`` not applicable; the ``_reliability`` column holds ``u`` for low reliability. A rate's noisy
    numerator and denominator follow it (``_noisy_numerator``, ``_noisy_denominator``); an LA table's
    regions (sums of its published LA cells) are rows of ``geographic_level`` ``Regional``."""
    measures = list(dict.fromkeys(t["measure"] for t in tables))
    header = [
        "time_period",
        "time_identifier",
        "period_start",
        "period_end",
        "geographic_level",
        "country_code",
        "country_name",
        "region_code",
        "region_name",
        "old_la_code",
        "new_la_code",
        "la_name",
        "education_phase",
        "year_group",
        "sen_status",
        "fsm_status",
    ]
    for m in measures:
        col = _CSV_MEASURE_COLUMNS[m]
        header += [col, f"{col}_lower95", f"{col}_upper95", f"{col}_reliability"]
        if adp.measure(m).denominator is not None:
            header += [f"{col}_noisy_numerator", f"{col}_noisy_denominator"]
    year = question.window.academic_year
    # Tables with the same grouping share rows, one column group per measure.
    merged: dict[tuple[tuple[str, ...], tuple[Any, ...]], dict[str, Any]] = {}
    las, regions = _la_names(), _region_codes()
    for table in tables:
        col = _CSV_MEASURE_COLUMNS[table["measure"]]
        spec = adp.measure(table["measure"])
        percent = table["measure"] != "enrolments"
        lines = [(r, False) for r in table["rows"]] + [(r, True) for r in table.get("regions", [])]
        for row, regional in lines:
            place = ("region", row["region_code"]) if regional else ("la", row.get("la_code"))
            key_values = (*place, *(row.get(c) for c in ("phase", "year_group", "sen_status", "fsm")))
            keys = _csv_keys(question, year, row, las, regions)
            if regional:
                keys |= {"geographic_level": "Regional", "region_code": row["region_code"],
                         "region_name": row["region_name"]}
            out = merged.setdefault((tuple(table["by"]), key_values), keys)
            if spec.denominator is not None:
                noisy = row.get("noisy") or {}
                out[f"{col}_noisy_numerator"] = noisy.get(spec.numerator, row["value"])
                out[f"{col}_noisy_denominator"] = noisy.get(spec.denominator, row["value"])
            value, ci = row["value"], row["ci95"]
            if isinstance(value, str):
                out.update(
                    {col: value, f"{col}_lower95": value, f"{col}_upper95": value, f"{col}_reliability": ""}
                )
                continue
            scale = 100 if percent else 1
            out.update(
                {
                    col: value * scale,
                    f"{col}_lower95": ci[0] * scale,
                    f"{col}_upper95": ci[1] * scale,
                    f"{col}_reliability": row["symbol"] or "",
                }
            )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval=adp.SYMBOL_NOT_AVAILABLE, lineterminator="\n")
    writer.writeheader()
    for out in merged.values():
        writer.writerow(out)
    return buffer.getvalue()


def _csv_keys(
    question: Question,
    year: int,
    row: dict[str, Any],
    las: dict[str, keysets.LocalAuthority],
    regions: dict[str, str],
) -> dict[str, Any]:
    la = las.get(row["la_code"]) if "la_code" in row else None
    return {
        "time_period": f"{year}{(year + 1) % 100:02d}",
        "time_identifier": "Academic year",
        "period_start": question.window.start.isoformat(),
        "period_end": question.window.end.isoformat(),
        "geographic_level": "Local authority" if la else "National",
        "country_code": _ENGLAND[0],
        "country_name": _ENGLAND[1],
        "region_code": regions.get(la.old_la_code, "") if la else "",
        "region_name": la.region_name if la else "",
        "old_la_code": la.old_la_code if la else "",
        "new_la_code": la.new_la_code if la else "",
        "la_name": la.la_name if la else "",
        "education_phase": row["phase"].capitalize() if "phase" in row else "Total",
        "year_group": _year_group_label(row["year_group"]) if "year_group" in row else "Total",
        "sen_status": _SEN_LABELS[row["sen_status"]] if "sen_status" in row else "Total",
        "fsm_status": ("FSM eligible" if row["fsm"] else "FSM not eligible") if "fsm" in row else "Total",
    }
