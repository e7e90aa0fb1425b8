"""Daily registers: each pupil's AM and PM marks for a school day, as the feed's rows and CSV body."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

from synthetic.absence import _G_BLOCK_DAYS, _PENDING_SHARE, _PRESENT_PENDING
from synthetic.calendar import _academic_year, _leaving_date, is_school_day, school_days
from synthetic.profiles import LaProfile
from synthetic.pupils import _PRESENT, SyntheticPupil
from synthetic.rolls import _cohort_of, _year_index
from synthetic.schools import SyntheticSchool
from synthetic.seeds import _rng

#: Columns of a register feed row, in the order of the CSV body the gateway accepts.
FEED_COLUMNS: tuple[str, ...] = (
    "upn", "forename", "surname", "date_of_birth", "year_group", "sen_status", "fsm_eligible", "am", "pm",
)



def _event(p: SyntheticPupil, u: float, weekday: int, autumn: bool) -> tuple[tuple[str, str], float, bool]:
    """The marks of a pupil whose draw fell in an event band; also a fresh uniform and whether it was
    an absence (for the first-register N)."""
    fixed = p._fixed
    if fixed is not None:
        day, am, pm = fixed
        if day == weekday or (day == 5 and autumn):
            return (am, pm), 0.5, False
        if u >= p._bands[5]:
            return _PRESENT, 0.5, False
    b0, b1, b2, b3, b4, b5 = p._bands
    t = p._tables
    if u < b0:
        return p._carrier, u / b0, False
    if u < b1:
        marks, frac = t.whole_auth.pick((u - b0) / (b1 - b0))
    elif u < b2:
        marks, frac = t.whole_unauth.pick((u - b1) / (b2 - b1))
    elif u < b3:
        marks, frac = t.single_auth.pick((u - b2) / (b3 - b2))
    elif u < b4:
        marks, frac = t.single_unauth.pick((u - b3) / (b4 - b3))
    else:
        marks, frac = t.present.pick((u - b4) / (b5 - b4))
        return marks, frac, False
    return marks, frac, True


def _holiday_blocks(
    pupils: Sequence[SyntheticPupil], seed: int | str, urn: int, day: dt.date
) -> dict[int, bool]:
    """Pupils on an unauthorised holiday block on `day` (index -> True), drawn per school week.

    The week's draws depend only on (seed, URN, Monday), so every day of the week agrees on who is away.
    """
    monday = day - dt.timedelta(days=day.weekday())
    rng = _rng(seed, "holiday", urn, monday.isoformat())
    rnd = rng.random
    weekday = day.weekday()
    away: dict[int, bool] = {}
    for i, p in enumerate(pupils):
        q = p._holiday_week
        if q and rnd() < q:
            length = _G_BLOCK_DAYS[int(rnd() * len(_G_BLOCK_DAYS))]
            first = 5 - length if rnd() < 0.6 else 0
            if first <= weekday < first + length:
                away[i] = True
    return away


def daily_register(
    school: SyntheticSchool,
    pupils: Sequence[SyntheticPupil],
    profile: LaProfile,
    day: dt.date,
    seed: int | str = 0,
    *,
    as_of: dt.date | None = None,
) -> list[dict[str, str | bool]]:
    """One feed row per pupil on roll for a school day, in the gateway's feed shape.

    Deterministic in (seed, URN, day) for a given roll. By default the register is the settled one
    (reasons known, a residual N as DfE publishes). With `as_of`, it is the register as the MIS sent it
    on that date: absences whose reason was not yet known are N, and some pupils who were in fact
    present are N in the morning; the same call with a later `as_of` gives the correction. Year 11 stop
    after the school leaving date. `profile` must be the one the pupils were drawn with, and the pupils
    those of the day's academic year; otherwise, or on a day without registers, ValueError.
    """
    if (school.la_code, school.phase) != (profile.old_la_code, profile.phase):
        raise ValueError(f"profile {profile.old_la_code}/{profile.phase} is not school {school.urn}'s")
    if not is_school_day(day):
        raise ValueError(f"{day.isoformat()} is not a school day in the synthetic calendar")
    if as_of is not None and as_of < day:
        raise ValueError("as_of is before the day")
    first = pupils[0] if pupils else None
    if first and _year_index(first.year_group) != _academic_year(day) - _cohort_of(first.date_of_birth):
        raise ValueError(f"the pupils were drawn for another academic year than {day.isoformat()}'s")
    if day > _leaving_date(_academic_year(day)):
        pupils = [p for p in pupils if p.year_group != "11"]
    # A pupil whose attendance falls is registered as the more absent pupil from the day of the fall.
    pupils = [p._after if p._after is not None and p.decline_onset is not None and p.decline_onset <= day
              else p for p in pupils]
    weekday = day.weekday()
    autumn = day.month >= 9
    rnd = _rng(seed, "day", school.urn, day.isoformat()).random
    rows: list[dict[str, str | bool]] = []
    append = rows.append
    present = _PRESENT
    elapsed = 0
    if as_of is None:
        for p in pupils:
            u = rnd()
            if u >= p._gate:
                append({**p._row, "am": "/", "pm": "\\"})
            else:
                (am, pm), _, _ = _event(p, u, weekday, autumn)
                append({**p._row, "am": am, "pm": pm})
    else:
        elapsed = len(school_days(day + dt.timedelta(days=1), as_of)) if as_of > day else 0
        floor = 1.0 - _PRESENT_PENDING
        for p in pupils:
            u = rnd()
            if u >= p._gate:
                if u >= floor and 1 + int((u - floor) / _PRESENT_PENDING * 2) > elapsed:
                    append({**p._row, "am": "N", "pm": "\\"})
                else:
                    append({**p._row, "am": "/", "pm": "\\"})
                continue
            (am, pm), frac, absent = _event(p, u, weekday, autumn)
            if absent:
                code = am if am not in present else pm
                pending = _PENDING_SHARE.get(code, 0.0)
                if frac < pending and 1 + int(frac / pending * 5) > elapsed:
                    am, pm = ("N" if am == code else am), ("N" if pm == code else pm)
            append({**p._row, "am": am, "pm": pm})
    away = _holiday_blocks(pupils, seed, school.urn, day)
    if away:
        pending_g = as_of is not None and elapsed < 3
        for i in away:
            row = rows[i]
            if row["am"] in ("D", "X") or row["pm"] in ("D", "X"):
                continue
            code = "N" if pending_g and (i % 2 == 0) else "G"
            row["am"] = code
            row["pm"] = code
    return rows


def feed_csv(rows: Iterable[dict[str, str | bool]]) -> str:
    """The rows as the text/csv body of a register PUT: header `FEED_COLUMNS`, booleans true/false,
    RFC 4180 quoting (names with commas or quotes survive), CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FEED_COLUMNS)
    writer.writerows(
        (r["upn"], r["forename"], r["surname"], r["date_of_birth"], r["year_group"], r["sen_status"],
         "true" if r["fsm_eligible"] else "false", r["am"], r["pm"])
        for r in rows
    )
    return buffer.getvalue()
