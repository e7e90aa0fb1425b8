"""School calendar facts used across the gateway."""

from __future__ import annotations

import datetime as dt

#: The academic year is taken to start on 1 August, as DfE's census terms do (autumn term data runs
#: 1 August to 31 December: EES pupil absence methodology, Table 6). 2025 means 2025/26.
ACADEMIC_YEAR_START_MONTH = 8


def academic_year_of(day: dt.date) -> int:
    return day.year if day.month >= ACADEMIC_YEAR_START_MONTH else day.year - 1


def academic_year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, ACADEMIC_YEAR_START_MONTH, 1), dt.date(
        year + 1, ACADEMIC_YEAR_START_MONTH, 1
    ) - dt.timedelta(days=1)


def academic_year_label(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"
