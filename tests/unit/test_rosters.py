"""Rosters (schemas.rosters): packing round-trips, and a register's deltas, corrections included, keep
a roster equal to a plain recount of the marks that are stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import rosters as core
from schemas.codes import CODES_2024_IN_FORCE, codes_in_force

YEAR = 2025
START, END = dt.date(2025, 8, 1), dt.date(2026, 7, 31)


def pid(n: int) -> str:
    return f"{n:064x}"


def digest(n: int) -> str:
    return f"{n + 10**6:064x}"


ids = st.lists(st.integers(0, 2**64), unique=True, max_size=12)


@st.composite
def rosters(draw: st.DrawFn) -> core.Roster:
    serials = draw(ids)
    n = len(serials)
    attributes = np.zeros(n, core.ATTRIBUTES)
    def each(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    attributes["year_group"] = each(st.sampled_from([b"R", b"5", b"11", b"N1"]))
    attributes["sen_status"] = each(st.sampled_from([b"N", b"K", b"E"]))
    attributes["fsm_eligible"] = each(st.booleans())
    attributes["first"] = each(st.integers(0, 365))
    attributes["last"] = each(st.integers(0, 365))
    counts = st.integers(-(2**15), 2**15 - 1)

    def array(shape: tuple[int, ...], dtype: str, values: st.SearchStrategy[int]) -> np.ndarray:
        flat = draw(st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
        return np.array(flat, dtype=dtype).reshape(shape)

    return core.Roster(
        YEAR, [pid(s) for s in serials], [digest(s) for s in serials], attributes,
        array((n, len(core.CLASSES)), "<i4", st.integers(-(2**31), 2**31 - 1)),
        array((n, len(core.ROSTER_CODES)), "<i2", st.one_of(st.just(0), counts)),
        array((n, core.WEEKS, len(core.WEEK_COUNTERS)), "u1", st.one_of(st.just(0), st.integers(0, 255))),
    )


@given(rosters())
def test_a_packed_roster_unpacks_to_the_same_roster(roster: core.Roster) -> None:
    again = core.unpack(YEAR, core.pack(roster))
    assert again == roster
    assert again.slot == {p: n for n, p in enumerate(roster.pupil_ids)}
    assert again.slots() == roster.slots()


def test_counts_are_compressed_and_the_random_pupil_ids_are_not() -> None:
    roster = core.Roster(YEAR)
    rows = [(pid(n), digest(n), "5", "N", False, "/", "N" if n % 7 else "\\") for n in range(1000)]
    core.apply_register(roster, dt.date(2025, 10, 6), rows)
    packed = core.pack(roster)
    assert packed["pupil_ids"][0] == 0 and len(packed["pupil_ids"]) == 1 + 32 * 1000
    for part in ("attributes", "totals", "codes", "weeks"):
        assert packed[part][0] == 1, part
    assert len(packed["weeks"]) < 1000 * core.WEEKS * 2 / 20
    assert core.unpack(YEAR, packed) == roster


@pytest.mark.parametrize("bad", [b"", b"\x02abc", b"\x01not zlib", b"\x00" + b"\x00" * 31])
def test_a_corrupt_part_is_refused(bad: bytes) -> None:
    roster = core.Roster(YEAR)
    core.apply_register(roster, dt.date(2025, 10, 6), [(pid(1), digest(1), "5", "N", False, "/", "/")])
    packed = core.pack(roster)
    with pytest.raises(core.RosterCorrupt):
        core.unpack(YEAR, {**packed, "pupil_ids": bad})
    with pytest.raises(core.RosterCorrupt):
        core.unpack(YEAR, {**packed, "totals": bad or b"\x00"})


def test_a_pupil_id_that_is_not_a_hex_hmac_cannot_be_packed() -> None:
    roster = core.Roster(YEAR)
    core.apply_register(roster, dt.date(2025, 10, 6), [("not-hex", digest(1), "5", "N", False, "/", "/")])
    with pytest.raises(ValueError):
        core.pack(roster)


def test_a_register_outside_the_rosters_academic_year_is_refused() -> None:
    with pytest.raises(ValueError):
        core.apply_register(core.Roster(YEAR), dt.date(2026, 8, 1),
                            [(pid(1), digest(1), "5", "N", False, "/", "/")])


def test_the_code_sets_before_and_since_2024_agree_on_every_code_they_share() -> None:
    before = codes_in_force(CODES_2024_IN_FORCE - dt.timedelta(days=1))
    since = codes_in_force(CODES_2024_IN_FORCE)
    assert {c: before[c] for c in since} == since


def test_a_late_register_for_an_earlier_day_keeps_the_latest_attributes_but_widens_the_dates() -> None:
    roster = core.Roster(YEAR)
    core.apply_register(roster, dt.date(2025, 10, 7), [(pid(1), digest(1), "6", "K", True, "/", "/")])
    changed = core.apply_register(roster, dt.date(2025, 10, 6),
                                  [(pid(1), digest(2), "5", "N", False, "/", "O")])
    [slot] = roster.slots()
    assert (slot.year_group, slot.sen_status, slot.fsm_eligible, slot.digest) == ("6", "K", True, digest(1))
    assert (slot.first_date, slot.last_date) == (dt.date(2025, 10, 6), dt.date(2025, 10, 7))
    assert slot.totals == (4, 3, 0, 0, 1, 0) and slot.codes == {"O": 1}
    assert slot.weeks == {dt.date(2025, 10, 6): (4, 1, 0)}
    assert "digests" not in changed and "pupil_ids" not in changed


def test_the_week_of_1_august_is_the_first_week_and_the_week_of_31_july_the_last() -> None:
    roster = core.Roster(YEAR)
    core.apply_register(roster, START, [(pid(1), digest(1), "5", "N", False, "G", "G")])
    core.apply_register(roster, END, [(pid(1), digest(1), "5", "N", False, "/", "N")])
    assert roster.weeks[0, 0].tolist() == [2, 2, 0] and roster.weeks[0, core.WEEKS - 1].tolist() == [2, 1, 0]


# A history of registers: (day, pupils and their marks). A register for a day already sent is a
# correction: its marks replace the day's, and the day's previous marks become superseded.
codes_2025 = sorted(codes_in_force(START))
marks = st.tuples(st.sampled_from(codes_2025), st.sampled_from(codes_2025))
register = st.tuples(
    st.dates(START, END),
    st.dictionaries(st.integers(0, 15), st.tuples(st.sampled_from(["5", "6"]), st.booleans(), marks),
                    max_size=8),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(register, max_size=25))
def test_registers_and_corrections_keep_a_roster_equal_to_a_recount_of_the_stored_marks(
    history: list[tuple[dt.date, dict[int, tuple[str, bool, tuple[str, str]]]]],
) -> None:
    roster = core.Roster(YEAR)
    current: dict[dt.date, dict[str, tuple[str, str]]] = {}
    superseded: list[tuple[str, dt.date]] = []
    for day, pupils in history:
        rows = [(pid(n), digest(n), yg, "N", fsm, am, pm)
                for n, (yg, fsm, (am, pm)) in sorted(pupils.items())]
        old = [(p, am, pm) for p, (am, pm) in current.get(day, {}).items()]
        superseded += [(p, day) for p, _, _ in old]
        core.apply_register(roster, day, rows, old)
        current[day] = {r[0]: (r[5], r[6]) for r in rows}
        roster = core.unpack(YEAR, core.pack(roster))  # as the next register finds it
    stored = [(p, day, am, pm) for day, day_marks in current.items() for p, (am, pm) in day_marks.items()]
    assert roster.counted() == core.recount(YEAR, stored, superseded)
    assert (roster.totals >= 0).all() and (roster.codes >= 0).all() and (roster.weeks >= 0).all()
