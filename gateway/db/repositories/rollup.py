"""The pupil-year rollup and the statistics cells, kept exact at ingest (docs/differential-privacy.md
5.1, stage 2).

``pupil_years`` holds one row per pupil per academic year: the totals of all their enrolments and the
attributes of the one they are attributed to, worked out by the same SQL as the statistics'
collapse (``statistics.pick_sql``). ``stats_cells`` holds the clean ones (``anonymisation.dp.
is_clean_pupil_year``) with possible sessions summed per combination of attributes. A year-to-date
statistic then reads a few thousand cells, plus the rare pupil-years that need clamping, instead of
collapsing every enrolment of the year (``statistics._rollup_sql``).

:func:`refresh` runs in the transaction that moved some pupils' enrolments (a register, a correction, a
school's new LA or phase from GIAS): it recomputes those pupils' rows from their enrolments and moves
the cells by the difference. On PostgreSQL the pupils' rows are locked first, in pupil order (a row is
inserted for a new pupil so that there is one to lock), and only then are the enrolments read: two
schools' registers sharing a pupil (dual registration) take turns, and the second one reads the
first one's committed totals. Cells are moved in attribute order. SQLite has one writer at a time.

On PostgreSQL that is two statements per register: one that inserts the missing rows and locks the
others (``ON CONFLICT DO UPDATE ... WHERE false`` locks a conflicting row without writing a new
version of it), then one that recomputes the rows, compares them with the stored ones, writes the
changed ones and moves the cells, all in SQL (:func:`_refresh_pg_sql`). Its snapshot is taken after the
locks are held, so the stored rows it reads are the latest committed ones. SQLite compares in Python.

:func:`rebuild` recomputes both tables from the enrolments (migration 0006, ``gateway stats rebuild``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from anonymisation import cell_keysets as keysets
from anonymisation import dp as adp
from gateway.db import bulk
from gateway.db.models import Enrolment, PupilYearRollup, School, StatsCell
from gateway.db.repositories import statistics
from gateway.db.session import driver_connection, is_postgres
from policies.thresholds import persistent_sql, severe_sql
from schemas.calendar import academic_year_bounds

#: SQLite: pupils per statement (bound parameters).
_CHUNK = 5000
_ROW_COLUMNS = ("pupil_id", "attributes", "possible", "authorised", "unauthorised", "last_date")
#: A stored row is rewritten when any of these differ (last_date too: a register of sessions that are
#: not possible moves no total, but the public bound, and so ``clean``, follows the last date).
_COMPARED = ("attributes", "possible", "authorised", "unauthorised", "last_date", "clean")
_CELL_COLUMNS = ("pupils", "possible", "authorised", "unauthorised", "pa", "severe")


def _pupils_tail(dialect: str) -> str:
    """The collapse of ``en`` (one row per enrolment) to one row per pupil."""
    return f"""
    ), packed AS (
        SELECT en.pupil_id, en.possible, en.authorised, en.unauthorised, en.last_date,
               {statistics.pick_sql(dialect)} AS pick
        FROM en
    )
    SELECT pupil_id, CAST(MAX(pick) & {statistics.ATTRIBUTE_MASK} AS INTEGER) AS attributes,
           CAST(SUM(possible) AS INTEGER) AS possible, CAST(SUM(authorised) AS INTEGER) AS authorised,
           CAST(SUM(unauthorised) AS INTEGER) AS unauthorised, MAX(last_date) AS last_date
    FROM packed
    GROUP BY pupil_id"""  # noqa: S608 (our constants only; values are bound)


@cache
def _pupils_sql(dialect: str, *, restricted: bool) -> str:
    """Each pupil's row of the year from their enrolments: attributes of the enrolment with the
    largest ``pick`` (most possible sessions, then latest, then higher URN), totals summed, latest
    last date. ``restricted``: only the pupils in ``:pupil_ids``. Every name spliced in is one of our
    constants; values are bound."""
    kind, out_of_scope = statistics.SCHOOL_KIND_SQL, statistics.OUT_OF_SCOPE_LA
    if restricted and dialect == "postgresql":
        # A register's pupils: their enrolments found by primary key, pupil by pupil, and each
        # enrolment's school by primary key (the fenced LATERALs keep PostgreSQL from planning a scan of
        # the year's enrolments when its statistics lag behind a day's inserts, or from hashing all
        # 21,000 schools for a few hundred enrolments).
        enrolments = f"""
    WITH en AS (
        SELECT e.pupil_id, e.urn, e.year_group, e.sen_status, e.fsm_eligible, e.last_date,
               e.sessions_possible AS possible, e.sessions_authorised AS authorised,
               e.sessions_unauthorised AS unauthorised, s.kind, s.la_idx
        FROM unnest(string_to_array(:pupil_ids, ',')) AS w(pupil_id)
        CROSS JOIN LATERAL (
            SELECT * FROM enrolments e
            WHERE e.pupil_id = w.pupil_id AND e.academic_year = :academic_year OFFSET 0
        ) e
        CROSS JOIN LATERAL (
            SELECT {kind} AS kind,
                   COALESCE(array_position(CAST(ARRAY[{_la_codes_literal()}] AS varchar[]),
                                           CAST(s.la_code AS varchar)) - 1,
                            {out_of_scope}) AS la_idx
            FROM schools s WHERE s.urn = e.urn OFFSET 0
        ) s"""  # noqa: S608 (our constants only; values are bound)
    else:
        # Each school's kind and LA index worked out once per school; the whole-year rebuild fences
        # the step (PostgreSQL's OFFSET 0) so that it is hashed per school, not redone per enrolment.
        fence = "OFFSET 0" if dialect == "postgresql" else ""
        only = "AND e.pupil_id IN (SELECT value FROM json_each(:pupil_ids))" if restricted else ""
        if restricted:  # SQLite, a register's pupils: no join to a VALUES list per enrolment
            codes = "," + _la_codes_literal().replace("'", "").replace(" ", "") + ","
            position = f"instr('{codes}', ',' || s.la_code || ',')"
            return f"""
    WITH en AS (
        SELECT e.pupil_id, e.urn, e.year_group, e.sen_status, e.fsm_eligible, e.last_date,
               e.sessions_possible AS possible, e.sessions_authorised AS authorised,
               e.sessions_unauthorised AS unauthorised, {kind} AS kind,
               CASE WHEN length(s.la_code) = 3 AND {position} > 0 THEN ({position} - 1) / 4
                    ELSE {out_of_scope} END AS la_idx
        FROM enrolments e
        JOIN schools s ON s.urn = e.urn
        WHERE e.academic_year = :academic_year {only}""" + _pupils_tail(dialect)  # noqa: S608 (our constants only)
        enrolments = f"""
    WITH la_key (la_code, la_idx) AS (VALUES {statistics.la_key_sql()[0]}
    ), school AS (
        SELECT s.urn, {kind} AS kind, COALESCE(la_key.la_idx, {out_of_scope}) AS la_idx
        FROM schools s
        LEFT JOIN la_key ON la_key.la_code = s.la_code
        {fence}
    ), en AS (
        SELECT e.pupil_id, e.urn, e.year_group, e.sen_status, e.fsm_eligible, e.last_date,
               e.sessions_possible AS possible, e.sessions_authorised AS authorised,
               e.sessions_unauthorised AS unauthorised, s.kind, s.la_idx
        FROM enrolments e
        JOIN school s ON s.urn = e.urn
        WHERE e.academic_year = :academic_year {only}"""  # noqa: S608 (our constants only; values are bound)
    return enrolments + _pupils_tail(dialect)


def _la_codes_literal() -> str:
    codes = keysets.values_for("la")
    if not all(isinstance(c, str) and c.isdigit() and len(c) == 3 for c in codes):  # never needs escaping
        raise ValueError("LA codes must be three digits")
    return ", ".join(f"'{c}'" for c in codes)


def _params(academic_year: int) -> dict[str, Any]:
    return {"academic_year": academic_year, **statistics.la_key_sql()[1]}


def _joined(values: Iterable[Any]) -> str:
    """A list for PostgreSQL as one comma-separated string (``string_to_array``): pupil ids are hex,
    the rest numbers, ISO dates and t/f, so none holds a comma; psycopg adapts one string far
    faster than a list of them."""
    return ",".join(values)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _row(academic_year: int, raw: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(_ROW_COLUMNS, raw, strict=True))
    row["last_date"] = _date(row["last_date"])
    row["clean"] = adp.is_clean_pupil_year(
        row["possible"], row["authorised"], row["unauthorised"], row["last_date"],
        academic_year_bounds(academic_year)[0],
    )
    return row


def _counted(row: dict[str, Any]) -> bool:
    return bool(row["clean"]) and row["possible"] > 0


def _contribution(row: dict[str, Any]) -> tuple[int, ...]:
    return adp.cell_contribution(row["possible"], row["authorised"], row["unauthorised"])


def _driver_sql(sql: str, dialect: str) -> str:
    """Our ``:name`` statements in the DBAPI's own style: sqlite3 takes ``:name`` as it is; psycopg
    wants ``%(name)s``, and a literal ``%`` doubled."""
    if dialect != "postgresql":
        return sql
    return re.sub(r"(?<![:\w]):([a-z_][a-z0-9_]*)", r"%(\1)s", sql.replace("%", "%%"))


_PG_SQL: dict[str, str] = {}


def _run(db: Session, sql: str, params: dict[str, Any] | Sequence[dict[str, Any]], *,
         many: bool = False) -> Any:
    """Execute on the session's own DBAPI connection (inside its transaction), skipping SQLAlchemy's
    per-statement work: a register's refresh is a handful of statements on every feed."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        sql = _PG_SQL.get(sql) or _PG_SQL.setdefault(sql, _driver_sql(sql, dialect))
    cursor = driver_connection(db).cursor()
    if many:
        cursor.executemany(sql, params)
    else:
        cursor.execute(sql, params)
    return cursor


def _ids_param(dialect: str, pupil_ids: Sequence[str]) -> str:
    """A list of pupil ids as one string: comma-separated for PostgreSQL's ``string_to_array``, a
    JSON array for SQLite's ``json_each`` (ids are hex: nothing to escape either way)."""
    return _joined(pupil_ids) if dialect == "postgresql" else json.dumps(list(pupil_ids))


def _new_rows(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> list[dict[str, Any]]:
    dialect = db.get_bind().dialect.name
    params = {"academic_year": academic_year, "pupil_ids": _ids_param(dialect, pupil_ids)}
    rows = _run(db, _pupils_sql(dialect, restricted=True), params).fetchall()
    return [_row(academic_year, r) for r in rows]


#: PostgreSQL: inserts a placeholder row for each pupil without one and locks the rows of the others,
#: in the order of the list (sorted): every conflicting row of ``ON CONFLICT DO UPDATE`` is locked, and
#: with a ``WHERE`` that is never true none is updated (no new row version, no WAL but the lock's).
_LOCK_PG = """
    INSERT INTO pupil_years
        (academic_year, pupil_id, attributes, possible, authorised, unauthorised, last_date, clean)
    SELECT :academic_year, p, -1, 0, 0, 0, :year_start, false
    FROM unnest(string_to_array(:pupil_ids, ',')) AS p
    ON CONFLICT (academic_year, pupil_id) DO UPDATE SET clean = excluded.clean WHERE false"""
_OLD_SQLITE = """
    SELECT pupil_id, attributes, possible, authorised, unauthorised, last_date, clean FROM pupil_years
    WHERE academic_year = :academic_year AND pupil_id IN (SELECT value FROM json_each(:pupil_ids))"""


def _old_rows(db: Session, academic_year: int, pupil_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The pupils' stored rows (SQLite; PostgreSQL reads them in :func:`_refresh_pg_sql`)."""
    columns = ("pupil_id", "attributes", "possible", "authorised", "unauthorised", "last_date", "clean")
    params = {"academic_year": academic_year, "pupil_ids": _ids_param("sqlite", pupil_ids)}
    rows = _run(db, _OLD_SQLITE, params).fetchall()
    out = {}
    for r in rows:
        row = dict(zip(columns, r, strict=True))
        row["last_date"], row["clean"] = _date(row["last_date"]), bool(row["clean"])
        out[r[0]] = row
    return out


_INSERT_ROWS = ("INSERT INTO pupil_years "
                "(academic_year, pupil_id, attributes, possible, authorised, unauthorised, "
                "last_date, clean)")
_ROW_CONFLICT = """
    ON CONFLICT (academic_year, pupil_id) DO UPDATE SET attributes = excluded.attributes,
        possible = excluded.possible, authorised = excluded.authorised, unauthorised = excluded.unauthorised,
        last_date = excluded.last_date, clean = excluded.clean"""
_UPSERT_ROW = _INSERT_ROWS + """
    VALUES (:academic_year, :pupil_id, :attributes, :possible, :authorised, :unauthorised, :last_date, :clean)
""" + _ROW_CONFLICT
_INSERT_CELLS = ("INSERT INTO stats_cells "
                 "(academic_year, attributes, pupils, possible, authorised, unauthorised, pa, severe)")
#: Cells move by differences: each sum gains the excluded row's.
_CELL_CONFLICT = "\n    ON CONFLICT (academic_year, attributes) DO UPDATE SET " + ", ".join(
    f"{c} = stats_cells.{c} + excluded.{c}" for c in _CELL_COLUMNS
)
_MOVE_CELL = _INSERT_CELLS + """
    VALUES (:academic_year, :attributes, :pupils, :possible, :authorised, :unauthorised, :pa, :severe)
""" + _CELL_CONFLICT


#: The cells' sums of one pupil-year ``{t}``, as ``anonymisation.dp.cell_contribution``.
_ABSENT, _POSSIBLE = "{t}.authorised + {t}.unauthorised", "{t}.possible"
_CONTRIBUTION = ("1", "{t}.possible", "{t}.authorised", "{t}.unauthorised",
                 f"CASE WHEN {persistent_sql(_ABSENT, _POSSIBLE)} THEN 1 ELSE 0 END",
                 f"CASE WHEN {severe_sql(_ABSENT, _POSSIBLE)} THEN 1 ELSE 0 END")
#: ``anonymisation.dp.is_clean_pupil_year`` of pupil-year ``{t}`` with the bound ``{bound}`` (``S_t`` of its
#: last date), as a condition (tests hold the two to each other).
_CLEAN = ("{t}.authorised >= 0 AND {t}.unauthorised >= 0"
          " AND {t}.authorised + {t}.unauthorised <= {t}.possible AND {t}.possible <= {bound}")


@cache
def _refresh_pg_sql() -> str:
    """:func:`refresh` on PostgreSQL after the lock, in one statement: the pupils' rows recomputed from
    their enrolments (``new``; ``clean`` by the rule of ``anonymisation.dp.is_clean_pupil_year``, as
    :func:`_rebuild_sql`, with ``S_t`` looked up in the ``:bounds`` array by the last date's day of the
    year), the stored rows (``old``), the rows that differ written, rows of pupils without an enrolment
    deleted, and the cells moved by the difference, in attribute order. Returns the rows written.

    Every pupil has a row by then (:data:`_LOCK_PG`, its only caller's first statement), locked by
    this transaction: it is rewritten and deleted by its row address (``ctid``, read with it), not
    looked up in the primary key again."""
    compared = ", ".join(f"{{t}}.{c}" for c in _COMPARED)
    minus = ", ".join(f"-({c.format(t='o')})" for c in _CONTRIBUTION)
    plus = ", ".join(c.format(t="c") for c in _CONTRIBUTION)
    sums = ", ".join(f"SUM({c}) AS {c}" for c in _CELL_COLUMNS)
    nonzero = " OR ".join(f"SUM({c}) <> 0" for c in _CELL_COLUMNS)
    cell_columns = ", ".join(_CELL_COLUMNS)
    bound = "(CAST(:bounds AS integer[]))[f.last_date - CAST(:year_start AS date) + 1]"
    return f"""
    WITH fresh AS ({_pupils_sql("postgresql", restricted=True)}
    ), new AS (
        SELECT f.pupil_id, f.attributes, f.possible, f.authorised, f.unauthorised, f.last_date,
               CASE WHEN {_CLEAN.format(t="f", bound=bound)}
                    THEN true ELSE false END AS clean
        FROM fresh f
    ), old AS (
        SELECT o.* FROM unnest(string_to_array(:pupil_ids, ',')) AS w(pupil_id)
        CROSS JOIN LATERAL (
            SELECT ctid AS row_ctid, pupil_id, attributes, possible, authorised, unauthorised, last_date,
                   clean
            FROM pupil_years p WHERE p.academic_year = :academic_year AND p.pupil_id = w.pupil_id LIMIT 1
        ) o
    ), changed AS (
        SELECT n.*, o.row_ctid FROM new n JOIN old o ON o.pupil_id = n.pupil_id
        WHERE ({compared.format(t="n")}) IS DISTINCT FROM ({compared.format(t="o")})
    ), left_behind AS (
        SELECT o.* FROM old o WHERE NOT EXISTS (SELECT 1 FROM new n WHERE n.pupil_id = o.pupil_id)
    ), gone AS (
        DELETE FROM pupil_years p WHERE p.ctid = ANY(ARRAY(SELECT row_ctid FROM left_behind))
    ), updated AS (
        UPDATE pupil_years p SET {", ".join(f"{c} = c.{c}" for c in (*_ROW_COLUMNS[1:], "clean"))}
        FROM changed c WHERE p.ctid = c.row_ctid
        RETURNING 1
    ), moves AS (
        SELECT attributes, {sums} FROM (
            SELECT o.attributes, {minus} FROM old o
            WHERE o.clean AND o.possible > 0
              AND (o.pupil_id IN (SELECT pupil_id FROM changed)
                   OR o.pupil_id IN (SELECT pupil_id FROM left_behind))
            UNION ALL
            SELECT c.attributes, {plus} FROM changed c WHERE c.clean AND c.possible > 0
        ) AS d ({"attributes, " + cell_columns})
        GROUP BY attributes
        HAVING {nonzero}
    ), cells AS (
        {_INSERT_CELLS}
        SELECT :academic_year, attributes, {cell_columns} FROM moves ORDER BY attributes
        {_CELL_CONFLICT.strip()}
    )
    SELECT count(*) FROM updated"""  # noqa: S608 (our constants only; values are bound)


@cache
def _day_bounds(academic_year: int) -> tuple[int, ...]:
    """``S_t`` (``anonymisation.dp.sessions_possible_bound``) for every day of the year, from its start."""
    start, end = academic_year_bounds(academic_year)
    days = range((end - start).days + 1)
    return tuple(adp.sessions_possible_bound(start, start + dt.timedelta(days=d)) for d in days)


@cache
def _bounds(academic_year: int) -> str:
    """:func:`_day_bounds` as a PostgreSQL array literal, indexed by day of the year plus one."""
    return "{" + ",".join(map(str, _day_bounds(academic_year))) + "}"


def _refresh_pg(db: Session, academic_year: int, ids: list[str]) -> int:
    params = {"academic_year": academic_year, "pupil_ids": _joined(ids),
              "year_start": academic_year_bounds(academic_year)[0]}
    _run(db, _LOCK_PG, params)
    return int(_run(db, _refresh_pg_sql(), params | {"bounds": _bounds(academic_year)}).fetchone()[0])


def refresh(db: Session, academic_year: int, pupil_ids: Iterable[str]) -> int:
    """Bring these pupils' rows of the year and the cells they count in up to date with their
    enrolments, in the caller's transaction; the number of pupils whose row changed."""
    ids = sorted(set(pupil_ids))
    if not ids:
        return 0
    if is_postgres(db):
        return _refresh_pg(db, academic_year, ids)
    old = _old_rows(db, academic_year, ids)
    new = {row["pupil_id"]: row for row in _new_rows(db, academic_year, ids)}
    cells: dict[int, list[int]] = defaultdict(lambda: [0] * len(_CELL_COLUMNS))
    changed = []
    for pid in ids:
        before, after = old.get(pid), new.get(pid)
        if before is not None and after is not None and all(
            before[c] == after[c] for c in _COMPARED
        ):
            continue
        if before is not None and _counted(before):
            for i, v in enumerate(_contribution(before)):
                cells[before["attributes"]][i] -= v
        if after is not None:
            changed.append(after)
            if _counted(after):
                for i, v in enumerate(_contribution(after)):
                    cells[after["attributes"]][i] += v
    gone = [pid for pid in ids if pid in old and pid not in new]
    if gone:  # no enrolment left this year (not reachable through ingest today; kept exact anyway)
        db.execute(delete(PupilYearRollup).where(PupilYearRollup.academic_year == academic_year,
                                                 PupilYearRollup.pupil_id.in_(gone)))
    if changed:
        _run(db, _UPSERT_ROW, [{"academic_year": academic_year, **r,
                                "last_date": r["last_date"].isoformat(), "clean": int(r["clean"])}
                               for r in changed], many=True)
    moves = [{"attributes": a, **dict(zip(_CELL_COLUMNS, v, strict=True))}
             for a, v in sorted(cells.items()) if any(v)]
    if moves:
        _run(db, _MOVE_CELL, [{"academic_year": academic_year, **m} for m in moves], many=True)
    return len(changed)


def school_attributes(db: Session) -> dict[int, tuple[Any, ...]]:
    """URN -> (LA code, phase, type of establishment): what a school gives its pupils' attributes."""
    rows = db.execute(select(School.urn, School.la_code, School.phase, School.type_of_establishment))
    return {int(urn): (la, phase, kind) for urn, la, phase, kind in rows}


def refresh_schools(db: Session, urns: Iterable[int]) -> int:
    """After a school's LA, phase or type changed: refresh every pupil with an enrolment there, in
    every academic year; the number of pupil-years changed."""
    urns = sorted(set(urns))
    if not urns:
        return 0
    by_year: dict[int, list[str]] = defaultdict(list)
    for chunk in bulk.chunks(urns, _CHUNK):
        rows = db.execute(select(Enrolment.academic_year, Enrolment.pupil_id).where(Enrolment.urn.in_(chunk)))
        for year, pid in rows:
            by_year[year].append(pid)
    return sum(refresh(db, year, pids) for year, pids in sorted(by_year.items()))


_CELLS_FROM_PUPILS = _INSERT_CELLS + f"""
    SELECT academic_year, attributes, {", ".join(f"SUM({c.format(t='p')})" for c in _CONTRIBUTION)}
    FROM pupil_years p
    WHERE academic_year = :academic_year AND clean AND possible > 0
    GROUP BY academic_year, attributes"""  # noqa: S608 (our constants only)


def _rebuild_sql(dialect: str, academic_year: int) -> str:
    """INSERT every pupil-year of the year, with ``clean`` worked out in SQL: the same rule as
    ``anonymisation.dp.is_clean_pupil_year`` (tests hold the two to each other), its bound looked up
    by the last date's day of the year in a VALUES list of ``sessions_possible_bound``."""
    bounds = ", ".join(f"({day}, {bound})" for day, bound in enumerate(_day_bounds(academic_year)))
    if dialect == "postgresql":
        offset, true, false = "(p.last_date - CAST(:year_start AS date))", "true", "false"
    else:
        offset, true, false = "CAST(julianday(p.last_date) - julianday(:year_start) AS INTEGER)", "1", "0"
    return _INSERT_ROWS + f"""
    SELECT :academic_year, p.pupil_id, p.attributes, p.possible, p.authorised, p.unauthorised, p.last_date,
           CASE WHEN {_CLEAN.format(t="p", bound="b.bound")} THEN {true} ELSE {false} END
    FROM ({_pupils_sql(dialect, restricted=False)}) p
    LEFT JOIN (SELECT column1 AS day, column2 AS bound FROM (VALUES {bounds}) AS v) b ON b.day = {offset}"""  # noqa: S608


def rebuild(db: Session, academic_year: int | None = None) -> dict[int, int]:
    """Recompute ``pupil_years`` and ``stats_cells`` from the enrolments (every year with
    enrolments, or one), in SQL; pupil-years per year."""
    dialect = db.get_bind().dialect.name
    done = {}
    for year in years(db) if academic_year is None else [academic_year]:
        db.execute(delete(StatsCell).where(StatsCell.academic_year == year))
        db.execute(delete(PupilYearRollup).where(PupilYearRollup.academic_year == year))
        year_start = academic_year_bounds(year)[0]
        params = _params(year) | {"year_start": year_start if dialect == "postgresql"
                                  else year_start.isoformat()}
        done[year] = db.execute(text(_rebuild_sql(dialect, year)), params).rowcount
        db.execute(text(_CELLS_FROM_PUPILS), {"academic_year": year})
    return done


def years(db: Session) -> list[int]:
    """Academic years with enrolments or rollup rows."""
    found = set(db.scalars(select(Enrolment.academic_year).distinct()))
    return sorted(found | set(db.scalars(select(PupilYearRollup.academic_year).distinct())))


def cells(db: Session, academic_year: int) -> dict[int, tuple[int, ...]]:
    """The year's non-empty cells as stored (attributes -> the six sums), for checks."""
    rows = db.execute(select(StatsCell).where(StatsCell.academic_year == academic_year)).scalars()
    out = {}
    for c in rows:
        values = tuple(int(getattr(c, name)) for name in _CELL_COLUMNS)
        if any(values):
            out[c.attributes] = values
    return out


def pupil_rows(db: Session, academic_year: int) -> dict[str, tuple[Any, ...]]:
    """The year's pupil rows as stored, for checks."""
    rows = db.execute(select(PupilYearRollup).where(PupilYearRollup.academic_year == academic_year)).scalars()
    return {r.pupil_id: (r.attributes, r.possible, r.authorised, r.unauthorised, _date(r.last_date),
                         bool(r.clean))
            for r in rows}
