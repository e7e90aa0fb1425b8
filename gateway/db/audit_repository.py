"""All SQL of the audit log: appends, stored Merkle nodes, tree heads, DPO queries, verification reads.

Appends run inside the caller's transaction with the single `audit_state` row locked
(`claim_index`), so that indices, nodes and the size move together.
Reads of nodes need no lock: a node never changes once written, and a size read from
`audit_state` is only ever seen after the nodes it covers are committed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Row, and_, create_engine, event, exists, func, insert, or_, select, text
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

__all__ = [
    "claim_index",
    "insert_entry",
    "left_siblings",
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
    "node_rows",
    "read_audit_size",
    "read_snapshot",
    "release_events_for_pupil",
]

#: Rows per INSERT of a pupil index: far under both backends' bind-parameter limits.
_CHUNK = 5000


def _is_pg(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


# --- appends ---------------------------------------------------------------------------------------
# Appends are serialised by the `audit_state` row, so every round trip made while it is held is paid
# by every concurrent request. On PostgreSQL an append is therefore two statements and the commit:
# one claims the next index and reads the left siblings the new leaf completes, one writes the event,
# its organisations, its nodes and its pupil index rows (data-modifying CTEs). SQLite runs in
# process, where a statement costs microseconds, so it keeps one plain statement per table.

_CLAIM_PG = text(
    "WITH claimed AS (UPDATE audit_state SET tree_size = tree_size + 1 WHERE id = 1 RETURNING tree_size - 1 AS size) "
    "SELECT claimed.size, n.level, n.idx, n.hash FROM claimed LEFT JOIN LATERAL ("
    "  SELECT a.level, a.idx, a.hash FROM generate_series(0, 61) AS g(l)"
    "  JOIN audit_nodes AS a ON a.level = g.l AND a.idx = (claimed.size >> g.l) - 1"
    # level l is a left sibling of the new leaf's path exactly when the low l + 1 bits of size are 1s
    "  WHERE (claimed.size + 1) % (CAST(2 AS bigint) << g.l) = 0"
    ") AS n ON true"
)
_CLAIM_SQLITE = text("UPDATE audit_state SET tree_size = tree_size + 1 WHERE id = 1 RETURNING tree_size - 1")

_INSERT_PG = text(
    "WITH ev AS (INSERT INTO audit_events (idx, occurred_at, action, actor_org_type, actor_org_id, purpose, decision, "
    "  release_id, entry, leaf_hash) VALUES (:idx, :occurred_at, :action, :actor_org_type, :actor_org_id, :purpose, "
    "  :decision, :release_id, :entry, :leaf_hash)), "
    "org AS (INSERT INTO audit_event_orgs (idx, org_id) SELECT :idx, unnest(CAST(:org_ids AS varchar[]))), "
    "nod AS (INSERT INTO audit_nodes (level, idx, hash) "
    "  SELECT * FROM unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[]), CAST(:hashes AS bytea[]))), "
    "ref AS (INSERT INTO audit_pupil_refs (pupil_ref, idx) SELECT unnest(CAST(:refs AS varchar[])), :idx) "
    "SELECT 1"
)


def left_siblings(size: int) -> list[tuple[int, int]]:
    """The stored nodes that appending leaf ``size`` combines with: one per trailing 1-bit of size."""
    wanted, level, position = [], 0, size
    while position & 1:
        wanted.append((level, position - 1))
        level, position = level + 1, position >> 1
    return wanted


def claim_index(db: Session) -> tuple[int, dict[tuple[int, int], bytes]]:
    """Take the next index (locking the log until commit) and read the nodes its leaf completes."""
    if _is_pg(db):
        rows = db.execute(_CLAIM_PG).all()
        siblings = {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows if r.level is not None}
        return int(rows[0].size), siblings
    size = int(db.execute(_CLAIM_SQLITE).scalar_one())
    return size, get_nodes(db, left_siblings(size))


def insert_entry(
    db: Session,
    values: dict[str, Any],
    org_ids: Iterable[str],
    nodes: Sequence[tuple[int, int, bytes]],
    pupil_refs: Iterable[str],
) -> None:
    """Write an event at the index `claim_index` gave, with everything derived from it."""
    orgs, refs = sorted(set(org_ids)), sorted(set(pupil_refs))
    if _is_pg(db):
        db.execute(_INSERT_PG, {
            **values, "org_ids": orgs, "refs": refs,
            "levels": [lv for lv, _, _ in nodes], "idxs": [ix for _, ix, _ in nodes], "hashes": [h for _, _, h in nodes],
        })
        return
    insert_audit_event(db, values, orgs)
    insert_nodes(db, nodes)
    insert_pupil_refs(db, values["idx"], refs)


def insert_audit_event(db: Session, values: dict[str, Any], org_ids: Sequence[str]) -> None:
    db.execute(insert(AuditEvent.__table__).values(**values))
    if org_ids:
        db.execute(insert(AuditEventOrg.__table__), [{"idx": values["idx"], "org_id": o} for o in sorted(set(org_ids))])


# One statement text whatever the number of nodes, so that nothing is built or compiled per
# proof: the wanted (level, idx) pairs go in as arrays (PostgreSQL) or one JSON array (SQLite),
# and the join probes the primary key once per node. (A row-value IN is a full scan on SQLite, and
# an OR of pairs costs more to build in SQLAlchemy than the query costs to run.)
_NODES_PG = text(
    "SELECT n.level, n.idx, n.hash FROM unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[])) AS w(level, idx) "
    "JOIN audit_nodes AS n ON n.level = w.level AND n.idx = w.idx"
)
_NODES_SQLITE = text(
    "SELECT n.level, n.idx, n.hash FROM json_each(:pairs) AS w "
    "JOIN audit_nodes AS n ON n.level = json_extract(w.value, '$[0]') AND n.idx = json_extract(w.value, '$[1]')"
)


def get_nodes(db: Session, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of ``(level, idx)`` nodes, in one query (absent nodes are simply absent)."""
    if not wanted:
        return {}
    pairs = sorted(set(wanted))
    if _is_pg(db):
        rows = db.execute(_NODES_PG, {"levels": [lv for lv, _ in pairs], "idxs": [ix for _, ix in pairs]})
    else:
        rows = db.execute(_NODES_SQLITE, {"pairs": json.dumps(pairs)})
    return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


def insert_nodes(db: Session, nodes: Sequence[tuple[int, int, bytes]]) -> None:
    db.execute(insert(AuditNode.__table__), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes])


def insert_pupil_refs(db: Session, idx: int, pupil_refs: Iterable[str]) -> None:
    rows = [{"pupil_ref": ref, "idx": idx} for ref in sorted(set(pupil_refs))]
    if not rows:
        return
    for start in range(0, len(rows), _CHUNK):
        db.execute(insert(AuditPupilRef.__table__), rows[start : start + _CHUNK])


# --- sizes and tree heads -------------------------------------------------------------------------


_SIZE = select(AuditState.__table__.c.tree_size).where(AuditState.__table__.c.id == 1)


def read_audit_size(db: Session) -> int:
    """The committed size of the log, without taking the append lock."""
    return int(db.execute(_SIZE).scalar_one())


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
