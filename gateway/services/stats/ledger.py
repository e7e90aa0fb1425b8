"""The yearly privacy budget: its cap and each consumer's share, what a request is planned with,
the budget a requester reads (``GET /v1/stats/budget``) and a DPO's change of a fixed cap."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from anonymisation import dp as adp
from gateway.auth import Principal
from gateway.db.base import utcnow
from gateway.db.repositories import budget as budget_repo
from gateway.db.session import transaction
from gateway.errors import Forbidden, NotFound, ServiceUnavailable
from gateway.services import access, audit
from gateway.services.access import Target
from gateway.services.stats.questions import DFE_SHARE, PURPOSE, invalid, today
from gateway.services.stats.results import Amount, Budget, BudgetSummary, CapApproval
from gateway.settings import Settings
from policies.access import BUDGET_VIEW
from policies.loader import load_catalogue
from policies.model import PrivacyBudget
from schemas.calendar import academic_year_label, academic_year_of

log = structlog.get_logger("gateway.stats")

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
    statistician asks, so that they share one budget."""
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
PLANNING = threading.Lock()


def _cap_units(epsilon: float, delta: float) -> int:
    with PLANNING:
        rho = adp.epsilon_delta_to_rho(epsilon, delta)
    return adp.rho_to_units_down(rho)


def rules(settings: Settings, consumer: str = DFE_SHARE, ledger_cap: int | None = None) -> BudgetRules:
    """The numbers a request is planned with: the year's cap (``ledger_cap`` once the year is fixed,
    else the setting, never above the catalogue's ceiling), the consumer's share and its slot."""
    policy = budget_policy(settings)
    share = policy.share(consumer)
    if share is None:
        raise invalid("consumer", f"not a consumer of the budget; expected one of "
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
    differs from a fixed cap changes nothing (raising it mid-year would have raised the
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


def _amount(units: int, delta: float) -> Amount:
    rho = adp.units_to_rho(units)
    return Amount(units=units, rho=rho, epsilon=adp.zcdp_to_epsilon(rho, delta))


def budget_summary(
    year: int,
    r: BudgetRules,
    share_spent: int,
    spent_by: Mapping[str, int],
    policy: PrivacyBudget,
    ledger_extra: Mapping[str, Any] | None = None,
) -> BudgetSummary:
    """The consumer's share (cap, spent, remaining), and the year's one ledger behind every share;
    each amount in units, rho and its (epsilon, delta) equivalent taken alone."""
    share_cap = r.share_units
    year_spent = sum(spent_by.values())
    return BudgetSummary(
        academic_year=year,
        academic_year_label=academic_year_label(year),
        consumer=r.consumer,
        privacy_measure="zero-concentrated DP (rho), with its (epsilon, delta) equivalent",
        delta=r.delta,
        cap=_amount(share_cap, r.delta),
        spent=_amount(share_spent, r.delta),
        remaining=_amount(max(share_cap - share_spent, 0), r.delta),
        ledger={
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
            **(ledger_extra or {}),
        },
    )


def _allotment(r: BudgetRules) -> dict[str, Any]:
    return {
        "releases_per_year": r.releases_per_year,
        "statistics_per_release": r.statistics_per_release,
        "units_per_statistic": r.slot_units,
        "rho_per_statistic": adp.units_to_rho(r.slot_units),
        "rule": "a slot per noisy vector: 1 for enrolments, 2 for a rate; a bundle pays its tables' sum; "
        "a denominator already published for the window and grouping is reused and not paid again",
    }


def budget(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    year: int | None,
    consumer: str | None = None,
) -> Budget:
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
    summary = budget_summary(year_, r, spent_by.get(wanted, 0), spent_by, policy,
                             {"fixed_by": fixed.fixed_by if fixed is not None else None})
    return Budget(
        summary=summary,
        share_fraction=float(r.share),
        share_reason=r.share_reason,
        mechanism=adp.MECHANISM_LABELS[r.mechanism],
        configured={
            "epsilon_per_year": r.epsilon,
            "delta": r.delta,
            "cap_units": r.configured_units,
            "in_force": r.configured_units == r.cap_units,
            "rule": "the setting fixes a year's cap when the year is first spent from; after that only a "
            "DPO's audited approval changes it, never above the catalogue's ceiling",
        },
        allotment=_allotment(r),
        lifetime="the cap resets each academic year because the privacy unit is a pupil's year; a pupil's "
        "lifetime privacy loss is the sum over the years they are in school",
        releases=releases,
    )


def approve_cap(
    sessions: sessionmaker[Session], settings: Settings, year: int, epsilon: float, dpo: str, reason: str
) -> CapApproval:
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
    return CapApproval(
        academic_year=year,
        academic_year_label=academic_year_label(year),
        old_cap_units=details["old_cap_units"],
        cap=_amount(new_units, settings.stats_delta),
        approved_by=dpo,
        audit_index=index,
    )
