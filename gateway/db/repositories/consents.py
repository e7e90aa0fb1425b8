"""SQL of consent records: one row per decision, in log order (``seq``); a pupil's current decision
for a purpose is the latest one. Records superseded long enough ago are deleted by retention."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from gateway.db import bulk
from gateway.db.models import ConsentRecord
from gateway.db.session import driver_connection, is_postgres

_CHUNK = 2000


def insert_consent(db: Session, values: dict[str, Any]) -> None:
    db.execute(insert(ConsentRecord).values(**values))


def current_consent_states(db: Session, purpose: str, pupil_ids: Sequence[str]) -> dict[str, str]:
    """pupil_id -> latest decision for the purpose (latest by sequence number, i.e. log order)."""
    if not pupil_ids:
        return {}
    c = ConsentRecord
    if is_postgres(db):
        # The release's pupils as one text parameter (ids are hex: no commas), probed one by one.
        with driver_connection(db).cursor() as cur:
            cur.execute(
                "SELECT w.pupil_id, latest.decision FROM unnest(string_to_array(%s, ',')) AS w(pupil_id) "
                "CROSS JOIN LATERAL (SELECT c.decision FROM consents AS c WHERE c.pupil_id = w.pupil_id "
                "AND c.purpose = %s ORDER BY c.seq DESC LIMIT 1) AS latest",
                (",".join(pupil_ids), purpose),
            )
            return dict(cur.fetchall())
    out: dict[str, str] = {}
    for part in bulk.chunks(pupil_ids, _CHUNK):
        chunk = list(part)
        sub = (
            select(c.pupil_id, func.max(c.seq).label("seq"))
            .where(c.purpose == purpose, c.pupil_id.in_(chunk))
            .group_by(c.pupil_id)
            .subquery()
        )
        latest = and_(sub.c.pupil_id == c.pupil_id, sub.c.seq == c.seq)
        stmt = select(c.pupil_id, c.decision).join(sub, latest)
        out.update({r.pupil_id: r.decision for r in db.execute(stmt)})
    return out


def current_consent_records(db: Session, pupil_ids: Sequence[str],
                            purpose: str | None) -> list[ConsentRecord]:
    """The latest record per pupil and purpose, for the given pupils."""
    c = ConsentRecord
    out: list[ConsentRecord] = []
    for part in bulk.chunks(pupil_ids, _CHUNK):
        chunk = list(part)
        latest = select(c.pupil_id, c.purpose, func.max(c.seq).label("seq")).where(c.pupil_id.in_(chunk))
        if purpose is not None:
            latest = latest.where(c.purpose == purpose)
        sub = latest.group_by(c.pupil_id, c.purpose).subquery()
        stmt = select(c).join(
            sub, and_(sub.c.pupil_id == c.pupil_id, sub.c.purpose == c.purpose, sub.c.seq == c.seq)
        )
        out.extend(db.execute(stmt.order_by(c.seq)).scalars())
    return out


def consent_history(db: Session, pupil_id: str, purpose: str | None = None) -> list[ConsentRecord]:
    c = ConsentRecord
    stmt = select(c).where(c.pupil_id == pupil_id)
    if purpose is not None:
        stmt = stmt.where(c.purpose == purpose)
    return list(db.execute(stmt.order_by(c.seq)).scalars())


def consent_by_receipt(db: Session, receipt_id: str) -> ConsentRecord | None:
    return db.get(ConsentRecord, receipt_id)
