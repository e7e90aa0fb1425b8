"""All SQL lives here. Services call these functions inside the transaction they own.

Bulk paths matter: a national day is 8.1 million pupil-days, so marks go in with PostgreSQL COPY (or
executemany on SQLite) and running totals move with multi-row upserts, never row-at-a-time ORM inserts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Row, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.db.models import (
    AuditEvent,
    AuditEventOrg,
    AuditState,
    DataKey,
    Enrolment,
    EnrolmentCodeTotal,
    Feed,
    Mark,
    MarkHistory,
    PupilIdentity,
    School,
)

#: Rows per multi-row statement: keeps under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
CHUNK = 1000


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _is_pg(db: Session) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def _upsert_stmt(db: Session, table: Any) -> Any:
    return postgresql.insert(table) if _is_pg(db) else sqlite.insert(table)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _executemany(db: Session, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """One statement, many parameter rows, through the driver (psycopg pipelines it)."""
    if not rows:
        return
    conn = db.connection()
    if _is_pg(db):
        driver = conn.connection.driver_connection
        with driver.cursor() as cur:  # type: ignore[union-attr]
            cur.executemany(sql, rows)
    else:
        conn.exec_driver_sql(sql.replace("%s", "?"), [tuple(_sqlite_value(v) for v in row) for row in rows])


def _copy_upsert(db: Session, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], conflict: str) -> None:
    """PostgreSQL: COPY into a per-connection staging table (emptied at commit), then one upsert."""
    driver = db.connection().connection.driver_connection
    stage = f"stage_{table}"
    cols = ", ".join(columns)
    with driver.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        cur.execute(f"TRUNCATE {stage}")
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} {conflict}")


# --- schools -----------------------------------------------------------------------------------


def get_school(db: Session, urn: int, *, lock: bool = False) -> School | None:
    stmt = select(School).where(School.urn == urn)
    if lock and _is_pg(db):
        stmt = stmt.with_for_update()
    return db.execute(stmt).scalar_one_or_none()


def upsert_schools(db: Session, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in _chunks(rows, 500):
        stmt = _upsert_stmt(db, School).values(list(chunk))
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[School.urn],
            set_={c: getattr(excluded, c) for c in ("la_code", "la_name", "establishment_number", "name", "phase",
                                                   "type_of_establishment", "status", "updated_at")},
        )
        db.execute(stmt)


def count_schools(db: Session) -> int:
    return int(db.execute(select(func.count()).select_from(School)).scalar_one())


def school_las(db: Session, urns: Sequence[int]) -> dict[int, str]:
    rows = db.execute(select(School.urn, School.la_code).where(School.urn.in_(list(urns)))).all()
    return {int(r.urn): str(r.la_code) for r in rows}


# --- feeds and marks ---------------------------------------------------------------------------


def current_feed(db: Session, urn: int, day: dt.date) -> Feed | None:
    stmt = select(Feed).where(Feed.urn == urn, Feed.date == day).order_by(Feed.version.desc()).limit(1)
    return db.execute(stmt).scalar_one_or_none()


def feed_versions(db: Session, urn: int, day: dt.date) -> list[Feed]:
    return list(db.execute(select(Feed).where(Feed.urn == urn, Feed.date == day).order_by(Feed.version)).scalars())


def insert_feed(db: Session, **values: Any) -> None:
    db.execute(insert(Feed).values(**values))


def current_marks(db: Session, urn: int, day: dt.date) -> list[Row[Any]]:
    return list(db.execute(select(Mark.pupil_id, Mark.am, Mark.pm, Mark.version).where(Mark.urn == urn, Mark.date == day)).all())


def archive_marks(db: Session, urn: int, day: dt.date) -> None:
    """Move a day's current marks into the history of corrections."""
    db.execute(
        insert(MarkHistory).from_select(
            ["urn", "date", "version", "pupil_id", "academic_year", "am", "pm"],
            select(Mark.urn, Mark.date, Mark.version, Mark.pupil_id, Mark.academic_year, Mark.am, Mark.pm).where(
                Mark.urn == urn, Mark.date == day
            ),
        )
    )
    db.execute(delete(Mark).where(Mark.urn == urn, Mark.date == day))


def insert_marks(db: Session, rows: Sequence[tuple[int, dt.date, str, int, str, str, int]]) -> None:
    """(urn, date, pupil_id, academic_year, am, pm, version) rows, by COPY on PostgreSQL."""
    if _is_pg(db):
        driver = db.connection().connection.driver_connection
        with driver.cursor() as cur:  # type: ignore[union-attr]
            with cur.copy("COPY marks (urn, date, pupil_id, academic_year, am, pm, version) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    db.connection().exec_driver_sql(
        "INSERT INTO marks (urn, date, pupil_id, academic_year, am, pm, version) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(u, d.isoformat(), p, y, a, m, v) for (u, d, p, y, a, m, v) in rows],
    )


# --- identities and data keys ------------------------------------------------------------------


def identity_digests(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in _chunks(pupil_ids, 5000):
        stmt = select(PupilIdentity.pupil_id, PupilIdentity.digest).where(
            PupilIdentity.academic_year == academic_year, PupilIdentity.pupil_id.in_(list(chunk))
        )
        out.update({r.pupil_id: r.digest for r in db.execute(stmt)})
    return out


def wrapped_keys(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> dict[str, tuple[bytes, str]]:
    out: dict[str, tuple[bytes, str]] = {}
    for chunk in _chunks(pupil_ids, 5000):
        stmt = select(DataKey.pupil_id, DataKey.wrapped_key, DataKey.master_key_id).where(
            DataKey.academic_year == academic_year, DataKey.pupil_id.in_(list(chunk))
        )
        out.update({r.pupil_id: (bytes(r.wrapped_key), r.master_key_id) for r in db.execute(stmt)})
    return out


def insert_data_keys(db: Session, rows: Sequence[dict[str, Any]]) -> None:
    _executemany(
        db,
        "INSERT INTO data_keys (pupil_id, academic_year, wrapped_key, master_key_id, created_at) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (pupil_id, academic_year) DO NOTHING",
        [(r["pupil_id"], r["academic_year"], r["wrapped_key"], r["master_key_id"], r["created_at"]) for r in rows],
    )


def upsert_identities(db: Session, rows: Sequence[dict[str, Any]]) -> None:
    _executemany(
        db,
        "INSERT INTO pupil_identities (pupil_id, academic_year, ciphertext, digest, updated_at) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (pupil_id, academic_year) DO UPDATE SET ciphertext = excluded.ciphertext, digest = excluded.digest, "
        "updated_at = excluded.updated_at",
        [(r["pupil_id"], r["academic_year"], r["ciphertext"], r["digest"], r["updated_at"]) for r in rows],
    )


def identities_with_keys(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> dict[str, tuple[bytes, bytes, str]]:
    """pupil_id -> (ciphertext, wrapped data key, master key id); shredded pupils are absent."""
    out: dict[str, tuple[bytes, bytes, str]] = {}
    for chunk in _chunks(pupil_ids, 5000):
        stmt = (
            select(PupilIdentity.pupil_id, PupilIdentity.ciphertext, DataKey.wrapped_key, DataKey.master_key_id)
            .join(DataKey, and_(DataKey.pupil_id == PupilIdentity.pupil_id, DataKey.academic_year == PupilIdentity.academic_year))
            .where(PupilIdentity.academic_year == academic_year, PupilIdentity.pupil_id.in_(list(chunk)))
        )
        out.update({r.pupil_id: (bytes(r.ciphertext), bytes(r.wrapped_key), r.master_key_id) for r in db.execute(stmt)})
    return out


# --- running totals ----------------------------------------------------------------------------

_TOTAL_COLUMNS = (
    "sessions_possible",
    "sessions_present",
    "sessions_aea",
    "sessions_authorised",
    "sessions_unauthorised",
    "sessions_not_counted",
)


_ENROLMENT_COLUMNS = (
    "pupil_id", "urn", "academic_year", "la_code", "year_group", "sen_status", "fsm_eligible", "first_date", "last_date",
    *_TOTAL_COLUMNS,
)


def upsert_enrolments(db: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add each row's session deltas to the enrolment's totals, creating it if new. The pupil's
    attributes (year group, SEN, FSM) follow the latest register date seen.

    PostgreSQL: COPY into a temporary staging table, then one INSERT ... ON CONFLICT. SQLite:
    executemany of the same upsert. (Multi-row VALUES through the ORM spends its time compiling.)"""
    if not rows:
        return
    pg = _is_pg(db)
    least, greatest = ("LEAST", "GREATEST") if pg else ("MIN", "MAX")
    columns = ", ".join(_ENROLMENT_COLUMNS)
    updates = ", ".join(f"{c} = enrolments.{c} + excluded.{c}" for c in _TOTAL_COLUMNS)
    newer = "excluded.last_date >= enrolments.last_date"
    attributes = ", ".join(
        f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE enrolments.{c} END" for c in ("year_group", "sen_status", "fsm_eligible")
    )
    conflict = (
        f"ON CONFLICT (pupil_id, urn, academic_year) DO UPDATE SET {updates}, {attributes}, la_code = excluded.la_code, "
        f"first_date = {least}(enrolments.first_date, excluded.first_date), "
        f"last_date = {greatest}(enrolments.last_date, excluded.last_date)"
    )
    values = [tuple(r[c] for c in _ENROLMENT_COLUMNS) for r in rows]
    if pg:
        _copy_upsert(db, "enrolments", _ENROLMENT_COLUMNS, values, conflict)
    else:
        placeholders = ", ".join(["%s"] * len(_ENROLMENT_COLUMNS))
        _executemany(db, f"INSERT INTO enrolments ({columns}) VALUES ({placeholders}) {conflict}", values)


def subtract_enrolment_totals(db: Session, urn: int, academic_year: int, deltas: Sequence[dict[str, Any]]) -> None:
    """Take superseded marks of pupils no longer in a corrected register off their totals."""
    if not deltas:
        return
    table = Enrolment.__table__
    stmt = (
        update(table)
        .where(table.c.pupil_id == bindparam("b_pupil_id"), table.c.urn == urn, table.c.academic_year == academic_year)
        .values({c: table.c[c] + bindparam(f"b_{c}") for c in _TOTAL_COLUMNS})
    )
    db.execute(stmt, [{f"b_{k}": v for k, v in d.items()} for d in deltas])


def upsert_code_totals(db: Session, rows: Sequence[dict[str, Any]]) -> None:
    columns = ("pupil_id", "urn", "academic_year", "code", "sessions")
    conflict = "ON CONFLICT (pupil_id, urn, academic_year, code) DO UPDATE SET sessions = enrolment_code_totals.sessions + excluded.sessions"
    values = [tuple(r[c] for c in columns) for r in rows]
    if not values:
        return
    if _is_pg(db):
        _copy_upsert(db, "enrolment_code_totals", columns, values, conflict)
    else:
        _executemany(db, f"INSERT INTO enrolment_code_totals ({', '.join(columns)}) VALUES (%s, %s, %s, %s, %s) {conflict}", values)


def prune_code_totals(db: Session, urn: int, academic_year: int) -> None:
    """After a correction, drop reason codes whose count fell back to zero."""
    table = EnrolmentCodeTotal.__table__
    db.execute(delete(table).where(table.c.urn == urn, table.c.academic_year == academic_year, table.c.sessions == 0))


def school_enrolments(db: Session, urn: int, academic_year: int) -> list[Enrolment]:
    stmt = select(Enrolment).where(Enrolment.urn == urn, Enrolment.academic_year == academic_year).order_by(Enrolment.pupil_id)
    return list(db.execute(stmt).scalars())


def window_totals_for_school(db: Session, urn: int, start: dt.date, end: dt.date, classes: dict[str, list[str]]) -> list[Row[Any]]:
    """Per-pupil session totals from the marks of one school in [start, end], by statistical class."""
    return list(db.execute(_window_totals_stmt(classes).where(Mark.urn == urn, Mark.date >= start, Mark.date <= end)).all())


def _window_totals_stmt(classes: dict[str, list[str]]) -> Any:
    def count(codes: list[str]) -> Any:
        return func.sum(case((Mark.am.in_(codes), 1), else_=0) + case((Mark.pm.in_(codes), 1), else_=0))

    return select(
        Mark.pupil_id,
        Mark.urn,
        Mark.academic_year,
        count(classes["present"]).label("sessions_present"),
        count(classes["aea"]).label("sessions_aea"),
        count(classes["authorised"]).label("sessions_authorised"),
        count(classes["unauthorised"]).label("sessions_unauthorised"),
    ).group_by(Mark.pupil_id, Mark.urn, Mark.academic_year)


# --- audit log ---------------------------------------------------------------------------------


def lock_audit_state(db: Session) -> int:
    """Serialise appends across processes: the single state row is locked until commit."""
    stmt = select(AuditState.tree_size).where(AuditState.id == 1)
    if _is_pg(db):
        stmt = stmt.with_for_update()
    return int(db.execute(stmt).scalar_one())


def set_audit_size(db: Session, size: int) -> None:
    db.execute(update(AuditState).where(AuditState.id == 1).values(tree_size=size))


def insert_audit_event(db: Session, values: dict[str, Any], org_ids: Sequence[str]) -> None:
    db.execute(insert(AuditEvent).values(**values))
    if org_ids:
        db.execute(insert(AuditEventOrg), [{"idx": values["idx"], "org_id": o} for o in sorted(set(org_ids))])
