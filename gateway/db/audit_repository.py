"""All SQL of the audit log: appends, stored Merkle nodes, tree heads, DPO queries, verification reads.

Appends run inside the caller's transaction with the single `audit_state` row locked
(`gateway.db.repositories.lock_audit_state`), so that indices, nodes and the size move together.
Reads of nodes need no lock: a node never changes once written, and a size read from
`audit_state` is only ever seen after the nodes it covers are committed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Row, and_, create_engine, event, exists, func, insert, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.db.session import normalise_url

from gateway.db.models import (
    AuditEvent,
    AuditEventOrg,
    AuditNode,
    AuditPupilRef,
    AuditState,
    AuditTreeHead,
    Enrolment,
)
from gateway.db.repositories import lock_audit_state, set_audit_size

__all__ = [
    "event_org_rows",
    "event_pupil_ref_rows",
    "event_rows",
    "events_beyond",
    "events_page",
    "get_head",
    "get_nodes",
    "heads",
    "insert_audit_event",
    "insert_head",
    "insert_nodes",
    "insert_pupil_refs",
    "is_enrolled_at",
    "latest_head",
    "lock_audit_state",
    "node_rows",
    "read_audit_size",
    "read_snapshot",
    "release_events_for_pupil",
    "set_audit_size",
]

#: Rows per INSERT of a pupil index: far under both backends' bind-parameter limits.
_CHUNK = 5000


def _is_pg(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


# --- appends (caller holds the audit_state lock) -------------------------------------------------
# Core table inserts rather than ORM ones: an append is on every request's path, and the ORM's
# bulk-insert machinery costs more than the statements themselves.


def insert_audit_event(db: Session, values: dict[str, Any], org_ids: Sequence[str]) -> None:
    db.execute(insert(AuditEvent.__table__).values(**values))
    if org_ids:
        db.execute(insert(AuditEventOrg.__table__), [{"idx": values["idx"], "org_id": o} for o in sorted(set(org_ids))])


def get_nodes(db: Session, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of ``(level, idx)`` nodes, in one query (absent nodes are simply absent)."""
    if not wanted:
        return {}
    stmt = select(AuditNode.level, AuditNode.idx, AuditNode.hash).where(
        tuple_(AuditNode.level, AuditNode.idx).in_(list(wanted))
    )
    return {(int(r.level), int(r.idx)): bytes(r.hash) for r in db.execute(stmt)}


def insert_nodes(db: Session, nodes: Sequence[tuple[int, int, bytes]]) -> None:
    db.execute(insert(AuditNode.__table__), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes])


def insert_pupil_refs(db: Session, idx: int, pupil_refs: Iterable[str]) -> None:
    rows = [{"pupil_ref": ref, "idx": idx} for ref in sorted(set(pupil_refs))]
    for start in range(0, len(rows), _CHUNK):
        db.execute(insert(AuditPupilRef.__table__), rows[start : start + _CHUNK])


# --- sizes and tree heads -------------------------------------------------------------------------


def read_audit_size(db: Session) -> int:
    """The committed size of the log, without taking the append lock."""
    return int(db.execute(select(AuditState.tree_size).where(AuditState.id == 1)).scalar_one())


def latest_head(db: Session) -> AuditTreeHead | None:
    stmt = select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc(), AuditTreeHead.signed_at.desc()).limit(1)
    return db.execute(stmt).scalar_one_or_none()


def get_head(db: Session, tree_size: int, key_id: str) -> AuditTreeHead | None:
    return db.get(AuditTreeHead, (tree_size, key_id))


def insert_head(db: Session, values: dict[str, Any]) -> bool:
    """Store a head; False when another process stored one of that size with that key first."""
    stmt_factory = postgresql.insert if _is_pg(db) else sqlite.insert
    stmt = stmt_factory(AuditTreeHead).values(**values).on_conflict_do_nothing()
    return bool(db.execute(stmt).rowcount)


def heads(db: Session, max_size: int | None = None) -> list[AuditTreeHead]:
    stmt = select(AuditTreeHead).order_by(AuditTreeHead.tree_size, AuditTreeHead.signed_at, AuditTreeHead.key_id)
    if max_size is not None:
        stmt = stmt.where(AuditTreeHead.tree_size <= max_size)
    return list(db.execute(stmt).scalars())


# --- DPO queries ----------------------------------------------------------------------------------


def _visible_to(org_id: str | None) -> Any:
    """Events about ``org_id`` (acting or concerned); None means every event (the operator's DPO)."""
    if org_id is None:
        return None
    return exists().where(AuditEventOrg.idx == AuditEvent.idx, AuditEventOrg.org_id == org_id)


def events_page(
    db: Session,
    *,
    visible_org: str | None,
    after: int | None,
    limit: int,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    org_id: str | None = None,
    purpose: str | None = None,
    decision: str | None = None,
    action: str | None = None,
    max_index: int | None = None,
) -> list[Row[Any]]:
    """Up to ``limit`` events in log order after index ``after``, filtered, as (idx, entry, leaf_hash)."""
    stmt = select(AuditEvent.idx, AuditEvent.entry, AuditEvent.leaf_hash).order_by(AuditEvent.idx).limit(limit)
    conditions = [
        _visible_to(visible_org),
        _visible_to(org_id),
        AuditEvent.idx > after if after is not None else None,
        AuditEvent.idx < max_index if max_index is not None else None,
        AuditEvent.occurred_at >= start if start is not None else None,
        AuditEvent.occurred_at <= end if end is not None else None,
        AuditEvent.purpose == purpose if purpose is not None else None,
        AuditEvent.decision == decision if decision is not None else None,
        AuditEvent.action == action if action is not None else None,
    ]
    for condition in conditions:
        if condition is not None:
            stmt = stmt.where(condition)
    return list(db.execute(stmt).all())


def release_events_for_pupil(db: Session, pupil_ref: str, *, visible_org: str | None, max_index: int) -> list[Row[Any]]:
    """Allowed release decisions whose event names the pupil, in log order, as (idx, entry)."""
    stmt = (
        select(AuditEvent.idx, AuditEvent.entry)
        .join(AuditPupilRef, AuditPupilRef.idx == AuditEvent.idx)
        .where(
            AuditPupilRef.pupil_ref == pupil_ref,
            AuditEvent.action == "release.decided",
            AuditEvent.decision == "allow",
            AuditEvent.idx < max_index,
        )
        .order_by(AuditEvent.idx)
    )
    visible = _visible_to(visible_org)
    if visible is not None:
        stmt = stmt.where(visible)
    return list(db.execute(stmt).all())


def is_enrolled_at(db: Session, pupil_id: str, urn: int) -> bool:
    """Whether the pupil has (or had) an enrolment at the school, in any academic year."""
    stmt = select(exists().where(Enrolment.pupil_id == pupil_id, Enrolment.urn == urn))
    return bool(db.execute(stmt).scalar_one())


# --- verification reads ---------------------------------------------------------------------------


def event_rows(db: Session, start: int, end: int) -> list[Row[Any]]:
    """Every stored column of the events with ``start <= idx < end``, in index order."""
    table = AuditEvent.__table__
    stmt = select(*table.c).where(table.c.idx >= start, table.c.idx < end).order_by(table.c.idx)
    return list(db.execute(stmt).all())


def events_beyond(db: Session, size: int) -> int | None:
    """The lowest stored event index at or past ``size``, if any (an event the state does not count)."""
    return db.execute(select(func.min(AuditEvent.idx)).where(AuditEvent.idx >= size)).scalar_one_or_none()


def event_org_rows(db: Session, start: int, end: int) -> list[Row[Any]]:
    stmt = select(AuditEventOrg.idx, AuditEventOrg.org_id).where(AuditEventOrg.idx >= start, AuditEventOrg.idx < end)
    return list(db.execute(stmt).all())


def event_pupil_ref_rows(db: Session, start: int, end: int) -> list[Row[Any]]:
    stmt = select(AuditPupilRef.idx, AuditPupilRef.pupil_ref).where(AuditPupilRef.idx >= start, AuditPupilRef.idx < end)
    return list(db.execute(stmt).all())


def node_rows(db: Session, ranges: Sequence[tuple[int, int, int]]) -> list[Row[Any]]:
    """Stored nodes in ``(level, first_idx, last_idx)`` ranges (inclusive), in one query."""
    if not ranges:
        return []
    condition = or_(*(and_(AuditNode.level == lv, AuditNode.idx >= lo, AuditNode.idx <= hi) for lv, lo, hi in ranges))
    return list(db.execute(select(AuditNode.level, AuditNode.idx, AuditNode.hash).where(condition)).all())


@contextmanager
def read_snapshot(database_url: str) -> Iterator[Session]:
    """A read-only session over one consistent snapshot that does not hold up appends.

    PostgreSQL: a REPEATABLE READ transaction. SQLite: a deferred transaction, which in WAL mode
    reads one snapshot while writers carry on (the gateway's own engine begins every transaction
    IMMEDIATE, which would stop every append for the length of a verify).
    """
    url = normalise_url(database_url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN DEFERRED")
    else:
        engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with Session(engine) as db:
            try:
                yield db
            finally:
                db.rollback()
    finally:
        engine.dispose()
