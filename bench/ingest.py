"""Benchmark the ingest path: a synthetic national day of registers through the real HTTP server.

    python bench/ingest.py                                   # both backends, scale 0.05
    python bench/ingest.py --backend postgresql --scale 1.0 --concurrency 8
    python bench/ingest.py --backend sqlite --scale 0.02 --bodies /tmp/gw-bodies   # reuse generated bodies

What it does, in order (every step bounded, loopback only, and everything it creates is removed):

1. Synthetic England at `--scale` (1.0 = DfE's 21,292 schools, about 8.8 million pupils on roll with
   Reception): one register body per open school for each of two consecutive school days, written to
   files ahead of time by a pool of processes (outside every timing; `--bodies DIR` keeps and reuses
   them, since the same seed and scale give the same bodies).
2. Per backend: a fresh database (PostgreSQL `gw_bench_<random>` through the admin URL, or a SQLite file
   in a temporary directory), `gateway init` (`gateway.bootstrap.initialise`, temporary data directory),
   the synthetic schools imported through `gateway.services.schools.import_gias` (what
   `gateway schools import` runs).
3. A real server: `python -m gateway.cli serve --workers N` on a free loopback port, production
   settings (JSON logs to a file, tokens checked against the dev identity provider's JWKS).
4. A client in its own process (so that its memory is not the server's) sends one feed per school with
   `--concurrency` concurrent connections, schools in a shuffled order. Day 1 is the warm-up: it
   creates every pupil's data key, encrypted identity and enrolment. Day 2 is the measured steady state
   (identities known, totals updated, marks appended).
5. Figures: pupil-days per second over the wall time of the day, feed latency (p50/p99 of all feeds,
   and of feeds of 900-1,100 pupils), the server's peak memory (VmHWM of the server and each worker,
   and the peak of their summed RSS sampled every 0.2 s), CPU seconds spent by the server, the
   database backends and the client, and the machine's CPU use (other load included).
6. Baseline: PostgreSQL `COPY ... (FORMAT BINARY)` of the same day-2 rows, as Python tuples
   (urn, date, pupil_id, academic_year, am, pm, version), into an unindexed table in the same
   database, three times after a checkpoint; the gateway's steady rate over the median run's is the
   ratio printed.
7. With `--retention`: `gateway retention run` shreds the days' academic year (as of a date past its
   retention), timed, and a planted ciphertext (one pupil's encrypted identity) is looked for in the
   identities' data files before and after (PostgreSQL: the relation's and its partitions' files after
   a checkpoint; SQLite: the database file).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Feeds of this many pupils count as "about 1,000 pupils" for the latency target.
THOUSAND = (900, 1100)
#: Rows per COPY statement of the baseline: bounds the memory of the tuples held at once.
COPY_CHUNK = 500_000


def say(line: str = "") -> None:
    print(line, flush=True)  # noqa: T201  (a bench prints its figures)


# --- the plan: schools, days, bodies ----------------------------------------------------------------


def register_days(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last two school days before today in one academic year (the warm-up day, the measured day)."""
    import synthetic

    day = today - dt.timedelta(days=1)
    for _ in range(800):
        days = synthetic.school_days(day - dt.timedelta(days=30), day)
        if len(days) >= 2 and _year(days[-2]) == _year(days[-1]):
            return days[-2], days[-1]
        day -= dt.timedelta(days=30)
    raise RuntimeError("no two school days found in the last two years")


def _year(day: dt.date) -> int:
    from schemas.calendar import academic_year_of

    return academic_year_of(day)


def _generate_chunk(args: tuple[float, int, list[int], list[str], str, str]) -> list[tuple[int, int]]:
    """Worker of the generation pool: pupils once per school, then its register for each day."""
    scale, seed, urns, days_iso, fmt, folder = args
    import synthetic

    profiles = synthetic.load_la_profiles()
    by_key = {(p.old_la_code, p.phase): p for p in profiles}
    wanted = set(urns)
    schools = [s for s in _schools_cached(scale, seed) if s.urn in wanted]
    out = []
    for school in schools:
        profile = by_key[(school.la_code, school.phase)]
        days = [dt.date.fromisoformat(d) for d in days_iso]
        pupils = synthetic.synthetic_pupils(school, profile, _year(days[0]), seed)
        sizes = set()
        for day in days:
            rows = synthetic.daily_register(school, pupils, profile, day, seed)
            sizes.add(len(rows))
            body = json.dumps({"pupils": rows}) if fmt == "json" else synthetic.feed_csv(rows)
            (Path(folder) / day.isoformat() / f"{school.urn}.{fmt}").write_text(body, encoding="utf-8")
        out.append((school.urn, max(sizes)))
    return out


_SCHOOLS: dict[tuple[float, int], list[Any]] = {}


def _schools_cached(scale: float, seed: int) -> list[Any]:
    import synthetic

    key = (scale, seed)
    if key not in _SCHOOLS:
        schools = synthetic.synthetic_schools(synthetic.load_la_profiles(), scale, seed)
        _SCHOOLS[key] = [s for s in schools if s.status == "Open"]
    return _SCHOOLS[key]


@dataclass
class Plan:
    scale: float
    seed: int
    fmt: str
    days: tuple[dt.date, dt.date]
    folder: Path
    schools: list[Any]
    sizes: dict[int, int]  # urn -> pupils in the measured day's register

    def body(self, day: dt.date, urn: int) -> Path:
        return self.folder / day.isoformat() / f"{urn}.{self.fmt}"


def make_plan(scale: float, seed: int, fmt: str, days: tuple[dt.date, dt.date], bodies: Path, processes: int) -> Plan:
    schools = _schools_cached(scale, seed)
    folder = bodies / f"seed{seed}-scale{scale:g}-{fmt}-{days[0].isoformat()}-{days[1].isoformat()}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        sizes = {int(k): int(v) for k, v in data["sizes"].items()}
        if set(sizes) == {s.urn for s in schools}:
            say(f"bodies: reusing {folder} ({len(sizes):,} schools, {sum(sizes.values()):,} pupils)")
            return Plan(scale, seed, fmt, days, folder, schools, sizes)
    shutil.rmtree(folder, ignore_errors=True)
    for day in days:
        (folder / day.isoformat()).mkdir(parents=True, exist_ok=True)
    urns = [s.urn for s in schools]
    chunks = [urns[i : i + 50] for i in range(0, len(urns), 50)]
    began = time.perf_counter()
    sizes = {}
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        args = [(scale, seed, chunk, [d.isoformat() for d in days], fmt, str(folder)) for chunk in chunks]
        for n, result in enumerate(pool.imap_unordered(_generate_chunk, args), start=1):
            sizes.update(result)
            if n % max(1, len(chunks) // 10) == 0:
                say(f"  generated {len(sizes):,}/{len(urns):,} schools ({time.perf_counter() - began:.0f} s)")
    manifest.write_text(json.dumps({"sizes": {str(k): v for k, v in sizes.items()}}))
    say(f"bodies: generated {len(sizes):,} schools x 2 days, {sum(sizes.values()):,} pupils, in "
        f"{time.perf_counter() - began:.0f} s -> {folder}")
    return Plan(scale, seed, fmt, days, folder, schools, sizes)


# --- databases ---------------------------------------------------------------------------------------


class Database:
    def __init__(self, backend: str, pg_admin: str, workdir: Path):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from gateway.db.session import normalise_url

        self.backend = backend
        self.admin_url = normalise_url(pg_admin)
        if backend == "sqlite":
            self.url = f"sqlite:///{workdir / 'gateway.db'}"
            self.name = None
        else:
            self.name = f"gw_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            admin.dispose()
            self.url = make_url(self.admin_url).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.name is None:
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()


def prepare(db: Database, plan: Plan, data_dir: Path) -> None:
    """`gateway init` and `gateway schools import` of the synthetic schools."""
    import logging

    import structlog

    import synthetic
    from gateway.bootstrap import initialise
    from gateway.db.session import make_engine, make_sessionmaker
    from gateway.services.schools import import_gias
    from gateway.settings import Settings

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    settings = Settings(database_url=db.url, data_dir=data_dir, env="dev")
    initialise(settings)
    gias = data_dir / "gias.csv"
    synthetic.write_gias_csv(plan.schools, gias)
    engine = make_engine(db.url)
    try:
        import_gias(make_sessionmaker(engine), gias)
    finally:
        engine.dispose()


# --- the server ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


def _status(pid: int) -> dict[str, int]:
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


class Server:
    """`gateway serve` in a subprocess; its process tree is watched for memory and CPU."""

    def __init__(self, db_url: str, data_dir: Path, workers: int, log_path: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "GATEWAY_DATABASE_URL": db_url,
            "GATEWAY_DATA_DIR": str(data_dir),
            "GATEWAY_ENV": "production",
            "GATEWAY_JWKS_FILE": str(data_dir / "dev-idp" / "jwks.json"),
        }
        self.log_path = log_path
        self._log = log_path.open("wb")
        cmd = [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", str(workers)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)  # noqa: S603
        self.workers = workers
        self.seen: dict[int, dict[str, int]] = {}
        self.cpu: dict[int, float] = {}
        self.peak_rss_sum = 0
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def wait_ready(self, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/readyz", timeout=2).status_code == 200:
                    # Every worker answers /readyz only once all have started.
                    if len(process_tree(self.proc.pid)) >= (1 if self.workers == 1 else self.workers + 1):
                        return
            time.sleep(0.3)
        raise RuntimeError(f"server not ready after {timeout:.0f} s: {self.tail()}")

    def sample(self) -> None:
        total = 0
        for pid in process_tree(self.proc.pid):
            status = _status(pid)
            if status:
                self.seen[pid] = status
                self.cpu[pid] = cpu_seconds(pid)
                total += status.get("VmRSS", 0)
        self.peak_rss_sum = max(self.peak_rss_sum, total)

    def start_sampling(self) -> None:
        def run() -> None:
            while not self._stop.wait(0.2):
                self.sample()

        self._sampler = threading.Thread(target=run, daemon=True)
        self._sampler.start()

    def cpu_total(self) -> float:
        self.sample()
        return sum(self.cpu.values())

    def peak(self) -> tuple[int, int, int]:
        """(largest VmHWM of one process, sum of VmHWM over the processes, peak of the summed RSS)."""
        self.sample()
        hwm = [s.get("VmHWM", 0) for s in self.seen.values()]
        return max(hwm, default=0), sum(hwm), self.peak_rss_sum

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in reversed(process_tree(self.proc.pid)):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self._log.close()


# --- the client (own process) -------------------------------------------------------------------------


def _client(base_url: str, jobs: list[tuple[int, str, int]], tokens: dict[int, str], concurrency: int,
            media: str, results: Any) -> None:
    """Send every job (urn, body file, pupils) with `concurrency` connections; put the timings.

    A minimal HTTP/1.1 client on asyncio streams rather than httpx: the client shares the machine's
    two cores with the server and the database, and httpx spent about 14 us of CPU per pupil-day
    (a sixth of the machine's work) where this spends a few. Each feed opens its own connection and
    closes it (`Connection: close`), as each school's MIS does, so that the kernel spreads them over
    the server's workers; the clock runs from connecting to the last byte of the response."""
    from urllib.parse import urlsplit

    address = urlsplit(base_url)
    host, port = address.hostname or "127.0.0.1", int(address.port or 80)

    async def put(path: str, token: str, body: bytes) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                         f"Content-Type: {media}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                         + body)
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length = None
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            text = await (reader.readexactly(length) if length is not None else reader.read())
            return status, text
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def main() -> dict[str, Any]:
        queue: asyncio.Queue[tuple[int, str, int]] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        feeds: list[tuple[int, float, int]] = []
        failures: list[str] = []

        async def worker() -> None:
            while not queue.empty():
                urn, path, pupils = queue.get_nowait()
                body = Path(path).read_bytes()
                day = Path(path).parent.name
                began = time.perf_counter()
                try:
                    status, text = await asyncio.wait_for(put(f"/v1/schools/{urn}/attendance/{day}", tokens[urn], body), 600)
                    if status not in (200, 201):
                        failures.append(f"{urn}: {status} {text[:200]!r}")
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    status = 0
                    failures.append(f"{urn}: {type(exc).__name__}")
                feeds.append((pupils, time.perf_counter() - began, status))

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
        return {"feeds": feeds, "wall": wall, "failures": failures[:20], "failed": len(failures)}

    out = asyncio.run(main())
    out["cpu"] = time.process_time()
    results.put(out)


def mint_tokens(data_dir: Path, urns: Sequence[int]) -> dict[int, str]:
    from gateway.keys.idp import mint_token
    from gateway.settings import Settings

    settings = Settings()
    return {urn: mint_token(data_dir, org_type="school", org_id=str(urn), roles=["feed_submitter"],
                            issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl=dt.timedelta(hours=12))
            for urn in urns}


@dataclass
class DayResult:
    label: str
    feeds: int
    pupils: int
    wall: float
    latencies: list[float]
    thousand: list[float]
    failed: int
    failures: list[str]
    server_cpu: float
    db_cpu: float
    aux_cpu: float
    client_cpu: float
    machine_busy: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.pupils / self.wall if self.wall else 0.0


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_day(label: str, plan: Plan, day: dt.date, server: Server, tokens: dict[int, str], concurrency: int,
            db_pids: Any, aux_pids: Any) -> DayResult:
    order = [s.urn for s in plan.schools]
    random.Random(f"{plan.seed}-{day.isoformat()}").shuffle(order)
    jobs = [(urn, str(plan.body(day, urn)), plan.sizes[urn]) for urn in order]
    media = "application/json" if plan.fmt == "json" else "text/csv"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    client = context.Process(target=_client, args=(server.base_url, jobs, tokens, concurrency, media, results))
    db_before = {pid: cpu_seconds(pid) for pid in db_pids()}
    aux_before = {pid: cpu_seconds(pid) for pid in aux_pids()}
    server_before = server.cpu_total()
    busy0, total0 = machine_cpu()
    client.start()
    out = results.get(timeout=6 * 3600)
    client.join(timeout=60)
    busy1, total1 = machine_cpu()
    server_after = server.cpu_total()
    db_after = {pid: cpu_seconds(pid) for pid in db_pids()}
    db_cpu = sum(db_after[p] - db_before.get(p, 0.0) for p in db_after)
    aux_cpu = sum(cpu_seconds(p) - aux_before.get(p, 0.0) for p in aux_pids())
    feeds = out["feeds"]
    return DayResult(
        label=label,
        feeds=len(feeds),
        pupils=sum(n for n, _, s in feeds if s in (200, 201)),
        wall=out["wall"],
        latencies=[t for _, t, _ in feeds],
        thousand=[t for n, t, _ in feeds if THOUSAND[0] <= n <= THOUSAND[1]],
        failed=out["failed"],
        failures=out["failures"],
        server_cpu=server_after - server_before,
        db_cpu=db_cpu,
        aux_cpu=aux_cpu,
        client_cpu=out["cpu"],
        machine_busy=(busy1 - busy0) / max(total1 - total0, 1.0),
    )


# --- checks and the COPY baseline ---------------------------------------------------------------------


def stored_counts(db_url: str, day: dt.date) -> dict[str, int]:
    from sqlalchemy import inspect, text

    from gateway.db.session import make_engine

    engine = make_engine(db_url)
    try:
        # The registers' table: `registers` since the packed registers, `feeds` at older commits.
        feeds = "registers" if "registers" in inspect(engine).get_table_names() else "feeds"
        with engine.connect() as conn:
            iso = day.isoformat()
            return {
                "marks": int(conn.execute(text("SELECT count(*) FROM marks WHERE date = :d"), {"d": iso if db_url.startswith("sqlite") else day}).scalar_one()),
                "feeds": int(conn.execute(text(f"SELECT count(*) FROM {feeds} WHERE date = :d"), {"d": iso if db_url.startswith("sqlite") else day}).scalar_one()),  # noqa: S608
                "identities": int(conn.execute(text("SELECT count(*) FROM pupil_identities")).scalar_one()),
                "enrolments": int(conn.execute(text("SELECT count(*) FROM enrolments")).scalar_one()),
                "audit": int(conn.execute(text("SELECT tree_size FROM audit_state WHERE id = 1")).scalar_one()),
            }
    finally:
        engine.dispose()


#: Tables whose disk use is printed, those present: the packed registers and rosters beside the
#: per-pupil tables they are to replace (and, run at an older commit, the tables they replaced).
SIZED_TABLES = ("registers", "register_history", "rosters", "feeds", "marks", "mark_history", "enrolments",
                "enrolment_code_totals", "pupil_years")
ROSTER_PARTS = ("pupil_ids", "digests", "attributes", "totals", "codes", "weeks")


# Summed over a partitioned table's partitions (a parent holds no rows itself).
_PG_SIZES = ("SELECT coalesce(sum(pg_table_size(relid)), 0), coalesce(sum(pg_indexes_size(relid)), 0) "
             "FROM (SELECT relid FROM pg_partition_tree(:t) UNION SELECT CAST(:t AS regclass)) AS r")
_SQLITE_SIZES = ("SELECT coalesce(sum(pgsize) FILTER (WHERE name = :t), 0), "
                 "coalesce(sum(pgsize) FILTER (WHERE name <> :t), 0) FROM dbstat WHERE name = :t OR name IN "
                 "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t)")


def storage(db_url: str) -> dict[str, Any]:
    """Disk used by the sized tables (PostgreSQL: table with TOAST, and indexes; SQLite: pages, from
    dbstat when the library has it), and the stored size of the roster rows by part."""
    from sqlalchemy import inspect, text

    from gateway.db.session import make_engine

    engine = make_engine(db_url)
    pg = engine.dialect.name == "postgresql"
    out: dict[str, Any] = {"tables": {}, "rosters": None}
    try:
        present = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            for table in (t for t in SIZED_TABLES if t in present):
                with contextlib.suppress(Exception):  # SQLite without dbstat: not measured
                    row = conn.execute(text(_PG_SIZES if pg else _SQLITE_SIZES), {"t": table}).one()
                    out["tables"][table] = (int(row[0]), int(row[1]))
            if "rosters" in present:
                length = "octet_length" if pg else "length"
                parts = ", ".join(f"sum({length}({p}))" for p in ROSTER_PARTS)
                total = " + ".join(f"{length}({p})" for p in ROSTER_PARTS)
                sql = (f"SELECT count(*), sum(pupils), max(pupils), {parts}, max({total}) "  # noqa: S608
                       "FROM rosters")
                row = conn.execute(text(sql)).one()
                if row[0]:
                    out["rosters"] = {
                        "rows": int(row[0]), "pupils": int(row[1]), "largest_pupils": int(row[2]),
                        "parts": dict(zip(ROSTER_PARTS, (int(v) for v in row[3:9]), strict=True)),
                        "largest_row": int(row[9]),
                    }
    finally:
        engine.dispose()
    return out


def say_storage(sizes: dict[str, Any]) -> None:
    tables = ", ".join(f"{t} {data / 2**20:.1f} + {index / 2**20:.1f} MiB"
                       for t, (data, index) in sizes["tables"].items())
    say(f"  disk used (table with TOAST + indexes): {tables or 'not measured (no dbstat)'}")
    rosters = sizes["rosters"]
    if rosters:
        rows, pupils = rosters["rows"], rosters["pupils"]
        stored = sum(rosters["parts"].values())
        per_part = ", ".join(f"{p} {n / pupils:.1f}" for p, n in rosters["parts"].items())
        say(f"  roster rows: {rows:,} holding {pupils:,} pupil slots; stored parts "
            f"{stored / rows / 1024:.1f} KiB a row on average, "
            f"{rosters['largest_row'] / 1024:.1f} KiB the largest "
            f"({rosters['largest_pupils']:,} pupils); bytes a pupil {stored / pupils:.0f} ({per_part})")


def pg_backend_pids(admin_url: str, database: str) -> list[int]:
    """The server processes of the gateway's connections to the database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                                {"d": database}).all()
        return [int(r.pid) for r in rows]
    finally:
        engine.dispose()


#: The server settings that move these figures most: the buffer pool, and how often a checkpoint
#: comes (after each one, the first change to every page writes the whole page to the WAL).
PG_SETTINGS = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression", "synchronous_commit")


def pg_settings(admin_url: str) -> str:
    """The PostgreSQL server's version and `PG_SETTINGS`, for the report's header."""
    from sqlalchemy import create_engine, text

    from gateway.db.session import normalise_url

    engine = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            # current_setting spells a value with its unit ("128MB"); pg_settings.setting counts units ("16384" of 8kB).
            rows = conn.execute(text("SELECT name, current_setting(name) AS value FROM pg_settings WHERE name = ANY(:n) "
                                     "ORDER BY name"), {"n": list(PG_SETTINGS)}).all()
    finally:
        engine.dispose()
    return f"PostgreSQL {version.split()[0]}: " + ", ".join(f"{r.name}={r.value}" for r in rows)


def pg_aux_pids(admin_url: str) -> list[int]:
    """WAL writer, checkpointer and background writer: they work for every database on the server
    (other load included), so they are reported apart from the gateway's own backends."""
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE backend_type IN "
                                     "('walwriter', 'checkpointer', 'background writer')")).all()
        return [int(r.pid) for r in rows]
    finally:
        engine.dispose()


def copy_rows(plan: Plan, day: dt.date, pupil_id_key: bytes) -> Iterator[list[tuple[Any, ...]]]:
    """The day's marks as the gateway stores them, in chunks of tuples (built outside the timing)."""
    import hashlib
    import hmac

    from schemas.feeds import parse_csv

    year = _year(day)
    chunk: list[tuple[Any, ...]] = []
    for school in plan.schools:
        path = plan.body(day, school.urn)
        if plan.fmt == "json":
            rows = json.loads(path.read_bytes())["pupils"]
        else:
            rows = [{"upn": r.upn, "am": r.am, "pm": r.pm} for r in parse_csv(path.read_bytes(), day).rows]
        for row in rows:
            pid = hmac.new(pupil_id_key, row["upn"].encode(), hashlib.sha256).hexdigest()
            chunk.append((school.urn, day, pid, year, row["am"], row["pm"], 1))
        if len(chunk) >= COPY_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


#: Runs of the COPY baseline: the median is reported. A single run shares the machine with the
#: autovacuum of the tables the day just loaded, and measured anything from 0.65 to 1.19 million rows/s.
COPY_RUNS = 3


def copy_baseline(pg_url: str, plan: Plan, day: dt.date, pupil_id_key: bytes) -> tuple[int, list[float]]:
    """COPY (FORMAT BINARY) of the day's rows into an unindexed table, `COPY_RUNS` times after a
    checkpoint; (rows, seconds of COPY of each run)."""
    import psycopg

    from gateway.db.session import normalise_url

    dsn = normalise_url(pg_url).replace("postgresql+psycopg://", "postgresql://")
    chunks = list(copy_rows(plan, day, pupil_id_key))
    runs: list[float] = []
    with psycopg.connect(dsn) as conn:
        conn.execute("CHECKPOINT")
        for _ in range(COPY_RUNS):
            conn.execute("DROP TABLE IF EXISTS copy_baseline")
            conn.execute("CREATE TABLE copy_baseline (urn integer, date date, pupil_id varchar(64), academic_year integer, "
                         "am varchar(2), pm varchar(2), version integer)")
            conn.commit()
            seconds = 0.0
            for chunk in chunks:
                gc.collect()
                began = time.perf_counter()
                with conn.cursor() as cur, cur.copy("COPY copy_baseline (urn, date, pupil_id, academic_year, am, pm, version) "
                                                    "FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["int4", "date", "varchar", "int4", "varchar", "varchar", "int4"])
                    for row in chunk:
                        copy.write_row(row)
                conn.commit()
                seconds += time.perf_counter() - began
            runs.append(seconds)
        conn.execute("DROP TABLE copy_baseline")
        conn.commit()
    return sum(len(chunk) for chunk in chunks), runs


# --- one backend --------------------------------------------------------------------------------------


@dataclass
class BackendReport:
    backend: str
    workers: int
    concurrency: int
    days: list[DayResult]
    peak_one: int
    peak_sum_hwm: int
    peak_rss_sum: int
    counts: dict[str, int]
    copy: tuple[int, list[float]] | None
    sizes: dict[str, Any]
    retention: dict[str, Any] | None = None


def run_backend(backend: str, plan: Plan, args: argparse.Namespace, workdir: Path) -> BackendReport:
    from gateway.keys.store import load_keys
    from gateway.settings import Settings

    # As `gateway serve` chooses: one per CPU on PostgreSQL, one on SQLite.
    workers = args.workers or (1 if backend == "sqlite" else (os.cpu_count() or 1))
    data_dir = workdir / "data"
    db = Database(backend, args.pg_url, workdir)
    server: Server | None = None
    try:
        began = time.perf_counter()
        prepare(db, plan, data_dir)
        say(f"[{backend}] database ready, {len(plan.schools):,} schools imported ({time.perf_counter() - began:.1f} s)")
        tokens = mint_tokens(data_dir, [s.urn for s in plan.schools])
        server = Server(db.url, data_dir, workers, workdir / "server.log")
        server.wait_ready()
        server.start_sampling()
        say(f"[{backend}] server on {server.base_url}, {workers} worker(s); client concurrency {args.concurrency}")

        def db_pids() -> list[int]:
            return [] if db.name is None else pg_backend_pids(db.admin_url, db.name)

        def aux_pids() -> list[int]:
            return [] if db.name is None else pg_aux_pids(db.admin_url)

        days = []
        for label, day in (("day 1 (warm-up: new identities)", plan.days[0]), ("day 2 (steady state)", plan.days[1])):
            spy = None
            if args.py_spy and day == plan.days[args.py_spy_day - 1]:
                out = Path(f"{args.py_spy_out}-{backend}.txt")
                spy = subprocess.Popen([args.py_spy, "record", "--subprocesses", "--gil", "--format", "raw", "--rate", "50",  # noqa: S603
                                        "-o", str(out), "--pid", str(server.proc.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            result = run_day(label, plan, day, server, tokens, args.concurrency, db_pids, aux_pids)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=120)
            days.append(result)
            say(f"[{backend}] {label}: {result.pupils:,} pupil-days in {result.wall:.1f} s = {result.rate:,.0f}/s, "
                f"p50 {1000 * pct(result.latencies, 0.5):.0f} ms, p99 {1000 * pct(result.latencies, 0.99):.0f} ms"
                + (f", FAILED {result.failed}: {result.failures[:3]}" if result.failed else ""))
        peak_one, peak_sum_hwm, peak_rss_sum = server.peak()
        server.stop()
        if any(d.failed for d in days):
            say(server.tail())
        server = None
        counts = stored_counts(db.url, plan.days[1])
        sizes = storage(db.url)
        copy = None
        if not args.no_copy:
            pg = db.url if backend == "postgresql" else None
            if pg is None:
                with contextlib.suppress(Exception):
                    other = Database("postgresql", args.pg_url, workdir)
                    try:
                        copy = copy_baseline(other.url, plan, plan.days[1],
                                             load_keys(Settings(data_dir=data_dir)).pupil_id_key)
                    finally:
                        other.drop()
            else:
                copy = copy_baseline(pg, plan, plan.days[1], load_keys(Settings(data_dir=data_dir)).pupil_id_key)
        shredded = retention_run(db.url, data_dir, plan.days[1]) if args.retention else None
        return BackendReport(backend, workers, args.concurrency, days, peak_one, peak_sum_hwm, peak_rss_sum,
                             counts, copy, sizes, shredded)
    finally:
        if server is not None:
            say(server.tail())
            server.stop()
        if not args.keep:
            db.drop()
        else:
            say(f"[{backend}] kept database {db.url}")


def _data_files(conn: Any, db_url: str, table: str) -> list[Path]:
    """The files that hold a table's rows: on PostgreSQL its relation's, its partitions' and their TOAST
    tables' (after a checkpoint), on SQLite the database file and its journal."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.split("///", 1)[1])
        return [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    from gateway.db.partitions import data_files

    return data_files(conn, table)


def retention_run(db_url: str, data_dir: Path, day: dt.date) -> dict[str, Any]:
    """Shred the benchmark's academic year through `gateway retention run` (as of a day after its
    retention ends), timed; and whether one of its pupils' encrypted identities is in the identities'
    data files before and after."""
    from sqlalchemy import text

    from gateway.db.session import make_engine
    from schemas.calendar import academic_year_of

    year = academic_year_of(day)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            planted = bytes(conn.execute(text("SELECT ciphertext FROM pupil_identities WHERE academic_year = :y "
                                              "LIMIT 1"), {"y": year}).scalar_one())
            before = any(planted in f.read_bytes() for f in _data_files(conn, db_url, "pupil_identities"))
        engine.dispose()
        env = {**os.environ, "GATEWAY_DATABASE_URL": db_url, "GATEWAY_DATA_DIR": str(data_dir)}
        cmd = [sys.executable, "-m", "gateway.cli", "retention", "run", "--as-of", dt.date(year + 8, 1, 1).isoformat()]
        began = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=False)  # noqa: S603
        wall = time.perf_counter() - began
        summary = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-2000:]}
        with engine.connect() as conn:
            files = [f for f in _data_files(conn, db_url, "pupil_identities") if f.exists()]
            after = any(planted in f.read_bytes() for f in files)
    finally:
        engine.dispose()
    return {"academic_year": year, "wall": wall, "before": before, "after": after, "summary": summary}


def say_retention(shredded: dict[str, Any]) -> None:
    summary = shredded["summary"]
    if "error" in summary:
        say(f"  retention of {shredded['academic_year']}: FAILED {summary['error']}")
        return
    say(f"  retention of {shredded['academic_year']}/{(shredded['academic_year'] + 1) % 100:02d} "
        f"(`gateway retention run`, the whole command): {shredded['wall']:.2f} s; "
        f"{summary.get('shredded_keys', 0):,} keys, {summary.get('deleted_identities', 0):,} identities, "
        f"{summary.get('deleted_marks', 0):,} marks, {summary.get('deleted_registers', 0):,} registers; "
        f"partitions dropped {len(summary.get('dropped_partitions', []))}; a planted ciphertext in the "
        f"identities' data files before: {'yes' if shredded['before'] else 'no'}, "
        f"after: {'yes' if shredded['after'] else 'no'}")


def report(plan: Plan, reports: list[BackendReport]) -> None:
    pupils = sum(plan.sizes.values())
    say()
    say(f"scale {plan.scale:g}: {len(plan.schools):,} feeds a day, {pupils:,} pupils, body {plan.fmt}; "
        f"days {plan.days[0]} (warm-up) and {plan.days[1]} (measured); "
        f"feeds of {THOUSAND[0]}-{THOUSAND[1]} pupils: {sum(1 for n in plan.sizes.values() if THOUSAND[0] <= n <= THOUSAND[1])}")
    header = (f"{'backend':<11}{'day':<9}{'pupil-days/s':>13}{'wall s':>8}{'p50 ms':>8}{'p99 ms':>8}{'1k p50':>8}"
              f"{'1k p99':>8}{'srv cpu':>9}{'db cpu':>8}{'pg aux':>8}{'cli cpu':>8}{'busy':>6}")
    say(header)
    say("-" * len(header))
    for r in reports:
        for n, d in enumerate(r.days, start=1):
            say(f"{r.backend:<11}{n:<9}{d.rate:>13,.0f}{d.wall:>8.1f}{1000 * pct(d.latencies, .5):>8.0f}"
                f"{1000 * pct(d.latencies, .99):>8.0f}{1000 * pct(d.thousand, .5):>8.0f}{1000 * pct(d.thousand, .99):>8.0f}"
                f"{d.server_cpu:>9.1f}{d.db_cpu:>8.1f}{d.aux_cpu:>8.1f}{d.client_cpu:>8.1f}{100 * d.machine_busy:>5.0f}%")
    say()
    for r in reports:
        steady = r.days[1]
        line = (f"{r.backend}: {r.workers} worker(s), concurrency {r.concurrency}; peak server memory: largest process "
                f"{r.peak_one / 2**20:.0f} MiB, sum of VmHWM {r.peak_sum_hwm / 2**20:.0f} MiB, peak summed RSS "
                f"{r.peak_rss_sum / 2**20:.0f} MiB; stored {r.counts}")
        say(line)
        say_storage(r.sizes)
        if r.retention is not None:
            say_retention(r.retention)
        if r.copy:
            rows, runs = r.copy
            rates = sorted(rows / seconds for seconds in runs if seconds)
            rate = statistics.median(rates) if rates else 0.0
            say(f"  COPY baseline (binary, unindexed, {rows:,} rows, median of {len(rates)} runs): {rate:,.0f} rows/s "
                f"(runs {', '.join(f'{r:,.0f}' for r in rates)}); "
                f"gateway/COPY = {steady.rate / rate:.3f} (1 : {rate / steady.rate:.0f})" if steady.rate and rate else "")
        for d in r.days:
            if not d.pupils:
                continue
            cpu = d.server_cpu + d.db_cpu + d.aux_cpu + d.client_cpu
            per = 1e6 / d.pupils
            say(f"  day {r.days.index(d) + 1} CPU per pupil-day: server {per * d.server_cpu:.1f} us, database backends "
                f"{per * d.db_cpu:.1f} us, WAL writer/checkpointer/bgwriter {per * d.aux_cpu:.1f} us (all databases), "
                f"client {per * d.client_cpu:.1f} us; total {per * cpu:.1f} us, while the wall clock gave "
                f"{(os.cpu_count() or 2) * 1e6 / max(1.0, d.rate):.1f} CPU-us per pupil-day "
                f"(the rest went to other load)")


def commit_measured() -> str:
    """The checkout's commit, with "+changes" when its tracked files differ from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,  # noqa: S607
                              check=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "gateway", "schemas", "anonymisation", "audit",  # noqa: S607
                                "policies", "migrations"], cwd=root, timeout=30).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--scale", type=float, default=0.05, help="fraction of England's schools (1.0 = national)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent client connections")
    parser.add_argument("--workers", type=int, default=0, help="server worker processes (default as gateway serve: one per CPU on PostgreSQL, one on SQLite)")
    parser.add_argument("--format", dest="fmt", choices=["json", "csv"], default="json")
    parser.add_argument("--pg-url", default=os.environ.get("GATEWAY_BENCH_POSTGRES_URL", DEFAULT_PG),
                        help="admin URL of the PostgreSQL server (a database is created and dropped)")
    parser.add_argument("--bodies", type=Path, default=None, help="keep generated bodies here and reuse them")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2, help="processes generating bodies")
    parser.add_argument("--no-copy", action="store_true", help="skip the COPY baseline")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--retention", action="store_true",
                        help="after the days, shred their academic year and time it (checks the data files)")
    parser.add_argument("--py-spy", default=None, help="path of py-spy: sample the server during a day (collapsed stacks)")
    parser.add_argument("--py-spy-day", type=int, choices=[1, 2], default=2)
    parser.add_argument("--py-spy-out", default="/tmp/gw-bench-ingest-py-spy")
    args = parser.parse_args()
    if not 0 < args.scale <= 1.0:
        parser.error("--scale must be in (0, 1]")

    from gateway.services.common import LONDON

    today = dt.datetime.now(LONDON).date()
    days = register_days(today)
    load = os.getloadavg()
    say(f"ingest bench: scale {args.scale:g}, days {days[0]} and {days[1]}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, commit {commit_measured()}")
    with tempfile.TemporaryDirectory(prefix="gw-bench-ingest-") as tmp:
        bodies = args.bodies or Path(tmp) / "bodies"
        bodies.mkdir(parents=True, exist_ok=True)
        plan = make_plan(args.scale, args.seed, args.fmt, days, bodies, args.processes)
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        if "postgresql" in backends:
            say(pg_settings(args.pg_url))
        reports = []
        for backend in backends:
            workdir = Path(tmp) / backend
            workdir.mkdir()
            reports.append(run_backend(backend, plan, args, workdir))
        report(plan, reports)


if __name__ == "__main__":
    main()
