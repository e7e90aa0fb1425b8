"""The one function through which every decision and exchange is recorded.

`record` appends to the tamper-evident log inside the caller's transaction, as its last step, so the
append lock is held only until commit. If it fails, the caller's transaction rolls back and the
response is a 503: no data leaves without its audit event (fail closed).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import psycopg
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from audit.events import AuditEvent, event_bytes
from audit.merkle import leaf_hash, new_nodes_on_append
from gateway.auth import Principal
from gateway.db.repositories import audit as audit_repo
from gateway.errors import ServiceUnavailable

log = structlog.get_logger("gateway.audit")


class AuditAppendFailed(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("the audit log could not record this exchange; nothing was released or stored")


def new_event(
    principal: Principal | None,
    action: str,
    *,
    purpose: str | None = None,
    decision: str | None = None,
    reasons: list[str] | None = None,
    subject_org_ids: list[str] | None = None,
    record_count: int | None = None,
    release_id: str | None = None,
    details: dict[str, Any] | None = None,
    pupil_refs: list[str] | None = None,
    actor: dict[str, str] | None = None,
) -> AuditEvent:
    return AuditEvent(
        action=action,
        actor=actor
        if actor is not None
        else (
            principal.actor()
            if principal
            else {"org_type": "operator", "org_id": "operator", "sub": "system"}
        ),
        occurred_at=dt.datetime.now(dt.UTC),
        purpose=purpose,
        decision=decision,
        reasons=list(reasons or []),
        subject_org_ids=list(subject_org_ids or []),
        record_count=record_count,
        release_id=release_id,
        details=dict(details or {}),
        pupil_refs=list(pupil_refs or []),
    )


def _append(db: Session, event: AuditEvent) -> int:
    entry = event_bytes(event)
    leaf = leaf_hash(entry)
    # The pupils it names go in first, as a set of their own: thousands of index rows for a large
    # release, which must not be written while every other append waits.
    pupil_set = None
    if event.pupil_refs:
        pupil_set = audit_repo.new_pupil_set_id()
        audit_repo.insert_pupil_set(db, pupil_set, event.pupil_refs)
    # From here to the commit the log is locked: only the index-dependent work happens inside.
    size, siblings = audit_repo.claim_index(db)
    # The complete subtrees this leaf finishes are stored with it, so that every proof afterwards is
    # O(log n) row reads (audit.merkle, "Why stored nodes").
    nodes = new_nodes_on_append(size, leaf, lambda level, index: siblings[(level, index)])
    audit_repo.insert_entry(
        db,
        {
            "idx": size,
            "occurred_at": event.occurred_at,
            "action": event.action,
            "actor_org_type": event.actor["org_type"],
            "actor_org_id": event.actor["org_id"],
            "purpose": event.purpose,
            "decision": event.decision,
            "release_id": event.release_id,
            "entry": entry,
            "leaf_hash": leaf,
        },
        [event.actor["org_id"], *event.subject_org_ids],
        nodes,
        pupil_set,
    )
    return size


def record(db: Session, event: AuditEvent) -> int:
    """Append `event`; returns its index in the log. Raises AuditAppendFailed (503) on any failure."""
    try:
        index = _append(db, event)
    except (SQLAlchemyError, psycopg.Error, sqlite3.Error, OSError, ValueError, LookupError) as exc:
        # ValueError: an event the core refuses (an identifier, a value RFC 8785 cannot spell);
        # LookupError: a missing left sibling, i.e. a damaged node store; the drivers' own errors
        # come from the pupil set's bulk write, which goes to the driver directly. Either way, fail
        # closed.
        log.error("audit_append_failed", action=event.action, error_type=type(exc).__name__)
        raise AuditAppendFailed() from exc
    log.info(
        "audit_recorded",
        action=event.action,
        index=index,
        decision=event.decision,
        records=event.record_count,
    )
    return index
