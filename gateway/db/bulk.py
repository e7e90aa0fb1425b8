"""The bulk paths of the repositories, each written once for both dialects.

A national day is 8.1 million pupil-days, so rows go in with PostgreSQL's binary COPY (or one
executemany on SQLite) and running totals move with multi-row upserts, never row-at-a-time ORM
inserts. On PostgreSQL an upsert is a COPY into a staging table and one INSERT ... SELECT ... ON
CONFLICT from it; on SQLite, an executemany of the same INSERT ... ON CONFLICT. Both go through the
driver's connection under the session's transaction, skipping SQLAlchemy's per-statement work.

Table and column names given to these functions are the repositories' own constants, never client
input; values are always bound.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.db.session import driver_connection, is_postgres

#: Rows per multi-row statement: keeps under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters.
CHUNK = 1000


def chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def insert_on_conflict(db: Session, table: Any) -> Any:
    """An INSERT of the session's dialect, which takes ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` (the two dialects spell the clause alike)."""
    return postgresql.insert(table) if is_postgres(db) else sqlite.insert(table)


def sqlite_value(value: Any) -> Any:
    """A timestamp or date as SQLite stores it (what ``base.UTCDateTime`` and ``Date`` bind)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


#: The register's staging table (``repositories.registers.store_register``): one row per pupil, what
#: its marks, totals and reason codes need, as (column, type, binary COPY type).
REGISTER_STAGE: tuple[tuple[str, str, str], ...] = (
    ("pupil_id", "varchar(64)", "varchar"),
    ("am", "varchar(2)", "varchar"),
    ("pm", "varchar(2)", "varchar"),
    ("year_group", "varchar(2)", "varchar"),
    ("sen_status", "varchar(1)", "varchar"),
    ("fsm_eligible", "boolean", "bool"),
    *((name, "integer", "int4")
      for name in ("possible", "present", "aea", "authorised", "unauthorised", "not_counted")),
    ("code1", "varchar(2)", "varchar"),
    ("n1", "integer", "int4"),
    ("code2", "varchar(2)", "varchar"),
    ("n2", "integer", "int4"),
)

#: PostgreSQL staging tables of the bulk writes: TEMP (one set per connection) and ON COMMIT DELETE
#: ROWS (truncated at every commit, so never bloated); one filled twice in a transaction is emptied
#: first. Rows reach them by binary COPY, which costs the client less than half what text COPY does.
#: An upsert into table ``t`` stages its rows in ``stage_t``.
_STAGES = {
    "stage_register": ", ".join(f"{name} {ddl}" for name, ddl, _ in REGISTER_STAGE),
    "stage_enrolment_code_totals": "LIKE enrolment_code_totals",
    "stage_data_keys": "LIKE data_keys",
    "stage_pupil_identities": "LIKE pupil_identities",
}
_CREATE_STAGES = "; ".join(
    f"CREATE TEMP TABLE IF NOT EXISTS {name} ({ddl}) ON COMMIT DELETE ROWS" for name, ddl in _STAGES.items()
)


def copy_in(db: Session, cur: Any, stage: str, columns: Sequence[str], types: Sequence[str],
            rows: Iterable[tuple[Any, ...]]) -> None:
    """PostgreSQL: binary COPY of rows into an empty staging table, on the cursor ``cur``. The
    staging tables are made sure of once per transaction, in one round trip (made in a transaction
    that rolls back, they go with it)."""
    transaction = db.get_transaction()
    state = db.info.get("gateway_stages")
    if state is None or state[0] is not transaction:
        cur.execute(_CREATE_STAGES)
        state = db.info["gateway_stages"] = (transaction, set())
    if stage in state[1]:
        cur.execute(f"DELETE FROM {stage}")  # noqa: S608 (a name of _STAGES)
    state[1].add(stage)
    _copy(cur, stage, columns, types, rows)


def _copy(cur: Any, table: str, columns: Sequence[str], types: Sequence[str],
          rows: Iterable[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(list(types))
        write = copy.write_row
        for row in rows:
            write(row)


def _insert_sql(table: str, columns: Sequence[str], conflict: str) -> str:
    placeholders = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) {conflict}".rstrip()  # noqa: S608 (names)


def _for_sqlite(types: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> Iterable[tuple[Any, ...]]:
    """Rows with their timestamps and dates as SQLite stores them; other rows pass as they are."""
    dated = [i for i, t in enumerate(types) if t in ("timestamptz", "date")]
    if not dated:
        return rows
    stored: dict[Any, Any] = {}  # a bulk write's rows mostly share one timestamp: format it once
    out = []
    for row in rows:
        values = list(row)
        for i in dated:
            value = values[i]
            if value not in stored:
                stored[value] = sqlite_value(value)
            values[i] = stored[value]
        out.append(tuple(values))
    return out


def executemany(db: Session, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]],
                conflict: str = "") -> None:
    """SQLite: one executemany of ``INSERT INTO table (columns) VALUES (?, ...) conflict``, the rows
    already as SQLite stores them."""
    driver_connection(db).executemany(_insert_sql(table, columns, conflict), rows)


def insert_rows(db: Session, table: str, columns: Sequence[str], types: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> None:
    """Append rows that conflict with nothing: one binary COPY straight into the table on
    PostgreSQL (``types`` are its COPY types), one executemany on SQLite."""
    if not rows:
        return
    if is_postgres(db):
        with driver_connection(db).cursor() as cur:
            _copy(cur, table, columns, types, rows)
        return
    executemany(db, table, columns, _for_sqlite(types, rows))


def upsert_rows(db: Session, table: str, columns: Sequence[str], types: Sequence[str],
                rows: Sequence[tuple[Any, ...]], conflict: str, *, returning: str | None = None) -> list[Any]:
    """Insert rows with an ``ON CONFLICT`` clause. PostgreSQL: COPY into the table's staging table,
    then one ``INSERT ... SELECT ... conflict``; rows must be unique on the conflict target. SQLite:
    one executemany.

    With ``returning`` (one of the columns), the values of that column of the rows actually written
    (a row that ``DO NOTHING`` skipped is not among them); SQLite then writes the rows one by one,
    which it may: its writers are serialised, so nobody can write in between."""
    if not rows:
        return []
    if is_postgres(db):
        cols = ", ".join(columns)
        stage = f"stage_{table}"
        with driver_connection(db).cursor() as cur:
            copy_in(db, cur, stage, columns, types, rows)
            cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} {conflict}"  # noqa: S608 (our names)
                        + (f" RETURNING {returning}" if returning else ""))
            return [r[0] for r in cur.fetchall()] if returning else []
    values = _for_sqlite(types, rows)
    if returning is None:
        executemany(db, table, columns, values, conflict)
        return []
    sql, position = _insert_sql(table, columns, conflict), columns.index(returning)
    driver = driver_connection(db)
    return [row[position] for row in values if driver.execute(sql, row).rowcount]
