"""The trend's weekly tables in SQL (SQLite and PostgreSQL): one cell per school week of the window
for each public cell, each week the marks dated in it clamped to that week's S_t; and one pupil moves
the whole weekly vector by at most the window's sensitivity, the one its noise is sized to."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session, sessionmaker

from anonymisation import dp as adp
from gateway.db.models import Mark
from gateway.db.repositories import statistics as srepo
from gateway.services.stats import answers
from gateway.services.stats.questions import Table, resolve_window, school_weeks
from schemas.codes import codes_by_class
from tests.integration.test_stats_aggregate import YEAR, load, random_enrolments, sessions  # noqa: F401

# Two fortnights: two school weeks, then one school week and the October half term (no cell at all).
FORTNIGHTS = [(dt.date(2025, 10, 6), dt.date(2025, 10, 19)), (dt.date(2025, 10, 20), dt.date(2025, 11, 2))]


def _marks(rng: random.Random, enrolments: list[dict[str, object]]) -> list[dict[str, object]]:
    classes = codes_by_class()
    codes = [c for cls in classes.values() for c in cls]
    days = [dt.date(2025, 10, 6) + dt.timedelta(days=d) for d in range(28) if d % 7 < 5]
    return [
        {
            "urn": e["urn"],
            "date": day,
            "pupil_id": e["pupil_id"],
            "academic_year": YEAR,
            "version": 1,
            "am": rng.choice(["/", "/", "I", "O", "G"] + codes),
            "pm": rng.choice(["\\", "\\", "N", "X"] + codes),
        }
        for e in enrolments
        for day in rng.sample(days, rng.randint(0, len(days)))
    ]


def _weekly(db: Session, start: dt.date, end: dt.date, by: tuple[str, ...]) -> list[dict[str, object]]:
    window = resolve_window(start, end, dt.date(2026, 8, 1))
    plan = adp.plan_measure("overall_absence_rate", window.sessions_possible, 10**12)
    table = Table("overall_absence_rate", by, weekly=True)
    [cells] = answers._exact_tables(db, window, [table], [plan])
    return cells


def test_a_weekly_table_is_each_school_weeks_cells_clamped_to_that_week(
    sessions: sessionmaker[Session],  # noqa: F811
) -> None:
    rng = random.Random(7)
    enrolments = random_enrolments(rng, 40)
    load(sessions, enrolments)
    with sessions.begin() as db:
        db.execute(insert(Mark), _marks(rng, enrolments))
    with sessions() as db:
        for start, end in FORTNIGHTS:
            window = resolve_window(start, end, dt.date(2026, 8, 1))
            weeks = school_weeks(window)
            # The half term (27 October) has no school day in the published dates: no cell.
            assert [w[0] for w in weeks] == (
                [dt.date(2025, 10, 6), dt.date(2025, 10, 13)] if start.day == 6 else [dt.date(2025, 10, 20)]
            )
            for by in ((), ("la",)):
                cells = _weekly(db, start, end, by)
                expected = []
                for monday, first, last in weeks:
                    s_t = adp.sessions_possible_bound(first, last)
                    part = srepo.exact_cells(
                        db,
                        YEAR,
                        by,
                        s_t,
                        ("absent", "possible"),
                        window=(first, last),
                        codes=codes_by_class(),
                    )
                    expected += [{"week": monday.isoformat()} | c for c in part]
                assert cells == expected, (start, by)
                assert sum(int(c["possible"]) for c in cells) > 0  # type: ignore[call-overload]
            # The weeks' bounds add up to the window's: the window's sensitivity covers them all.
            assert sum(adp.sessions_possible_bound(a, b) for _, a, b in weeks) == window.sessions_possible


def test_one_pupil_moves_the_weekly_vector_by_at_most_the_windows_sensitivity(
    sessions: sessionmaker[Session],  # noqa: F811
) -> None:
    rng = random.Random(8)
    enrolments = random_enrolments(rng, 30)
    load(sessions, enrolments)
    with sessions.begin() as db:
        db.execute(insert(Mark), _marks(rng, enrolments))
    start, end = FORTNIGHTS[0]
    s_t = resolve_window(start, end, dt.date(2026, 8, 1)).sessions_possible
    pupils = sorted({str(e["pupil_id"]) for e in enrolments})
    with sessions() as db:
        everyone = _weekly(db, start, end, ("la",))
        for removed in rng.sample(pupils, 8):
            db.execute(delete(Mark).where(Mark.pupil_id == removed))
            without = _weekly(db, start, end, ("la",))
            db.rollback()
            for name in ("absent", "possible"):
                changes = [abs(int(a[name]) - int(b[name])) for a, b in zip(everyone, without, strict=True)]  # type: ignore[call-overload]
                assert sum(changes) <= adp.statistic(name, s_t).sensitivity, name
                assert sum(c * c for c in changes) <= adp.statistic(name, s_t).sensitivity ** 2, name


@pytest.mark.parametrize("measure", ["enrolments", "persistent_absence_rate", "severe_absence_rate"])
def test_a_measure_that_counts_pupils_cannot_be_split_by_week(measure: str) -> None:
    with pytest.raises(ValueError, match="counts pupils"):
        Table(measure, (), weekly=True)
