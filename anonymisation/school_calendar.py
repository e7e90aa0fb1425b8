"""The public school calendar that bounds a pupil's sessions in a window (``S_t``).

A pupil can have at most two sessions (AM and PM) on each day their school is open, so the most one
pupil moves a session sum is twice the school days of the window. Counting every weekday instead
(holidays included) made the noise of a December release about 1.4 times larger than it needed to be
The days come from ``term_dates.toml``: published term dates, public data, the same for
every neighbouring dataset, so the bound leaks nothing about any pupil. A year the file does not
cover falls back to every weekday, which over-counts and so only costs accuracy.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from schemas.calendar import academic_year_bounds, academic_year_of


class CalendarInvalid(ValueError):
    """A term-date file whose terms overlap, run backwards or leave their academic year."""


@dataclass(frozen=True)
class YearCalendar:
    academic_year: int
    source: str
    terms: tuple[tuple[dt.date, dt.date], ...]
    closures: frozenset[dt.date]

    def is_school_day(self, day: dt.date) -> bool:
        return (
            day.weekday() < 5
            and day not in self.closures
            and any(start <= day <= end for start, end in self.terms)
        )


def parse(text: str) -> dict[int, YearCalendar]:
    """Term dates by academic year, checked: each term inside its year, in order, not overlapping."""
    years: dict[int, YearCalendar] = {}
    for entry in tomllib.loads(text).get("years", []):
        year = int(entry["academic_year"])
        first, last = academic_year_bounds(year)
        terms = tuple((start, end) for start, end in entry["terms"])
        previous = first - dt.timedelta(days=1)
        for start, end in terms:
            if not (isinstance(start, dt.date) and isinstance(end, dt.date)):
                raise CalendarInvalid(f"{year}: a term is two dates")
            if not (previous < start <= end <= last):
                raise CalendarInvalid(f"{year}: terms must lie in the academic year, in order, apart")
            previous = end
        if year in years:
            raise CalendarInvalid(f"{year}: listed twice")
        years[year] = YearCalendar(year, str(entry["source"]), terms, frozenset(entry.get("closures", [])))
    return years


@cache
def calendars() -> dict[int, YearCalendar]:
    return parse(resources.files("anonymisation").joinpath("term_dates.toml").read_text(encoding="utf-8"))


def weekdays(start: dt.date, end: dt.date) -> int:
    days = (end - start).days + 1
    if days <= 0:
        return 0
    full_weeks, rest = divmod(days, 7)
    return 5 * full_weeks + sum(1 for i in range(rest) if (start + dt.timedelta(days=i)).weekday() < 5)


def school_days(start: dt.date, end: dt.date) -> int:
    """Days from ``start`` to ``end`` inclusive on which a school may register pupils: the calendar's
    school days where it covers the year, every weekday where it does not."""
    total = 0
    day = start
    while day <= end:
        year = academic_year_of(day)
        piece_end = min(end, academic_year_bounds(year)[1])
        calendar = calendars().get(year)
        if calendar is None:
            total += weekdays(day, piece_end)
        else:
            total += sum(
                1
                for i in range((piece_end - day).days + 1)
                if calendar.is_school_day(day + dt.timedelta(days=i))
            )
        day = piece_end + dt.timedelta(days=1)
    return total


def source(start: dt.date, end: dt.date) -> str:
    """Where :func:`school_days` took the days of the window from, for the published body."""
    names = []
    for year in range(academic_year_of(start), academic_year_of(end) + 1):
        calendar = calendars().get(year)
        names.append(calendar.source if calendar else f"every weekday (no published calendar for {year})")
    return "; ".join(names)
