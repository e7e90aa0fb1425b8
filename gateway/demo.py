"""`gateway demo`: synthetic England through the real paths.

Initialise, generate a GIAS file for a scaled-down England (DfE's published 2025/26 school counts,
sizes, absence and reason mix per LA and phase), import it with the same code as
`gateway schools import`, then send every school's daily registers through the HTTP API (in process),
as each school's MIS would: the whole of the previous academic year (or years) first, then the current
term to date. The same children are on roll from one year to the next (same UPNs, a year group up,
with a few leavers and joiners), so last year's rosters feed the at-risk rule; after each previous
year its last benchmark snapshot is built, which this year's ABIE is measured from.
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
from gateway.runtime import Runtime, build_runtime
from gateway.services.common import LONDON
from gateway.services.schools import import_gias
from gateway.settings import Settings
from schemas.calendar import academic_year_label, academic_year_of


def term_to_date(today: dt.date, days: int | None) -> list[dt.date]:
    """School days of the current academic year up to yesterday (the latest `days` of them if given)."""
    year = academic_year_of(today)
    start = synthetic.term_dates(year)[0].start
    past = [d for d in synthetic.school_days(start, today - dt.timedelta(days=1))]
    if not past:  # the summer holiday: use the previous year's last term instead
        terms = synthetic.term_dates(year - 1)
        past = synthetic.school_days(terms[-2].start, terms[-1].end)
    return past[-days:] if days else past


def demo_years(
    today: dt.date, days: int | None, prior_years: int, prior_days: int | None
) -> list[tuple[int, list[dt.date]]]:
    """(academic year, its register days), oldest first: each previous year whole (or its last
    `prior_days` school days), then the current term to date."""
    current = term_to_date(today, days)
    year = academic_year_of(current[0])
    out = []
    for back in range(prior_years, 0, -1):
        terms = synthetic.term_dates(year - back)
        whole = synthetic.school_days(terms[0].start, terms[-1].end)
        out.append((year - back, whole[-prior_days:] if prior_days else whole))
    out.append((year, current))
    return out


def run_demo(
    settings: Settings,
    *,
    scale: float,
    days: int | None,
    seed: int,
    prior_years: int = 1,
    prior_days: int | None = None,
) -> dict[str, Any]:
    """Load synthetic England; the structured log goes to `<data dir>/logs/demo.log`, the terminal shows
    one progress bar, and the summary says what this run loaded per academic year and what it changed
    (a re-run changes nothing)."""
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
        plan = demo_years(today, days, prior_years, prior_days)
        app = create_app(settings, runtime=runtime)
        open_schools = [s for s in schools if s.status == "Open"]
        started = time.perf_counter()
        years: list[dict[str, Any]] = []
        on_roll_before: set[str] = set()
        totals = {"registers": 0, "changed": 0, "pupil_days": 0}
        with progress_bar("school-years", len(open_schools) * len(plan), detail=_DETAIL, registers=0,
                          changed=0, pupil_days=0, rate=0.0, year="") as bar:
            for year, register_days in plan:
                bar.note(year=academic_year_label(year))
                counts, on_roll = asyncio.run(
                    _send_feeds(app, settings, open_schools, by_key, register_days, year, seed, bar, totals)
                )
                entry: dict[str, Any] = {
                    "academic_year": academic_year_label(year),
                    "from": register_days[0].isoformat(),
                    "to": register_days[-1].isoformat(),
                    "school_days": len(register_days),
                    "registers": counts["registers"],
                    "registers_changed": counts["changed"],
                    "pupil_days": counts["pupil_days"],
                    "pupils": len(on_roll),
                    "pupils_on_roll_the_year_before": len(on_roll & on_roll_before) if years else None,
                }
                if year != plan[-1][0]:
                    entry["report_snapshot"] = _prior_snapshot(runtime, register_days[-1])
                years.append(entry)
                on_roll_before = on_roll
        elapsed = time.perf_counter() - started
        runtime.engine.dispose()
    example = open_schools[0] if open_schools else None
    trust = _largest_trust(gias)
    las = sorted({s.la_code for s in open_schools})
    return {
        "schools": len(schools),
        "schools_new": imported.new,
        "local_authorities": len(las),
        "school_days": sum(len(d) for _, d in plan),
        "from": plan[0][1][0].isoformat(),
        "to": plan[-1][1][-1].isoformat(),
        "registers": totals["registers"],
        "registers_changed": totals["changed"],
        "registers_unchanged": totals["registers"] - totals["changed"],
        "pupil_days": totals["pupil_days"],
        "years": years,
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


def _prior_snapshot(runtime: Runtime, last_day: dt.date) -> dict[str, Any] | None:
    """A past year's benchmark snapshot at its last register day, as `gateway reports snapshot --day`
    makes it (once: a re-run finds it and spends nothing); the next year's ABIE reads it."""
    from gateway.services.reports.snapshots import CONSUMER, ensure
    from gateway.services.stats.ledger import rules

    policy = runtime.catalogue.school_reports
    if policy is None:
        return None
    settings = runtime.settings
    snapshot, built = ensure(
        runtime.sessions, lambda cap: rules(settings, CONSUMER, ledger_cap=cap), policy, last_day
    )
    return {"fortnight_start": snapshot.fortnight_start.isoformat(), "schools": len(snapshot.data.urns),
            "built": built}


_DETAIL = (
    "{task.fields[year]} {task.fields[registers]:,} registers ({task.fields[changed]:,} changed) "
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
    totals: dict[str, int],
) -> tuple[dict[str, int], set[str]]:
    """Each school's MIS sends a year's registers day by day, a few schools at a time, over HTTP in
    process. A 201 stored a new register or a correction; a 200 found the same register already stored.
    Returns the year's counts and the UPNs on roll (`totals` carries the counts across years)."""
    counts = {"registers": 0, "changed": 0, "pupil_days": 0}
    on_roll: set[str] = set()
    started = time.perf_counter()
    queue: asyncio.Queue[synthetic.SyntheticSchool] = asyncio.Queue()
    for school in schools:
        queue.put_nowait(school)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            school = queue.get_nowait()
            profile = by_key[(school.la_code, school.phase)]
            pupils = synthetic.synthetic_pupils(school, profile, year, seed)
            on_roll.update(p.upn for p in pupils)
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
                for tally in (counts, totals):
                    tally["pupil_days"] += len(rows)
                    tally["registers"] += 1
                    tally["changed"] += response.status_code == 201
                rate = counts["pupil_days"] / max(time.perf_counter() - started, 1e-9)
                bar.note(registers=totals["registers"], changed=totals["changed"],
                         pupil_days=totals["pupil_days"], rate=rate)
            bar.advance()

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(3)))
    return counts, on_roll
