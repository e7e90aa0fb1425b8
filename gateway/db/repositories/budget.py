"""SQL of the privacy-budget ledger: one row per academic year with its cap, the spends reserved
against it (never refunded), and the published noisy measurements and answers that later questions
reuse instead of spending again (docs/differential-privacy.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gateway.db import bulk
from gateway.db.models import PrivacyLedger, PrivacySpend, StatsAnswer, StatsMeasurement
from gateway.db.session import is_postgres


def ensure_ledger(db: Session, values: dict[str, Any]) -> None:
    """Create the ledger row of a year if there is none (concurrent creators agree: the first wins)."""
    db.execute(bulk.insert_on_conflict(db, PrivacyLedger).values(**values).on_conflict_do_nothing())


def lock_ledger(db: Session, academic_year: int) -> PrivacyLedger:
    """The year's ledger row, locked until commit: ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
    every transaction already holds the database's write lock (``BEGIN IMMEDIATE``, gateway.db.session).
    One row per year, so every consumer's reservations of the year queue on the same lock."""
    stmt = select(PrivacyLedger).where(PrivacyLedger.academic_year == academic_year)
    if is_postgres(db):
        stmt = stmt.with_for_update()
    return db.execute(stmt).scalar_one()


def get_ledger(db: Session, academic_year: int) -> PrivacyLedger | None:
    return db.execute(
        select(PrivacyLedger).where(PrivacyLedger.academic_year == academic_year)
    ).scalar_one_or_none()


def set_cap(db: Session, academic_year: int, values: dict[str, Any]) -> None:
    db.execute(update(PrivacyLedger).where(PrivacyLedger.academic_year == academic_year).values(**values))


def spent_units(db: Session, academic_year: int, consumer: str | None = None) -> int:
    """Everything reserved, released or not (a reservation is never refunded): the year's, or one
    consumer's share of it."""
    stmt = select(func.coalesce(func.sum(PrivacySpend.units), 0)).where(
        PrivacySpend.academic_year == academic_year
    )
    if consumer is not None:
        stmt = stmt.where(PrivacySpend.consumer == consumer)
    return int(db.execute(stmt).scalar_one())


def spent_by_consumer(db: Session, academic_year: int) -> dict[str, int]:
    rows = db.execute(
        select(PrivacySpend.consumer, func.sum(PrivacySpend.units))
        .where(PrivacySpend.academic_year == academic_year)
        .group_by(PrivacySpend.consumer)
    )
    return {consumer: int(units) for consumer, units in rows}


def insert_spend(db: Session, values: dict[str, Any]) -> None:
    db.add(PrivacySpend(**values))
    db.flush()


def mark_released(db: Session, spend_id: str, when: dt.datetime) -> None:
    db.execute(
        update(PrivacySpend)
        .where(PrivacySpend.id == spend_id, PrivacySpend.status == "reserved")
        .values(status="released", released_at=when)
    )


def latest_spend_for(db: Session, question_hash: str) -> PrivacySpend | None:
    stmt = (
        select(PrivacySpend)
        .where(PrivacySpend.question_hash == question_hash)
        .order_by(PrivacySpend.created_at.desc(), PrivacySpend.id.desc())
        .limit(1)
    )
    return db.execute(stmt).scalar_one_or_none()


def spends(db: Session, academic_year: int, consumer: str) -> list[PrivacySpend]:
    stmt = (
        select(PrivacySpend)
        .where(PrivacySpend.academic_year == academic_year, PrivacySpend.consumer == consumer)
        .order_by(PrivacySpend.created_at, PrivacySpend.id)
    )
    return list(db.execute(stmt).scalars())


def measurements(db: Session, key_hashes: Sequence[str]) -> dict[str, StatsMeasurement]:
    """Published noisy vectors by key hash, for reuse by a later measure."""
    if not key_hashes:
        return {}
    rows = db.execute(select(StatsMeasurement).where(StatsMeasurement.key_hash.in_(list(key_hashes))))
    return {m.key_hash: m for m in rows.scalars()}


def insert_measurements(db: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Keep newly published noisy vectors; one already kept for the same key (a concurrent answer that
    drew it too, and paid for it) stays as it is."""
    for values in rows:
        db.execute(bulk.insert_on_conflict(db, StatsMeasurement).values(**values).on_conflict_do_nothing())


def get_answer(db: Session, question_hash: str) -> StatsAnswer | None:
    return db.execute(
        select(StatsAnswer).where(StatsAnswer.question_hash == question_hash)
    ).scalar_one_or_none()


def get_bundle(db: Session, consumer: str, bundle: str) -> StatsAnswer | None:
    stmt = select(StatsAnswer).where(StatsAnswer.consumer == consumer, StatsAnswer.bundle == bundle)
    return db.execute(stmt).scalar_one_or_none()


def insert_answer(db: Session, values: dict[str, Any]) -> None:
    db.add(StatsAnswer(**values))
    db.flush()
