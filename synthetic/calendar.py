"""The school calendar: terms, half terms and bank holidays, and so the school days of a year."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Term:
    """A half term: `start` and `end` are the first and last pupil days (INSET days excluded)."""

    name: str
    start: dt.date
    end: dt.date


_HALF_TERM_NAMES = ("Autumn 1", "Autumn 2", "Spring 1", "Spring 2", "Summer 1", "Summer 2")

#: Typical English LA calendars (assumption: LAs publish their own and academies set theirs; these follow
#: the common pattern). Dates are pupil days: the five INSET days are outside them (2025/26: 1-3 Sep,
#: 24 Oct, 5 Jan; 2026/27: 1-2 Sep, 4 Jan, 20-21 Jul). Holidays: October half term 27-31 Oct 2025 and
#: 26-30 Oct 2026; Christmas 22 Dec 2025-2 Jan 2026 and 21 Dec 2026-1 Jan 2027; February half term
#: 16-20 Feb 2026 and 15-19 Feb 2027; Easter 30 Mar-10 Apr 2026 and 29 Mar-9 Apr 2027; May half term
#: 25-29 May 2026 and 31 May-4 Jun 2027; summer from 21 Jul 2026 and 20 Jul 2027. Bank holidays inside
#: a term (early May; Good Friday 26 Mar 2027) are not school days. Each year has 190 pupil days, the
#: 380 sessions maintained schools must meet for.
_TERMS: dict[int, tuple[tuple[dt.date, dt.date], ...]] = {
    2025: (
        (dt.date(2025, 9, 4), dt.date(2025, 10, 23)),
        (dt.date(2025, 11, 3), dt.date(2025, 12, 19)),
        (dt.date(2026, 1, 6), dt.date(2026, 2, 13)),
        (dt.date(2026, 2, 23), dt.date(2026, 3, 27)),
        (dt.date(2026, 4, 13), dt.date(2026, 5, 22)),
        (dt.date(2026, 6, 1), dt.date(2026, 7, 20)),
    ),
    2026: (
        (dt.date(2026, 9, 3), dt.date(2026, 10, 23)),
        (dt.date(2026, 11, 2), dt.date(2026, 12, 18)),
        (dt.date(2027, 1, 5), dt.date(2027, 2, 12)),
        (dt.date(2027, 2, 22), dt.date(2027, 3, 25)),
        (dt.date(2027, 4, 12), dt.date(2027, 5, 28)),
        (dt.date(2027, 6, 7), dt.date(2027, 7, 19)),
    ),
}

#: Pupil days a year: 190 days (380 sessions) is what maintained schools must meet (docs/domain.md 2.1).
_DAYS_PER_YEAR = 190


def _easter(year: int) -> dt.date:
    """Easter Sunday (anonymous Gregorian algorithm): it moves the spring holiday and two bank holidays."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th given weekday of a month (n = -1 for the last), how bank holidays are defined."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _bank_holidays(year: int) -> frozenset[dt.date]:
    """England's bank holidays that can fall in term (the Christmas ones never do)."""
    easter = _easter(year)
    return frozenset(
        {
            easter - dt.timedelta(days=2),
            easter + dt.timedelta(days=1),
            _nth_weekday(year, 5, 0, 1),
            _nth_weekday(year, 5, 0, -1),
        }
    )


def _next_weekday(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _rule_terms(academic_year: int) -> tuple[tuple[dt.date, dt.date], ...]:
    """Half terms for years without a table, by the usual pattern (an approximation, see term_dates)."""
    y, y1 = academic_year, academic_year + 1
    a1_start = _next_weekday(dt.date(y, 9, 3))
    october = _nth_weekday(y, 10, 0, -1)
    christmas_eve = dt.date(y, 12, 20)
    a2_end = christmas_eve - dt.timedelta(days=(christmas_eve.weekday() - 4) % 7)
    s1_start = _next_weekday(dt.date(y1, 1, 4))
    february = _nth_weekday(y1, 2, 0, 3)
    easter_break = _easter(y1) - dt.timedelta(days=6)
    may = _nth_weekday(y1, 5, 0, -1)
    terms = [
        (a1_start, october - dt.timedelta(days=3)),
        (october + dt.timedelta(days=7), a2_end),
        (s1_start, february - dt.timedelta(days=3)),
        (february + dt.timedelta(days=7), easter_break - dt.timedelta(days=3)),
        (easter_break + dt.timedelta(days=14), may - dt.timedelta(days=3)),
        (may + dt.timedelta(days=7), dt.date(y1, 7, 24)),
    ]
    holidays = _bank_holidays(y1)
    days = 0
    for start, end in terms[:-1]:
        days += sum(1 for d in _weekdays(start, end) if d not in holidays)
    start, _ = terms[-1]
    end = start
    for d in _weekdays(start, dt.date(y1, 7, 31)):
        if d in holidays:
            continue
        days += 1
        end = d
        if days >= _DAYS_PER_YEAR:
            break
    terms[-1] = (start, end)
    return tuple(terms)


def _weekdays(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    day = start
    while day <= end:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def term_dates(academic_year: int) -> list[Term]:
    """The six half terms of an academic year (2025 means 2025/26, as in schemas.records).

    2025/26 and 2026/27 use the typical calendars documented at `_TERMS`. Other years follow the usual
    pattern (start on the first weekday from 3 September, half terms in the last week of October, the
    third week of February and the spring bank holiday week, Christmas from the Monday after the Friday
    on or before 20 December, Easter holiday the fortnight from the Monday of Holy Week, summer once
    190 pupil days are reached) so that tests may use any year; real calendars differ by LA.
    """
    spans = _TERMS.get(academic_year) or _rule_terms(academic_year)
    return [Term(name, start, end) for name, (start, end) in zip(_HALF_TERM_NAMES, spans, strict=True)]


@functools.lru_cache(maxsize=64)
def _school_day_set(academic_year: int) -> frozenset[dt.date]:
    holidays = _bank_holidays(academic_year + 1)
    return frozenset(
        d for term in term_dates(academic_year) for d in _weekdays(term.start, term.end) if d not in holidays
    )


def _academic_year(day: dt.date) -> int:
    return day.year if day.month >= 9 else day.year - 1


def is_school_day(day: dt.date) -> bool:
    """Whether registers are taken on a day under the synthetic calendar."""
    return day in _school_day_set(_academic_year(day))


def school_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every pupil day from start to end inclusive: weekdays in term, not bank or INSET holidays."""
    return [d for d in _weekdays(start, end) if is_school_day(d)]


def _leaving_date(academic_year: int) -> dt.date:
    """Last Friday in June: Year 11 pupils leave then, so their registers stop (school leaving date)."""
    return _nth_weekday(academic_year + 1, 6, 4, -1)
