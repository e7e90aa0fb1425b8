"""Spending from the ledger: a question's cost is checked against its share and the year's cap, and
reserved (audited, committed) under the lock of the year's ledger row before any noise is drawn."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from fractions import Fraction
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from anonymisation import dp as adp
from gateway.auth import Principal
from gateway.db.base import utcnow
from gateway.db.repositories import budget as budget_repo
from gateway.db.session import transaction
from gateway.errors import Conflict, Forbidden
from gateway.services import audit
from gateway.services.stats.ledger import BudgetRules, share_units
from gateway.services.stats.questions import BUNDLE_TAKEN, PURPOSE, Question, record_denial, serve_stored
from schemas.calendar import academic_year_label

log = structlog.get_logger("gateway.stats")

#: A reservation not released within this long is taken as abandoned (the process died between
#: reserving and storing): it stays spent, and the same question may then be paid and answered anew.
ABANDONED_RESERVATION = dt.timedelta(minutes=5)
#: How long a request waits for an identical question already being answered, before a 409.
WAIT_FOR_SAME_QUESTION_SECONDS = 30.0


def _deny_budget(
    db: Session, principal: Principal, question: Question, spent: int, cap: int, cost: int
) -> Forbidden:
    reasons = [
        f"budget_exhausted: this question needs {cost} units of rho but {max(cap - spent, 0)} of the "
        f"{cap} in the {academic_year_label(question.window.academic_year)} budget remain; "
        "nothing was released"
    ]
    record_denial(db, principal, reasons, question.canonical() | {"question_hash": question.hash})
    return Forbidden(reasons)


def over_budget(
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


def reserve(
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
            served = serve_stored(db, principal, qhash)
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
                    raise Conflict(BUNDLE_TAKEN)
                spent = budget_repo.spent_units(db, year, consumer)
                denial = over_budget(db, principal, question, row.cap_units, r.share, cost)
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
