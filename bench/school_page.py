"""Benchmark the school pupils page for a 1,473-pupil school (issue 18: under 500 ms server time).

    python bench/school_page.py                     # SQLite, 1,473 pupils, 10 runs per view
    python bench/school_page.py --pupils 3000 --postgres postgresql://postgres@127.0.0.1:5432/bench

One school sends ten school days of registers through the HTTP feed; its attendance officer then
asks the console for the default page, a page sorted by attendance (descending), page 20, a posted
search and the CSV export. The app runs in process (Starlette's TestClient), so the time is the
server's: routing, the access decision, the gather, decryption of identities, audit, and rendering.
Prints the median and worst wall milliseconds of each view.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from gateway.bootstrap import initialise  # noqa: E402
from gateway.db.migrate import upgrade  # noqa: E402
from gateway.main import create_app  # noqa: E402
from gateway.runtime import build_runtime  # noqa: E402
from gateway.services.schools import import_gias  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from tests.api.test_console import OFFICER, sign_in  # noqa: E402
from tests.api.test_releases import WINDOW, fortnight, marks  # noqa: E402
from tests.conftest import Gateway  # noqa: E402
from tests.e2e.seed import CAMDEN_PRIMARY  # noqa: E402
from tests.factories import upn, write_gias  # noqa: E402


def fresh_postgres(url: str) -> str:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = make_url(url).database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pupils", type=int, default=1473)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--postgres", help="a database URL to (re)create and use instead of SQLite")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-school-page-"))
    try:
        url = fresh_postgres(args.postgres) if args.postgres else f"sqlite:///{folder / 'gateway.db'}"
        upgrade(url)
        settings = Settings(database_url=url, data_dir=folder / "data", env="dev")
        initialise(settings)
        runtime = build_runtime(settings)
        with TestClient(create_app(settings, runtime=runtime), raise_server_exceptions=False) as client:
            gw = Gateway(settings=settings, runtime=runtime, client=client)
            import_gias(runtime.sessions, write_gias(folder / "gias.csv"))
            started = time.perf_counter()
            serials = range(1, args.pupils + 1)
            # A UPN's serial has three digits: the thousands go in its year digits.
            extra = {s: {"upn": upn(year=f"{15 + s // 1000}", serial=s % 1000),
                         "year_group": str(1 + s % 6)} for s in serials}
            fortnight(gw, CAMDEN_PRIMARY, {s: marks(s % 14) for s in serials}, extra=extra)
            print(f"{args.pupils:,} pupils, 10 days of registers sent in {time.perf_counter() - started:.1f} s"
                  f" ({'PostgreSQL' if args.postgres else 'SQLite'})")
            csrf = sign_in(gw, OFFICER)
            window = {"from": WINDOW["from"], "to": WINDOW["to"]}
            views = {
                "default page (window)": lambda: client.get("/console/school", params=window),
                "sorted by attendance desc": lambda: client.get(
                    "/console/school", params={**window, "sort": "attendance", "dir": "desc"}),
                "page 20": lambda: client.get("/console/school", params={**window, "page": "20"}),
                "posted search": lambda: client.post(
                    "/console/school/search", data={**window, "q": "Surname14", "csrf_token": csrf}),
                "CSV export": lambda: client.get("/console/school.csv", params=window),
            }
            for name, view in views.items():
                times = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    response = view()
                    times.append((time.perf_counter() - t) * 1000)
                    assert response.status_code == 200, (name, response.status_code)
                print(f"{name:28} median {statistics.median(times):7.1f} ms   worst {max(times):7.1f} ms"
                      f"   ({len(response.content):,} bytes)")
        runtime.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
