"""Packed registers (``registers``, ``register_history``) written by registers sent through the HTTP API:
each day's marks two bytes a roster slot, superseded versions kept whole, the ``register_marks`` view
unpacking them with plain SQL to exactly the marks kept one row per pupil, and retention deleting them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from gateway.db.repositories import registers, retention, rosters
from schemas import registers as packed_registers
from tests.api.test_rosters import MONDAY, YEAR, assert_exact, put
from tests.conftest import Gateway
from tests.factories import pupil


def marks_rows(gw: Gateway) -> set[tuple[int, str, str, str, str]]:
    with gw.runtime.sessions() as db:
        rows = db.execute(text("SELECT urn, date, pupil_id, am, pm FROM marks")).all()
    out = set()
    for urn, day, pid, am, pm in rows:
        out |= {(int(urn), str(day), str(pid), "AM", str(am)), (int(urn), str(day), str(pid), "PM", str(pm))}
    return out


def view_rows(gw: Gateway) -> list[tuple[int, str, str, str, str]]:
    with gw.runtime.sessions() as db:
        rows = db.execute(text("SELECT urn, date, pupil_id, session, code FROM register_marks")).all()
    return [(int(u), str(d), str(p), str(s), str(c)) for u, d, p, s, c in rows]


def test_the_view_unpacks_the_current_registers_to_the_marks_and_history_keeps_each_version(
        loaded: Gateway) -> None:
    gw = loaded
    put(gw, 100001, MONDAY, [pupil(1), pupil(2, am="N", pm="N"), pupil(3, pm="I")])
    put(gw, 100001, MONDAY, [pupil(1, am="L"), pupil(3, am="C2", pm="#")])  # a correction: pupil 2 off roll
    put(gw, 100001, MONDAY + dt.timedelta(days=1), [pupil(1), pupil(2, am="Y1", pm="Y1"), pupil(4, am="B")])
    put(gw, 100002, MONDAY, [pupil(9, year_group="7", am="U", pm="\\")])
    view = view_rows(gw)
    assert len(view) == len(set(view)) == 2 * (2 + 3 + 1)
    assert set(view) == marks_rows(gw)
    # The correction's codes, not the first version's.
    monday = sorted(r[3:] for r in view if r[:2] == (100001, MONDAY.isoformat()))
    assert monday == [("AM", "C2"), ("AM", "L"), ("PM", "#"), ("PM", "\\")]
    with gw.runtime.sessions() as db:
        current = db.execute(text("SELECT urn, date, version, pupil_count, marks FROM registers "
                                  "ORDER BY urn, date")).all()
        history = db.execute(text("SELECT urn, date, version, pupil_count, marks "
                                  "FROM register_history")).all()
        order = rosters.slot_order(db, 100001, YEAR)
    # Two bytes a slot up to the last slot marked: slot 1 (pupil 2) is blank in the correction.
    assert [(r.version, r.pupil_count, len(bytes(r.marks))) for r in current] == [
        (2, 2, 6), (1, 3, 8), (1, 1, 2)]
    [old] = history
    assert (old.version, old.pupil_count) == (1, 3)
    assert [m[1:] for m in packed_registers.marks(bytes(old.marks), order)] == [
        ("/", "\\"), ("N", "N"), ("/", "I")]
    assert_exact(gw)


def test_retention_deletes_a_years_packed_registers(loaded: Gateway) -> None:
    gw = loaded
    put(gw, 100001, MONDAY, [pupil(1), pupil(2)])
    put(gw, 100001, MONDAY, [pupil(1)])
    with gw.runtime.sessions.begin() as db:
        assert retention.count_year(db, YEAR)["deleted_registers"] == 1
        assert retention.count_year(db, YEAR)["deleted_register_history"] == 1
        retention.delete_year(db, YEAR)
    with gw.runtime.sessions() as db:
        for table in ("registers", "register_history", "marks", "rosters"):
            assert db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table  # noqa: S608
    assert view_rows(gw) == []


def test_window_totals_from_the_packed_registers_are_the_marks_counted_in_the_window(loaded: Gateway) -> None:
    """The pupils view's window totals, read from the packed registers through the roster's slots, are
    what a plain count of the same window's marks gives, pupil for pupil (a pupil with only sessions
    that are not possible is listed with zeros; one outside the window is not listed)."""
    gw = loaded
    put(gw, 100001, MONDAY, [pupil(1), pupil(2, am="N", pm="N"), pupil(3, pm="I")])
    put(gw, 100001, MONDAY, [pupil(1, am="L"), pupil(3, am="C2", pm="#")])
    put(gw, 100001, MONDAY + dt.timedelta(days=1), [pupil(1, am="B", pm="G"), pupil(2, am="Y1", pm="Y1")])
    put(gw, 100001, MONDAY + dt.timedelta(days=8), [pupil(4, am="U", pm="M"), pupil(1)])
    classes = {"present": ("/", "\\", "L"), "aea": ("K", "V", "P", "W", "B", "J"),
               "authorised": ("C1", "M", "J1", "S", "C2", "C", "T", "R", "I", "E", "H", "F"),
               "unauthorised": ("G", "N", "O", "U")}
    day = dt.timedelta(days=1)
    windows = [(MONDAY, MONDAY), (MONDAY, MONDAY + day), (MONDAY + day, MONDAY + 30 * day),
               (MONDAY - 30 * day, MONDAY - day)]
    with gw.runtime.sessions() as db:
        for start, end in windows:
            rows = db.execute(text("SELECT pupil_id, am, pm FROM marks WHERE urn = 100001 AND date >= :s "
                                   "AND date <= :e"), {"s": start, "e": end}).all()
            expected: dict[str, list[int]] = {}
            for pid, am, pm in rows:
                counts = expected.setdefault(str(pid), [0, 0, 0, 0])
                for code in (am, pm):
                    for n, name in enumerate(classes):
                        counts[n] += code in classes[name]
            got = registers.window_totals_for_school(db, 100001, YEAR, start, end)
            assert got == {pid: tuple(c) for pid, c in expected.items()}, (start, end)
        assert registers.window_totals_for_school(db, 100001, YEAR, *windows[0])  # not trivially empty
