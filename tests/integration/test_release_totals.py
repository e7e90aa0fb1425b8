"""The release queries' shortcuts give exactly what the plain reading of the marks gives, on both
backends: window totals from the running totals of enrolments whose registers lie in the window, the
10%/50% thresholds in SQL, and the penalty-notice weeks found in one aggregate.

The registers are random but seeded: a summer term of 2024/25 and most of the autumn term of 2025/26
at three schools in two LAs, with pupils joining and leaving part way, moving school, closures (#),
weeks out of school (X, not a possible session), term-time holidays (G) and scattered N, O and U.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import and_, select

from gateway.auth import Principal
from gateway.db.models import Enrolment, Mark
from gateway.db.repositories import releases as rrepo
from gateway.runtime import Runtime, build_runtime
from gateway.services import feeds
from gateway.services.releases import _not_counted, requester_of
from gateway.services.schools import import_gias
from gateway.settings import Settings
from policies.decide import decide
from policies.model import ReleaseRequest, RequestFacts
from policies.select import (
    PENALTY_NOTICE_SCHOOL_WEEKS,
    PENALTY_NOTICE_SESSIONS,
    misses_at_least,
)
from policies.select import (
    select as select_rows,
)
from schemas.codes import PENALTY_NOTICE_CODES, codes_by_class
from schemas.records import EnrolmentTotals
from schemas.records import Mark as MarkRecord
from tests.conftest import BACKENDS
from tests.factories import pupil, write_gias

SUMMER = (dt.date(2025, 6, 16), dt.date(2025, 7, 18))
AUTUMN = (dt.date(2025, 9, 4), dt.date(2025, 11, 28))
HALF_TERM = (dt.date(2025, 10, 27), dt.date(2025, 10, 31))
CLOSED = {(100002, dt.date(2025, 10, 9))}  # a closure day at one school: '#' for everyone
SCHOOLS = {100001: ("202", "2001"), 100002: ("202", "4001"), 100003: ("211", "2002")}
JUSTIFICATION = "Checking the release queries against the plain reading of the marks"


def school_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    return [d for d in days if d.weekday() < 5 and not HALF_TERM[0] <= d <= HALF_TERM[1]]


def registers(seed: int) -> dict[tuple[int, dt.date], list[dict]]:
    """(urn, day) -> the day's feed rows."""
    rng = random.Random(seed)  # noqa: S311 (test data, not a secret)
    days = school_days(*SUMMER) + school_days(*AUTUMN)
    out: dict[tuple[int, dt.date], list[dict]] = {}
    for urn, (la, est) in SCHOOLS.items():
        for serial in range(1, 15 if urn != 100003 else 7):
            first = rng.choice([days[0], days[0], days[0], rng.choice(days)])
            last = rng.choice([days[-1], days[-1], days[-1], rng.choice(days)])
            if serial == 1 and urn == 100001:  # moves to 100002 at half term, with the same UPN
                last = dt.date(2025, 10, 24)
            habit = rng.choice(["good", "good", "holiday", "truant", "away", "ill"])
            holiday = rng.choice(days)
            away_from = rng.choice(days)
            for day in days:
                if not first <= day <= last:
                    continue
                am, pm = marks_of(rng, habit, day, holiday, away_from)
                if (urn, day) in CLOSED:
                    am = pm = "#"
                out.setdefault((urn, day), []).append(pupil(serial, am=am, pm=pm, la=la, est=est))
        if urn == 100002:  # the mover's second school, from the first school day after half term
            for day in days:
                if day > dt.date(2025, 10, 31):
                    am, pm = marks_of(rng, "truant", day, days[0], days[0])
                    out.setdefault((urn, day), []).append(pupil(1, am=am, pm=pm, la="202", est="2001"))
    return out


def marks_of(rng: random.Random, habit: str, day: dt.date, holiday: dt.date, away_from: dt.date) -> tuple[str, str]:
    if habit == "holiday" and 0 <= (day - holiday).days < 7:
        return "G", "G"
    if habit == "away" and 0 <= (day - away_from).days < 21:
        return "X", "X"  # not a possible session: weeks of it are not school weeks
    if habit == "truant" and rng.random() < 0.35:
        return rng.choice(["U", "N", "O", "/"]), rng.choice(["U", "N", "\\"])
    if habit == "ill" and rng.random() < 0.3:
        return "I", "I"
    if rng.random() < 0.05:
        return rng.choice(["M", "L", "/"]), rng.choice(["B", "\\", "Y1"])
    return "/", "\\"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
          data_dir: Path) -> Iterator[Runtime]:
    """One database per backend for the whole module: the registers take a while to ingest, and every
    test here only reads them."""
    folder = tmp_path_factory.mktemp("release-totals")
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, folder / "gateway.db")
        url = f"sqlite:///{folder / 'gateway.db'}"
    else:
        url = request.getfixturevalue("pg_databases").fresh()
    runtime = build_runtime(Settings(database_url=url, data_dir=data_dir, env="dev"))
    import_gias(runtime.sessions, write_gias(folder / "gias.csv"))
    for (urn, day), rows in sorted(registers(seed=11).items()):
        submitter = Principal(sub=f"mis-{urn}", org_type="school", org_id=str(urn), roles=("feed_submitter",))
        feeds.ingest(runtime.sessions, runtime.keys, submitter, urn, day, json.dumps({"pupils": rows}).encode(), "application/json")
    yield runtime
    runtime.engine.dispose()
    if request.param != "sqlite":
        request.getfixturevalue("pg_databases").drop(url)


def plain_totals(runtime: Runtime, start: dt.date, end: dt.date, la: str) -> list[EnrolmentTotals]:
    """Every enrolment in scope summed from its marks (the reading without shortcuts)."""
    with runtime.sessions() as db:
        return rrepo.window_totals(db, start, end, codes_by_class(), la_code=la)


def plain_marks(runtime: Runtime, start: dt.date, end: dt.date, la: str) -> list[MarkRecord]:
    """Every mark in the window of the enrolments in scope."""
    e, m = Enrolment, Mark
    stmt = (select(m.pupil_id, m.urn, m.date, m.am, m.pm)
            .join(e, and_(e.pupil_id == m.pupil_id, e.urn == m.urn, e.academic_year == m.academic_year))
            .where(e.la_code == la, m.date >= start, m.date <= end))
    with runtime.sessions() as db:
        rows = db.execute(stmt).all()
    return [MarkRecord(r.pupil_id, int(r.urn), r.date, s, code) for r in rows for s, code in (("AM", r.am), ("PM", r.pm))]


WINDOWS = [
    (dt.date(2025, 8, 1), dt.date(2025, 11, 28)),  # the year to date: every enrolment from its running totals
    (dt.date(2025, 9, 1), dt.date(2025, 11, 21)),  # cuts the enrolments still on roll after 21 November
    (dt.date(2025, 10, 1), dt.date(2025, 11, 14)),  # inside the term: every enrolment summed from its marks
    (dt.date(2025, 11, 3), dt.date(2025, 11, 3)),  # one day
]


def covered(runtime: Runtime, start: dt.date, end: dt.date, la: str) -> tuple[int, int]:
    """How many enrolments of 2025/26 in the LA have all their registers in the window, and how many not."""
    e = Enrolment
    with runtime.sessions() as db:
        rows = db.execute(select(e.first_date, e.last_date).where(e.la_code == la, e.academic_year == 2025)).all()
    inside = sum(start <= first and last <= end for first, last in rows)
    return inside, len(rows) - inside


def test_the_windows_mix_enrolments_from_running_totals_and_from_marks(world: Runtime) -> None:
    assert covered(world, *WINDOWS[0], "202")[1] == 0
    assert min(covered(world, *WINDOWS[1], "202")) > 0
    inside, outside = covered(world, *WINDOWS[2], "202")
    assert outside > 5 * inside


@pytest.mark.parametrize("la", ["202", "211"])
def test_window_totals_from_running_totals_equal_the_sum_of_the_marks(world: Runtime, la: str) -> None:
    for start, end in WINDOWS:
        plain = plain_totals(world, start, end, la)
        assert plain, (start, end)
        with world.sessions() as db:
            fast = rrepo.window_totals(db, start, end, codes_by_class(), academic_year=2025, la_code=la)
        assert fast == plain, (start, end)


@pytest.mark.parametrize("percent", [10, 50])
def test_the_absence_threshold_in_sql_keeps_exactly_the_enrolments_that_meet_it(world: Runtime, percent: int) -> None:
    for start, end in WINDOWS:
        plain = [t for t in plain_totals(world, start, end, "202")
                 if misses_at_least(t.sessions_absent, t.sessions_possible, percent)]
        with world.sessions() as db:
            both = [rrepo.window_totals(db, start, end, codes_by_class(), academic_year=year, la_code="202",
                                        min_absence_percent=percent) for year in (2025, None)]
        assert both[0] == both[1] == plain, (start, end)
    assert plain, "the data must have some pupils over the threshold"


def test_running_totals_serve_named_schools_and_pupils_too(world: Runtime) -> None:
    start, end = WINDOWS[0]
    with world.sessions() as db:
        pupil_ids = sorted({t.pupil_id for t in rrepo.window_totals(db, start, end, codes_by_class(), la_code="202")})[:5]
        for scope in ({"urns": [100002]}, {"pupil_ids": pupil_ids}, {"pupil_ids": pupil_ids, "year_group": "5"}):
            fast = rrepo.window_totals(db, start, end, codes_by_class(), academic_year=2025, **scope)
            plain = rrepo.window_totals(db, start, end, codes_by_class(), **scope)
            assert fast == plain and fast, scope


@pytest.mark.parametrize("to", [dt.date(2025, 7, 18), dt.date(2025, 9, 26), dt.date(2025, 10, 31), dt.date(2025, 11, 14),
                                dt.date(2025, 11, 28)])
def test_penalty_notice_candidates_select_what_all_the_marks_select(world: Runtime, to: dt.date) -> None:
    request = ReleaseRequest(purpose="la-penalty-notice", to_date=to, justification=JUSTIFICATION)
    officer = Principal(sub="officer", org_type="la", org_id="202", roles=("case_officer",))
    decision = decide(world.catalogue, requester_of(officer), request, RequestFacts(school_la_codes={}),
                      now=dt.datetime.now(dt.UTC))
    assert decision.allow and decision.obligations is not None
    obligations = decision.obligations
    start, end = obligations.window.from_date, obligations.window.to_date
    expected = select_rows(obligations, plain_totals(world, start, end, "202"), plain_marks(world, start, end, "202"))
    with world.sessions() as db:
        totals, marks = rrepo.penalty_notice_candidates(
            db, start, end, la_code="202", urns=None, codes=sorted(PENALTY_NOTICE_CODES), sessions=PENALTY_NOTICE_SESSIONS,
            school_weeks=PENALTY_NOTICE_SCHOOL_WEEKS, classes=codes_by_class(), not_counted=_not_counted())
    assert select_rows(obligations, totals, marks) == expected
    assert {(t.pupil_id, t.school_urn) for t in totals} == {(r.pupil_id, r.school_urn) for r in expected}
    # The window totals come from the running totals where an enrolment-year's registers all lie in the
    # window, and from the marks elsewhere: the dates cover both.
    inside, outside = covered(world, start, end, "202")
    if to == dt.date(2025, 9, 26):
        assert outside > 0
    if to == dt.date(2025, 11, 28):
        assert inside > 0
    if to == dt.date(2025, 11, 28):
        assert len(expected) >= 3, "the data must have pupils over the threshold"
