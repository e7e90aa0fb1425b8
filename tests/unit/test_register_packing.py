"""The packed layout of a day's register (`schemas.registers`): every code has a fixed number below
256, a register round-trips through its bytes, and bytes that are not a register are refused."""

from __future__ import annotations

import pytest

from schemas import registers
from schemas.codes import CURRENT_CODES, LEGACY_CODES


def test_every_code_a_register_may_carry_has_one_number_that_fits_a_byte() -> None:
    assert set(registers.CODES) == set(CURRENT_CODES) | set(LEGACY_CODES)
    assert len(set(registers.CODES)) == len(registers.CODES) < 256
    # The numbers are stored: the first codes keep theirs (append only).
    assert registers.CODES[:4] == ("/", "\\", "L", "K") and registers.NUMBER["/"] == 1


def test_a_register_round_trips_with_blank_slots_between_its_pupils() -> None:
    blob = registers.pack([4, 0, 2], ["N", "/", "C1"], ["N", "\\", "#"])
    assert len(blob) == 10 and blob[2:4] == b"\x00\x00"
    assert registers.unpack(blob) == [(0, "/", "\\"), (2, "C1", "#"), (4, "N", "N")]
    assert registers.marks(blob, ["a", "b", "c", "d", "e"]) == [
        ("a", "/", "\\"), ("c", "C1", "#"), ("e", "N", "N")]
    assert registers.pack([], [], []) == b"" and registers.unpack(b"") == []


@pytest.mark.parametrize(("blob", "message"), [
    (b"\x01", "odd length"), (b"\x01\xff", "unknown code"), (b"\x01\x00", "one session"),
])
def test_bytes_that_are_not_a_register_are_refused(blob: bytes, message: str) -> None:
    with pytest.raises(registers.RegisterCorrupt, match=message):
        registers.unpack(blob)


def test_a_register_marking_a_slot_its_roster_lacks_is_refused() -> None:
    with pytest.raises(registers.RegisterCorrupt, match="slot"):
        registers.marks(registers.pack([3], ["/"], ["/"]), ["a", "b"])
