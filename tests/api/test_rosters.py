"""Rosters kept by registers sent through the real HTTP API (the first stage of the packed storage): after a first
register, a correction, a pupil leaving and rejoining and a pupil on two schools' rolls, each school's
roster equals a recount of its stored marks and the enrolments kept beside it, and `gateway stats
rebuild --check` says so; a planted difference makes it exit 1."""

from __future__ import annotations

import datetime as dt
import json
import zlib
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from gateway.cli import main
from gateway.db.migrate import downgrade, upgrade
from gateway.db.repositories import rosters
from gateway.services.rollup import RosterCheck, check_rosters
from schemas import registers as packed_registers
from schemas.rosters import recount
from tests.conftest import Gateway
from tests.factories import feed_json, pupil

YEAR = 2025
MONDAY = dt.date(2025, 10, 6)


def put(gw: Gateway, urn: int, day: dt.date, rows: list[dict[str, Any]]) -> None:
    r = gw.client.put(
        f"/v1/schools/{urn}/attendance/{day.isoformat()}",
        content=feed_json(rows),
        headers={"Content-Type": "application/json", **gw.auth("school", urn, "feed_submitter")},
    )
    assert r.status_code in (200, 201), r.text


def check(gw: Gateway) -> tuple[int, dict[str, Any]]:
    env = {"GATEWAY_DATA_DIR": str(gw.settings.data_dir), "GATEWAY_DATABASE_URL": gw.settings.database_url}
    result = CliRunner().invoke(main, ["stats", "rebuild", "--check"], env=env)
    return result.exit_code, json.loads(result.stdout)[str(YEAR)]


def assert_exact(gw: Gateway) -> None:
    with gw.runtime.sessions() as db:
        for urn in rosters.schools(db, YEAR):
            roster = rosters.get(db, urn, YEAR)
            assert roster is not None, urn
            assert roster.counted() == recount(YEAR, *rosters.stored_marks(db, urn, YEAR)), urn
        assert check_rosters(db, YEAR) == RosterCheck(rosters_match_marks=True, rosters_match_enrolments=True,
                                                      registers_match_marks=True)
    code, report = check(gw)
    assert code == 0 and report["rosters_match_marks"] and report["rosters_match_enrolments"], report
    assert report["registers_match_marks"], report


def slots(gw: Gateway, urn: int) -> dict[str, Any]:
    with gw.runtime.sessions() as db:
        roster = rosters.get(db, urn, YEAR)
    assert roster is not None
    return {s.pupil_id: s for s in roster.slots()}


def test_registers_corrections_a_pupil_who_leaves_and_rejoins_and_two_rolls_keep_the_rosters_exact(
        loaded: Gateway) -> None:
    gw = loaded
    twice = pupil(9)
    put(gw, 100001, MONDAY, [pupil(1), pupil(2, am="N", pm="N"), pupil(3, pm="I"), twice])
    assert_exact(gw)
    first = slots(gw, 100001)
    assert len(first) == 4 and sorted(s.totals for s in first.values()) == [
        (2, 0, 0, 0, 2, 0), (2, 1, 0, 1, 0, 0), (2, 2, 0, 0, 0, 0), (2, 2, 0, 0, 0, 0)]
    assert sorted(tuple(s.weeks.values()) for s in first.values())[-1] == ((2, 2, 0),)
    # Per school week: possible, unauthorised and authorised sessions (pupil 3 ill in the afternoon).
    assert sorted(tuple(s.weeks.values()) for s in first.values()) == [
        ((2, 0, 0),), ((2, 0, 0),), ((2, 0, 1),), ((2, 2, 0),)]

    # A correction: pupil 2 was present after all, pupil 3 was not on roll that day.
    put(gw, 100001, MONDAY, [pupil(1), pupil(2), twice])
    assert_exact(gw)
    corrected = slots(gw, 100001)
    assert len(corrected) == 4 and all(s.codes == {} for s in corrected.values())
    # Pupil 3 keeps a slot, empty.
    assert sorted(s.totals for s in corrected.values())[0] == (0, 0, 0, 0, 0, 0)

    # Pupil 3 is on roll on Tuesday, leaves, and rejoins on Friday of the next week; pupil 9 is on
    # the secondary school's roll too, marked there on the same days.
    put(gw, 100001, MONDAY + dt.timedelta(days=1), [pupil(1), pupil(2), pupil(3, am="G", pm="G"), twice])
    for d in (2, 3):
        put(gw, 100001, MONDAY + dt.timedelta(days=d), [pupil(1), pupil(2), twice])
    put(gw, 100001, MONDAY + dt.timedelta(days=11), [pupil(1), pupil(2), pupil(3, year_group="6", am="O"),
                                                      twice])
    for d in (0, 1, 2):
        put(gw, 100002, MONDAY + dt.timedelta(days=d), [{**twice, "year_group": "7", "am": "/", "pm": "N"}])
    assert_exact(gw)
    rejoined = [s for s in slots(gw, 100001).values() if s.year_group == "6"]
    assert len(rejoined) == 1
    assert rejoined[0].weeks == {MONDAY: (2, 2, 0), MONDAY + dt.timedelta(days=7): (2, 1, 0)}
    assert (rejoined[0].first_date, rejoined[0].last_date) == (MONDAY, MONDAY + dt.timedelta(days=11))
    [dual] = slots(gw, 100002).values()
    assert dual.pupil_id in slots(gw, 100001) and dual.totals == (6, 3, 0, 0, 3, 0) and dual.codes == {"N": 3}

    # The same register again changes nothing.
    before = slots(gw, 100001)
    put(gw, 100001, MONDAY + dt.timedelta(days=11), [pupil(1), pupil(2), pupil(3, year_group="6", am="O"),
                                                      twice])
    assert slots(gw, 100001) == before
    assert_exact(gw)


def _plant(gw: Gateway, change: str) -> None:
    with gw.runtime.sessions.begin() as db:
        roster = rosters.get(db, 100001, YEAR)
        assert roster is not None
        if change == "delete":
            db.execute(text("DELETE FROM rosters WHERE urn = 100001"))
            return
        if change.startswith("register"):
            # Pupil 2's Monday morning N becomes an O in the packed register alone, or its count is off.
            [(day, blob)] = db.execute(text("SELECT date, marks FROM registers WHERE urn = 100001 "
                                            "ORDER BY date LIMIT 1")).all()
            marks = bytearray(blob)
            marks[marks.index(packed_registers.NUMBER["N"])] = packed_registers.NUMBER["O"]
            sets = "pupil_count = pupil_count + 1" if change == "register_count" else "marks = :m"
            db.execute(text(f"UPDATE registers SET {sets} WHERE urn = 100001 AND date = :d"),  # noqa: S608
                       {"m": bytes(marks), "d": day})
            return
        if change == "totals":
            roster.totals[0, 1] += 1
        elif change == "weeks":
            roster.weeks[0, 20, 1] += 1
        else:
            roster.attributes[0]["fsm_eligible"] = not roster.attributes[0]["fsm_eligible"]
        rosters.save(db, 100001, roster, [change], new=False)


@pytest.mark.parametrize(("change", "marks_match", "enrolments_match", "registers_match"), [
    ("totals", False, False, True), ("weeks", False, True, True), ("attributes", True, False, True),
    ("delete", False, False, False), ("register", True, True, False), ("register_count", True, True, False)])
def test_the_check_finds_a_planted_difference_in_a_roster_or_a_register(
        loaded: Gateway, change: str, marks_match: bool, enrolments_match: bool, registers_match: bool) -> None:
    gw = loaded
    for d in range(2):
        put(gw, 100001, MONDAY + dt.timedelta(days=d), [pupil(1), pupil(2, am="N")])
    assert check(gw)[0] == 0
    _plant(gw, change)
    code, report = check(gw)
    assert code == 1
    assert report["rosters_match_marks"] is marks_match
    assert report["rosters_match_enrolments"] is enrolments_match
    assert report["registers_match_marks"] is registers_match
    assert report["pupil_years_match"] and report["cells_match"]


def test_upgrading_a_database_with_registers_makes_the_rosters_that_ingest_would_have_kept(
        loaded: Gateway) -> None:
    """Migration 0012 (and `gateway stats rebuild`) make the rosters of registers stored before them
    from the marks, enrolments and identities: the same slots as ingest keeps, in another order."""
    gw = loaded
    put(gw, 100001, MONDAY, [pupil(1), pupil(2, am="N", pm="N"), pupil(3, pm="I", fsm_eligible=True)])
    put(gw, 100001, MONDAY, [pupil(1), pupil(2, am="N")])
    put(gw, 100001, MONDAY + dt.timedelta(days=1), [pupil(1, year_group="6"), pupil(2)])
    put(gw, 100002, MONDAY, [pupil(1, year_group="7", am="L")])
    kept = {urn: slots(gw, urn) for urn in (100001, 100002)}
    downgrade(gw.settings.database_url, "0011")
    upgrade(gw.settings.database_url)
    assert {urn: slots(gw, urn) for urn in (100001, 100002)} == kept
    assert_exact(gw)
    # A rebuild remakes every roster's counts and keeps its slots in their order: the packed registers
    # are laid out by them.
    def order_of_slots() -> dict[int, list[str]]:
        with gw.runtime.sessions() as db:
            return {urn: rosters.slot_order(db, urn, YEAR) for urn in (100001, 100002)}

    order = order_of_slots()
    _plant(gw, "totals")
    env = {"GATEWAY_DATA_DIR": str(gw.settings.data_dir), "GATEWAY_DATABASE_URL": gw.settings.database_url}
    rebuilt = CliRunner().invoke(main, ["stats", "rebuild"], env=env)
    assert rebuilt.exit_code == 0 and json.loads(rebuilt.stdout)["2025"]["rosters"] == 2
    assert {urn: slots(gw, urn) for urn in (100001, 100002)} == kept
    assert order_of_slots() == order
    assert_exact(gw)


def test_migration_0015_adds_the_weekly_authorised_counter_and_its_downgrade_takes_it_off(
        loaded: Gateway) -> None:
    """Rosters of format 1 (two weekly counters) are remade from the marks with the third, authorised
    sessions; going back to 0014 leaves format 1 rosters with the first two counters as they were."""
    gw = loaded
    put(gw, 100001, MONDAY, [pupil(1, am="I"), pupil(2, am="N", pm="M"), pupil(3)])
    put(gw, 100001, MONDAY + dt.timedelta(days=7), [pupil(1, pm="C")])
    kept = slots(gw, 100001)
    assert sorted(tuple(s.weeks.values()) for s in kept.values()) == [
        ((2, 0, 0),), ((2, 0, 1), (2, 0, 1)), ((2, 1, 1),)]
    downgrade(gw.settings.database_url, "0014")
    with gw.runtime.sessions() as db:
        [(fmt, weeks, pupils)] = db.execute(text("SELECT format, weeks, pupils FROM rosters")).all()
    assert fmt == 1 and pupils == 3
    blob = bytes(weeks)
    raw = blob[1:] if blob[0] == 0 else zlib.decompress(blob[1:])
    assert len(raw) == 3 * 53 * 2
    upgrade(gw.settings.database_url)
    with gw.runtime.sessions() as db:
        assert db.execute(text("SELECT format FROM rosters")).scalar_one() == 2
    assert slots(gw, 100001) == kept
    assert_exact(gw)
