"""Rosters: one school's pupils in one academic year, with their running totals, packed.

A roster has a slot per pupil who has been on one of the school's registers in the year. A slot holds
the pupil id, the identity digest and attributes (year group, SEN, FSM) of the pupil's latest
register, the first and last register dates, the sessions per statistical class and per reason code,
and per school week the possible, unauthorised and authorised sessions (the penalty-notice rule
counts unauthorised sessions in rolling school weeks; a report's last four weeks need all three).
Slots are never reordered or removed within a year: a pupil taken off a register by a correction
keeps a slot with the totals of what is left, as an enrolment does.

Each part is one numpy array, stored as one binary value (`pack`, `unpack`); the parts that compress
(counts, mostly zero) are zlib-compressed, the random ones (pupil ids, digests) are not. A register
moves the totals of its pupils by its marks, less those of the version it supersedes
(`apply_register`). `recount` counts the same from the stored marks, plainly, for the exactness check.

For now the rosters are kept beside the enrolment tables, and the exactness check compares the two.
The packed registers (`schemas.registers`) are laid out by a roster's slots, so the slots are the
directory of a school's registers for the year: a rebuild keeps them in their order.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

from schemas.calendar import academic_year_bounds
from schemas.codes import CURRENT_CODES, LEGACY_CODES, StatClass

#: Version of the packed layout, stored beside it (2: a third weekly counter, authorised sessions).
FORMAT = 2
#: The sessions per statistical class, in the order of the enrolments' totals.
CLASSES = ("possible", "present", "aea", "authorised", "unauthorised", "not_counted")
#: Codes kept per pupil, as in the enrolments' reason-code totals: all but plain present (/ and \\),
#: which are sessions present less L. Fixed order: a slot's code counts are indexed by it.
PLAIN_PRESENT = frozenset({"/", "\\"})
_CLASS_OF: dict[str, StatClass] = {**CURRENT_CODES, **LEGACY_CODES}
ROSTER_CODES: tuple[str, ...] = tuple(sorted(c for c in _CLASS_OF if c not in PLAIN_PRESENT))
#: ISO weeks (Monday to Sunday) that meet an academic year (1 August to 31 July): at most 53.
WEEKS = 53
#: The counters kept per pupil per school week, in this order.
WEEK_COUNTERS = ("possible", "unauthorised", "authorised")
#: The parts of a roster, each one stored value.
PARTS = ("pupil_ids", "digests", "attributes", "totals", "codes", "weeks")

ATTRIBUTES = np.dtype([("year_group", "S2"), ("sen_status", "S1"), ("fsm_eligible", "?"),
                       ("first", "<i2"), ("last", "<i2")])  # first and last: days since 1 August
# A year has at most 732 sessions, so a code's count fits 16 bits. A school week has at most 14 of a
# pupil's sessions at one school (one register a day), so the weekly counters fit a byte; they move in
# modular arithmetic, exact while the true counts stay within 0-255, which they always do.
_TOTALS, _CODES, _WEEKS = np.dtype("<i4"), np.dtype("<i2"), np.dtype("u1")
_ID_BYTES = 32  # pupil ids and identity digests are hex HMAC-SHA256s, kept as their 32 bytes
#: Parts worth no compression attempt: HMAC outputs are random.
_RANDOM = frozenset({"pupil_ids", "digests"})
_RAW, _ZLIB = 0, 1

# Per code (in `_ALL` order): its six class deltas, its column in `ROSTER_CODES` (-1 for plain
# present), and whether it is unauthorised. The 2024 and the older code sets agree on every code
# they share, so one table serves every date; which codes a date allows is the parser's rule.
_ALL: tuple[str, ...] = tuple(sorted(_CLASS_OF))
_INDEX = {code: n for n, code in enumerate(_ALL)}


def _class_vector(stat_class: StatClass) -> list[int]:
    """One session's deltas in `CLASSES` order: possible (unless not counted), and its class."""
    vector = [0] * len(CLASSES)
    vector[CLASSES.index(stat_class.value)] = 1
    if stat_class is not StatClass.NOT_COUNTED:
        vector[0] = 1
    return vector


_DELTAS = np.array([_class_vector(_CLASS_OF[c]) for c in _ALL], dtype=_TOTALS)
_CODE_COLUMN = np.array([ROSTER_CODES.index(c) if c in ROSTER_CODES else -1 for c in _ALL], dtype=np.intp)
# Each weekly counter's column in a session's class deltas.
_WEEK_COLUMNS = tuple(CLASSES.index(c) for c in WEEK_COUNTERS)


class RosterCorrupt(ValueError):
    """Stored parts that do not make a roster (wrong lengths, unknown encoding)."""


class Slot(NamedTuple):
    """One pupil's slot, unpacked (for checks and readers)."""

    pupil_id: str
    digest: str
    year_group: str
    sen_status: str
    fsm_eligible: bool
    first_date: dt.date
    last_date: dt.date
    totals: tuple[int, ...]  # in `CLASSES` order
    codes: dict[str, int]  # reason code -> sessions, the non-zero ones
    weeks: dict[dt.date, tuple[int, int, int]]  # Monday -> `WEEK_COUNTERS`, the weeks not all zero


class Counted(NamedTuple):
    """What the marks alone determine of a slot (`recount`, `Roster.counted`)."""

    first_date: dt.date
    last_date: dt.date
    totals: tuple[int, ...]
    codes: dict[str, int]
    weeks: dict[dt.date, tuple[int, int, int]]


@dataclass
class Roster:
    academic_year: int
    pupil_ids: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    attributes: np.ndarray = field(default_factory=lambda: np.zeros(0, ATTRIBUTES))
    totals: np.ndarray = field(default_factory=lambda: np.zeros((0, len(CLASSES)), _TOTALS))
    codes: np.ndarray = field(default_factory=lambda: np.zeros((0, len(ROSTER_CODES)), _CODES))
    weeks: np.ndarray = field(default_factory=lambda: np.zeros((0, WEEKS, len(WEEK_COUNTERS)), _WEEKS))
    slot: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.slot:
            self.slot = {pid: n for n, pid in enumerate(self.pupil_ids)}

    def __len__(self) -> int:
        return len(self.pupil_ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Roster):
            return NotImplemented
        arrays = ("attributes", "totals", "codes", "weeks")
        return (self.academic_year == other.academic_year and self.pupil_ids == other.pupil_ids
                and self.digests == other.digests
                and all(np.array_equal(getattr(self, p), getattr(other, p)) for p in arrays))

    def _first_monday(self) -> dt.date:
        start = academic_year_bounds(self.academic_year)[0]
        return start - dt.timedelta(days=start.weekday())

    def slots(self) -> list[Slot]:
        start = academic_year_bounds(self.academic_year)[0]
        monday = self._first_monday()
        out = []
        for n, pid in enumerate(self.pupil_ids):
            a = self.attributes[n]
            out.append(Slot(
                pid, self.digests[n],
                a["year_group"].decode(), a["sen_status"].decode(), bool(a["fsm_eligible"]),
                start + dt.timedelta(days=int(a["first"])), start + dt.timedelta(days=int(a["last"])),
                tuple(int(v) for v in self.totals[n]),
                {ROSTER_CODES[c]: int(self.codes[n, c]) for c in np.flatnonzero(self.codes[n])},
                {monday + dt.timedelta(weeks=int(w)): (int(p), int(u), int(a_))
                 for w in np.flatnonzero(self.weeks[n].any(axis=1))
                 for p, u, a_ in [self.weeks[n, w]]},
            ))
        return out

    def counted(self) -> dict[str, Counted]:
        return {s.pupil_id: Counted(s.first_date, s.last_date, s.totals, s.codes, s.weeks)
                for s in self.slots()}


def _day_and_week(academic_year: int, day: dt.date) -> tuple[int, int]:
    start, end = academic_year_bounds(academic_year)
    if not start <= day <= end:
        raise ValueError("a register's date lies outside its roster's academic year")
    monday = start - dt.timedelta(days=start.weekday())
    return (day - start).days, (day - monday).days // 7


def _code_indexes(rows: Iterable[Sequence[Any]], column: int, count: int) -> np.ndarray:
    return np.fromiter(map(_INDEX.__getitem__, map(itemgetter(column), rows)), dtype=np.intp, count=count)


def _move(roster: Roster, slots: np.ndarray, am: np.ndarray, pm: np.ndarray, week: int, sign: int) -> None:
    """Add (sign 1) or take off (sign -1) one day's marks of the pupils in `slots` (each at most once)."""
    deltas = _DELTAS[am] + _DELTAS[pm]
    np.add.at(roster.totals, slots, sign * deltas)
    for codes in (am, pm):
        column = _CODE_COLUMN[codes]
        kept = column >= 0
        np.add.at(roster.codes, (slots[kept], column[kept]), sign)
    # Through views of the week's column, so that the roster's own counters move.
    for counter, column in enumerate(_WEEK_COLUMNS):
        np.add.at(roster.weeks[:, week, counter], slots, (sign * deltas[:, column]).astype(_WEEKS))


def apply_register(roster: Roster, day: dt.date, rows: Sequence[tuple[str, str, str, str, bool, str, str]],
                   superseded: Sequence[tuple[str, str, str]] = ()) -> set[str]:
    """Move the roster by a register for `day`: rows are (pupil_id, identity digest, year_group,
    sen_status, fsm_eligible, am, pm), one per pupil; `superseded` is the (pupil_id, am, pm) of the
    version it replaces, if any, whose marks come off first. New pupils get a slot at the end; a
    pupil's attributes and digest follow the latest register date seen. Returns the parts that changed."""
    offset, week = _day_and_week(roster.academic_year, day)
    changed = {"totals", "weeks"} if rows or superseded else set()
    if superseded:
        missing = [pid for pid, _, _ in superseded if pid not in roster.slot]
        if missing:
            raise RosterCorrupt("a superseded register names pupils the roster has no slot for")
        n = len(superseded)
        slots = np.fromiter(map(roster.slot.__getitem__, map(itemgetter(0), superseded)), dtype=np.intp,
                            count=n)
        _move(roster, slots, _code_indexes(superseded, 1, n), _code_indexes(superseded, 2, n), week, -1)
        changed.add("codes")
    if not rows:
        return changed
    new = [(r[0], r[1]) for r in rows if r[0] not in roster.slot]
    if new:
        _grow(roster, new)
        changed |= {"pupil_ids", "digests", "attributes", "codes"}
    n = len(rows)
    slots = np.fromiter(map(roster.slot.__getitem__, map(itemgetter(0), rows)), dtype=np.intp, count=n)
    am, pm = _code_indexes(rows, 5, n), _code_indexes(rows, 6, n)
    _move(roster, slots, am, pm, week, 1)
    if (_CODE_COLUMN[am] >= 0).any() or (_CODE_COLUMN[pm] >= 0).any():
        changed.add("codes")
    attributes = roster.attributes
    fresh = np.zeros(n, ATTRIBUTES)
    fresh["year_group"] = [r[2] for r in rows]
    fresh["sen_status"] = [r[3] for r in rows]
    fresh["fsm_eligible"] = [r[4] for r in rows]
    fresh["first"] = fresh["last"] = offset
    before = attributes[slots]
    latest = offset >= before["last"]
    after = before.copy()
    for name in ("year_group", "sen_status", "fsm_eligible"):
        after[name] = np.where(latest, fresh[name], before[name])
    after["first"] = np.minimum(before["first"], offset)
    after["last"] = np.maximum(before["last"], offset)
    if not np.array_equal(after, before):
        attributes[slots] = after
        changed.add("attributes")
    digests = roster.digests
    for n_row, (r, s) in enumerate(zip(rows, slots.tolist(), strict=True)):
        if latest[n_row] and digests[s] != r[1]:
            digests[s] = r[1]
            changed.add("digests")
    return changed


def _grow(roster: Roster, new: list[tuple[str, str]]) -> None:
    """Slots for new pupils, at the end; their attributes say first > last until a row sets them."""
    for pid, digest in new:
        roster.slot[pid] = len(roster.pupil_ids)
        roster.pupil_ids.append(pid)
        roster.digests.append(digest)
    k = len(new)
    blank = np.zeros(k, ATTRIBUTES)
    blank["first"], blank["last"] = np.iinfo(np.int16).max, -1
    roster.attributes = np.concatenate([roster.attributes, blank])
    roster.totals = np.concatenate([roster.totals, np.zeros((k, len(CLASSES)), _TOTALS)])
    roster.codes = np.concatenate([roster.codes, np.zeros((k, len(ROSTER_CODES)), _CODES)])
    roster.weeks = np.concatenate([roster.weeks, np.zeros((k, WEEKS, len(WEEK_COUNTERS)), _WEEKS)])


def build(academic_year: int, pupils: Iterable[tuple[str, str, str, str, bool, Counted | None]],
          order: Sequence[str] = ()) -> Roster:
    """A roster made afresh from what is stored elsewhere: per pupil (pupil_id, identity digest,
    year_group, sen_status, fsm_eligible, what the marks give, None for nothing). The pupils of
    `order` keep those slots (packed registers are laid out by them); the others follow in order of
    first date, then pupil id."""
    given = {p[0]: p for p in pupils}
    if set(order) - set(given):
        raise ValueError("every pupil of the kept order is given")
    rest = sorted((p for pid, p in given.items() if pid not in set(order)),
                  key=lambda p: (p[5].first_date if p[5] else dt.date.max, p[0]))
    rows = [given[pid] for pid in order] + rest
    roster = Roster(academic_year)
    _grow(roster, [(p[0], p[1]) for p in rows])
    start = academic_year_bounds(academic_year)[0]
    monday = roster._first_monday()
    for n, (_, _, year_group, sen_status, fsm, counted) in enumerate(rows):
        attributes = roster.attributes
        attributes["year_group"][n], attributes["sen_status"][n] = year_group.encode(), sen_status.encode()
        attributes["fsm_eligible"][n] = fsm
        if counted is None:
            continue
        attributes["first"][n] = (counted.first_date - start).days
        attributes["last"][n] = (counted.last_date - start).days
        roster.totals[n] = counted.totals
        for code, sessions in counted.codes.items():
            roster.codes[n, ROSTER_CODES.index(code)] = sessions
        for week, counters in counted.weeks.items():
            roster.weeks[n, (week - monday).days // 7] = counters
    return roster


# --- packing -------------------------------------------------------------------------------------


def _encode(raw: bytes, compress: bool) -> bytes:
    if compress:
        packed = zlib.compress(raw, 1)
        if len(packed) < len(raw):
            return bytes([_ZLIB]) + packed
    return bytes([_RAW]) + raw


def _decode(blob: bytes) -> bytes:
    if not blob:
        raise RosterCorrupt("an empty roster part")
    if blob[0] == _RAW:
        return bytes(blob[1:])
    if blob[0] == _ZLIB:
        try:
            return zlib.decompress(blob[1:])
        except zlib.error:
            raise RosterCorrupt("a roster part that does not decompress") from None
    raise RosterCorrupt("a roster part in an unknown encoding")


def _hex_bytes(values: list[str]) -> bytes:
    try:
        raw = bytes.fromhex("".join(values))
    except ValueError:
        raise ValueError("pupil ids and identity digests are hex") from None
    if len(raw) != _ID_BYTES * len(values):
        raise ValueError("pupil ids and identity digests are 64 hex digits")
    return raw


def pack(roster: Roster, parts: Iterable[str] = PARTS) -> dict[str, bytes]:
    """The stored values of the named parts (all by default)."""
    out = {}
    for part in parts:
        value: Any = getattr(roster, part)
        raw = _hex_bytes(value) if part in _RANDOM else np.ascontiguousarray(value).tobytes()
        out[part] = _encode(raw, part not in _RANDOM)
    return out


def unpack_pupil_ids(blob: bytes) -> list[str]:
    """The pupil ids of a stored roster by slot (their part alone, the same in every format)."""
    ids = _decode(blob)
    if len(ids) % _ID_BYTES:
        raise RosterCorrupt("pupil ids of the wrong length")
    text = ids.hex()
    step = 2 * _ID_BYTES
    return [text[i : i + step] for i in range(0, len(text), step)]


def unpack(academic_year: int, stored: dict[str, bytes]) -> Roster:
    """The roster of stored parts (all of `PARTS`)."""
    ids = _decode(stored["pupil_ids"])
    if len(ids) % _ID_BYTES:
        raise RosterCorrupt("pupil ids of the wrong length")
    n = len(ids) // _ID_BYTES
    text = ids.hex()
    digests = _decode(stored["digests"]).hex()
    if len(digests) != len(text):
        raise RosterCorrupt("identity digests of the wrong length")
    step = 2 * _ID_BYTES

    def array(part: str, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
        raw = _decode(stored[part])
        if len(raw) != dtype.itemsize * int(np.prod(shape)):
            raise RosterCorrupt(f"roster part {part} of the wrong length")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()

    return Roster(
        academic_year,
        [text[i : i + step] for i in range(0, len(text), step)],
        [digests[i : i + step] for i in range(0, len(digests), step)],
        array("attributes", ATTRIBUTES, (n,)),
        array("totals", _TOTALS, (n, len(CLASSES))),
        array("codes", _CODES, (n, len(ROSTER_CODES))),
        array("weeks", _WEEKS, (n, WEEKS, len(WEEK_COUNTERS))),
    )


# --- the exactness check -------------------------------------------------------------------------


def recount(academic_year: int, marks: Iterable[tuple[str, dt.date, str, str]],
            superseded: Iterable[tuple[str, dt.date]] = ()) -> dict[str, Counted]:
    """Per pupil, what a roster should hold, counted one mark at a time from a school's stored marks
    for the year: `marks` are the current (pupil_id, date, am, pm), `superseded` the (pupil_id, date)
    of superseded versions (they widen the dates, as they did when they were current)."""
    start = academic_year_bounds(academic_year)[0]
    monday = start - dt.timedelta(days=start.weekday())
    dates: dict[str, list[dt.date]] = {}
    totals: dict[str, list[int]] = {}
    codes: dict[str, Counter[str]] = {}
    weeks: dict[str, dict[dt.date, list[int]]] = {}

    def seen(pid: str, day: dt.date) -> None:
        _day_and_week(academic_year, day)
        span = dates.setdefault(pid, [day, day])
        span[0], span[1] = min(span[0], day), max(span[1], day)
        totals.setdefault(pid, [0] * len(CLASSES))
        codes.setdefault(pid, Counter())
        weeks.setdefault(pid, {})

    for pid, day in superseded:
        seen(pid, day)
    for pid, day, am, pm in marks:
        seen(pid, day)
        week = weeks[pid].setdefault(monday + dt.timedelta(weeks=(day - monday).days // 7), [0, 0, 0])
        for code in (am, pm):
            stat_class = _CLASS_OF[code]
            if stat_class is StatClass.NOT_COUNTED:
                totals[pid][5] += 1
            else:
                totals[pid][0] += 1
                totals[pid][CLASSES.index(stat_class.value)] += 1
                week[0] += 1
                week[1] += stat_class is StatClass.UNAUTHORISED
                week[2] += stat_class is StatClass.AUTHORISED
            if code not in PLAIN_PRESENT:
                codes[pid][code] += 1
    return {
        pid: Counted(first, last, tuple(totals[pid]), dict(codes[pid]),
                     {w: (p, u, a) for w, (p, u, a) in weeks[pid].items() if p or u or a})
        for pid, (first, last) in dates.items()
    }
