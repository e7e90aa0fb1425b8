"""Benchmark case-level releases: an LA with 200 schools and about 60,000 pupils over a full
autumn term; p50/p99 latency of `la-targeting-support` and `la-penalty-notice` releases under 8
concurrent requests. Target: p99 under 250 ms, with the cost independent of how many other LAs exist.

    python bench/releases.py                                  # both backends, 1 then 4 other LAs
    python bench/releases.py --backend postgresql --requests 80
    python bench/releases.py --backend sqlite --others 1      # one step only
    python bench/releases.py --backend postgresql --keep      # keep the built databases for the next run

What it does, in order:

1. Synthetic registers (`synthetic`, the demo's generator with each LA's published absence
   mix) for the autumn term of 2025/26 (71 school days, 4 September to 19 December 2025) of
   `--schools` schools of the measured LA (Norfolk, 926: 200 schools, about 62,000 pupils) and as many
   of each other LA of similar size (Devon, Lincolnshire, Cornwall, Somerset).
2. Loads them directly (COPY on PostgreSQL, executemany on SQLite; ingest speed is bench/ingest.py's
   subject): marks, enrolments with their running totals and reason-code totals, data keys and
   encrypted identities, written as ingest writes them, with the same key, pseudonym and encryption
   functions. The measured LA and the first other LA first; the other three are added for step two.
   SQLite files are cached under `--cache` (with the data directory whose keys they were written
   with), so a second run starts at once; PostgreSQL databases (`gw_bench_rel_*`) are dropped at the
   end unless `--keep`.
3. Per step and backend: a real server (`python -m gateway.cli serve`, production settings, 2 workers
   on PostgreSQL and 1 on SQLite as `gateway serve` defaults to) and, in this process, `--concurrency`
   httpx clients sending `--requests` releases per purpose after a warm-up round, each as an LA case
   officer would ask at the end of term: `{"purpose", "to": "2025-12-19", "justification"}`.
4. Prints p50/p99/max latency, records and response bytes per release, the server's peak memory
   (the largest VmHWM of its processes, and the peak of their summed RSS sampled every 50 ms), and
   the CPU milliseconds per release spent by the server's processes (`srv ms`) and by PostgreSQL's
   backends for the database (`db ms`): figures that other load on the machine barely moves, where
   latency under 8 concurrent requests on 2 cores is about 8 x (srv + db) / 2.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from anonymisation.keys import identity_digests, seal_new_identities  # noqa: E402
from anonymisation.pseudonyms import pupil_ids as make_pupil_ids  # noqa: E402
from bench.ingest import cpu_seconds, pg_settings  # noqa: E402
import synthetic  # noqa: E402
from gateway.bootstrap import initialise  # noqa: E402
from gateway.keys.idp import mint_token  # noqa: E402
from gateway.keys.store import load_keys  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from schemas.codes import codes_in_force  # noqa: E402
from schemas.records import Identity  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MEASURED_LA = "926"  # Norfolk: its 200 schools drawn below have about 62,000 pupils
OTHER_LAS = ("878", "925", "908", "933")  # Devon, Lincolnshire, Cornwall, Somerset: 60-63,000 each
YEAR = 2025
TERM_END = dt.date(2025, 12, 19)
PURPOSES = ("la-targeting-support", "la-penalty-notice")
JUSTIFICATION = "Termly targeting support meeting: the autumn term's case list"
#: The marks' second index (migrations/versions/0001), dropped while a build loads and made again after.
MARKS_BY_PUPIL = "ix_marks_pupil_year"
MARKS_BY_PUPIL_DDL = f"CREATE INDEX {MARKS_BY_PUPIL} ON marks (pupil_id, academic_year, date, urn, am, pm)"
#: Plain present marks carry no reason code (enrolment_code_totals leaves them out, as ingest does).
PLAIN_PRESENT = frozenset({"/", "\\"})
CLASS_INDEX = {"present": 1, "aea": 2, "authorised": 3, "unauthorised": 4}


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- the data ----------------------------------------------------------------------------------


@dataclass
class Plan:
    schools_per_la: int
    seed: int
    days: list[dt.date]

    def __post_init__(self) -> None:
        self.profiles = {(p.old_la_code, p.phase): p for p in synthetic.load_la_profiles()}
        self.everyone = [s for s in synthetic.synthetic_schools(list(self.profiles.values()), 1.0, self.seed) if s.status == "Open"]

    def schools_of(self, la: str) -> list[Any]:
        schools = sorted((s for s in self.everyone if s.la_code == la and s.phase in ("Primary", "Secondary")), key=lambda s: s.urn)
        random.Random(self.seed).shuffle(schools)
        return schools[: self.schools_per_la]

    def key(self) -> str:
        text = f"{self.schools_per_la}|{self.seed}|{self.days[0]}|{self.days[-1]}|{MEASURED_LA}|{','.join(OTHER_LAS)}|v1"
        return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass
class SchoolData:
    school: Any
    marks: list[tuple[Any, ...]]  # (urn, date, pupil_id, academic_year, am, pm, version)
    enrolments: list[tuple[Any, ...]]
    code_totals: list[tuple[Any, ...]]
    data_keys: list[tuple[Any, ...]]
    identities: list[tuple[Any, ...]]


def school_data(plan: Plan, school: Any, keys: Any, now: dt.datetime) -> SchoolData:
    """One school's term as ingest would have stored it after its last register."""
    profile = plan.profiles[(school.la_code, school.phase)]
    pupils = synthetic.synthetic_pupils(school, profile, YEAR, plan.seed)
    ids = make_pupil_ids([p.upn for p in pupils], keys.pupil_id_key)
    index = {p.upn: n for n, p in enumerate(pupils)}
    marks: list[tuple[Any, ...]] = []
    totals = [[0] * 6 for _ in pupils]  # possible, present, aea, authorised, unauthorised, not_counted
    codes: Counter[tuple[int, str]] = Counter()
    first: list[dt.date | None] = [None] * len(pupils)
    last: list[dt.date | None] = [None] * len(pupils)
    for day in plan.days:
        table = codes_in_force(day)
        for row in synthetic.daily_register(school, pupils, profile, day, plan.seed):
            n = index[row["upn"]]
            am, pm = row["am"], row["pm"]
            marks.append((school.urn, day, ids[n], YEAR, am, pm, 1))
            first[n] = first[n] or day
            last[n] = day
            t = totals[n]
            for code in (am, pm):
                cls = table[code].value
                if cls == "not_counted":
                    t[5] += 1
                else:
                    t[0] += 1
                    t[CLASS_INDEX[cls]] += 1
                if code not in PLAIN_PRESENT:
                    codes[(n, code)] += 1
    marks.sort(key=lambda m: (m[1], m[2]))  # the marks' primary key order (urn, date, pupil_id)
    enrolments = [(ids[n], school.urn, YEAR, school.la_code, p.year_group, p.sen_status, p.fsm_eligible, first[n], last[n], *totals[n])
                  for n, p in enumerate(pupils) if first[n] is not None]
    kek_id, kek = keys.kek_for_year(YEAR)
    sealed = seal_new_identities([Identity(p.upn, p.forename, p.surname, p.date_of_birth) for p in pupils], ids, YEAR, kek)
    digests = identity_digests([(p.upn, p.forename, p.surname, p.date_of_birth) for p in pupils], keys.digest_key)
    return SchoolData(
        school=school,
        marks=marks,
        enrolments=enrolments,
        code_totals=[(ids[n], school.urn, YEAR, code, k) for (n, code), k in sorted(codes.items())],
        data_keys=[(ids[n], YEAR, wrapped, kek_id, now) for n, (wrapped, _) in enumerate(sealed)],
        identities=[(ids[n], YEAR, ciphertext, digests[n], now) for n, (_, ciphertext) in enumerate(sealed)],
    )


def school_row(school: Any, now: dt.datetime) -> tuple[Any, ...]:
    return (school.urn, school.la_code, school.la_name, school.establishment_number, school.name, school.phase_of_education,
            school.type_of_establishment, "Open", now)


TABLES = {
    "schools": "urn, la_code, la_name, establishment_number, name, phase, type_of_establishment, status, updated_at",
    "marks": "urn, date, pupil_id, academic_year, am, pm, version",
    "enrolments": "pupil_id, urn, academic_year, la_code, year_group, sen_status, fsm_eligible, first_date, last_date, "
                  "sessions_possible, sessions_present, sessions_aea, sessions_authorised, sessions_unauthorised, sessions_not_counted",
    "enrolment_code_totals": "pupil_id, urn, academic_year, code, sessions",
    "data_keys": "pupil_id, academic_year, wrapped_key, master_key_id, created_at",
    "pupil_identities": "pupil_id, academic_year, ciphertext, digest, updated_at",
}


def rows_of(data: SchoolData) -> dict[str, list[tuple[Any, ...]]]:
    return {"marks": data.marks, "enrolments": data.enrolments, "enrolment_code_totals": data.code_totals,
            "data_keys": data.data_keys, "pupil_identities": data.identities}


def load_las(backend: str, url: str, plan: Plan, settings: Settings, las: Sequence[str]) -> tuple[int, int]:
    """Writes the LAs' schools and term; returns (pupils, marks)."""
    keys = load_keys(settings)
    now = dt.datetime.now(dt.UTC)
    pupils = marks = 0
    schools = [s for la in las for s in plan.schools_of(la)]
    if backend == "postgresql":
        with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
            cur.execute(f"DROP INDEX {MARKS_BY_PUPIL}")  # built once at the end: far faster than row by row
            with cur.copy(f"COPY schools ({TABLES['schools']}) FROM STDIN") as copy:
                for school in schools:
                    copy.write_row(school_row(school, now))
            for school in schools:
                data = school_data(plan, school, keys, now)
                pupils, marks = pupils + len(data.enrolments), marks + len(data.marks)
                for table, rows in rows_of(data).items():
                    with cur.copy(f"COPY {table} ({TABLES[table]}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            cur.execute(MARKS_BY_PUPIL_DDL)
            conn.commit()
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        return pupils, marks
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # a failed build is thrown away, never reused
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-400000")
        conn.execute("BEGIN")
        conn.execute(f"DROP INDEX {MARKS_BY_PUPIL}")

        def insert(table: str, rows: Sequence[tuple[Any, ...]]) -> None:
            columns = TABLES[table]
            marks_ = ", ".join("?" * (columns.count(",") + 1))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks_})", [tuple(_sqlite(v) for v in row) for row in rows])

        insert("schools", [school_row(s, now) for s in schools])
        for school in schools:
            data = school_data(plan, school, keys, now)
            pupils, marks = pupils + len(data.enrolments), marks + len(data.marks)
            for table, rows in rows_of(data).items():
                insert(table, rows)
        conn.execute(MARKS_BY_PUPIL_DDL)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    return pupils, marks


def _sqlite(value: Any) -> Any:
    # As SQLAlchemy stores them: dates ISO, datetimes ISO with microseconds, booleans 0/1.
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


# --- the databases -----------------------------------------------------------------------------


class Databases:
    """The built database of each step, fresh or cached."""

    def __init__(self, backend: str, plan: Plan, cache: Path, keep: bool):
        self.backend, self.plan, self.keep = backend, plan, keep
        self.folder = cache / plan.key()
        self.data_dir = self.folder / "data"
        self.created: list[str] = []
        self.work = Path(tempfile.mkdtemp(prefix="gw-bench-rel-"))

    def settings(self, url: str) -> Settings:
        return Settings(database_url=url, data_dir=self.data_dir, env="dev")

    def _pg_name(self, others: int) -> str:
        return f"gw_bench_rel_{self.plan.key()}_{others}"

    def _pg_exists(self, admin: psycopg.Connection, name: str) -> bool:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    def build(self, others: int, previous: int | None) -> tuple[str, str]:
        """The URL of the database with the measured LA and `others` other LAs, and how it was made."""
        las = [MEASURED_LA, *OTHER_LAS[:others]]
        started = time.perf_counter()
        if self.backend == "sqlite":
            cached = self.folder / f"sqlite-{others}.db"
            if not cached.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                building = cached.with_suffix(".building")
                done: list[str] = []
                if previous is not None and (self.folder / f"sqlite-{previous}.db").exists():
                    shutil.copyfile(self.folder / f"sqlite-{previous}.db", building)
                    done = [MEASURED_LA, *OTHER_LAS[:previous]]
                else:
                    building.unlink(missing_ok=True)
                url = f"sqlite:///{building}"
                if not done:  # a copy of the previous step's database has its schema already
                    initialise(self.settings(url))
                pupils, marks = load_las("sqlite", url, self.plan, self.settings(url), [la for la in las if la not in done])
                building.rename(cached)
                how = f"built ({pupils:,} pupils, {marks:,} marks added) in {time.perf_counter() - started:.0f} s"
            else:
                how = "cached"
            run = self.work / f"run-{others}.db"
            shutil.copyfile(cached, run)  # the measured run's audit events and releases stay out of the cache
            return f"sqlite:///{run}", f"{how}; copied in {time.perf_counter() - started:.0f} s"
        name = self._pg_name(others)
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            if self._pg_exists(admin, name):
                self.created.append(name)
                return url, "kept from an earlier run"
            done = []
            if previous is not None and self._pg_exists(admin, self._pg_name(previous)):
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_name(previous)}"')
                done = [MEASURED_LA, *OTHER_LAS[:previous]]
            else:
                admin.execute(f'CREATE DATABASE "{name}"')
            self.created.append(name)
        if not done:
            initialise(self.settings(url))
        pupils, marks = load_las("postgresql", url, self.plan, self.settings(url), [la for la in las if la not in done])
        return url, f"built ({pupils:,} pupils, {marks:,} marks added) in {time.perf_counter() - started:.0f} s"

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        if self.backend == "postgresql" and not self.keep:
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                for name in self.created:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return out


def status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pg_backends(database: str) -> list[int]:
    """The PostgreSQL backends connected to a database (on this machine, so /proc shows their CPU)."""
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
        return [int(r[0]) for r in rows]


class CpuMeter:
    """CPU seconds spent by the server's processes and by the database's backends between start and
    stop: the cost of the releases in between whatever else the machine runs (wall-clock latency
    under 8 concurrent requests on 2 cores is about 4 times the CPU of one release)."""

    def __init__(self, server_pid: int, database: str | None):
        self.server_pid, self.database = server_pid, database

    def _sample(self) -> tuple[dict[int, float], dict[int, float]]:
        server = {p: cpu_seconds(p) for p in process_tree(self.server_pid)}
        backends = {p: cpu_seconds(p) for p in pg_backends(self.database)} if self.database else {}
        return server, backends

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> tuple[float, float]:
        after = self._sample()
        return tuple(sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())  # type: ignore[return-value]
                     for before, now in zip(self._before, after, strict=True))


class Server:
    def __init__(self, url: str, data_dir: Path, workers: int, log_path: Path):
        self.port = free_port()
        env = {**os.environ, "GATEWAY_DATABASE_URL": url, "GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_ENV": "production"}
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(self.port), "--workers", str(workers)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent,
        )
        self.peak_sum = 0
        self._stop = threading.Event()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the server did not become ready")
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_sum = max(self.peak_sum, sum(status_kib(p, "VmRSS") for p in process_tree(self.proc.pid)))

    def peak_hwm(self) -> int:
        return max(status_kib(p, "VmHWM") for p in process_tree(self.proc.pid))

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# --- the load ----------------------------------------------------------------------------------


@dataclass
class Result:
    latencies: list[float]
    records: int
    sizes: list[int]


async def fire(port: int, token: str, purpose: str, requests: int, concurrency: int) -> Result:
    body = {"purpose": purpose, "to": TERM_END.isoformat(), "acknowledged": True, "justification": JUSTIFICATION}
    headers = {"Authorization": f"Bearer {token}"}
    result = Result([], -1, [])
    queue = list(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            queue.pop()
            started = time.perf_counter()
            r = await http.post("/v1/releases", json=body, headers=headers)
            result.latencies.append((time.perf_counter() - started) * 1000)
            if r.status_code != 201:
                raise RuntimeError(f"{purpose}: {r.status_code} {r.text[:300]}")
            result.sizes.append(len(r.content))
            if result.records < 0:  # parsed once: the client's CPU is the server's too on this machine
                result.records = r.json()["record_count"]

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return result


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))]


def measure(dbs: Databases, url: str, others: int, args: argparse.Namespace) -> None:
    settings = dbs.settings(url)
    workers = args.workers or (1 if dbs.backend == "sqlite" else (os.cpu_count() or 1))
    server = Server(url, dbs.data_dir, workers, dbs.work / f"server-{others}.log")
    try:
        meter = CpuMeter(server.proc.pid, url.rsplit("/", 1)[1] if dbs.backend == "postgresql" else None)
        token = mint_token(dbs.data_dir, org_type="la", org_id=MEASURED_LA, roles=["case_officer"], issuer=settings.jwt_issuer,
                           audience=settings.jwt_audience)
        for purpose in PURPOSES:
            try:
                asyncio.run(fire(server.port, token, purpose, args.concurrency, args.concurrency))  # warm-up
                meter.start()
                started = time.perf_counter()
                r = asyncio.run(fire(server.port, token, purpose, args.requests, args.concurrency))
                wall = time.perf_counter() - started
                server_cpu, database_cpu = meter.stop()
            except (RuntimeError, httpx.HTTPError) as exc:
                say(f"{dbs.backend:<11}{others:>7}  {purpose:<22} failed: {type(exc).__name__} {str(exc)[:200]}")
                continue
            say(f"{dbs.backend:<11}{others:>7}  {purpose:<22}{len(r.latencies):>5}{r.records:>8}{max(r.sizes) / 1e6:>8.2f}"
                f"{pct(r.latencies, 0.5):>8.0f}{pct(r.latencies, 0.99):>8.0f}{max(r.latencies):>8.0f}"
                f"{len(r.latencies) / wall:>7.1f}{server.peak_hwm() / 1024:>8.0f}{server.peak_sum / 1024:>8.0f}"
                f"{server_cpu / len(r.latencies) * 1000:>8.0f}{database_cpu / len(r.latencies) * 1000:>8.0f}")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--schools", type=int, default=200, help="schools of each LA")
    parser.add_argument("--others", default="1,4", help="steps: how many other LAs are loaded beside the measured one")
    parser.add_argument("--requests", type=int, default=48, help="measured releases per purpose and step (0: build the databases only)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None, help="server worker processes [2 on PostgreSQL, 1 on SQLite]")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=Path(__file__).resolve().parent.parent / "var" / "bench" / "releases")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases for the next run")
    args = parser.parse_args()
    steps = sorted(int(n) for n in args.others.split(","))
    if not steps or steps[0] < 0 or steps[-1] > len(OTHER_LAS):
        parser.error(f"--others: numbers from 0 to {len(OTHER_LAS)}")
    days = synthetic.school_days(synthetic.term_dates(YEAR)[0].start, TERM_END)
    plan = Plan(args.schools, args.seed, days)
    say(f"LA {MEASURED_LA} with {args.schools} schools, other LAs {', '.join(OTHER_LAS)}; {len(days)} school days "
        f"({days[0]} to {days[-1]}); {args.requests} releases per purpose from {args.concurrency} concurrent clients")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends:
        say(pg_settings(ADMIN))
    for backend in backends:
        dbs = Databases(backend, plan, args.cache, args.keep)
        try:
            dbs.data_dir.parent.mkdir(parents=True, exist_ok=True)
            previous = None
            for others in steps:
                url, how = dbs.build(others, previous)
                previous = others
                say(f"{backend}, measured LA + {others} other LAs: {how}")
                if args.requests == 0:  # build (and cache) only
                    continue
                say(f"{'backend':<11}{'others':>7}  {'purpose':<22}{'n':>5}{'records':>8}{'MB':>8}{'p50 ms':>8}{'p99 ms':>8}"
                    f"{'max ms':>8}{'rel/s':>7}{'HWM MB':>8}{'RSS MB':>8}{'srv ms':>8}{'db ms':>8}")
                measure(dbs, url, others, args)
        finally:
            dbs.close()


if __name__ == "__main__":
    main()
