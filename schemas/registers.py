"""Registers, packed: a school's marks for one day as two bytes per roster slot.

A register row (``registers``, superseded versions in ``register_history``) holds the day's marks in
the order of the school's roster slots for the year (`schemas.rosters`): bytes 2n and 2n+1 are the AM
and PM codes of slot n, each a code's number in `CODES`, and 0 where the pupil of that slot is not on
that day's register. The value ends at the last slot the register marks, so a day's register is about
two bytes a pupil instead of a row per pupil; PostgreSQL's TOAST compresses it further, transparently,
so plain SQL (the ``register_marks`` view) still reads it.

`CODES` is part of the stored format: a code keeps its number for ever, and new codes are appended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from schemas.codes import CURRENT_CODES, LEGACY_CODES, StatClass

#: Version of the packed layout, stored beside it.
FORMAT = 1
#: Every code a register may carry, in the order of their numbers (1 for "/", ...). Append only.
CODES: tuple[str, ...] = (
    "/", "\\", "L", "K", "V", "P", "W", "B", "D", "C1", "M", "J1", "S", "X", "C2", "C", "T", "R", "I", "E",
    "Q", "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "G", "N", "O", "U", "Z", "#", "H", "F", "J", "Y",
)
NUMBER: Mapping[str, int] = {code: n + 1 for n, code in enumerate(CODES)}
_CODE_OF = np.array(["", *CODES], dtype=object)


class RegisterCorrupt(ValueError):
    """A stored register that does not unpack (odd length, an unknown code, half a day's marks)."""


def pack(slots: Sequence[int], am: Sequence[str], pm: Sequence[str]) -> bytes:
    """The stored marks of a register: `slots` are the roster slots of its rows (each once), `am` and
    `pm` their codes."""
    if not slots:
        return b""
    index = np.asarray(slots, dtype=np.intp)
    out = np.zeros(2 * (int(index.max()) + 1), dtype=np.uint8)
    out[2 * index] = [NUMBER[c] for c in am]
    out[2 * index + 1] = [NUMBER[c] for c in pm]
    return out.tobytes()


def unpack_arrays(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The slots a stored register marks, and their AM and PM code numbers (numpy arrays)."""
    if len(blob) % 2:
        raise RegisterCorrupt("a register's marks of odd length")
    pairs = np.frombuffer(blob, dtype=np.uint8).reshape(-1, 2)
    if (pairs > len(CODES)).any():
        raise RegisterCorrupt("a register's marks hold an unknown code")
    marked = pairs.any(axis=1)
    if (marked & ~pairs.all(axis=1)).any():
        raise RegisterCorrupt("a register marks a pupil for one session of the day only")
    slots = np.flatnonzero(marked)
    return slots, pairs[slots, 0], pairs[slots, 1]


def unpack(blob: bytes) -> list[tuple[int, str, str]]:
    """(slot, am, pm) of every pupil a stored register marks, in slot order."""
    slots, am, pm = unpack_arrays(blob)
    return list(zip(slots.tolist(), _CODE_OF[am].tolist(), _CODE_OF[pm].tolist(), strict=True))


def marks(blob: bytes, pupil_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """(pupil_id, am, pm) of a stored register, given its roster's pupil ids by slot."""
    rows = unpack(blob)
    if rows and rows[-1][0] >= len(pupil_ids):
        raise RegisterCorrupt("a register marks a slot its roster does not have")
    return [(pupil_ids[s], am, pm) for s, am, pm in rows]


#: The statistical classes a window's totals count, in the order of `window_totals`' columns.
WINDOW_CLASSES = (StatClass.PRESENT, StatClass.AEA, StatClass.AUTHORISED, StatClass.UNAUTHORISED)
_CLASS_OF = {**CURRENT_CODES, **LEGACY_CODES}
# Per code number (0: no mark), its column in `WINDOW_CLASSES`, or the last column for a session
# that is not a possible one (not counted, and not kept).
_WINDOW_COLUMN = np.array([len(WINDOW_CLASSES)] + [
    WINDOW_CLASSES.index(_CLASS_OF[c]) if _CLASS_OF[c] in WINDOW_CLASSES else len(WINDOW_CLASSES)
    for c in CODES], dtype=np.intp)


def window_totals(registers: Iterable[bytes], slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Sessions per roster slot and statistical class (`WINDOW_CLASSES`) over a school's registers
    of a window, and which slots any of them marks (a pupil with only sessions that are not possible
    is marked, with zero totals)."""
    totals = np.zeros((slots, len(WINDOW_CLASSES) + 1), dtype=np.int64)
    marked = np.zeros(slots, dtype=bool)
    for blob in registers:
        found, am, pm = unpack_arrays(blob)
        if found.size and found[-1] >= slots:
            raise RegisterCorrupt("a register marks a slot its roster does not have")
        marked[found] = True
        np.add.at(totals, (found, _WINDOW_COLUMN[am]), 1)
        np.add.at(totals, (found, _WINDOW_COLUMN[pm]), 1)
    return totals[:, : len(WINDOW_CLASSES)], marked
