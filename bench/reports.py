"""Benchmark the schools' attendance reports: the fortnight's snapshot, a school's report, and a
trust's overview of its schools.

    python bench/reports.py                      # SQLite, 200 schools of one trust
    python bench/reports.py --schools 400 --pupils 60 --views 30
    GATEWAY_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/reports.py

A register of ``--schools`` open primary schools, all in one trust and one LA, is imported; each
school submits ``--days`` registers of ``--pupils`` pupils through the HTTP API; then the snapshot is
built once (timed: it spends on the school-benchmarks share) and GET /v1/schools/{urn}/report and
GET /v1/trusts/{uid}/schools are each asked ``--views`` times over HTTP (in process, TestClient).
Prints the median and 95th percentile in ms. Targets: a report under 200 ms, a 200-school overview
under 500 ms.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from gateway.bootstrap import initialise  # noqa: E402
from gateway.db.migrate import upgrade  # noqa: E402
from gateway.keys.idp import mint_token  # noqa: E402
from gateway.main import create_app  # noqa: E402
from gateway.runtime import build_runtime  # noqa: E402
from gateway.services import reports  # noqa: E402
from gateway.services.schools import import_gias  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from schemas.upn import upn_from_body  # noqa: E402
from tests.factories import GIAS_HEADER  # noqa: E402

DAYS = [
    dt.date(2025, 9, 8) + dt.timedelta(days=d)
    for d in range(0, 40)
    if (dt.date(2025, 9, 8) + dt.timedelta(days=d)).weekday() < 5
]
TODAY = dt.date(2025, 11, 3)
TRUST = "4021"


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def gias(path: Path, schools: int) -> list[int]:
    urns = [110000 + n for n in range(schools)]
    with path.open("w", encoding="cp1252", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow([*GIAS_HEADER, "Trusts (code)", "Trusts (name)"])
        for n, urn in enumerate(urns):
            writer.writerow(
                [
                    urn,
                    "202",
                    "Camden",
                    f"{2000 + n:04d}",
                    f"School {n}",
                    "Academy converter",
                    "Academies",
                    "Open",
                    "Not applicable",
                    "01-09-1990",
                    "Primary",
                    "4",
                    "11",
                    "No boarders",
                    "Mixed",
                    "NW1 1AA",
                    TRUST,
                    "Bench Trust",
                ]
            )
    return urns


def register(n: int, pupils: int, day_index: int) -> bytes:
    rows = []
    for p in range(pupils):
        absent = (p * 7 + n + day_index) % (11 + n % 5) == 0
        rows.append(
            {
                "upn": upn_from_body(f"202{2000 + n:04d}15{p:03d}"),
                "forename": f"F{p}",
                "surname": f"S{p}",
                "date_of_birth": "2016-03-14",
                "year_group": str(1 + p % 6),
                "sen_status": "K" if p % 7 == 0 else "N",
                "fsm_eligible": p % 4 == 0,
                "am": "I" if absent else "/",
                "pm": "O" if absent else "\\",
            }
        )
    return json.dumps({"pupils": rows}).encode()


def timed(call, views: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(views):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def run(url: str, data_dir: Path, args: argparse.Namespace, label: str) -> None:
    upgrade(url)
    settings = Settings(database_url=url, data_dir=data_dir, env="dev")
    runtime = build_runtime(settings)
    reports.today = lambda: TODAY  # the bench's registers are of autumn 2025
    app = create_app(settings, runtime=runtime)

    def auth(org_type: str, org_id: str, role: str) -> dict[str, str]:
        token = mint_token(
            data_dir,
            org_type=org_type,
            org_id=org_id,
            roles=[role],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        return {"Authorization": f"Bearer {token}"}

    with TestClient(app, raise_server_exceptions=False) as client:
        urns = gias(data_dir / "gias.csv", args.schools)
        import_gias(runtime.sessions, data_dir / "gias.csv")
        start = time.perf_counter()
        for n, urn in enumerate(urns):
            headers = {"Content-Type": "application/json", **auth("school", str(urn), "feed_submitter")}
            for i, day in enumerate(DAYS[: args.days]):
                r = client.put(
                    f"/v1/schools/{urn}/attendance/{day}",
                    content=register(n, args.pupils, i),
                    headers=headers,
                )
                assert r.status_code in (200, 201), r.text
        say(
            f"[{label}] loaded {len(urns)} schools x {args.days} registers x {args.pupils} pupils "
            f"in {time.perf_counter() - start:.1f} s"
        )
        officer = auth("school", str(urns[0]), "attendance_officer")
        start = time.perf_counter()
        first = client.get(f"/v1/schools/{urns[0]}/report", headers=officer)
        assert first.status_code == 200, first.text
        say(
            f"[{label}] first view, building the snapshot: {(time.perf_counter() - start) * 1000:.0f} ms "
            f"({len(first.json()['measures'])} measures)"
        )
        report_med, report_p95 = timed(
            lambda: client.get(f"/v1/schools/{urns[0]}/report", headers=officer), args.views
        )
        trust = auth("trust", TRUST, "trust_officer")
        overview_med, overview_p95 = timed(
            lambda: client.get(f"/v1/trusts/{TRUST}/schools", headers=trust), args.views
        )
        say(
            f"[{label}] a school's report: median {report_med:.1f} ms, p95 {report_p95:.1f} ms (target < 200)"
        )
        say(
            f"[{label}] trust overview of {len(urns)} schools: median {overview_med:.1f} ms, "
            f"p95 {overview_p95:.1f} ms (target < 500)"
        )
    runtime.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schools", type=int, default=200)
    parser.add_argument("--pupils", type=int, default=30)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--views", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        initialise(Settings(data_dir=data_dir, database_url=f"sqlite:///{Path(tmp) / 'init.db'}"))
        run(f"sqlite:///{Path(tmp) / 'bench.db'}", data_dir, args, "sqlite")
        pg = os.environ.get("GATEWAY_BENCH_POSTGRES_URL")
        if pg:
            name = "bench_reports_" + uuid.uuid4().hex[:8]
            admin = create_engine(pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                run(pg.rsplit("/", 1)[0] + "/" + name, data_dir, args, "postgresql")
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
