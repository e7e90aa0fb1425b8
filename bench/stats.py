"""Benchmark the differentially private statistics on synthetic England at full scale, on PostgreSQL.

    python bench/stats.py                         # 8.1 million pupils, 21,292 schools; database dropped after
    python bench/stats.py --keep                  # keep the loaded database (its name is printed)
    python bench/stats.py --reuse gw_bench_stats_ab12cd   # skip the load, run against a kept database
    python bench/stats.py --scale 0.1             # a tenth of England, for a quick look
    python bench/stats.py --to 2025-12-19 --baseline-repeats 0   # the autumn term, no baseline collapse

What it measures:

- load: the ``schools`` table is COPYed from `synthetic` (the DfE school counts, GIAS phases and
  types, per LA and phase); ``enrolments`` is generated inside PostgreSQL, one row per pupil and school,
  drawn per school from its LA and phase's published 2025/26 profile (enrolments, overall absence rate,
  authorised share, persistent-absence share, FSM rate; ``gateway/data``). Each pupil's absence rate is
  drawn from a two-part mixture calibrated so that the school's mean rate and persistent-absence share
  match the profile. 2% of pupils moved school in April (a second enrolment at another school of the
  same LA and phase), so the collapse to one row per pupil has work to do. Ingest speed is measured by
  ``bench/ingest.py``; here the tables are bulk-loaded.
- release time: ``GET /v1/stats?measure=overall_absence_rate&by=la,phase`` for the year to date
  (1 August 2025 to 31 July 2026), over HTTP through the whole gateway: token check, budget
  reservation under lock, audit events, the exact aggregate in SQL, OpenDP noise, the stored answer.
  "cold" is a question whose noise scales have not been solved in this process yet (every new
  fortnight has a new S_t), "warm" one whose scales are cached. Also the exact SQL aggregate alone, and
  the fortnightly bundle (overall and persistent absence by LA x phase and by SEN x FSM: 8 statistics,
  one spend).
- utility: with the default yearly budget (epsilon 10 at delta 1e-9 for the year's one ledger, DfE's
  share 0.9 of it, 26 fortnightly releases of 8 statistics), the error of the overall absence rate
  against the exact rate, in percentage points, over the LA x phase cells of each phase (median, 95th
  percentile, cells within 0.5 pp), with the 95% interval's width and coverage; for the query, for the
  bundle's LA x phase table (its budget split across tables by need), and for the regions published
  beside it. ``--to 2025-12-19`` loads the autumn term only, where the school-day bound S_t (150) is
  well below every weekday's (202).

The budget weighting: a slot is cap / (26 x 8) units of rho; a rate pays two slots, split between
numerator and denominator in proportion 1 : r^(2/3) (r the typical national rate, 6.88%), which
minimises the union-bound interval's width; so absent sessions get 86% of the rate's rho.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient  # noqa: E402

from anonymisation import dp as adp  # noqa: E402
from anonymisation import school_calendar  # noqa: E402
from gateway.bootstrap import initialise  # noqa: E402
from gateway.db.repositories import statistics as srepo  # noqa: E402
from gateway.db.session import normalise_url  # noqa: E402
from gateway.keys.idp import mint_token  # noqa: E402
from gateway.main import create_app  # noqa: E402
from gateway.runtime import build_runtime  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from synthetic import load_la_profiles, school_days, synthetic_schools  # noqa: E402

DEFAULT_PG = os.environ.get("GATEWAY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
YEAR = 2025
YEAR_START, YEAR_END = dt.date(2025, 8, 1), dt.date(2026, 7, 31)
LAST_REGISTER = dt.date(2026, 7, 22)
SEED = 2026
#: Share of pupils with a second enrolment (a move in April), and the share of the year spent there.
MOVERS, MOVED_SHARE = 0.02, 0.3
TARGET_SECONDS = 2.0
TARGET_WIDTH_PP = 0.5


def say(line: str) -> None:
    print(line, flush=True)  # noqa: T201  (a bench prints its figures)


def quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


# --- load ------------------------------------------------------------------------------------------


def school_parameters(scale: float) -> list[tuple[Any, ...]]:
    """Per school: GIAS fields for ``schools`` and the parameters its pupils are drawn with.

    Absence per pupil is a mixture: with probability ``pa`` a persistent absentee with rate
    0.10 + Exp(mean e_hi - 0.10) (capped at 1), otherwise 0.0999 * U^k with mean e_lo; e_lo and e_hi
    solve mean = pa * e_hi + (1 - pa) * e_lo for the school's mean rate (the LA profile's, times the
    school's own absence factor).
    """
    profiles = {(p.old_la_code, p.phase): p for p in load_la_profiles()}
    rows = []
    for s in synthetic_schools(list(profiles.values()), scale, seed=SEED):
        p = profiles[(s.la_code, s.phase)]
        mean = min(p.overall_absence_rate * s.absence_factor, 0.6)
        pa = min(max(p.pa_perc / 100 * s.absence_factor, 0.01), 0.95)
        e_lo = min(0.035, 0.7 * mean)
        e_hi = (mean - (1 - pa) * e_lo) / pa
        if e_hi < 0.12:
            e_hi = 0.12
            e_lo = max((mean - pa * e_hi) / (1 - pa), 0.001)
        authorised = p.authorised_absence_perc / max(p.overall_absence_perc, 1e-9)
        rows.append(
            (
                s.urn,
                s.la_code,
                s.la_name,
                s.establishment_number,
                s.name,
                s.phase_of_education,
                s.type_of_establishment,
                s.status,
                s.phase,
                s.size,
                pa,
                authorised,
                p.fsm_rate,
                e_lo,
                e_hi,
            )
        )
    return rows


def generate_sql(to: dt.date) -> str:
    """The enrolments of the year to ``to``: full-year session counts scaled to the synthetic calendar's
    pupil days up to ``to`` (190 a year), movers moving some 70% of the way through."""
    days = len(school_days(dt.date(YEAR, 9, 1), to))
    factor = min(2 * days / adp.MAX_SESSIONS_PER_YEAR, 1.0)
    term = school_days(dt.date(YEAR, 9, 1), to)
    moved = dt.date(2026, 4, 20) if to >= dt.date(2026, 7, 1) else term[int(days * 0.7)]
    return _GENERATE.format(factor=factor, last=to.isoformat(), moved=moved.isoformat(),
                            left=(moved - dt.timedelta(days=3)).isoformat())


_GENERATE = f"""
INSERT INTO enrolments (pupil_id, urn, academic_year, la_code, year_group, sen_status, fsm_eligible, first_date,
    last_date, sessions_possible, sessions_present, sessions_aea, sessions_authorised, sessions_unauthorised,
    sessions_not_counted)
SELECT x.pupil_id, CASE WHEN part.n = 1 THEN x.urn ELSE x.next_urn END, {YEAR}, x.la_code, x.year_group, x.sen,
       x.fsm,
       CASE WHEN part.n = 1 THEN DATE '2025-09-03' ELSE DATE '{{moved}}' END,
       CASE WHEN part.n = 2 OR NOT x.mover THEN DATE '{{last}}' ELSE DATE '{{left}}' END,
       s.possible, s.possible - s.absent, 0, s.authorised, s.absent - s.authorised, 0
FROM (
    SELECT md5(b.urn || ':' || g.i) || md5(g.i || ':' || b.urn) AS pupil_id, b.urn, b.next_urn, b.la_code,
           CASE b.phase WHEN 'Primary' THEN (1 + floor(r.y * 6))::int::text
                        WHEN 'Secondary' THEN (7 + floor(r.y * 5))::int::text
                        ELSE (1 + floor(r.y * 11))::int::text END AS year_group,
           CASE WHEN b.phase = 'Special' THEN (CASE WHEN r.s < 0.85 THEN 'E' WHEN r.s < 0.95 THEN 'K' ELSE 'N' END)
                ELSE (CASE WHEN r.s < 0.84 THEN 'N' WHEN r.s < 0.97 THEN 'K' ELSE 'E' END) END AS sen,
           r.f < b.fsm_rate AS fsm, r.m < {MOVERS} AND b.next_urn <> b.urn AS mover, b.authorised_share,
           round((CASE WHEN r.k < 0.88 THEN 370 + floor(r.w * 11) ELSE 20 + floor(r.w * 350) END)
                 * {{factor}})::int AS possible,
           CASE WHEN r.u < b.pa THEN LEAST(0.10 + (b.e_hi - 0.10) * -ln(1 - r.v), 1.0)
                ELSE 0.0999 * power(r.v, 0.0999 / b.e_lo - 1) END AS rate
    FROM bench_schools b
    CROSS JOIN LATERAL generate_series(1, b.pupils) AS g(i)
    CROSS JOIN LATERAL (SELECT random() AS s, random() AS f, random() AS k, random() AS u, random() AS v,
                               random() AS w, random() AS y, random() AS m, g.i AS i) AS r
) x
CROSS JOIN LATERAL (VALUES (1), (2)) AS part(n)
CROSS JOIN LATERAL (
    SELECT possible, absent, LEAST(round(absent * x.authorised_share)::int, absent) AS authorised
    FROM (SELECT CASE WHEN NOT x.mover THEN x.possible
                      WHEN part.n = 1 THEN x.possible - floor(x.possible * {MOVED_SHARE})::int
                      ELSE floor(x.possible * {MOVED_SHARE})::int END AS possible) p
    CROSS JOIN LATERAL (SELECT LEAST(round(p.possible * x.rate)::int, p.possible) AS absent) a
) s
WHERE part.n = 1 OR x.mover
"""


def load(url: str, scale: float, to: dt.date) -> dict[str, float]:
    timings = {}
    started = time.perf_counter()
    params = school_parameters(scale)
    timings["schools_generated"] = time.perf_counter() - started
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(normalise_url(url).replace("postgresql+psycopg", "postgresql")) as conn:
        with conn.cursor().copy(
            "COPY schools (urn, la_code, la_name, establishment_number, name, phase, type_of_establishment, status,"
            " updated_at) FROM STDIN"
        ) as copy:
            for row in params:
                copy.write_row((*row[:8], now))
        conn.execute(
            "CREATE UNLOGGED TABLE bench_schools (urn int, la_code text, phase text, pupils int, pa float8,"
            " authorised_share float8, fsm_rate float8, e_lo float8, e_hi float8, next_urn int)"
        )
        with conn.cursor().copy(
            "COPY bench_schools (urn, la_code, phase, pupils, pa, authorised_share, fsm_rate,"
            " e_lo, e_hi) FROM STDIN"
        ) as copy:
            for row in params:
                copy.write_row((row[0], row[1], *row[8:]))
        # Where a mover goes: the next school of the same LA and phase.
        conn.execute("""UPDATE bench_schools b SET next_urn = n.next_urn FROM (
            SELECT urn, COALESCE(LEAD(urn) OVER w, FIRST_VALUE(urn) OVER w) AS next_urn FROM bench_schools
            WINDOW w AS (PARTITION BY la_code, phase ORDER BY urn ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
        ) n WHERE n.urn = b.urn""")
        timings["schools_loaded"] = time.perf_counter() - started
        # Bulk load without the indexes, then build them once (as a restore would).
        conn.execute("ALTER TABLE enrolments DROP CONSTRAINT pk_enrolments")
        conn.execute("ALTER TABLE enrolments DROP CONSTRAINT fk_enrolments_urn_schools")
        conn.execute("DROP INDEX ix_enrolments_urn_year")
        conn.execute("DROP INDEX ix_enrolments_la_year")
        conn.execute(f"SELECT setseed({SEED / 10_000})")
        conn.execute(generate_sql(to))
        conn.commit()
        timings["enrolments_generated"] = time.perf_counter() - started
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(
            "ALTER TABLE enrolments ADD CONSTRAINT pk_enrolments PRIMARY KEY (pupil_id, urn, academic_year)"
        )
        conn.execute(
            "ALTER TABLE enrolments ADD CONSTRAINT fk_enrolments_urn_schools FOREIGN KEY (urn) REFERENCES schools (urn)"
        )
        conn.execute("CREATE INDEX ix_enrolments_urn_year ON enrolments (urn, academic_year)")
        conn.execute("CREATE INDEX ix_enrolments_la_year ON enrolments (la_code, academic_year)")
        conn.execute("DROP TABLE bench_schools")
        conn.commit()
        timings["indexed"] = time.perf_counter() - started
    with psycopg.connect(
        normalise_url(url).replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as conn:
        conn.execute("VACUUM ANALYZE enrolments")
        conn.execute("VACUUM ANALYZE schools")
        row = conn.execute("SELECT count(*), count(DISTINCT pupil_id) FROM enrolments").fetchone()
        assert row is not None
        timings["enrolment_rows"], timings["pupils"] = row
    timings["total"] = time.perf_counter() - started
    return timings


# --- measurements ----------------------------------------------------------------------------------


def median_time(fn: Any, repeats: int) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def exact_sums(runtime: Any, s_t: int, *, rollup: bool = True) -> dict[tuple[str, str], tuple[int, int]]:
    with runtime.sessions() as db:
        cells = srepo.exact_cells(db, YEAR, ["la", "phase"], s_t, ["absent", "possible"], rollup=rollup)
    return {(c["la_code"], c["phase"]): (c["absent"], c["possible"]) for c in cells}


def exact_rates(runtime: Any, s_t: int, *, rollup: bool = True) -> dict[tuple[str, str], float | None]:
    return {k: (a / p if p else None) for k, (a, p) in exact_sums(runtime, s_t, rollup=rollup).items()}


def region_utility(table: dict[str, Any], sums: dict[tuple[str, str], tuple[int, int]]) -> None:
    """The regions published beside the LA cells (sums of the published noisy LA cells) against the
    exact rate of the same LAs, per phase."""
    from gateway.services.stats.publication import region_codes as _region_codes

    regions = _region_codes()
    exact: dict[tuple[str, str], list[int]] = {}
    for row in table["rows"]:
        if row["noisy"] is not None:
            a, p = sums[(row["la_code"], row["phase"])]
            total = exact.setdefault((regions.get(row["la_code"], ""), row["phase"]), [0, 0])
            total[0] += a
            total[1] += p
    say("  regions (sums of the published LA cells):")
    for phase in ("primary", "secondary", "special"):
        errors, low, widths = [], 0, []
        for g in table["regions"]:
            a, p = exact.get((g["region_code"], phase), (0, 0)) if g["phase"] == phase else (0, 0)
            if g["phase"] != phase or not p or g["ci95"] is None:
                continue
            errors.append(abs(g["value"] - a / p) * 100)
            widths.append((g["ci95"][1] - g["ci95"][0]) * 100)
            low += g["reliability"] == "low"
        if errors:
            within = sum(e <= TARGET_WIDTH_PP for e in errors)
            say(f"  {phase:9s} regions {len(errors):2d}  error median {statistics.median(errors):6.3f} pp  "
                f"max {max(errors):6.3f}  within {TARGET_WIDTH_PP} pp {within}/{len(errors)}  "
                f"| 95% width median {statistics.median(widths):6.3f}  low reliability {low}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def utility(label: str, rows: list[dict[str, Any]], noise: list[dict[str, Any]],
            exact: dict[tuple[str, str], float | None]) -> None:
    """Per phase: the error of the published rate against the exact one, in percentage points (median
    and 95th percentile over the LA cells), the interval width, coverage and low-reliability flags."""
    say(f"utility, {label}: |noisy - exact| overall absence rate by LA x phase, percentage points "
        f"(target: every cell within {TARGET_WIDTH_PP} pp)")
    for phase in ("primary", "secondary", "special"):
        published = [r for r in rows if r["phase"] == phase and r["ci95"] is not None]
        truth = [(r, exact[(r["la_code"], phase)]) for r in published]
        errors = [abs(r["value"] - t) * 100 for r, t in truth if t is not None]
        if not errors:
            say(f"  {phase:9s} no published cell with an exact rate")
            continue
        widths = [(r["ci95"][1] - r["ci95"][0]) * 100 for r in published]
        covered = sum(1 for r, t in truth if t is not None and r["ci95"][0] <= t <= r["ci95"][1])
        within = sum(1 for e in errors if e <= TARGET_WIDTH_PP)
        low = sum(1 for r in published if r["reliability"] == "low")
        say(
            f"  {phase:9s} cells {len(published):3d}  error median {statistics.median(errors):6.3f} pp  "
            f"p95 {percentile(errors, 0.95):6.3f}  max {max(errors):6.3f}  within {TARGET_WIDTH_PP} pp "
            f"{within}/{len(errors)}  | 95% width median {statistics.median(widths):6.3f}  "
            f"covered {covered}/{len(errors)}  low reliability {low}"
        )
    for n in noise:
        say(
            f"  noise {n['statistic']:8s}: sensitivity {n['sensitivity']}, {n['mechanism']} "
            f"scale {n['scale']:.1f}, "
            f"rho {n['rho']:.6f}{' (reused)' if n.get('reused') else ''}, 95% half-width {n['half_width_95']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="an admin URL of the PostgreSQL server")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", help="a database loaded by an earlier --keep run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-repeats", type=int, default=1,
                        help="runs of the old per-pupil collapse at query time, the baseline (a minute "
                             "or more each); 0 skips it")
    parser.add_argument("--to", type=dt.date.fromisoformat, default=LAST_REGISTER,
                        help="the last register day of the synthetic year (default 22 July 2026, the "
                             "year's end); e.g. 2025-12-19 for the autumn term, where S_t is well below 380")
    args = parser.parse_args()
    if args.baseline_repeats < 0 or args.repeats < 1:
        parser.error("--repeats must be at least 1 and --baseline-repeats at least 0")
    quiet()
    admin_url = normalise_url(args.pg_url)
    name = args.reuse or f"gw_bench_stats_{uuid.uuid4().hex[:6]}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    plain_admin = admin_url.replace("postgresql+psycopg", "postgresql")
    # The data directory holds the master and pseudonym keys and the dev identity provider's private
    # key: it goes with the run, whatever happens.
    workdir = tempfile.TemporaryDirectory(prefix="gw-bench-stats-")
    settings = Settings(database_url=url, data_dir=Path(workdir.name) / "data")
    if not args.reuse:
        with psycopg.connect(plain_admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        initialise(settings)  # keys, dev identity provider, migrations
        say(f"database {name} (PostgreSQL), scale {args.scale}, {os.cpu_count()} cores")
        if not args.reuse:
            timings = load(url, args.scale, args.to)
            say(
                f"load: {timings['enrolment_rows']:,} enrolment rows, {timings['pupils']:,} pupils; schools "
                f"{timings['schools_loaded']:.1f} s, enrolments generated {timings['enrolments_generated']:.1f} s, "
                f"indexed {timings['indexed']:.1f} s, analysed {timings['total']:.1f} s"
            )
        run(settings, args.repeats, args.baseline_repeats)
    finally:
        workdir.cleanup()
        if not args.keep and not args.reuse:
            with psycopg.connect(plain_admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        elif args.keep:
            say(f"kept database {name}")


def build_rollup(runtime: Any) -> None:
    """The enrolments were bulk-loaded here, not ingested: build the pupil-year rollup and cells from
    them once, as migration 0006 or ``gateway stats rebuild`` would (ingest keeps them up to date)."""
    from gateway.db.repositories import rollup as rollup_repository

    with runtime.sessions() as db:
        have = db.execute(text("SELECT count(*) FROM pupil_years WHERE academic_year = :y"), {"y": YEAR}).scalar_one()
    if have:
        say(f"rollup: {have:,} pupil-years already built")
    else:
        started = time.perf_counter()
        with runtime.sessions() as db:
            db.execute(text("SET LOCAL work_mem = '1GB'"))
            db.execute(text("SET LOCAL jit = off"))
            counts = rollup_repository.rebuild(db, YEAR)
            db.commit()
        say(f"rollup: {counts[YEAR]:,} pupil-years built from the enrolments in {time.perf_counter() - started:.1f} s "
            "(once; ingest keeps them from then on)")
    with runtime.sessions() as db:
        # Ingest records a feed per register; the bulk load does not. The latest register date of the
        # year is what tells the service that a window covers the year to date: one feed per school
        # on the last day the synthetic enrolments run to.
        if db.execute(text("SELECT count(*) FROM registers WHERE academic_year = :y"), {"y": YEAR}).scalar_one() == 0:
            db.execute(text(
                "INSERT INTO feeds (urn, date, version, academic_year, body_sha256, pupil_count, received_at, "
                "submitted_by, audit_index) SELECT s.urn, m.last, 1, :y, repeat('0', 64), 0, now(), 'bench', 0 "
                "FROM schools s CROSS JOIN (SELECT max(last_date) AS last FROM enrolments WHERE academic_year = :y) m"
            ), {"y": YEAR})
        db.execute(text("ANALYZE feeds"))
        db.execute(text("ANALYZE pupil_years"))
        db.execute(text("ANALYZE stats_cells"))
        cells, unclean = db.execute(text(
            "SELECT (SELECT count(*) FROM stats_cells WHERE academic_year = :y), "
            "(SELECT count(*) FROM pupil_years WHERE academic_year = :y AND NOT clean)"), {"y": YEAR}).one()
        db.commit()
    say(f"rollup: {cells:,} cells (combinations of attributes), {unclean:,} pupil-years clamped at query time")


def run(settings: Settings, repeats: int, baseline_repeats: int) -> None:
    runtime = build_runtime(settings)
    client = TestClient(create_app(settings, runtime=runtime), raise_server_exceptions=False)
    quiet()  # create_app configured the gateway's logging
    headers = {
        "Authorization": "Bearer "
        + mint_token(
            settings.data_dir,
            org_type="dfe",
            org_id="dfe",
            roles=["statistician"],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    }
    with runtime.sessions() as db:
        last = db.execute(
            text("SELECT max(last_date) FROM enrolments WHERE academic_year = :y"), {"y": YEAR}
        ).scalar_one()
    # Each run asks a new question (a later `to`, after the last register): same data, same S_t.
    ends = [last + dt.timedelta(days=d) for d in range(2 * repeats + 2)]
    s_t = adp.sessions_possible_bound(YEAR_START, ends[0])
    assert s_t == adp.sessions_possible_bound(YEAR_START, ends[-1]), "the questions' windows differ in S_t"
    weekdays = school_calendar.weekdays(YEAR_START, last)  # the old bound, for comparison
    say(f"year to date to {last}: S_t = {s_t} sessions (two per school day of the public calendar; "
        f"every weekday would give {min(2 * weekdays, adp.MAX_SESSIONS_PER_YEAR)})")
    say(
        f"load average at start {os.getloadavg()[0]:.1f} (the figures below are wall-clock times on a shared machine)"
    )
    with client:
        with runtime.sessions() as db:
            rows = db.execute(text("SELECT count(*) FROM enrolments")).scalar_one()  # also warms the cache
            workers = db.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one()
        say(f"enrolment rows {rows:,}; PostgreSQL max_parallel_workers_per_gather {workers}")

        def floor() -> int:
            with runtime.sessions() as db:
                return len(
                    db.execute(
                        text(
                            "SELECT la_code, count(*), sum(sessions_possible) FROM enrolments WHERE academic_year = :y GROUP BY la_code"
                        ),
                        {"y": YEAR},
                    ).all()
                )

        seconds, times, _ = median_time(floor, repeats)
        say(f"floor: one GROUP BY over the enrolment rows, no collapse (not private): median {seconds:.2f} s")
        build_rollup(runtime)
        baseline = None
        if baseline_repeats:
            seconds, times, baseline = median_time(
                lambda: exact_rates(runtime, s_t, rollup=False), baseline_repeats
            )
            say(
                f"exact LA x phase aggregate collapsing the enrolments at query time (before the rollup): "
                f"median "
                f"{seconds:.2f} s (runs {', '.join(f'{t:.2f}' for t in times)})"
            )
        seconds, times, exact = median_time(lambda: exact_rates(runtime, s_t), repeats)
        sums = exact_sums(runtime, s_t)
        same = "not compared (--baseline-repeats 0)" if baseline is None else str(exact == baseline)
        say(
            f"exact LA x phase aggregate from the rollup kept at ingest: median {seconds:.3f} s "
            f"(runs {', '.join(f'{t:.3f}' for t in times)}); same cells as the collapse: {same}"
        )

        def release(to: dt.date) -> dict[str, Any]:
            r = client.get(
                "/v1/stats",
                headers=headers,
                params={
                    "measure": "overall_absence_rate",
                    "by": "la,phase",
                    "from": YEAR_START.isoformat(),
                    "to": to.isoformat(),
                },
            )
            assert r.status_code == 200, r.text
            return r.json()

        bundle_to = ends.pop()
        started = time.perf_counter()
        first = release(ends[0])
        cold = time.perf_counter() - started
        seconds, times, _ = median_time(lambda: release(ends.pop()), repeats)
        verdict = "meets" if seconds < TARGET_SECONDS else "misses"
        say(
            f"year-to-date LA x phase release over HTTP: first (cold: OpenDP scale search) {cold:.2f} s; "
            f"then median {seconds:.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}); "
            f"{verdict} the {TARGET_SECONDS:.0f} s target"
        )
        started = time.perf_counter()
        again = release(dt.date.fromisoformat(first["to"]))
        say(f"the same question again: cached={again['cached']}, {time.perf_counter() - started:.2f} s")

        bundle = {
            "name": f"bench-fortnight-{uuid.uuid4().hex[:8]}",  # a new bundle each run, even on --reuse
            "from": YEAR_START.isoformat(),
            "to": bundle_to.isoformat(),
            "tables": [
                {"measure": "overall_absence_rate", "by": ["la", "phase"]},
                {"measure": "persistent_absence_rate", "by": ["la", "phase"]},
                {"measure": "overall_absence_rate", "by": ["sen_status", "fsm"]},
                {"measure": "persistent_absence_rate", "by": ["sen_status", "fsm"]},
            ],
        }
        started = time.perf_counter()
        r = client.post("/v1/stats/releases", json=bundle, headers=headers)
        assert r.status_code == 201, r.text
        say(
            f"fortnightly bundle (4 tables, 8 statistics, one collapse, one spend, CSV): "
            f"{time.perf_counter() - started:.2f} s, rho {r.json()['release_rho']:.5f} "
            f"(epsilon {r.json()['release_epsilon']:.3f} at delta 1e-9 alone)"
        )

        utility("one query (GET /v1/stats)", first["rows"], first["noise"], exact)
        table = r.json()["tables"][0]
        utility("the bundle's LA x phase table", table["rows"], table["noise"], exact)
        if "regions" in table:
            region_utility(table, sums)
        say(f"  the bundle's tables were allotted {[t['allotment_units'] for t in r.json()['tables']]} units "
            "(split by need)" if "allotment_units" in table else "")
        budget = client.get("/v1/stats/budget", headers=headers, params={"year": YEAR}).json()
        say(
            f"budget {budget['academic_year_label']}, DfE's share {budget['share']['fraction']} of the "
            f"year's one ledger (cap rho {budget['ledger']['cap']['rho']:.4f}): share rho "
            f"{budget['cap']['rho']:.4f} (epsilon "
            f"{budget['cap']['epsilon']:.3f}, delta {budget['delta']}), one slot {budget['allotment']['rho_per_statistic']:.6f}; "
            f"spent {budget['spent']['rho']:.4f} over {len(budget['releases'])} releases, remaining epsilon-equivalent "
            f"{budget['remaining']['epsilon']:.3f}"
        )
    runtime.engine.dispose()


if __name__ == "__main__":
    main()
