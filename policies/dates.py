"""Calendar rules of the decision point and the selection criteria.

The academic year comes from `schemas.calendar`, which the shell uses when it totals marks, so that a
window and the totals computed for it never disagree about which year a day belongs to.
"""

from __future__ import annotations

import datetime as dt

from schemas.calendar import academic_year_bounds, academic_year_of

__all__ = ["academic_year_end", "academic_year_of", "academic_year_start", "add_years", "week_of"]


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
