"""The pupil-year rollup behind year-to-date statistics (docs/differential-privacy.md 5.1, stage 2), kept at
ingest through the real HTTP API: registers, corrections, a pupil who moves school, a dual-registered
pupil marked at two schools, a school that changes LA in GIAS. After each, what ingest kept must equal
a recomputation from the enrolments, and the statistics it answers must equal the collapse of the
enrolments that the rollup replaces."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import text

from anonymisation import dp as adp
from gateway.cli import main
from gateway.db.repositories import rollup
from gateway.db.repositories import statistics as srepo
from gateway.services.schools import import_gias
from tests.conftest import Gateway
from tests.factories import SCHOOLS, feed_json, pupil, write_gias

YEAR = 2025
MONDAY = dt.date(2025, 10, 6)
BYS = [[], ["la", "phase"], ["year_group", "sen_status", "fsm"]]


def put(gw: Gateway, urn: int, day: dt.date, rows: list[dict[str, Any]]) -> None:
    r = gw.client.put(
        f"/v1/schools/{urn}/attendance/{day.isoformat()}",
        content=feed_json(rows),
        headers={"Content-Type": "application/json", **gw.auth("school", urn, "feed_submitter")},
    )
    assert r.status_code in (200, 201), r.text


def kept_and_recomputed(gw: Gateway) -> tuple[Any, Any]:
    """(pupil rows, cells) as ingest kept them, and as a rebuild from the enrolments gives them."""
    with gw.runtime.sessions() as db:
        kept = (rollup.pupil_rows(db, YEAR), rollup.cells(db, YEAR))
        rollup.rebuild(db, YEAR)
        recomputed = (rollup.pupil_rows(db, YEAR), rollup.cells(db, YEAR))
        db.rollback()
    return kept, recomputed


def assert_rollup_exact(gw: Gateway, to: dt.date) -> None:
    kept, recomputed = kept_and_recomputed(gw)
    assert kept == recomputed
    s_t = adp.sessions_possible_bound(dt.date(2025, 8, 1), to)
    with gw.runtime.sessions() as db:
        for by in BYS:
            fast = srepo.exact_cells(db, YEAR, by, s_t, adp.STATISTIC_NAMES)
            slow = srepo.exact_cells(db, YEAR, by, s_t, adp.STATISTIC_NAMES, rollup=False)
            assert fast == slow, by


def test_registers_corrections_and_a_move_keep_the_rollup_equal_to_a_recomputation(loaded: Gateway) -> None:
    gw = loaded
    mover = pupil(9, year_group="6")
    for d in range(3):
        put(gw, 100001, MONDAY + dt.timedelta(days=d),
            [pupil(1), pupil(2, am="I", pm="I"), pupil(3, pm="O"), mover])
        put(gw, 100003, MONDAY + dt.timedelta(days=d), [pupil(7, la="211", est="2002", fsm_eligible=True)])
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=2))
    with gw.runtime.sessions() as db:
        assert len(rollup.pupil_rows(db, YEAR)) == 5
        # Camden primary, Year 5, not FSM, SEN N: pupils 1, 2 and 3, all clean, each in one cell.
        assert sum(c[0] for c in rollup.cells(db, YEAR).values()) == 5

    # A correction: pupil 2 was present after all, pupil 3 was not on roll that day.
    put(gw, 100001, MONDAY + dt.timedelta(days=1), [pupil(1), pupil(2), mover])
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=2))
    # A day of sessions that are not possible (a planned closure) moves no total, only the last date.
    put(gw, 100001, MONDAY + dt.timedelta(days=3), [pupil(1, am="#", pm="#"), pupil(2, am="#", pm="#")])
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=3))
    # The mover goes to secondary school, with more sessions there than at the old school by Friday:
    # their attributes follow the school where they have most possible sessions.
    for d in range(3, 5):
        put(gw, 100002, MONDAY + dt.timedelta(days=d), [{**mover, "year_group": "7", "am": "/", "pm": "G"}])
    put(gw, 100002, MONDAY + dt.timedelta(days=7), [{**mover, "year_group": "7"}])
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=7))
    with gw.runtime.sessions() as db:
        rows = rollup.pupil_rows(db, YEAR)
    assert len(rows) == 5 and all(clean for *_, clean in rows.values())
    # The same register again changes nothing.
    before = kept_and_recomputed(gw)[0]
    put(gw, 100002, MONDAY + dt.timedelta(days=7), [{**mover, "year_group": "7"}])
    assert kept_and_recomputed(gw)[0] == before


def test_a_pupil_marked_at_two_schools_beyond_the_public_bound_is_clamped_not_summed_ahead(loaded: Gateway) -> None:
    """Monday 1 September is the first school day of the public calendar, so the bound on Tuesday 2
    September is 4 sessions. A register on Saturday 30 August, in the holiday, gives both pupils 6; a
    second school marking one of them present gives that one 8. Both pupil-years are kept out of the
    cells and clamped when asked for."""
    gw = loaded
    twice = pupil(5)
    for day in (dt.date(2025, 8, 30), dt.date(2025, 9, 1), dt.date(2025, 9, 2)):
        put(gw, 100001, day, [twice, pupil(6)])
    put(gw, 100002, dt.date(2025, 9, 2), [twice])
    with gw.runtime.sessions() as db:
        rows = rollup.pupil_rows(db, YEAR)
        unclean = [r for r in rows.values() if not r[-1]]
    assert sorted(r[1] for r in unclean) == [6, 8] and len(rows) == 2
    assert_rollup_exact(gw, dt.date(2025, 9, 2))
    assert_rollup_exact(gw, dt.date(2025, 9, 5))


def test_a_school_that_changes_la_in_gias_moves_its_pupils_cells(loaded: Gateway, tmp_path: Path) -> None:
    gw = loaded
    for d in range(2):
        put(gw, 100003, MONDAY + dt.timedelta(days=d), [pupil(7, la="211", est="2002"), pupil(8, la="211", est="2002")])
    with gw.runtime.sessions() as db:
        before = rollup.cells(db, YEAR)
    moved = [s if s[0] != 100003 else (100003, "210", "Southwark", *s[3:]) for s in SCHOOLS]
    summary = import_gias(gw.runtime.sessions, write_gias(tmp_path / "gias-moved.csv", moved))
    assert summary.pupil_years_moved == 2
    with gw.runtime.sessions() as db:
        after = rollup.cells(db, YEAR)
    assert before != after and sum(c[0] for c in after.values()) == 2
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=1))
    r = gw.client.get("/v1/stats", params={"measure": "enrolments", "by": "la", "from": "2025-08-01", "to": "2025-10-31"},
                      headers=gw.auth("dfe", "dfe", "statistician"))
    assert r.status_code == 200, r.text


def test_stats_rebuild_check_finds_a_tampered_cell_and_rebuild_repairs_it(loaded: Gateway) -> None:
    gw = loaded
    for d in range(2):
        put(gw, 100001, MONDAY + dt.timedelta(days=d), [pupil(1), pupil(2, am="N")])
    env = {"GATEWAY_DATA_DIR": str(gw.settings.data_dir), "GATEWAY_DATABASE_URL": gw.settings.database_url}
    runner = CliRunner()
    ok = runner.invoke(main, ["stats", "rebuild", "--check"], env=env)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == {"2025": {
        "pupil_years": 2, "pupil_years_match": True, "cells_match": True, "rosters_match_marks": True,
        "rosters_match_enrolments": True, "registers_match_marks": True}}
    with gw.runtime.sessions.begin() as db:
        db.execute(text("UPDATE stats_cells SET pupils = pupils + 1"))
    bad = runner.invoke(main, ["stats", "rebuild", "--check"], env=env)
    assert bad.exit_code == 1 and json.loads(bad.stdout)["2025"]["cells_match"] is False
    fixed = runner.invoke(main, ["stats", "rebuild"], env=env)
    assert fixed.exit_code == 0 and json.loads(fixed.stdout) == {"2025": {"pupil_years": 2, "rosters": 1}}
    assert runner.invoke(main, ["stats", "rebuild", "--check"], env=env).exit_code == 0
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=1))


def test_concurrent_registers_of_two_schools_sharing_pupils_keep_the_rollup_exact(loaded: Gateway) -> None:
    """Dual-registered pupils on both schools' rolls, both schools sending at once, day after day: on
    PostgreSQL the pupils' rollup rows are locked before their enrolments are read, so neither
    register's totals are lost; on SQLite registers take turns."""
    gw = loaded
    shared = [pupil(n, pm="C") for n in range(20, 40)]
    errors: list[BaseException] = []

    def send(urn: int, day: dt.date, rows: list[dict[str, Any]]) -> None:
        try:
            put(gw, urn, day, rows)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for d in range(4):
        day = MONDAY + dt.timedelta(days=d)
        threads = [
            threading.Thread(target=send, args=(100001, day, shared + [pupil(1)])),
            threading.Thread(target=send, args=(100002, day, [{**p, "pm": "/"} for p in shared] + [pupil(5, est="4001")])),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=3))
    with gw.runtime.sessions() as db:
        rows = rollup.pupil_rows(db, YEAR)
    assert len(rows) == 22
    assert {r[1] for pid, r in rows.items()} >= {16}  # a shared pupil: 2 sessions x 4 days x 2 schools
