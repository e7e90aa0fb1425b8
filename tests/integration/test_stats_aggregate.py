"""The exact aggregate behind every statistic, run in SQL on a real database (SQLite and PostgreSQL)
and held to the pure reference ``anonymisation.dp.exact_aggregate``: the collapse to one row per
pupil, the clamps, the scope and the public key set, and the claimed sensitivity of every cell."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session, sessionmaker

from anonymisation import cell_keysets
from anonymisation import dp as adp
from gateway.db.base import utcnow
from gateway.db.models import Enrolment, Mark, School
from gateway.db.repositories import rollup
from gateway.db.repositories import statistics as srepo
from gateway.db.session import make_engine, make_sessionmaker
from schemas.codes import codes_by_class

YEAR = 2025
# Every way a school can map to a phase: plain, special by type, all-through by year group, middle
# schools, and the out-of-scope kinds (nursery, PRU, independent, an LA outside the key set).
SCHOOLS = {
    100001: ("202", "Primary", "Community school"),
    100002: ("202", "Secondary", "Academy converter"),
    100003: ("211", "Primary", "Voluntary aided school"),
    100004: ("211", "Not applicable", "Community special school"),
    100005: ("942", "All-through", "Academy converter"),
    100006: ("943", "Middle deemed secondary", "Foundation school"),
    100007: ("202", "Nursery", "Local authority nursery school"),
    100008: ("211", "Not applicable", "Pupil referral unit"),
    100009: ("202", "Primary", "Other independent school"),
    100010: ("999", "Primary", "Community school"),
    100011: ("420", "Middle deemed primary", "Academy sponsor led"),
    100012: ("201", "Not applicable", "Academy special converter"),
}
YEAR_GROUPS = ["N2", "R", "1", "5", "6", "7", "9", "11", "12"]
DATES = [dt.date(2025, 10, 6), dt.date(2025, 10, 7), dt.date(2025, 10, 17)]
BYS = [[], ["la"], ["phase"], ["la", "phase"], ["year_group", "sen_status", "fsm"], ["phase", "year_group"]]
S_T = [380, 120, 37]


def pid(n: int) -> str:
    return hashlib.sha256(f"pupil {n}".encode()).hexdigest()


def random_enrolments(rng: random.Random, pupils: int, first: int = 0) -> list[dict[str, Any]]:
    """Enrolment rows: most pupils at one school, some at two or three; ties on possible sessions
    and last dates on purpose; a few totals beyond the window or absences beyond possible sessions."""
    rows = []
    for n in range(first, first + pupils):
        for urn in rng.sample(sorted(SCHOOLS), rng.choice([1, 1, 1, 2, 3])):
            possible = rng.choice([0, 20, 20, rng.randint(0, 450)])
            rows.append(
                {
                    "pupil_id": pid(n),
                    "urn": urn,
                    "academic_year": YEAR,
                    # Now and then an enrolment still carries an LA its school has left: the school's counts.
                    "la_code": rng.choice([SCHOOLS[urn][0]] * 5 + ["909"]),
                    "year_group": rng.choice(YEAR_GROUPS),
                    "sen_status": rng.choice("NKE"),
                    "fsm_eligible": rng.random() < 0.3,
                    "first_date": DATES[0],
                    "last_date": rng.choice(DATES),
                    "sessions_possible": possible,
                    "sessions_present": 0,
                    "sessions_aea": 0,
                    "sessions_authorised": rng.choice([0, rng.randint(0, 80)]),
                    "sessions_unauthorised": rng.choice([0, rng.randint(0, 80)]),
                    "sessions_not_counted": 0,
                }
            )
    return rows


def reference_rows(enrolments: list[dict[str, Any]]) -> list[adp.PupilYear]:
    """The pure collapse of the same enrolments, with the school's LA and phase as the gateway documents."""
    rows = []
    for e in enrolments:
        _, phase, kind = SCHOOLS[e["urn"]]
        rows.append(
            adp.Enrolment(
                pupil=e["pupil_id"],
                academic_year=str(YEAR),
                school_urn=str(e["urn"]),
                la_code=SCHOOLS[e["urn"]][0],
                phase=srepo.phase_key(phase, kind, e["year_group"]) or "out of scope",
                year_group=e["year_group"],
                sen_status=e["sen_status"],
                fsm=e["fsm_eligible"],
                possible=e["sessions_possible"],
                authorised=e["sessions_authorised"],
                unauthorised=e["sessions_unauthorised"],
                last_date=e["last_date"],
            )
        )
    return list(adp.collapse_to_pupil_year(rows).values())


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    factory = make_sessionmaker(engine)
    with factory.begin() as db:
        db.execute(
            insert(School),
            [
                {
                    "urn": urn,
                    "la_code": la,
                    "la_name": f"LA {la}",
                    "establishment_number": None,
                    "name": f"School {urn}",
                    "phase": phase,
                    "type_of_establishment": kind,
                    "status": "Open",
                    "updated_at": utcnow(),
                }
                for urn, (la, phase, kind) in SCHOOLS.items()
            ],
        )
    yield factory
    engine.dispose()


def load(sessions: sessionmaker[Session], enrolments: list[dict[str, Any]]) -> None:
    """Store enrolments as ingest leaves them: with the pupil-year rollup and cells derived from them."""
    with sessions.begin() as db:
        db.execute(insert(Enrolment), enrolments)
        rollup.rebuild(db, YEAR)


#: The year-to-date bound at the last of DATES: the rollup answers windows with S_t at least this.
ROLLUP_MIN_S_T = adp.sessions_possible_bound(dt.date(2025, 8, 1), max(DATES))


def sql_aggregate(db: Session, by: list[str], s_t: int, **kwargs: Any) -> adp.ExactAggregate:
    """The SQL aggregate; year to date, the rollup's and the collapse of the enrolments', which must agree."""
    cells = srepo.exact_cells(db, YEAR, by, s_t, adp.STATISTIC_NAMES, rollup=False, **kwargs)
    if "window" not in kwargs:
        if s_t >= ROLLUP_MIN_S_T:
            assert srepo.exact_cells(db, YEAR, by, s_t, adp.STATISTIC_NAMES, **kwargs) == cells, (by, s_t)
        else:
            with pytest.raises(ValueError, match="year-to-date windows only"):
                srepo.exact_cells(db, YEAR, by, s_t, adp.STATISTIC_NAMES, **kwargs)
    dims = cell_keysets.canonical_by(by)
    columns = [cell_keysets.DIMENSION_COLUMNS[d] for d in dims]
    return adp.ExactAggregate(
        by=dims,
        keys=tuple({c: cell[c] for c in columns} for cell in cells),
        columns={s: [cell[s] for cell in cells] for s in adp.STATISTIC_NAMES},
    )


def assert_within_sensitivity(before: adp.ExactAggregate, after: adp.ExactAggregate, s_t: int) -> None:
    assert before.keys == after.keys
    for name in adp.STATISTIC_NAMES:
        changes = [abs(a - b) for a, b in zip(before.columns[name], after.columns[name], strict=True)]
        assert sum(1 for c in changes if c) <= 1, name
        assert max(changes) <= adp.statistic(name, s_t).sensitivity, name


@pytest.mark.parametrize("seed", [1, 2])
def test_the_sql_aggregate_of_the_running_totals_equals_the_pure_reference(
    sessions: sessionmaker[Session], seed: int
) -> None:
    enrolments = random_enrolments(random.Random(seed), 60)
    load(sessions, enrolments)
    pupils = reference_rows(enrolments)
    with sessions() as db:
        for by in BYS:
            for s_t in S_T:
                assert sql_aggregate(db, by, s_t) == adp.exact_aggregate(pupils, by, s_t), (by, s_t)


def test_the_full_five_way_grouping_releases_every_public_cell_and_matches_the_reference(
    sessions: sessionmaker[Session],
) -> None:
    enrolments = random_enrolments(random.Random(3), 30)
    load(sessions, enrolments)
    with sessions() as db:
        got = sql_aggregate(db, list(cell_keysets.DIMENSIONS), 380)
    assert len(got.keys) == 153 * 3 * 12 * 3 * 2
    assert got == adp.exact_aggregate(reference_rows(enrolments), cell_keysets.DIMENSIONS, 380)


def test_a_bundle_sums_one_fine_aggregate_into_exactly_the_cells_of_each_coarser_table(
    sessions: sessionmaker[Session],
) -> None:
    load(sessions, random_enrolments(random.Random(6), 50))
    with sessions() as db:
        fine = srepo.exact_cells(db, YEAR, ["la", "phase", "sen_status", "fsm"], 380, adp.STATISTIC_NAMES)
        for by in (["la", "phase"], ["sen_status", "fsm"], ["phase"], []):
            direct = srepo.exact_cells(db, YEAR, by, 380, ["enrolments", "pa", "absent"])
            assert srepo.marginalise(fine, by, ["enrolments", "pa", "absent"]) == direct, by


def test_removing_or_adding_one_pupil_changes_every_sql_cell_within_the_claimed_sensitivity(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(4)
    enrolments = random_enrolments(rng, 40)
    load(sessions, enrolments)
    pupils = sorted({e["pupil_id"] for e in enrolments})
    # A newcomer at three schools, with totals far beyond the window: still one pupil, one cell.
    newcomer = [
        e | {"sessions_possible": 450, "sessions_authorised": 300, "sessions_unauthorised": 300}
        for e in random_enrolments(rng, 1, first=1000)
    ]
    with sessions() as db:
        for by in (["la", "phase"], ["year_group", "sen_status", "fsm"]):
            for s_t in S_T:
                everyone = sql_aggregate(db, by, s_t)
                for removed in rng.sample(pupils, 6):
                    db.execute(delete(Enrolment).where(Enrolment.pupil_id == removed))
                    rollup.refresh(db, YEAR, [removed])
                    without = sql_aggregate(db, by, s_t)
                    db.rollback()
                    rest = [e for e in enrolments if e["pupil_id"] != removed]
                    assert without == adp.exact_aggregate(reference_rows(rest), by, s_t)
                    assert_within_sensitivity(without, everyone, s_t)
                db.execute(insert(Enrolment), newcomer)
                rollup.refresh(db, YEAR, [e["pupil_id"] for e in newcomer])
                with_newcomer = sql_aggregate(db, by, s_t)
                db.rollback()
                assert with_newcomer == adp.exact_aggregate(reference_rows(enrolments + newcomer), by, s_t)
                assert_within_sensitivity(everyone, with_newcomer, s_t)


def test_a_window_sums_the_marks_dated_inside_it_per_enrolment_before_the_collapse(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(5)
    enrolments = random_enrolments(rng, 30)
    load(sessions, enrolments)
    classes = codes_by_class()
    codes = [c for cls in classes.values() for c in cls]
    days = [dt.date(2025, 9, 29) + dt.timedelta(days=d) for d in range(21)]
    marks = [
        {
            "urn": e["urn"],
            "date": day,
            "pupil_id": e["pupil_id"],
            "academic_year": YEAR,
            "version": 1,
            "am": rng.choice(["/", "/", "I", "O", "D", "#", "B"] + codes),
            "pm": rng.choice(["\\", "\\", "G", "X"] + codes),
        }
        for e in enrolments
        for day in rng.sample(days, rng.randint(0, 12))
    ]
    with sessions.begin() as db:
        db.execute(insert(Mark), marks)
    start, end = dt.date(2025, 10, 6), dt.date(2025, 10, 15)

    def sessions_in(m: dict[str, Any], kinds: tuple[str, ...]) -> int:
        return sum(1 for code in (m["am"], m["pm"]) if any(code in classes[k] for k in kinds))

    windowed = []
    for e in enrolments:
        inside = [
            m
            for m in marks
            if (m["pupil_id"], m["urn"]) == (e["pupil_id"], e["urn"]) and start <= m["date"] <= end
        ]
        if inside:
            windowed.append(
                e
                | {
                    "last_date": max(m["date"] for m in inside),
                    "sessions_possible": sum(
                        sessions_in(m, ("present", "aea", "authorised", "unauthorised")) for m in inside
                    ),
                    "sessions_authorised": sum(sessions_in(m, ("authorised",)) for m in inside),
                    "sessions_unauthorised": sum(sessions_in(m, ("unauthorised",)) for m in inside),
                }
            )
    pupils = reference_rows(windowed)
    s_t = 16
    with sessions() as db:
        for by in BYS:
            got = sql_aggregate(db, by, s_t, window=(start, end), codes=classes)
            assert got == adp.exact_aggregate(pupils, by, s_t), by


def test_the_sql_phase_mapping_and_the_python_one_agree() -> None:
    assert srepo.phase_key("Primary", "Academy converter", "3") == "primary"
    assert srepo.phase_key("Middle deemed primary", "Community school", "7") == "primary"
    assert srepo.phase_key("Middle deemed secondary", "Community school", "6") == "secondary"
    assert srepo.phase_key("Not applicable", "Foundation special school", "9") == "special"
    assert srepo.phase_key("Secondary", "Academy special sponsor led", "9") == "special"
    assert srepo.phase_key("All-through", "Free schools", "R") == "primary"
    assert srepo.phase_key("All-through", "Free schools", "11") == "secondary"
    assert srepo.phase_key("All-through", "Free schools", "12") is None
    for excluded in (
        "Other independent special school",
        "Non-maintained special school",
        "Pupil referral unit",
        "Academy alternative provision converter",
    ):
        assert srepo.phase_key("Not applicable", excluded, "9") is None
    assert srepo.phase_key("Nursery", "Local authority nursery school", "R") is None
    assert srepo.phase_key("16 plus", "Further education", "12") is None
    assert srepo.phase_key("Primary", None, "3") == "primary"
