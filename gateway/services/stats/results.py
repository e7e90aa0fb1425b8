"""What the statistics use cases return: frozen dataclasses, written out as JSON by the API.

A release's published document (its tables, rows and noise) is stored as JSON and served again as it
was released, so it stays a mapping here: its keys vary with its kind (one table or a bundle) and with
the dimensions of each table. ``as_dict`` gives each result's document in the order it is published."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Amount:
    """An amount of privacy budget: integer units, the rho they stand for, and rho's (epsilon, delta)
    equivalent taken alone."""

    units: int
    rho: float
    epsilon: float


@dataclass(frozen=True, slots=True)
class BudgetSummary:
    """A consumer's share of a year's budget, and the year's one ledger behind every share."""

    academic_year: int
    academic_year_label: str
    consumer: str
    privacy_measure: str
    delta: float
    cap: Amount
    spent: Amount
    remaining: Amount
    #: scope, cap, ceiling, spent, remaining and every share (and, in the budget view, who fixed the cap).
    ledger: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Answer:
    """A noisy answer (one table or a bundle's tables) and what belongs to this request: whether it was
    answered before, what it spent, the budget left."""

    #: The release as published and stored: release_id, kind, window, mechanism, the table(s).
    release: dict[str, Any]
    cached: bool
    audit_index: int
    rho_spent: float
    epsilon_spent: float
    delta: float
    budget: BudgetSummary

    @property
    def budget_remaining(self) -> Amount:
        return self.budget.remaining

    def as_dict(self) -> dict[str, Any]:
        return self.release | {
            "cached": self.cached,
            "audit_index": self.audit_index,
            "rho_spent": self.rho_spent,
            "epsilon_spent": self.epsilon_spent,
            "delta": self.delta,
            "budget_remaining": dataclasses.asdict(self.budget_remaining),
            "budget": self.budget.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Budget:
    """The privacy budget of an academic year as one consumer sees it, with every release of its share."""

    summary: BudgetSummary
    share_fraction: float
    share_reason: str
    mechanism: str
    #: The setting's epsilon, delta and cap, whether it is in force, and the rule.
    configured: dict[str, Any]
    #: The slots of a year: releases, statistics per release, units per statistic, the rule.
    allotment: dict[str, Any]
    lifetime: str
    #: One per spend of the share: its question and noise as stored, so their keys vary.
    releases: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return self.summary.as_dict() | {
            "share": {"fraction": self.share_fraction, "reason": self.share_reason},
            "mechanism": self.mechanism,
            "configured": self.configured,
            "allotment": self.allotment,
            "lifetime": self.lifetime,
            "releases": self.releases,
        }


@dataclass(frozen=True, slots=True)
class CapApproval:
    """A DPO's approved change of a year's cap."""

    academic_year: int
    academic_year_label: str
    old_cap_units: int
    cap: Amount
    approved_by: str
    audit_index: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Trend:
    """The trend of an academic year: its fortnightly releases, the fortnights due but not released,
    and one point per school week, place and rate."""

    academic_year: int
    academic_year_label: str
    measures: tuple[str, ...]
    #: One per fortnight released: its window, release id, units and rho, and vectors drawn.
    fortnights: list[dict[str, Any]]
    #: Fortnights over but not released yet (the next release would spend on them).
    due: list[dict[str, Any]]
    #: week, geography, code, name, measure, value, ci95, symbol, fortnight, release_id, units, rho.
    points: list[dict[str, Any]]
    #: What this request spent (0 for every view).
    spent_units: int
    spent_rho: float
    audit_index: int

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["measures"] = list(self.measures)
        return out
