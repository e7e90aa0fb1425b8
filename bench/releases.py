"""Benchmark case-level releases: an LA with 200 schools and about 60,000 pupils over a full term.

    python bench/releases.py                      # PostgreSQL, 200 schools, 8 concurrent clients
    python bench/releases.py --other-las 40       # the same LA among 40 other LAs' data

Builds a fresh PostgreSQL database (`gw_bench_rel_<random>`, dropped afterwards) and data directory,
loads synthetic registers for the autumn term to date directly with COPY (ingest speed is
bench/ingest.py's subject; here the marks, running totals, data keys and encrypted identities are
written exactly as ingest writes them, using the same key and pseudonym functions), starts a real
server (`gateway serve --workers 2`) and sends `--requests` releases per purpose from `--concurrency`
concurrent clients: `la-targeting-support` (running totals, pseudonymised) and `la-penalty-notice`
(marks of the rolling ten school weeks, decrypted names). Prints p50/p99 latency and the record counts.
Target (issue 3): p99 under 250 ms, independent of how many other LAs exist.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from anonymisation.keys import encrypt_identity, identity_digest, new_key, wrap_data_key  # noqa: E402
from anonymisation.pseudonyms import pupil_id as make_pupil_id  # noqa: E402
from gateway import synthetic  # noqa: E402
from gateway.bootstrap import initialise  # noqa: E402
from gateway.devidp import mint_token  # noqa: E402
from gateway.keystore import load_keys  # noqa: E402
from gateway.services.feeds import LONDON  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from schemas.calendar import academic_year_of  # noqa: E402
from schemas.codes import codes_in_force  # noqa: E402
from schemas.records import Identity  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
LA = "330"  # Birmingham: the largest LA, enough schools to pick 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load(conn: psycopg.Connection, settings: Settings, schools: list, profiles: dict, days: list[dt.date], seed: int) -> int:
    keys = load_keys(settings)
    year = academic_year_of(days[0])
    kek_id, kek = keys.kek_for_year(year)
    now = dt.datetime.now(dt.UTC)
    pupils_total = 0
    with conn.cursor() as cur:
        for school in schools:
            cur.execute(
                "INSERT INTO schools (urn, la_code, la_name, establishment_number, name, phase, type_of_establishment, status, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'Open', %s)",
                (school.urn, school.la_code, school.la_name, school.establishment_number, school.name, school.phase_of_education,
                 school.type_of_establishment, now),
            )
        for school in schools:
            profile = profiles[(school.la_code, school.phase)]
            pupils = synthetic.synthetic_pupils(school, profile, year, seed)
            pupils_total += len(pupils)
            ids = [make_pupil_id(p.upn, keys.pupil_id_key) for p in pupils]
            totals: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
            with cur.copy("COPY marks (urn, date, pupil_id, academic_year, am, pm, version) FROM STDIN") as copy:
                for day in days:
                    table = codes_in_force(day)
                    for pid, row in zip(ids, synthetic.daily_register(school, pupils, profile, day, seed), strict=True):
                        copy.write_row((school.urn, day, pid, year, row["am"], row["pm"], 1))
                        t = totals[pid]
                        for code in (row["am"], row["pm"]):
                            cls = table[code].value
                            if cls == "not_counted":
                                t[5] += 1
                            else:
                                t[0] += 1
                                t[{"present": 1, "aea": 2, "authorised": 3, "unauthorised": 4}[cls]] += 1
            with cur.copy("COPY enrolments (pupil_id, urn, academic_year, la_code, year_group, sen_status, fsm_eligible, first_date, "
                          "last_date, sessions_possible, sessions_present, sessions_aea, sessions_authorised, sessions_unauthorised, "
                          "sessions_not_counted) FROM STDIN") as copy:
                for pid, p in zip(ids, pupils, strict=True):
                    copy.write_row((pid, school.urn, year, school.la_code, p.year_group, p.sen_status, p.fsm_eligible, days[0], days[-1], *totals[pid]))
            with cur.copy("COPY data_keys (pupil_id, academic_year, wrapped_key, master_key_id, created_at) FROM STDIN") as keys_copy:
                data_keys = {}
                for pid in ids:
                    data_keys[pid] = new_key()
                    keys_copy.write_row((pid, year, wrap_data_key(data_keys[pid], kek, pid, year), kek_id, now))
            with cur.copy("COPY pupil_identities (pupil_id, academic_year, ciphertext, digest, updated_at) FROM STDIN") as copy:
                for pid, p in zip(ids, pupils, strict=True):
                    identity = Identity(p.upn, p.forename, p.surname, p.date_of_birth)
                    copy.write_row((pid, year, encrypt_identity(identity, data_keys[pid], pid, year), identity_digest(identity, keys.digest_key), now))
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("ANALYZE")
    return pupils_total


async def fire(port: int, token: str, purpose: str, requests: int, concurrency: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    records = 0
    body = {"purpose": purpose, "justification": "Benchmark of the release path under concurrent load"}

    async def client(n: int) -> None:
        nonlocal records
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for _ in range(n):
                started = time.perf_counter()
                r = await http.post("/v1/releases", json=body, headers={"Authorization": f"Bearer {token}"})
                latencies.append((time.perf_counter() - started) * 1000)
                if r.status_code != 201:
                    raise RuntimeError(f"{purpose}: {r.status_code} {r.text[:200]}")
                records = r.json()["record_count"]

    per = max(1, requests // concurrency)
    await asyncio.gather(*(client(per) for _ in range(concurrency)))
    return latencies, records


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=200)
    parser.add_argument("--other-las", type=int, default=0, help="other LAs' schools to load alongside (10 schools each)")
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    name = f"gw_bench_rel_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    data_dir = Path(tempfile.mkdtemp(prefix="gw-bench-rel-"))
    server = None
    try:
        settings = Settings(database_url=url, data_dir=data_dir, env="dev")
        initialise(settings)
        profiles = synthetic.load_la_profiles()
        by_key = {(p.old_la_code, p.phase): p for p in profiles}
        everyone = [s for s in synthetic.synthetic_schools(profiles, 1.0, args.seed) if s.status == "Open"]
        ours = [s for s in everyone if s.la_code == LA and s.phase in ("Primary", "Secondary")]
        random.Random(args.seed).shuffle(ours)
        ours = ours[: args.schools]
        others: list = []
        for la in sorted({s.la_code for s in everyone if s.la_code != LA})[: args.other_las]:
            others += [s for s in everyone if s.la_code == la][:10]
        today = dt.datetime.now(LONDON).date()
        year = academic_year_of(today)
        days = synthetic.school_days(synthetic.term_dates(year)[0].start, today - dt.timedelta(days=1))
        started = time.perf_counter()
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            pupils = load(conn, settings, ours + others, by_key, days, args.seed)
        load_s = time.perf_counter() - started
        port = free_port()
        env = {**os.environ, "GATEWAY_DATABASE_URL": url, "GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_ENV": "production"}
        server = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "2"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        token = mint_token(data_dir, org_type="la", org_id=LA, roles=["case_officer"], issuer=settings.jwt_issuer,
                           audience=settings.jwt_audience)
        sys.stdout.write(f"loaded {len(ours)} schools of LA {LA} + {len(others)} other schools, {pupils} pupils, "
                         f"{len(days)} school days ({days[0]} to {days[-1]}) in {load_s:.1f} s\n")
        sys.stdout.write(f"{'purpose':<24}{'requests':>9}{'records':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}\n")
        for purpose in ("la-targeting-support", "la-penalty-notice"):
            asyncio.run(fire(port, token, purpose, args.concurrency, args.concurrency))  # warm-up
            latencies, records = asyncio.run(fire(port, token, purpose, args.requests, args.concurrency))
            sys.stdout.write(f"{purpose:<24}{len(latencies):>9}{records:>9}{pct(latencies, 0.5):>9.0f}{pct(latencies, 0.99):>9.0f}"
                             f"{max(latencies):>9.0f}\n")
        sys.stdout.write(f"(concurrency {args.concurrency}; mean of all: {statistics.mean(latencies):.0f} ms)\n")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
