"""The one place a use case asks whether it may go on: the access policy, and the audit of a refusal.

`authorise` asks `policies.access` and, on a denial, appends the refusal to the audit log in a
transaction of its own, commits it, and only then raises the 403: the refusal is on record even
though the use case does nothing else (docs/design.md, "a denial is audited as well"). An allowed
decision costs nothing here; the use case records it with what it returns (counts, never who).

A use case that learns a fact inside its own transaction (a school's status, a pupil's roll) leaves
that transaction first and asks again with the fact, so that the refusal is never written by a
second connection while the first still holds its locks (SQLite has one writer).
"""

from __future__ import annotations

from typing import Any, NoReturn

import anyio.to_thread
import structlog
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth import Principal
from gateway.db.session import transaction
from gateway.errors import Forbidden
from gateway.services import audit
from policies import access
from policies.access import AccessDecision, Target
from policies.model import Requester

log = structlog.get_logger("gateway.access")

#: A request about nothing in particular (the audit trail, the list of releases).
NOTHING = Target()

__all__ = ["Target", "authorise", "authorise_async", "decide", "refuse"]


def requester_of(principal: Principal) -> Requester:
    return Requester(org_type=principal.org_type, org_id=principal.org_id, roles=tuple(principal.roles))


def decide(principal: Principal, action: str, target: Target = NOTHING) -> AccessDecision:
    """The decision alone, without recording anything: for a use case that records it itself."""
    return access.decide(action, requester_of(principal), target)


def authorise(
    sessions: sessionmaker[Session],
    principal: Principal,
    action: str,
    target: Target = NOTHING,
    **event: Any,
) -> AccessDecision:
    """The allowed decision, or a recorded refusal raised as Forbidden (403 with its reasons).

    ``event`` adds to the refusal's audit event: ``purpose``, ``release_id``, ``pupil_refs`` (audit
    pseudonyms only) or ``details`` (no personal data: the core refuses an event with a UPN in it).
    """
    decision = decide(principal, action, target)
    if not decision.allow:
        refuse(sessions, principal, decision, target, **event)
    return decision


async def authorise_async(
    sessions: sessionmaker[Session],
    principal: Principal,
    action: str,
    target: Target = NOTHING,
    **event: Any,
) -> AccessDecision:
    """`authorise` for a route on the event loop that refuses before it reads a body or calls a use
    case: the decision is pure and made here; only a refusal's append goes to a worker thread."""
    decision = decide(principal, action, target)
    if not decision.allow:
        await anyio.to_thread.run_sync(lambda: refuse(sessions, principal, decision, target, **event))
    return decision


def refuse(
    sessions: sessionmaker[Session],
    principal: Principal,
    decision: AccessDecision,
    target: Target = NOTHING,
    *,
    purpose: str | None = None,
    release_id: str | None = None,
    pupil_refs: list[str] | None = None,
    details: dict[str, Any] | None = None,
) -> NoReturn:
    """Record `decision` (a denial) and commit it, then raise Forbidden with its reasons."""
    rule = access.RULES.get(decision.action)
    with transaction(sessions) as db:
        audit.record(db, audit.new_event(
            principal,
            rule.audited_as if rule is not None else "access.denied",
            purpose=purpose,
            decision="deny",
            reasons=list(decision.reasons),
            subject_org_ids=_subjects(principal, target),
            record_count=0,
            release_id=release_id,
            pupil_refs=pupil_refs,
            details={"action": decision.action, **_target_details(target), **(details or {})},
        ))
    log.info("access_denied", action=decision.action, reasons=[r.split(":")[0] for r in decision.reasons])
    raise Forbidden(list(decision.reasons))


def _subjects(principal: Principal, target: Target) -> list[str]:
    """The organisations whose records were asked for, so that their DPOs see the attempt."""
    subjects = []
    if target.urn is not None:
        subjects.append(str(target.urn))
    if target.recipient is not None:
        subjects.append(target.recipient[1])
    if target.consumer is not None:
        subjects.append(target.consumer.partition(":")[2] or target.consumer)
    return [s for s in dict.fromkeys(subjects) if s != principal.org_id]


def _target_details(target: Target) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if target.urn is not None:
        out["urn"] = target.urn
    if target.recipient is not None:
        out["recipient"] = {"org_type": target.recipient[0], "org_id": target.recipient[1]}
    if target.consumer is not None:
        out["consumer"] = target.consumer
    return out
