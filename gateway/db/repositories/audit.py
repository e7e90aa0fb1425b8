"""All SQL of the audit log: appends, stored Merkle nodes, tree heads, DPO queries, verification reads.

Appends run inside the caller's transaction with the single `audit_state` row locked
(`claim_index`), so that indices, nodes and the size move together.
Reads of nodes need no lock: a node never changes once written, and a size read from
`audit_state` is only ever seen after the nodes it covers are committed.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, exists, func, insert, or_, select, text
from sqlalchemy.orm import Session

from gateway.db import bulk
from gateway.db.models import (
    AuditEvent,
    AuditEventOrg,
    AuditEventPupilSet,
    AuditNode,
    AuditPupilSet,
    AuditState,
    AuditTreeHead,
)
from gateway.db.session import is_postgres

#: A signed tree head as this repository returns it (services name it by this, not by the ORM model).
StoredHead = AuditTreeHead

#: Set ids drawn for new pupil sets are at least this: events appended before pupil sets existed
#: kept their index as their set id (migrations/versions/0008).
_FIRST_DRAWN_SET_ID = 2**62


# --- appends ---------------------------------------------------------------------------------------
# Appends are serialised by the `audit_state` row, so every round trip made while it is held is paid
# by every concurrent request. On PostgreSQL an append is therefore at most three statements and the
# commit: one claims the next index, one reads the left siblings the new leaf completes (for an odd
# index only), one writes the event, its organisations, its nodes and its pupil index rows
# (data-modifying CTEs). SQLite runs in process, where a statement costs microseconds, so it keeps
# one plain statement per table.

_CLAIM = text("UPDATE audit_state SET tree_size = tree_size + 1 WHERE id = 1 RETURNING tree_size - 1")

_INSERT_PG = text(
    "WITH ev AS (INSERT INTO audit_events (idx, occurred_at, action, actor_org_type, actor_org_id, purpose,"
    "  decision, release_id, entry, leaf_hash) VALUES (:idx, :occurred_at, :action, :actor_org_type,"
    "  :actor_org_id, :purpose, :decision, :release_id, :entry, :leaf_hash)), "
    "org AS (INSERT INTO audit_event_orgs (idx, org_id) SELECT :idx, unnest(CAST(:org_ids AS varchar[]))), "
    "nod AS (INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM"
    "  unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[]), CAST(:hashes AS bytea[]))), "
    "pset AS (INSERT INTO audit_event_pupil_sets (idx, set_id) SELECT :idx, CAST(:set_id AS bigint)"
    "  WHERE CAST(:set_id AS bigint) IS NOT NULL) "
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
    """Take the next index (locking the log until commit) and read the nodes its leaf completes.

    Two statements, not one: under READ COMMITTED a statement that waited for the row lock still
    reads with the snapshot it started with, so a sibling committed by the append it waited for
    would be invisible to it. The read after the lock is a new statement, with a new snapshot.
    """
    size = int(db.execute(_CLAIM).scalar_one())
    return size, get_nodes(db, left_siblings(size))


def new_pupil_set_id() -> int:
    """A set id for a new pupil set: random, so that it can be drawn without the append lock."""
    return _FIRST_DRAWN_SET_ID + secrets.randbits(62)


def pack_refs(pupil_refs: Iterable[str]) -> tuple[int, str]:
    """A pupil set as stored: its size, and its sorted pseudonyms each between two line feeds."""
    refs = sorted(set(pupil_refs))
    if any(not ref or "\n" in ref for ref in refs):
        raise ValueError("an audit pseudonym is empty or holds a line feed")
    return len(refs), "\n" + "".join(f"{ref}\n" for ref in refs)


def unpack_refs(stored: str) -> list[str]:
    return [ref for ref in stored.split("\n") if ref]


def insert_pupil_set(db: Session, set_id: int, pupil_refs: Iterable[str]) -> None:
    """An event's pupil set, one row, written before the append lock is taken (`claim_index`) so
    that its size never holds up other appends."""
    pupils, refs = pack_refs(pupil_refs)
    db.connection().execute(_INSERT_SET, {"set_id": set_id, "pupils": pupils, "refs": refs})


_INSERT_SET = insert(AuditPupilSet.__table__)


def insert_entry(
    db: Session,
    values: dict[str, Any],
    org_ids: Iterable[str],
    nodes: Sequence[tuple[int, int, bytes]],
    pupil_set: int | None,
) -> None:
    """Write an event at the index `claim_index` gave, with everything derived from it; `pupil_set`
    is the id of the event's pupil set (`insert_pupil_set`), if it names pupils."""
    orgs = sorted(set(org_ids))
    if is_postgres(db):
        db.execute(
            _INSERT_PG,
            {
                **values,
                "org_ids": orgs,
                "set_id": pupil_set,
                "levels": [lv for lv, _, _ in nodes],
                "idxs": [ix for _, ix, _ in nodes],
                "hashes": [h for _, _, h in nodes],
            },
        )
        return
    insert_audit_event(db, values, orgs)
    insert_nodes(db, nodes)
    if pupil_set is not None:
        db.execute(insert(AuditEventPupilSet.__table__).values(idx=values["idx"], set_id=pupil_set))


def insert_audit_event(db: Session, values: dict[str, Any], org_ids: Sequence[str]) -> None:
    db.execute(insert(AuditEvent.__table__).values(**values))
    if org_ids:
        db.execute(
            insert(AuditEventOrg.__table__),
            [{"idx": values["idx"], "org_id": o} for o in sorted(set(org_ids))],
        )


# One statement text whatever the number of nodes, so that nothing is built or compiled per
# proof: the wanted (level, idx) pairs go in as arrays (PostgreSQL) or one JSON array (SQLite),
# and the join probes the primary key once per node. (A row-value IN is a full scan on SQLite, and
# an OR of pairs costs more to build in SQLAlchemy than the query costs to run.)
_NODES_PG = text(
    "SELECT n.level, n.idx, n.hash"
    " FROM unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[])) AS w(level, idx)"
    " JOIN audit_nodes AS n ON n.level = w.level AND n.idx = w.idx"
)
_NODES_SQLITE = text(
    "SELECT n.level, n.idx, n.hash FROM json_each(:pairs) AS w"
    " JOIN audit_nodes AS n"
    " ON n.level = json_extract(w.value, '$[0]') AND n.idx = json_extract(w.value, '$[1]')"
)
# The same, with the log's committed size as a first row (level -1), so that a proof is one query.
_SIZE_ROW = "SELECT -1 AS level, tree_size AS idx, NULL AS hash FROM audit_state WHERE id = 1 UNION ALL "
_SIZED_NODES_PG = text(_SIZE_ROW + _NODES_PG.text)
_SIZED_NODES_SQLITE = text(_SIZE_ROW + _NODES_SQLITE.text)


def _node_params(db: Session, pairs: list[tuple[int, int]]) -> dict[str, Any]:
    if is_postgres(db):
        return {"levels": [lv for lv, _ in pairs], "idxs": [ix for _, ix in pairs]}
    return {"pairs": json.dumps(pairs)}


def get_nodes(db: Session, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored hashes of ``(level, idx)`` nodes, in one query (absent nodes are simply absent)."""
    if not wanted:
        return {}
    pairs = sorted(set(wanted))
    rows = db.execute(_NODES_PG if is_postgres(db) else _NODES_SQLITE, _node_params(db, pairs))
    return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


def size_and_nodes(
    db: Session, wanted: Sequence[tuple[int, int]]
) -> tuple[int, dict[tuple[int, int], bytes]]:
    """The log's committed size and the stored hashes of ``wanted``, in one round trip."""
    pairs = sorted(set(wanted))
    stmt = _SIZED_NODES_PG if is_postgres(db) else _SIZED_NODES_SQLITE
    rows = db.execute(stmt, _node_params(db, pairs)).all()
    size = next(int(r.idx) for r in rows if r.level == -1)
    return size, {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows if r.level != -1}


def insert_nodes(db: Session, nodes: Sequence[tuple[int, int, bytes]]) -> None:
    db.execute(insert(AuditNode.__table__), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in nodes])


# --- sizes and tree heads -------------------------------------------------------------------------


_SIZE = select(AuditState.__table__.c.tree_size).where(AuditState.__table__.c.id == 1)


def read_audit_size(db: Session) -> int:
    """The committed size of the log, without taking the append lock."""
    return int(db.execute(_SIZE).scalar_one())


def latest_head(db: Session) -> AuditTreeHead | None:
    stmt = (
        select(AuditTreeHead)
        .order_by(AuditTreeHead.tree_size.desc(), AuditTreeHead.signed_at.desc())
        .limit(1)
    )
    return db.execute(stmt).scalar_one_or_none()


def get_head(db: Session, tree_size: int, key_id: str) -> AuditTreeHead | None:
    return db.get(AuditTreeHead, (tree_size, key_id))


def insert_head(db: Session, values: dict[str, Any]) -> bool:
    """Store a head; False when another process stored one of that size with that key first."""
    stmt = bulk.insert_on_conflict(db, AuditTreeHead).values(**values).on_conflict_do_nothing()
    return bool(db.execute(stmt).rowcount)


def heads(db: Session, max_size: int | None = None) -> list[AuditTreeHead]:
    stmt = select(AuditTreeHead).order_by(
        AuditTreeHead.tree_size, AuditTreeHead.signed_at, AuditTreeHead.key_id
    )
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
    descending: bool = False,
) -> list[Row[Any]]:
    """Up to ``limit`` events in log order after index ``after``, filtered, as (idx, entry, leaf_hash);
    ``descending``: newest first, before index ``after``."""
    order = AuditEvent.idx.desc() if descending else AuditEvent.idx
    stmt = select(AuditEvent.idx, AuditEvent.entry, AuditEvent.leaf_hash).order_by(order).limit(limit)
    position = None
    if after is not None:
        position = AuditEvent.idx < after if descending else AuditEvent.idx > after
    conditions = [
        position,
        *_event_filters(visible_org, org_id, start, end, purpose, decision, action, max_index),
    ]
    for condition in conditions:
        if condition is not None:
            stmt = stmt.where(condition)
    return list(db.execute(stmt).all())


def _event_filters(
    visible_org: str | None, org_id: str | None, start: dt.datetime | None, end: dt.datetime | None,
    purpose: str | None, decision: str | None, action: str | None, max_index: int | None,
) -> list[Any]:
    return [
        _visible_to(visible_org),
        _visible_to(org_id),
        AuditEvent.idx < max_index if max_index is not None else None,
        AuditEvent.occurred_at >= start if start is not None else None,
        AuditEvent.occurred_at <= end if end is not None else None,
        AuditEvent.purpose == purpose if purpose is not None else None,
        AuditEvent.decision == decision if decision is not None else None,
        AuditEvent.action == action if action is not None else None,
    ]


def count_events(
    db: Session,
    *,
    visible_org: str | None,
    max_index: int,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    org_id: str | None = None,
    purpose: str | None = None,
    decision: str | None = None,
    action: str | None = None,
) -> int:
    """How many events ``events_page`` would page through with these filters."""
    stmt = select(func.count()).select_from(AuditEvent)
    for condition in _event_filters(visible_org, org_id, start, end, purpose, decision, action, max_index):
        if condition is not None:
            stmt = stmt.where(condition)
    return int(db.execute(stmt).scalar_one())


def release_events_for_pupil(
    db: Session, pupil_refs: Sequence[str], *, visible_org: str | None, max_index: int
) -> list[Row[Any]]:
    """Allowed release decisions whose event names the pupil under any of `pupil_refs` (its audit
    pseudonyms: one per live academic year), each once, in log order, as (idx, entry)."""
    if not pupil_refs:
        return []
    # A substring search over every set (no index on the pseudonyms: none is needed for a request a
    # DPO makes now and then, and every release would pay for one); the line feeds around the needle
    # make it match whole pseudonyms only.
    find = func.strpos if is_postgres(db) else func.instr
    naming = (
        select(AuditEventPupilSet.idx)
        .join(AuditPupilSet, AuditPupilSet.set_id == AuditEventPupilSet.set_id)
        .where(or_(*(find(AuditPupilSet.refs, f"\n{ref}\n") > 0 for ref in sorted(set(pupil_refs)))))
    )
    stmt = (
        select(AuditEvent.idx, AuditEvent.entry)
        .where(
            AuditEvent.idx.in_(naming),
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


# --- verification reads ---------------------------------------------------------------------------
# Plain tuples through the connection, not ORM rows: `audit verify` reads every row of the log, and
# ORM loading cost more than the rest of the check together.

_EVENT_ROWS = text(
    "SELECT idx, entry, leaf_hash, action, actor_org_type, actor_org_id, purpose, decision, release_id,"
    " occurred_at FROM audit_events WHERE idx >= :start AND idx < :end ORDER BY idx"
)
_ORG_ROWS = text("SELECT idx, org_id FROM audit_event_orgs WHERE idx >= :start AND idx < :end")
_PUPIL_ROWS = text(
    "SELECT e.idx, s.refs FROM audit_event_pupil_sets AS e"
    " JOIN audit_pupil_sets AS s ON s.set_id = e.set_id"
    " WHERE e.idx >= :start AND e.idx < :end"
)


def event_rows(db: Session, start: int, end: int) -> list[Row[Any]]:
    """(idx, entry, leaf_hash, action, actor_org_type, actor_org_id, purpose, decision, release_id,
    occurred_at) of the events with ``start <= idx < end``, in index order; occurred_at as the
    driver returns it (text on SQLite)."""
    return list(db.connection().execute(_EVENT_ROWS, {"start": start, "end": end}).all())


def events_beyond(db: Session, size: int) -> int | None:
    """The lowest stored event index at or past ``size``, if any (an event the state does not count)."""
    return db.execute(select(func.min(AuditEvent.idx)).where(AuditEvent.idx >= size)).scalar_one_or_none()


def event_org_rows(db: Session, start: int, end: int) -> list[Row[Any]]:
    return list(db.connection().execute(_ORG_ROWS, {"start": start, "end": end}).all())


def event_pupil_ref_rows(db: Session, start: int, end: int) -> list[tuple[int, str]]:
    """(idx, pseudonym) for every pupil that an event with ``start <= idx < end`` names."""
    rows = db.connection().execute(_PUPIL_ROWS, {"start": start, "end": end})
    return [(int(idx), ref) for idx, refs in rows for ref in unpack_refs(refs)]


def node_rows(db: Session, ranges: Sequence[tuple[int, int, int]]) -> list[Row[Any]]:
    """Stored (level, idx, hash) in ``(level, first_idx, last_idx)`` ranges (inclusive), in one query."""
    if not ranges:
        return []
    params: dict[str, int] = {}
    terms = []
    for k, (level, low, high) in enumerate(ranges):
        terms.append(f"(level = :l{k} AND idx BETWEEN :a{k} AND :b{k})")
        params.update({f"l{k}": level, f"a{k}": low, f"b{k}": high})
    stmt = text("SELECT level, idx, hash FROM audit_nodes WHERE " + " OR ".join(terms))  # noqa: S608 (bound values)
    return list(db.connection().execute(stmt, params).all())
