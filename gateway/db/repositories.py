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
from gateway.db.session import driver_connection
from schemas.records import RegisterRow

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


#: PostgreSQL staging tables of the bulk writes: TEMP (one set per connection) and ON COMMIT DELETE
#: ROWS (truncated at every commit, so never bloated); one filled twice in a transaction is emptied
#: first. Rows reach them by binary COPY, which costs the client less than half what text COPY does.
_STAGES = {
    # A register: one row per pupil, what its marks, totals and reason codes need (see store_register).
    "stage_register": "pupil_id varchar(64), am varchar(2), pm varchar(2), year_group varchar(2), sen_status varchar(1), "
                      "fsm_eligible boolean, possible integer, present integer, aea integer, authorised integer, "
                      "unauthorised integer, not_counted integer, code1 varchar(2), n1 integer, code2 varchar(2), n2 integer",
    "stage_enrolment_code_totals": "LIKE enrolment_code_totals",
    "stage_data_keys": "LIKE data_keys",
    "stage_pupil_identities": "LIKE pupil_identities",
}
_REGISTER_TYPES = ("varchar", "varchar", "varchar", "varchar", "varchar", "bool", "int4", "int4", "int4", "int4", "int4",
                   "int4", "varchar", "int4", "varchar", "int4")


def _copy_in(db: Session, cur: Any, stage: str, columns: Sequence[str], types: Sequence[str],
             rows: Iterable[tuple[Any, ...]]) -> None:
    """Binary COPY of rows into an empty staging table. The staging tables are made sure of once per
    transaction, in one round trip (made in a transaction that rolls back, they go with it)."""
    transaction = db.get_transaction()
    state = db.info.get("gateway_stages")
    if state is None or state[0] is not transaction:
        cur.execute("; ".join(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({ddl}) ON COMMIT DELETE ROWS"
                              for name, ddl in _STAGES.items()))
        state = db.info["gateway_stages"] = (transaction, set())
    if stage in state[1]:
        cur.execute(f"DELETE FROM {stage}")
    state[1].add(stage)
    with cur.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(types))
        write = copy.write_row
        for row in rows:
            write(row)


def _copy_upsert(db: Session, table: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[tuple[Any, ...]],
                 conflict: str, returning: str | None = None) -> list[tuple[Any, ...]]:
    """PostgreSQL: COPY into the table's staging table, then one INSERT ... SELECT ... ON CONFLICT.
    Rows must be unique on the conflict target."""
    cols = ", ".join(columns)
    stage = f"stage_{table}"
    with driver_connection(db).cursor() as cur:
        _copy_in(db, cur, stage, columns, types, rows)
        cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} {conflict}"
                    + (f" RETURNING {returning}" if returning else ""))
        return list(cur.fetchall()) if returning else []


# --- schools -----------------------------------------------------------------------------------


def get_school(db: Session, urn: int, *, lock: bool = False) -> School | None:
    stmt = select(School).where(School.urn == urn)
    if lock and _is_pg(db):
        stmt = stmt.with_for_update()
    return db.execute(stmt).scalar_one_or_none()


#: What an import replaces of a school it already has: everything GIAS says of it.
SCHOOL_COLUMNS = ("la_code", "la_name", "establishment_number", "name", "phase", "type_of_establishment",
                  "status", "updated_at", "type_group", "religious_character", "admissions_policy", "region",
                  "number_of_pupils", "trust_uid", "trust_name")


def upsert_schools(db: Session, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in _chunks(rows, 500):
        stmt = _upsert_stmt(db, School).values(list(chunk))
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[School.urn],
            set_={c: getattr(excluded, c) for c in SCHOOL_COLUMNS},
        )
        db.execute(stmt)


def count_schools(db: Session) -> int:
    return int(db.execute(select(func.count()).select_from(School)).scalar_one())


def school_las(db: Session, urns: Sequence[int]) -> dict[int, str]:
    rows = db.execute(select(School.urn, School.la_code).where(School.urn.in_(list(urns)))).all()
    return {int(r.urn): str(r.la_code) for r in rows}


# --- feeds and marks ---------------------------------------------------------------------------


# Built once: a statement built per call spends longer in SQLAlchemy than in the database.
_LATEST_VERSION = select(func.max(Feed.version)).where(Feed.urn == bindparam("urn"), Feed.date == bindparam("day")).scalar_subquery()
_FEED_TARGET = (
    select(School.la_code, School.status, Feed.version, Feed.body_sha256, Feed.pupil_count, Feed.audit_index)
    .select_from(School)
    .outerjoin(Feed, and_(Feed.urn == School.urn, Feed.date == bindparam("day"), Feed.version == _LATEST_VERSION))
    .where(School.urn == bindparam("urn"))
)
_FEED_TARGET_LOCKED = _FEED_TARGET.with_for_update(of=School)
_INSERT_FEED = insert(Feed.__table__)


def feed_target(db: Session, urn: int, day: dt.date, *, lock: bool = False) -> Row[Any] | None:
    """The school (la_code, status) and its latest register for the day (version, body_sha256,
    pupil_count, audit_index: None when there is none), in one query. With `lock`, the school's
    row is locked until commit (PostgreSQL), which serialises the feeds of one school."""
    stmt = _FEED_TARGET_LOCKED if lock and _is_pg(db) else _FEED_TARGET
    # Core statements through the connection: the ORM session's execute adds a fifth of a
    # millisecond per statement, on every register.
    return db.connection().execute(stmt, {"urn": urn, "day": day}).one_or_none()


def current_feed(db: Session, urn: int, day: dt.date) -> Feed | None:
    stmt = select(Feed).where(Feed.urn == urn, Feed.date == day).order_by(Feed.version.desc()).limit(1)
    return db.execute(stmt).scalar_one_or_none()


def feed_versions(db: Session, urn: int, day: dt.date) -> list[Feed]:
    return list(db.execute(select(Feed).where(Feed.urn == urn, Feed.date == day).order_by(Feed.version)).scalars())


def insert_feed(db: Session, **values: Any) -> None:
    db.connection().execute(_INSERT_FEED, values)


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


# --- identities and data keys ------------------------------------------------------------------


#: One pupil's row of a (pupil_id, academic_year)-keyed table, for a LATERAL join from a list of pupil
#: ids: a primary-key probe per pupil whatever the planner's statistics say (without them, a join
#: from a 1,000-pupil list was planned as a scan of the whole table: a second instead of 12 ms).
_ONE_ROW = "SELECT {columns} FROM {table} AS t WHERE t.pupil_id = w.pupil_id AND t.academic_year = %s LIMIT 1"


def identity_digests(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> dict[str, str]:
    """pupil_id -> digest of the identities stored for the year (pupils without one are absent)."""
    return {pid: digest for pid, digest in _by_pupil(db, "pupil_id, digest", "pupil_identities", academic_year, pupil_ids)}


def changed_identities(db: Session, academic_year: int, pupil_ids: Sequence[str], digests: Sequence[str]) -> list[str]:
    """The pupils whose stored identity for the year is missing or has another digest. PostgreSQL
    compares in the database (both lists go as one string each: hex has no commas), so that on a
    day after the first, when nobody's changed, no digest comes back."""
    if not pupil_ids:
        return []
    if _is_pg(db):
        with driver_connection(db).cursor() as cur:
            cur.execute(
                "SELECT w.pupil_id FROM unnest(string_to_array(%s, ','), string_to_array(%s, ',')) AS w(pupil_id, digest) "
                f"LEFT JOIN LATERAL ({_ONE_ROW.format(columns='digest', table='pupil_identities')}) AS i ON true "
                "WHERE i.digest IS DISTINCT FROM w.digest",
                (",".join(pupil_ids), ",".join(digests), academic_year),
            )
            return [r[0] for r in cur.fetchall()]
    known = identity_digests(db, academic_year, pupil_ids)
    return [pid for pid, digest in zip(pupil_ids, digests, strict=True) if known.get(pid) != digest]


def wrapped_keys(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> dict[str, tuple[bytes, str]]:
    rows = _by_pupil(db, "pupil_id, wrapped_key, master_key_id", "data_keys", academic_year, pupil_ids)
    return {pid: (bytes(wrapped), key_id) for pid, wrapped, key_id in rows}


def _by_pupil(db: Session, columns: str, table: str, academic_year: int, pupil_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of a (pupil_id, academic_year)-keyed table for many pupils: one array parameter on
    PostgreSQL (one statement text, whatever the number), chunks of placeholders on SQLite."""
    if not pupil_ids:
        return []
    if _is_pg(db):
        with driver_connection(db).cursor() as cur:
            cur.execute(f"SELECT x.* FROM unnest(string_to_array(%s, ',')) AS w(pupil_id) "
                        f"CROSS JOIN LATERAL ({_ONE_ROW.format(columns=columns, table=table)}) AS x",
                        (",".join(pupil_ids), academic_year))
            return list(cur.fetchall())
    out: list[tuple[Any, ...]] = []
    driver = driver_connection(db)
    for chunk in _chunks(pupil_ids, 5000):
        sql = f"SELECT {columns} FROM {table} WHERE academic_year = ? AND pupil_id IN ({', '.join('?' * len(chunk))})"
        out += driver.execute(sql, (academic_year, *chunk)).fetchall()
    return out


def insert_data_keys(db: Session, academic_year: int, master_key_id: str, created_at: dt.datetime,
                     rows: Sequence[tuple[str, bytes]]) -> set[str]:
    """Store new (pupil_id, wrapped data key) rows; the pupil ids actually inserted. A pupil whose
    key another transaction stored first (a pupil on two schools' rolls, both sending at once)
    keeps that key, and is not in the result: the caller encrypts under the stored key instead."""
    if not rows:
        return set()
    ordered = sorted(rows)  # one lock order for concurrent registers that share pupils
    conflict = "ON CONFLICT (pupil_id, academic_year) DO NOTHING"
    if _is_pg(db):
        columns = ("pupil_id", "academic_year", "wrapped_key", "master_key_id", "created_at")
        types = ("varchar", "int4", "bytea", "varchar", "timestamptz")
        values = ((pid, academic_year, wrapped, master_key_id, created_at) for pid, wrapped in ordered)
        return {r[0] for r in _copy_upsert(db, "data_keys", columns, types, values, conflict, returning="pupil_id")}
    driver = driver_connection(db)
    created = _sqlite_value(created_at)
    inserted = set()
    for pid, wrapped in ordered:  # SQLite writers are serialised: nobody can insert in between
        cur = driver.execute("INSERT INTO data_keys (pupil_id, academic_year, wrapped_key, master_key_id, created_at) "
                             f"VALUES (?, ?, ?, ?, ?) {conflict}", (pid, academic_year, wrapped, master_key_id, created))
        if cur.rowcount:
            inserted.add(pid)
    return inserted


def upsert_identities(db: Session, academic_year: int, updated_at: dt.datetime, rows: Sequence[tuple[str, bytes, str]]) -> None:
    """Store (pupil_id, ciphertext, digest) rows, replacing the year's previous identity."""
    if not rows:
        return
    ordered = sorted(rows)
    columns = ("pupil_id", "academic_year", "ciphertext", "digest", "updated_at")
    conflict = ("ON CONFLICT (pupil_id, academic_year) DO UPDATE SET ciphertext = excluded.ciphertext, "
                "digest = excluded.digest, updated_at = excluded.updated_at")
    if _is_pg(db):
        types = ("varchar", "int4", "bytea", "varchar", "timestamptz")
        _copy_upsert(db, "pupil_identities", columns, types, ((pid, academic_year, c, d, updated_at) for pid, c, d in ordered),
                     conflict)
        return
    updated = _sqlite_value(updated_at)
    driver_connection(db).executemany(f"INSERT INTO pupil_identities ({', '.join(columns)}) VALUES (?, ?, ?, ?, ?) {conflict}",
                            [(pid, academic_year, c, d, updated) for pid, c, d in ordered])


def identities_with_keys(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> dict[str, tuple[bytes, bytes, str]]:
    """pupil_id -> (ciphertext, wrapped data key, master key id); shredded pupils are absent."""
    out: dict[str, tuple[bytes, bytes, str]] = {}
    if _is_pg(db) and pupil_ids:
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


def _enrolment_conflict(pg: bool) -> str:
    """The upsert that adds a register's deltas to an enrolment's totals; the pupil's attributes (year
    group, SEN, FSM) follow the latest register date seen."""
    least, greatest = ("LEAST", "GREATEST") if pg else ("MIN", "MAX")
    updates = ", ".join(f"{c} = enrolments.{c} + excluded.{c}" for c in _TOTAL_COLUMNS)
    newer = "excluded.last_date >= enrolments.last_date"
    attributes = ", ".join(
        f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE enrolments.{c} END" for c in ("year_group", "sen_status", "fsm_eligible")
    )
    return (
        f"ON CONFLICT (pupil_id, urn, academic_year) DO UPDATE SET {updates}, {attributes}, la_code = excluded.la_code, "
        f"first_date = {least}(enrolments.first_date, excluded.first_date), "
        f"last_date = {greatest}(enrolments.last_date, excluded.last_date)"
    )


_CODE_CONFLICT = ("ON CONFLICT (pupil_id, urn, academic_year, code) DO UPDATE SET "
                  "sessions = enrolment_code_totals.sessions + excluded.sessions")

_REGISTER_COLUMNS = ("pupil_id", "am", "pm", "year_group", "sen_status", "fsm_eligible", "possible", "present", "aea",
                     "authorised", "unauthorised", "not_counted", "code1", "n1", "code2", "n2")
_STORE_REGISTER_PG = (
    "WITH m AS (INSERT INTO marks (urn, date, pupil_id, academic_year, am, pm, version) "
    "SELECT %(urn)s, %(day)s, pupil_id, %(year)s, am, pm, %(version)s FROM stage_register), "
    f"e AS (INSERT INTO enrolments ({', '.join(_ENROLMENT_COLUMNS)}) "
    "SELECT pupil_id, %(urn)s, %(year)s, %(la)s, year_group, sen_status, fsm_eligible, %(day)s, %(day)s, "
    f"possible, present, aea, authorised, unauthorised, not_counted FROM stage_register {_enrolment_conflict(True)}) "
    "INSERT INTO enrolment_code_totals (pupil_id, urn, academic_year, code, sessions) "
    "SELECT pupil_id, %(urn)s, %(year)s, code1, n1 FROM stage_register WHERE code1 IS NOT NULL "
    "UNION ALL SELECT pupil_id, %(urn)s, %(year)s, code2, n2 FROM stage_register WHERE code2 IS NOT NULL "
    f"{_CODE_CONFLICT}"
)


def store_register(db: Session, urn: int, day: dt.date, academic_year: int, version: int, la_code: str,
                   rows: Sequence[RegisterRow]) -> None:
    """Store a register's marks and move its pupils' totals, in bulk.

    Rows are one per pupil (unique): (pupil_id, am, pm, year_group, sen_status, fsm_eligible, then the
    six deltas of the totals in `_TOTAL_COLUMNS` order, then code1, n1, code2, n2: up to two reason
    codes and the sessions to add to each, None when there are none). Marks are inserted; each
    enrolment at the school gets the deltas added, created if new; each reason code its sessions.

    PostgreSQL: one binary COPY into a staging table and one statement that writes the three tables
    from it. SQLite: an executemany per table."""
    if not rows:
        return
    if _is_pg(db):
        with driver_connection(db).cursor() as cur:
            # In pupil order, the marks' primary key (urn, date, pupil_id) fills its pages in sequence.
            _copy_in(db, cur, "stage_register", _REGISTER_COLUMNS, _REGISTER_TYPES, sorted(rows))
            cur.execute(_STORE_REGISTER_PG, {"urn": urn, "day": day, "year": academic_year, "version": version, "la": la_code})
        return
    driver = driver_connection(db)
    day_text = day.isoformat()
    driver.executemany(
        "INSERT INTO marks (urn, date, pupil_id, academic_year, am, pm, version) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(urn, day_text, r[0], academic_year, r[1], r[2], version) for r in rows],
    )
    placeholders = ", ".join(["?"] * len(_ENROLMENT_COLUMNS))
    driver.executemany(
        f"INSERT INTO enrolments ({', '.join(_ENROLMENT_COLUMNS)}) VALUES ({placeholders}) {_enrolment_conflict(False)}",
        [(r[0], urn, academic_year, la_code, r[3], r[4], r[5], day_text, day_text, *r[6:12]) for r in rows],
    )
    codes = [(r[0], urn, academic_year, r[12], r[13]) for r in rows if r[12] is not None]
    codes += [(r[0], urn, academic_year, r[14], r[15]) for r in rows if r[14] is not None]
    if codes:
        driver.executemany("INSERT INTO enrolment_code_totals (pupil_id, urn, academic_year, code, sessions) "
                           f"VALUES (?, ?, ?, ?, ?) {_CODE_CONFLICT}", codes)


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


def upsert_code_totals(db: Session, urn: int, academic_year: int, rows: Sequence[tuple[str, str, int]]) -> None:
    """Add (pupil_id, code, sessions) counts (negative for superseded marks) to the reason-code totals."""
    if not rows:
        return
    columns = ("pupil_id", "urn", "academic_year", "code", "sessions")
    values = [(pid, urn, academic_year, code, n) for pid, code, n in rows]
    if _is_pg(db):
        _copy_upsert(db, "enrolment_code_totals", columns, ("varchar", "int4", "int4", "varchar", "int4"), values, _CODE_CONFLICT)
    else:
        driver_connection(db).executemany(f"INSERT INTO enrolment_code_totals ({', '.join(columns)}) VALUES (?, ?, ?, ?, ?) {_CODE_CONFLICT}",
                                values)


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
