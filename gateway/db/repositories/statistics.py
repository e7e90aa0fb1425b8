"""SQL for the differentially private statistics: the exact aggregate (the privacy-budget ledger is in
``repositories.budget``).

The exact aggregate is privacy-critical code (docs/differential-privacy.md 4, point 8): every noise
scale rests on it giving each pupil one row, clamped, in at most one public cell. It is one fixed
template, read top to bottom:

1. ``school``: each school's kind (primary, secondary, special, all-through, out of scope), from its
   GIAS phase of education and type of establishment (:func:`phase_key` says the same in Python),
   and its LA's index in the key set. A pupil's LA is the LA of the school of the enrolment they are
   attributed to, as in DfE's school-based LA figures (at ingest an enrolment takes its school's LA).
   Worked out once per school, not once per enrolment.
2. ``enrolment``: one row per enrolment of the academic year with its session totals: the running
   totals for the year to date, or the marks of the window summed per enrolment.
3. ``packed``: each enrolment's attributes as public key-set indexes (out-of-scope values get an index
   past the end), packed with the attribution order into one 64-bit integer, ``pick``.
4. ``pupil``: the collapse to one row per pupil (the privacy unit: a pupil's academic year) by
   ``GROUP BY pupil_id``: totals summed over the pupil's enrolments, attributes from one of them, the
   one with the most possible sessions, then the latest last date, then the higher URN, exactly as
   ``anonymisation.dp.collapse_to_pupil_year``: that enrolment has the largest ``pick``. The summed
   totals are clamped here: possible sessions to ``[0, S_t]``, authorised to ``[0, possible]``,
   unauthorised to ``[0, possible - authorised]`` (``anonymisation.dp.clamp_pupil_year``), so one
   pupil moves a session sum by at most ``S_t``; ``S_t`` is public (the service derives it from the
   calendar, not the data).
5. ``scoped``: ``in_scope`` marks pupils with possible sessions whose every attribute is in the public
   key sets, whatever the grouping (``anonymisation.cell_keysets.in_scope``).
6. ``cells``: the GROUP BY of ``in_scope`` and the requested dimensions, in 64-bit integers.
7. the public key set (``anonymisation.cell_keysets``: index VALUES lists, cross joined) LEFT JOINed *to* the
   in-scope cells, so that every public cell is there, empty ones as 0, and nothing else.

The scope test sits in the join rather than a WHERE so that PostgreSQL cannot push it into the
per-pupil aggregate, where it wrecks the row estimates (and ``cells`` is MATERIALIZED for the same
reason): with them, the planner sorts every pupil to group a few hundred cells.

Why ``pick`` rather than ``ROW_NUMBER() OVER (PARTITION BY pupil_id ...)``: both say the same, but a
window sorts every enrolment of the year by a 64-character pseudonym, several times slower on
PostgreSQL than one hash aggregate (bench/stats.py). Its bits, most significant first: possible
sessions (10 bits, 0-1023: an enrolment has at most 2 x 366 = 732), days since 2000-01-01 of the last
date (15 bits, to 2089), URN (20 bits, six digits), then the attributes (17 bits): LA index (8),
phase (2), year group (4), SEN status (2), FSM (1). URN is unique within a pupil's year, so the
attributes never decide the order. 62 bits in all: a signed 64-bit integer on both backends.

Tests compare this, on SQLite and PostgreSQL, with the pure reference ``exact_aggregate``.

Year to date, the same steps 1-4 have already run at ingest, one register's pupils at a time, into
the rollup (``gateway.db.repositories.rollup``: ``pupil_years`` and ``stats_cells``), and
:func:`_rollup_sql` starts from there; the template above serves other windows, and tests hold the
two to each other.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from anonymisation import cell_keysets as keysets
from anonymisation import dp as adp
from gateway.db.models import PupilYearRollup, Register, School
from policies.thresholds import persistent_sql, severe_sql
from schemas.calendar import academic_year_bounds

# --------------------------------------------------------------------------------------------------
# Phase: GIAS phase of education and type of establishment -> the key set's phase
# --------------------------------------------------------------------------------------------------

#: Types of establishment outside DfE's scope of state-funded primary, secondary and special schools
#: (docs/domain.md 2.2): independent and non-maintained schools, pupil referral units and alternative
#: provision (reported separately by DfE). Matched case-insensitively as substrings.
OUT_OF_SCOPE_TYPES: tuple[str, ...] = (
    "independent",
    "non-maintained",
    "alternative provision",
    "pupil referral unit",
)
#: A state-funded special school is special whatever its phase of education (GIAS gives most of them
#: "Not applicable"): community, foundation, academy and free special schools.
SPECIAL_TYPE = "special"
#: GIAS phases of education. Middle schools are "deemed" primary or secondary by DfE, and are counted
#: in that phase; all-through schools are split by the pupil's year group (Reception to Year 6
#: primary, Years 7 to 11 secondary). Nursery, 16 plus and "Not applicable" (non-special) are out of scope.
PRIMARY_PHASES: tuple[str, ...] = ("Primary", "Middle deemed primary")
SECONDARY_PHASES: tuple[str, ...] = ("Secondary", "Middle deemed secondary")
ALL_THROUGH_PHASE = "All-through"
ALL_THROUGH_PRIMARY_YEARS: tuple[str, ...] = ("R", "1", "2", "3", "4", "5", "6")
ALL_THROUGH_SECONDARY_YEARS: tuple[str, ...] = ("7", "8", "9", "10", "11")


def phase_key(phase: str | None, type_of_establishment: str | None, year_group: str) -> str | None:
    """The key set's phase of a pupil's enrolment, or None when the school is out of scope.

    The Python statement of the SQL in :func:`_exact_sql` (tests hold the two to each other).
    """
    kind = (type_of_establishment or "").lower()
    if any(t in kind for t in OUT_OF_SCOPE_TYPES):
        return None
    if SPECIAL_TYPE in kind:
        return "special"
    if phase in PRIMARY_PHASES:
        return "primary"
    if phase in SECONDARY_PHASES:
        return "secondary"
    if phase == ALL_THROUGH_PHASE:
        if year_group in ALL_THROUGH_PRIMARY_YEARS:
            return "primary"
        if year_group in ALL_THROUGH_SECONDARY_YEARS:
            return "secondary"
    return None


def _quoted(values: Sequence[str]) -> str:
    # Our own constants, never client input; refuse anything that could need escaping.
    if not all(v.replace(" ", "").replace("-", "").isalnum() for v in values):
        raise ValueError("SQL constants must be plain words")
    return ", ".join(f"'{v}'" for v in values)


def _index_of(dimension: str) -> dict[Any, int]:
    return {value: i for i, value in enumerate(keysets.values_for(dimension))}


_PHASE = _index_of("phase")
_ALL_THROUGH = 4  # a school kind, resolved per enrolment by year group
_OUT = 3  # phase index of an out-of-scope school (past the three public phases)
_TYPE = "LOWER(COALESCE(s.type_of_establishment, ''))"
SCHOOL_KIND_SQL = f"""CASE
                WHEN {" OR ".join(f"{_TYPE} LIKE '%{t}%'" for t in OUT_OF_SCOPE_TYPES)} THEN {_OUT}
                WHEN {_TYPE} LIKE '%{SPECIAL_TYPE}%' THEN {_PHASE["special"]}
                WHEN s.phase IN ({_quoted(PRIMARY_PHASES)}) THEN {_PHASE["primary"]}
                WHEN s.phase IN ({_quoted(SECONDARY_PHASES)}) THEN {_PHASE["secondary"]}
                WHEN s.phase = '{ALL_THROUGH_PHASE}' THEN {_ALL_THROUGH}
                ELSE {_OUT}
            END"""
_PHASE_INDEX_SQL = f"""CASE WHEN en.kind <> {_ALL_THROUGH} THEN en.kind
                     WHEN en.year_group IN ({_quoted(ALL_THROUGH_PRIMARY_YEARS)}) THEN {_PHASE["primary"]}
                     WHEN en.year_group IN ({_quoted(ALL_THROUGH_SECONDARY_YEARS)}) THEN {_PHASE["secondary"]}
                     ELSE {_OUT} END"""


def _case_index(column: str, dimension: str, out: int) -> str:
    whens = " ".join(f"WHEN '{v}' THEN {i}" for v, i in _index_of(dimension).items())
    return f"CASE {column} {whens} ELSE {out} END"


# Bit layout of ``pick`` (module docstring): (name, width) from the least significant bit up.
_ATTRIBUTE_BITS = (("fsm", 1), ("sen_status", 2), ("year_group", 4), ("phase", 2), ("la", 8))
_ATTRIBUTE_WIDTH = sum(w for _, w in _ATTRIBUTE_BITS)
_SHIFT = {name: sum(w for _, w in _ATTRIBUTE_BITS[:i]) for i, (name, _) in enumerate(_ATTRIBUTE_BITS)}
_WIDTH = dict(_ATTRIBUTE_BITS)
_URN_SHIFT, _DAYS_SHIFT, _POSSIBLE_SHIFT = _ATTRIBUTE_WIDTH, _ATTRIBUTE_WIDTH + 20, _ATTRIBUTE_WIDTH + 35
_POSSIBLE_ORDER_MAX = 1023
#: Index of an out-of-scope value per dimension: one past the public values, within the field's bits.
_OUT_OF_SCOPE = {"la": 255, "phase": _OUT, "year_group": 15, "sen_status": 3}
assert _POSSIBLE_SHIFT + 10 <= 63
assert all(len(keysets.values_for(d)) <= _OUT_OF_SCOPE[d] < 2 ** _WIDTH[d] for d in _OUT_OF_SCOPE)
assert keysets.values_for("fsm") == (False, True)  # FSM's index is the boolean itself

#: Per clamped pupil row (columns possible, authorised, unauthorised), what it adds to each statistic
#: (``anonymisation.dp._contributions``). ``absent`` is authorised + unauthorised, at most possible.
_STATISTIC_SQL: Mapping[str, str] = {
    "enrolments": "COUNT(*)",
    "possible": "SUM(possible)",
    "absent": "SUM(authorised + unauthorised)",
    "authorised": "SUM(authorised)",
    "unauthorised": "SUM(unauthorised)",
    "pa": f"SUM(CASE WHEN {persistent_sql('authorised + unauthorised', 'possible')} THEN 1 ELSE 0 END)",
    "severe": f"SUM(CASE WHEN {severe_sql('authorised + unauthorised', 'possible')} THEN 1 ELSE 0 END)",
}
assert set(_STATISTIC_SQL) == set(adp.STATISTIC_NAMES)

_YEAR_TO_DATE_SOURCE = """
        SELECT e.pupil_id, e.urn, e.year_group, e.sen_status, e.fsm_eligible, e.last_date,
               e.sessions_possible AS possible, e.sessions_authorised AS authorised,
               e.sessions_unauthorised AS unauthorised, s.kind, s.la_idx
        FROM enrolments e
        JOIN school s ON s.urn = e.urn
        WHERE e.academic_year = :academic_year"""


def _sessions(codes: str) -> str:
    return f"CASE WHEN m.am IN {codes} THEN 1 ELSE 0 END + CASE WHEN m.pm IN {codes} THEN 1 ELSE 0 END"


_WINDOW_SOURCE = f"""
        SELECT e.pupil_id, e.urn, e.year_group, e.sen_status, e.fsm_eligible, w.last_date,
               w.possible, w.authorised, w.unauthorised, s.kind, s.la_idx
        FROM (
            SELECT m.pupil_id, m.urn, MAX(m.date) AS last_date,
                   SUM({_sessions(":possible_codes")}) AS possible,
                   SUM({_sessions(":authorised_codes")}) AS authorised,
                   SUM({_sessions(":unauthorised_codes")}) AS unauthorised
            FROM marks m
            WHERE m.academic_year = :academic_year AND m.date >= :window_from AND m.date <= :window_to
            GROUP BY m.pupil_id, m.urn
        ) w
        JOIN enrolments e ON e.pupil_id = w.pupil_id AND e.urn = w.urn AND e.academic_year = :academic_year
        JOIN school s ON s.urn = e.urn"""  # noqa: S608 (our constants only; values are bound)


def _clamp(value: str, upper: str, dialect: str) -> str:
    """``value`` clamped to ``[0, upper]``: LEAST/GREATEST on PostgreSQL, two-argument MIN/MAX on SQLite."""
    least, greatest = ("LEAST", "GREATEST") if dialect == "postgresql" else ("MIN", "MAX")
    return f"{least}({greatest}({value}, 0), {upper})"


def _i64(expr: str) -> str:
    return f"CAST({expr} AS BIGINT)"


def _field(name: str) -> str:
    """One attribute's index, taken back out of ``attributes`` (the low bits of ``pick``)."""
    return f"((attributes >> {_SHIFT[name]}) & {2 ** _WIDTH[name] - 1})"


def _keys_sql(dims: Sequence[str]) -> str:
    """The public key set of ``dims``: a cross join of index VALUES lists (index i is the i-th value)."""
    if not dims:
        return "(SELECT 1 AS one) k"
    parts = []
    for d in dims:
        values = ", ".join(f"({i})" for i in range(len(keysets.values_for(d))))
        parts.append(f"(SELECT column1 AS {d}_idx FROM (VALUES {values}) AS v_{d}) k_{d}")  # noqa: S608 (indexes)
    return " CROSS JOIN ".join(parts)


def pick_sql(dialect: str) -> str:
    """``pick`` (module docstring) of one row ``en`` with columns possible, last_date, urn, la_idx,
    kind, year_group, sen_status and fsm_eligible; its low bits are the attributes."""
    days = (
        "(en.last_date - DATE '2000-01-01')"
        if dialect == "postgresql"
        else "CAST(julianday(en.last_date) - julianday('2000-01-01') AS INTEGER)"
    )
    year_group = _case_index("en.year_group", "year_group", _OUT_OF_SCOPE["year_group"])
    sen_status = _case_index("en.sen_status", "sen_status", _OUT_OF_SCOPE["sen_status"])
    return f"""({_i64(_clamp("en.possible", str(_POSSIBLE_ORDER_MAX), dialect))} << {_POSSIBLE_SHIFT})
               | ({_i64(days)} << {_DAYS_SHIFT})
               | ({_i64("en.urn")} << {_URN_SHIFT})
               | ({_i64("en.la_idx")} << {_SHIFT["la"]})
               | ({_i64(_PHASE_INDEX_SQL)} << {_SHIFT["phase"]})
               | ({_i64(year_group)} << {_SHIFT["year_group"]})
               | ({_i64(sen_status)} << {_SHIFT["sen_status"]})
               | {_i64("CASE WHEN en.fsm_eligible THEN 1 ELSE 0 END")}"""


ATTRIBUTE_MASK = 2**_ATTRIBUTE_WIDTH - 1


def la_key_sql() -> tuple[str, dict[str, str]]:
    """A VALUES list (la_code, la_idx) of the public LA key set, and its bound parameters."""
    codes = keysets.values_for("la")
    sql = ", ".join(f"(:la_code_{i}, {i})" for i in range(len(codes)))
    return sql, {f"la_code_{i}": code for i, code in enumerate(codes)}


OUT_OF_SCOPE_LA = _OUT_OF_SCOPE["la"]


def _exact_sql(dims: Sequence[str], statistics: Sequence[str], *, window: bool, dialect: str) -> str:
    la_codes = la_key_sql()[0]
    in_scope = " AND ".join(f"{_field(d)} < {len(keysets.values_for(d))}" for d in _OUT_OF_SCOPE)
    join = " AND ".join(f"c.{d}_idx = k_{d}.{d}_idx" for d in dims) or "1 = 1"
    sums = ", ".join(f"{_i64(_STATISTIC_SQL[s])} AS {s}" for s in statistics)
    outputs = ", ".join(f"COALESCE(c.{s}, 0) AS {s}" for s in statistics)
    # Clamped totals, each worked out once per pupil (in the aggregate's projection, which the
    # planner cannot inline into later steps and so repeat).
    possible = _clamp("SUM(possible)", ":sessions_possible", dialect)
    authorised = _clamp("SUM(authorised)", possible, dialect)
    unauthorised = _clamp("SUM(unauthorised)", f"{possible} - {authorised}", dialect)
    # PostgreSQL: OFFSET 0 keeps the per-school step a step (worked out per school, not per enrolment)
    # without hiding its statistics, so the planner hashes the schools, not the enrolments.
    fence = "OFFSET 0" if dialect == "postgresql" else ""
    # Every name spliced in below is one of our constants or a canonical dimension; values are bound.
    sql = f"""
    WITH la_key (la_code, la_idx) AS (VALUES {la_codes}
    ), school AS (
        SELECT s.urn, {SCHOOL_KIND_SQL} AS kind,
               COALESCE(la_key.la_idx, {_OUT_OF_SCOPE["la"]}) AS la_idx
        FROM schools s
        LEFT JOIN la_key ON la_key.la_code = s.la_code
        {fence}
    ), enrolment AS ({_WINDOW_SOURCE if window else _YEAR_TO_DATE_SOURCE}
    ), packed AS (
        SELECT en.pupil_id, en.possible, en.authorised, en.unauthorised,
               {pick_sql(dialect)} AS pick
        FROM enrolment en
    ), pupil AS (
        SELECT MAX(pick) & {2**_ATTRIBUTE_WIDTH - 1} AS attributes,
               {possible} AS possible, {authorised} AS authorised, {unauthorised} AS unauthorised
        FROM packed
        GROUP BY pupil_id
    ), scoped AS (
        SELECT {"".join(f"{_field(d)} AS {d}_idx, " for d in dims)}possible, authorised, unauthorised,
               CASE WHEN possible > 0 AND {in_scope} THEN 1 ELSE 0 END AS in_scope
        FROM pupil
    ), cells AS MATERIALIZED (
        SELECT in_scope, {"".join(f"{d}_idx, " for d in dims)}{sums}
        FROM scoped
        GROUP BY in_scope{"".join(f", {d}_idx" for d in dims)}
    )
    SELECT {"".join(f"k_{d}.{d}_idx, " for d in dims)}{outputs}
    FROM {_keys_sql(dims)}
    LEFT JOIN cells c ON c.in_scope = 1 AND {join}"""  # noqa: S608 (our constants; values are bound)
    return sql


#: Per ``stats_cells`` row, what it holds of each statistic (columns pupils, possible, authorised,
#: unauthorised, pa, severe: sums over its clean pupils, see :func:`anonymisation.dp.cell_contribution`).
_CELL_SQL: Mapping[str, str] = {
    "enrolments": "pupils",
    "possible": "possible",
    "absent": "authorised + unauthorised",
    "authorised": "authorised",
    "unauthorised": "unauthorised",
    "pa": "pa",
    "severe": "severe",
}
assert set(_CELL_SQL) == set(_STATISTIC_SQL)


def _rollup_sql(dims: Sequence[str], statistics: Sequence[str], *, dialect: str) -> str:
    """The year-to-date aggregate from the rollup kept at ingest (``gateway.db.repositories.rollup``):
    the clean pupil-years come already summed per combination of attributes (``stats_cells``: their
    clamps are no-ops), the others (``pupil_years`` not clean, normally none) are clamped here exactly
    as in :func:`_exact_sql` and summed per combination; then the same scope test, grouping and
    key-set join."""
    in_scope = " AND ".join(f"{_field(d)} < {len(keysets.values_for(d))}" for d in _OUT_OF_SCOPE)
    join = " AND ".join(f"c.{d}_idx = k_{d}.{d}_idx" for d in dims) or "1 = 1"
    from_cells = ", ".join(f"{_i64(_CELL_SQL[s])} AS {s}" for s in statistics)
    from_unclean = ", ".join(f"{_i64(_STATISTIC_SQL[s])} AS {s}" for s in statistics)
    totals = ", ".join(f"{_i64(f'SUM({s})')} AS {s}" for s in statistics)
    outputs = ", ".join(f"COALESCE(c.{s}, 0) AS {s}" for s in statistics)
    group = f"GROUP BY {', '.join(_field(d) for d in dims)}" if dims else ""
    return f"""
    WITH possible_clamped AS (
        SELECT attributes, {_clamp("possible", ":sessions_possible", dialect)} AS possible,
               authorised, unauthorised
        FROM pupil_years
        WHERE academic_year = :academic_year AND NOT clean
    ), authorised_clamped AS (
        SELECT attributes, possible, {_clamp("authorised", "possible", dialect)} AS authorised, unauthorised
        FROM possible_clamped
    ), unclean AS (
        SELECT attributes, possible, authorised,
               {_clamp("unauthorised", "possible - authorised", dialect)} AS unauthorised
        FROM authorised_clamped
        WHERE possible > 0
    ), by_attributes AS (
        SELECT attributes, {from_cells} FROM stats_cells WHERE academic_year = :academic_year
        UNION ALL
        SELECT attributes, {from_unclean} FROM unclean GROUP BY attributes
    ), cells AS (
        SELECT {"".join(f"{_field(d)} AS {d}_idx, " for d in dims)}{totals}
        FROM by_attributes
        WHERE {in_scope}
        {group}
    )
    SELECT {"".join(f"k_{d}.{d}_idx, " for d in dims)}{outputs}
    FROM {_keys_sql(dims)}
    LEFT JOIN cells c ON {join}"""  # noqa: S608 (our constants and canonical dimensions; values are bound)


def exact_cells(
    db: Session,
    academic_year: int,
    by: Sequence[str],
    sessions_possible: int,
    statistics: Sequence[str],
    *,
    window: tuple[dt.date, dt.date] | None = None,
    codes: Mapping[str, Sequence[str]] | None = None,
    rollup: bool = True,
) -> list[dict[str, Any]]:
    """Exact cells over the public key set of ``by``, one dict per cell (keys and statistics), in the
    key set's order (``keysets.keys_for``).

    ``window=None`` aggregates the academic year to date: from the rollup kept at ingest
    (:func:`_rollup_sql`), or with ``rollup=False`` by collapsing the enrolments' running totals
    (:func:`_exact_sql`; the two agree, tests hold them to it). Otherwise the marks dated within the
    window, classified by ``codes`` (statistical class -> register codes). Secret: the caller noises
    these and discards them.
    """
    dims = keysets.canonical_by(by)
    unknown = [s for s in statistics if s not in _STATISTIC_SQL]
    if unknown or not statistics:
        raise ValueError(f"unknown statistics {unknown}")
    dialect = db.get_bind().dialect.name
    params: dict[str, Any] = {
        "academic_year": academic_year,
        "sessions_possible": adp.statistic("possible", sessions_possible).sensitivity,
    }
    if window is None and rollup:
        # The cells hold clean pupils unclamped: sound only if S_t covers every register's date.
        latest = latest_feed_date(db, academic_year) or db.scalar(
            select(func.max(PupilYearRollup.last_date)).where(PupilYearRollup.academic_year == academic_year)
        )
        if latest is not None:
            year_start, year_end = academic_year_bounds(academic_year)
            if sessions_possible < adp.sessions_possible_bound(year_start, min(_as_date(latest), year_end)):
                raise ValueError("the rollup answers year-to-date windows only: "
                                 "S_t is below the latest register's bound")
        sql = _rollup_sql(dims, statistics, dialect=dialect)
    else:
        sql = _exact_sql(dims, statistics, window=window is not None, dialect=dialect)
        params |= la_key_sql()[1]
    expanding = []
    if window is not None:
        if codes is None:
            raise ValueError("a window needs the register codes of each statistical class")
        possible_codes = [c for cls in ("present", "aea", "authorised", "unauthorised") for c in codes[cls]]
        params |= {
            "window_from": window[0],
            "window_to": window[1],
            "possible_codes": possible_codes,
            "authorised_codes": list(codes["authorised"]),
            "unauthorised_codes": list(codes["unauthorised"]),
        }
        expanding = ["possible_codes", "authorised_codes", "unauthorised_codes"]
    stmt = text(sql).bindparams(*(bindparam(name, expanding=True) for name in expanding))
    if dialect == "postgresql" and not (window is None and rollup):
        # The collapse hashes every enrolment of the year by pupil: give it memory instead of disk.
        # JIT compiling this plan costs seconds and saves nothing measurable (bench/stats.py).
        db.execute(text("SET LOCAL work_mem = '1GB'"))
        db.execute(text("SET LOCAL jit = off"))
    rows = db.execute(stmt, params).mappings().all()
    by_key: dict[tuple[int, ...], dict[str, int]] = {
        tuple(int(row[f"{d}_idx"]) for d in dims): {s: int(row[s]) for s in statistics} for row in rows
    }
    # Fail closed unless the SQL gave exactly the public cells, each once: the noise assumes it.
    order = list(itertools.product(*(range(len(keysets.values_for(d))) for d in dims)))
    if len(rows) != len(order) or set(by_key) != set(order):
        raise RuntimeError("the exact aggregate did not return exactly the public key set")
    columns = [keysets.DIMENSION_COLUMNS[d] for d in dims]
    values = [keysets.values_for(d) for d in dims]
    return [
        {c: values[j][i] for j, (c, i) in enumerate(zip(columns, key, strict=True))} | by_key[key]
        for key in order
    ]


def marginalise(
    cells: Sequence[Mapping[str, Any]], by: Sequence[str], statistics: Sequence[str]
) -> list[dict[str, Any]]:
    """Exact cells of a coarser grouping, summed from a finer one over the same population.

    Sound because every grouping covers the same in-scope pupils (the scope test uses every dimension)
    and each pupil is in exactly one fine cell: a bundle computes the collapse once, at the union of
    its tables' dimensions, and each table's exact cells are sums of those. The noise is added per
    table afterwards, at each table's own sensitivity.
    """
    dims = keysets.canonical_by(by)
    columns = [keysets.DIMENSION_COLUMNS[d] for d in dims]
    totals: dict[tuple[Any, ...], dict[str, int]] = {
        key: dict.fromkeys(statistics, 0) for key in keysets.key_tuples(dims)
    }
    for cell in cells:
        bucket = totals[tuple(cell[c] for c in columns)]
        for s in statistics:
            bucket[s] += cell[s]
    return [dict(zip(columns, key, strict=True)) | stats for key, stats in totals.items()]


def register_schools(db: Session, open_statuses: Sequence[str]) -> dict[tuple[str, str], int]:
    """(LA code, phase) -> open in-scope schools in the public register of schools (GIAS), for DfE's
    single-school convention. All-through schools count in both primary and secondary."""
    counts: dict[tuple[str, str], int] = {}
    rows = db.execute(select(School.la_code, School.phase, School.type_of_establishment)
                      .where(School.status.in_(list(open_statuses))))
    for la_code, phase, kind in rows:
        if phase == ALL_THROUGH_PHASE:
            first_years = (ALL_THROUGH_PRIMARY_YEARS[0], ALL_THROUGH_SECONDARY_YEARS[0])
            phases = {phase_key(phase, kind, y) for y in first_years}
        else:
            phases = {phase_key(phase, kind, "")}
        for key in phases - {None}:
            counts[(la_code, key)] = counts.get((la_code, key), 0) + 1
    return counts


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def latest_feed_date(db: Session, academic_year: int) -> dt.date | None:
    """The latest register date of the year any school has sent: after it, the totals cannot change."""
    return db.execute(
        select(func.max(Register.date)).where(Register.academic_year == academic_year)
    ).scalar_one_or_none()
