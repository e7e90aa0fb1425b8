"""`gateway demo`: synthetic England through the real paths.

Initialise, generate a GIAS file for a scaled-down England (DfE's published 2025/26 school counts,
sizes, absence and reason mix per LA and phase), import it with the same code as
`gateway schools import`, then send every school's daily registers for the current term to date
through the HTTP API (in process), as each school's MIS would.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

import synthetic
from gateway.bootstrap import initialise
from gateway.keys.idp import mint_token
from gateway.logging import log_to
from gateway.main import create_app
from gateway.progress import Bar, progress_bar
from gateway.runtime import build_runtime
from gateway.services.common import LONDON
from gateway.services.schools import import_gias
from gateway.settings import Settings
from schemas.calendar import academic_year_of


def term_to_date(today: dt.date, days: int | None) -> list[dt.date]:
    """School days of the current academic year up to yesterday (the latest `days` of them if given)."""
    year = academic_year_of(today)
    start = synthetic.term_dates(year)[0].start
    past = [d for d in synthetic.school_days(start, today - dt.timedelta(days=1))]
    if not past:  # the summer holiday: use the previous year's last term instead
        terms = synthetic.term_dates(year - 1)
        past = synthetic.school_days(terms[-2].start, terms[-1].end)
    return past[-days:] if days else past


def run_demo(settings: Settings, *, scale: float, days: int | None, seed: int) -> dict[str, Any]:
    """Load synthetic England; the structured log goes to `<data dir>/logs/demo.log`, the terminal shows
    one progress bar, and the summary says what this run changed (a re-run changes nothing)."""
    log_file = settings.data_dir / "logs" / "demo.log"
    with log_to(log_file):
        initialise(settings)
        profiles = synthetic.load_la_profiles()
        by_key = {(p.old_la_code, p.phase): p for p in profiles}
        schools = synthetic.synthetic_schools(profiles, scale, seed)
        demo_dir = settings.data_dir / "demo"
        demo_dir.mkdir(parents=True, exist_ok=True)
        gias = demo_dir / "gias-establishments.csv"
        synthetic.write_gias_csv(schools, gias)
        runtime = build_runtime(settings)
        imported = import_gias(runtime.sessions, gias)

        today = dt.datetime.now(LONDON).date()
        register_days = term_to_date(today, days)
        year = academic_year_of(register_days[0])
        app = create_app(settings, runtime=runtime)
        open_schools = [s for s in schools if s.status == "Open"]
        started = time.perf_counter()
        with progress_bar("schools", len(open_schools), detail=_DETAIL, registers=0, changed=0, pupil_days=0,
                          rate=0.0) as bar:
            counts = asyncio.run(
                _send_feeds(app, settings, open_schools, by_key, register_days, year, seed, bar)
            )
        elapsed = time.perf_counter() - started
        runtime.engine.dispose()
    example = open_schools[0] if open_schools else None
    trust = _largest_trust(gias)
    las = sorted({s.la_code for s in open_schools})
    return {
        "schools": len(schools),
        "schools_new": imported.new,
        "local_authorities": len(las),
        "school_days": len(register_days),
        "from": register_days[0].isoformat(),
        "to": register_days[-1].isoformat(),
        "registers": counts["registers"],
        "registers_changed": counts["changed"],
        "registers_unchanged": counts["registers"] - counts["changed"],
        "pupil_days": counts["pupil_days"],
        "seconds": round(elapsed, 1),
        "log": str(log_file),
        "try": {
            "school_officer": f"gateway token --org-type school --org-id {example.urn} "
            "--role attendance_officer"
            if example
            else None,
            "la_case_officer": f"gateway token --org-type la --org-id {las[0]} --role case_officer"
            if las
            else None,
            "trust_officer": f"gateway token --org-type trust --org-id {trust} --role trust_officer"
            if trust
            else None,
            "dpo": "gateway token --org-type operator --org-id operator --role dpo",
            "statistician": "gateway token --org-type dfe --org-id dfe --role statistician",
        },
    }


def _largest_trust(gias: Path) -> str | None:
    """The GIAS trust UID with the most open schools in the generated register, for a trust officer's
    token (the console's trust overview lists its schools)."""
    with gias.open(encoding="latin-1", newline="") as fh:
        counts = Counter(
            row["Trusts (code)"]
            for row in csv.DictReader(fh)
            if row.get("Trusts (code)") and row.get("EstablishmentStatus (name)") == "Open"
        )
    return counts.most_common(1)[0][0] if counts else None


_DETAIL = (
    "{task.fields[registers]:,} registers ({task.fields[changed]:,} changed) "
    "{task.fields[pupil_days]:,} pupil-days {task.fields[rate]:,.0f}/s"
)


async def _send_feeds(
    app: Any,
    settings: Settings,
    schools: list[synthetic.SyntheticSchool],
    by_key: dict[tuple[str, str], Any],
    register_days: list[dt.date],
    year: int,
    seed: int,
    bar: Bar,
) -> dict[str, int]:
    """Each school's MIS sends its registers day by day, a few schools at a time, over HTTP in process.
    A 201 stored a new register or a correction; a 200 found the same register already stored."""
    counts = {"registers": 0, "changed": 0, "pupil_days": 0}
    started = time.perf_counter()
    queue: asyncio.Queue[synthetic.SyntheticSchool] = asyncio.Queue()
    for school in schools:
        queue.put_nowait(school)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            school = queue.get_nowait()
            profile = by_key[(school.la_code, school.phase)]
            pupils = synthetic.synthetic_pupils(school, profile, year, seed)
            token = mint_token(
                settings.data_dir,
                org_type="school",
                org_id=str(school.urn),
                roles=["feed_submitter"],
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            for day in register_days:
                rows = synthetic.daily_register(school, pupils, profile, day, seed)
                response = await client.put(
                    f"/v1/schools/{school.urn}/attendance/{day.isoformat()}",
                    content=json.dumps({"pupils": rows}),
                    headers=headers,
                )
                if response.status_code not in (200, 201):
                    raise RuntimeError(
                        f"feed for school {school.urn} on {day} refused: {response.status_code} "
                        f"{response.text[:300]}"
                    )
                counts["pupil_days"] += len(rows)
                counts["registers"] += 1
                counts["changed"] += response.status_code == 201
                rate = counts["pupil_days"] / max(time.perf_counter() - started, 1e-9)
                bar.note(**counts, rate=rate)
            bar.advance()

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(3)))
    return counts
