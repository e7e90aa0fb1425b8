"""SQL of pupils' identities (encrypted under their data key) and of the data keys (wrapped under the
year's master key), both one row per pupil per academic year.

Reads are for many pupils at once (a register's, a release's): on PostgreSQL the pupil ids go as one
text parameter (ids are hex: no commas), each probed by primary key; on SQLite, chunks of placeholders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from gateway.db import bulk
from gateway.db.models import DataKey, PupilIdentity
from gateway.db.session import driver_connection, is_postgres

#: One pupil's row of a (pupil_id, academic_year)-keyed table, for a LATERAL join from a list of pupil
#: ids: a primary-key probe per pupil whatever the planner's statistics say (without them, a join
#: from a large list of pupils could be planned as a scan of the whole table).
_ONE_ROW = "SELECT {columns} FROM {table} AS t WHERE t.pupil_id = w.pupil_id AND t.academic_year = %s LIMIT 1"
#: The pupils of a list whose stored identity for the year is missing or has another digest.
_CHANGED_PG = (
    "SELECT w.pupil_id"  # noqa: S608 (_ONE_ROW, filled with our names; values are bound)
    " FROM unnest(string_to_array(%s, ','), string_to_array(%s, ',')) AS w(pupil_id, digest)"
    f" LEFT JOIN LATERAL ({_ONE_ROW.format(columns='digest', table='pupil_identities')}) AS i ON true"
    " WHERE i.digest IS DISTINCT FROM w.digest"
)
_KEYED = ("pupil_id", "academic_year")
_KEYED_TYPES = ("varchar", "int4", "bytea", "varchar", "timestamptz")


def identity_digests(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> dict[str, str]:
    """pupil_id -> digest of the identities stored for the year (pupils without one are absent)."""
    rows = _by_pupil(db, "pupil_id, digest", "pupil_identities", academic_year, pupil_ids)
    return {pid: digest for pid, digest in rows}


def changed_identities(db: Session, academic_year: int, pupil_ids: Sequence[str],
                       digests: Sequence[str]) -> list[str]:
    """The pupils whose stored identity for the year is missing or has another digest. PostgreSQL
    compares in the database (both lists go as one string each: hex has no commas), so that on a
    day after the first, when nobody's changed, no digest comes back."""
    if not pupil_ids:
        return []
    if is_postgres(db):
        with driver_connection(db).cursor() as cur:
            cur.execute(_CHANGED_PG, (",".join(pupil_ids), ",".join(digests), academic_year))
            return [r[0] for r in cur.fetchall()]
    known = identity_digests(db, academic_year, pupil_ids)
    return [pid for pid, digest in zip(pupil_ids, digests, strict=True) if known.get(pid) != digest]


def wrapped_keys(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> dict[str, tuple[bytes, str]]:
    rows = _by_pupil(db, "pupil_id, wrapped_key, master_key_id", "data_keys", academic_year, pupil_ids)
    return {pid: (bytes(wrapped), key_id) for pid, wrapped, key_id in rows}


def _by_pupil(db: Session, columns: str, table: str, academic_year: int,
              pupil_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of a (pupil_id, academic_year)-keyed table for many pupils: one array parameter on
    PostgreSQL (one statement text, whatever the number), chunks of placeholders on SQLite."""
    if not pupil_ids:
        return []
    if is_postgres(db):
        with driver_connection(db).cursor() as cur:
            cur.execute("SELECT x.* FROM unnest(string_to_array(%s, ',')) AS w(pupil_id) "  # noqa: S608 (our names)
                        f"CROSS JOIN LATERAL ({_ONE_ROW.format(columns=columns, table=table)}) AS x",
                        (",".join(pupil_ids), academic_year))
            return list(cur.fetchall())
    out: list[tuple[Any, ...]] = []
    driver = driver_connection(db)
    for chunk in bulk.chunks(pupil_ids, 5000):
        placeholders = ", ".join("?" * len(chunk))
        sql = (f"SELECT {columns} FROM {table} "  # noqa: S608 (our table and column names; values are bound)
               f"WHERE academic_year = ? AND pupil_id IN ({placeholders})")
        out += driver.execute(sql, (academic_year, *chunk)).fetchall()
    return out


def insert_data_keys(db: Session, academic_year: int, master_key_id: str, created_at: dt.datetime,
                     rows: Sequence[tuple[str, bytes]]) -> set[str]:
    """Store new (pupil_id, wrapped data key) rows; the pupil ids actually inserted. A pupil whose
    key another transaction stored first (a pupil on two schools' rolls, both sending at once)
    keeps that key, and is not in the result: the caller encrypts under the stored key instead."""
    ordered = sorted(rows)  # one lock order for concurrent registers that share pupils
    columns = (*_KEYED, "wrapped_key", "master_key_id", "created_at")
    values = [(pid, academic_year, wrapped, master_key_id, created_at) for pid, wrapped in ordered]
    conflict = "ON CONFLICT (pupil_id, academic_year) DO NOTHING"
    return set(bulk.upsert_rows(db, "data_keys", columns, _KEYED_TYPES, values, conflict,
                                returning="pupil_id"))


def upsert_identities(db: Session, academic_year: int, updated_at: dt.datetime,
                      rows: Sequence[tuple[str, bytes, str]]) -> None:
    """Store (pupil_id, ciphertext, digest) rows, replacing the year's previous identity."""
    columns = (*_KEYED, "ciphertext", "digest", "updated_at")
    values = [(pid, academic_year, c, d, updated_at) for pid, c, d in sorted(rows)]
    conflict = ("ON CONFLICT (pupil_id, academic_year) DO UPDATE SET ciphertext = excluded.ciphertext, "
                "digest = excluded.digest, updated_at = excluded.updated_at")
    bulk.upsert_rows(db, "pupil_identities", columns, _KEYED_TYPES, values, conflict)


def identities_with_keys(db: Session, academic_year: int,
                         pupil_ids: Sequence[str]) -> dict[str, tuple[bytes, bytes, str]]:
    """pupil_id -> (ciphertext, wrapped data key, master key id); shredded pupils are absent."""
    out: dict[str, tuple[bytes, bytes, str]] = {}
    if is_postgres(db) and pupil_ids:
        # One statement whatever the number (a release's thousands): two primary-key probes a pupil.
        with driver_connection(db).cursor() as cur:
            cur.execute(
                "SELECT i.pupil_id, i.ciphertext, k.wrapped_key, k.master_key_id "
                "FROM unnest(string_to_array(%s, ',')) AS w(pupil_id) "
                "JOIN pupil_identities AS i ON i.pupil_id = w.pupil_id AND i.academic_year = %s "
                "JOIN data_keys AS k ON k.pupil_id = w.pupil_id AND k.academic_year = %s",
                (",".join(pupil_ids), academic_year, academic_year),
            )
            return {pid: (bytes(c), bytes(w), kid) for pid, c, w, kid in cur.fetchall()}
    same_pupil_year = and_(DataKey.pupil_id == PupilIdentity.pupil_id,
                           DataKey.academic_year == PupilIdentity.academic_year)
    for chunk in bulk.chunks(pupil_ids, 5000):
        i, k = PupilIdentity, DataKey
        stmt = (
            select(i.pupil_id, i.ciphertext, k.wrapped_key, k.master_key_id)
            .join(DataKey, same_pupil_year)
            .where(PupilIdentity.academic_year == academic_year, PupilIdentity.pupil_id.in_(list(chunk)))
        )
        out.update({r.pupil_id: (bytes(r.ciphertext), bytes(r.wrapped_key), r.master_key_id)
                    for r in db.execute(stmt)})
    return out
