"""Calendar rules of the decision point and the selection criteria.

The academic year comes from `schemas.calendar`, which the shell uses when it totals marks, so that a
window and the totals computed for it never disagree about which year a day belongs to.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from schemas.calendar import academic_year_bounds, academic_year_of

__all__ = [
    "YearWindow",
    "academic_year_end",
    "academic_year_of",
    "academic_year_start",
    "add_years",
    "week_of",
    "year_window",
]


def academic_year_start(academic_year: int) -> dt.date:
    """1 August of the academic year (see schemas.calendar for the source)."""
    return academic_year_bounds(academic_year)[0]


def academic_year_end(academic_year: int) -> dt.date:
    """31 July, the last day of the academic year."""
    return academic_year_bounds(academic_year)[1]


def week_of(day: dt.date) -> dt.date:
    """The Monday of the ISO week (Monday to Sunday) containing a day: the unit of a school week."""
    return day - dt.timedelta(days=day.weekday())


def add_years(moment: dt.datetime, years: int) -> dt.datetime:
    """The same date and time `years` later; 29 February becomes 28 February, never 1 March,
    so that a retention period is never longer than the catalogue says."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


class YearWindow(NamedTuple):
    start: dt.date
    end: dt.date
    academic_year: int
    #: Neither end was given: the academic year to date.
    year_to_date: bool


class WindowInvalid(ValueError):
    """A window that breaks the rule; ``field`` names the end to blame ("from")."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def year_window(first: dt.date | None, last: dt.date | None, today: dt.date) -> YearWindow:
    """The window of an attendance measure: one academic year (1 August to 31 July), by default the
    year to date. Attendance measures are per academic year (DfE publishes them year to date), so a
    window given only a start ends today or at the end of that start's year, whichever is first;
    given only an end, it starts on 1 August of that end's year. Whether a window may end after
    today is the caller's rule (a stored answer may not; a view may)."""
    defaulted = first is None and last is None
    if first is not None and last is not None and last < first:
        raise WindowInvalid("from", "the window starts after it ends")
    if last is None:
        last = today if first is None else min(today, academic_year_end(academic_year_of(first)))
    if first is None:
        first = academic_year_start(academic_year_of(last))
    if first > last:
        raise WindowInvalid("from", "the window starts after it ends")
    if academic_year_of(first) != academic_year_of(last):
        raise WindowInvalid("from", "the window must lie within one academic year (1 August to 31 July)")
    return YearWindow(first, last, academic_year_of(last), defaulted)
