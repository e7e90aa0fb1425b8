"""Year groups and roll sizes: how many pupils of each intake cohort a synthetic school has in a year."""

from __future__ import annotations

import datetime as dt
import functools

from synthetic.schools import SyntheticSchool
from synthetic.seeds import _unit

_YEAR_GROUPS = {
    "Primary": ("R", "1", "2", "3", "4", "5", "6"),
    "Secondary": ("7", "8", "9", "10", "11"),
    "Special": ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"),
}


def _year_index(year_group: str) -> int:
    return 0 if year_group == "R" else int(year_group)


def _cohort_of(date_of_birth: dt.date) -> int:
    """The academic year a child born on that date starts Reception (aged 4 on the 31 August before)."""
    return date_of_birth.year + (5 if date_of_birth.month >= 9 else 4)


@functools.cache
def _cohort_weights(phase: str) -> dict[str, float]:
    """Share of the compulsory-age roll in each year group; special schools fill up with age."""
    groups = [g for g in _YEAR_GROUPS[phase] if g != "R"]
    raw = {g: (0.6 + 0.06 * int(g)) if phase == "Special" else 1.0 for g in groups}
    total = sum(raw.values())
    return {g: w / total for g, w in raw.items()}


def _cohort_size(school: SyntheticSchool, seed: int | str, year_group: str, cohort: int) -> int:
    """Pupils of one intake cohort this year. Drawn from (seed, URN, cohort), so a cohort keeps its size
    and its children from year to year (in special schools, which fill up with age, it grows: the
    first children are the same and newcomers join)."""
    weights = _cohort_weights(school.phase)  # cached: callers must not mutate it
    share = weights.get(year_group) or weights["1"]  # Reception is sized like Year 1
    factor = 0.9 + 0.2 * _unit(seed, "cohort-size", school.urn, cohort)
    return min(999, round(school.size * share * factor))


def roll_size(
    school: SyntheticSchool, academic_year: int, seed: int | str = 0, *, include_reception: bool = True
) -> int:
    """How many pupils `synthetic_pupils` would return, without drawing them (for benchmark sizing)."""
    if school.status != "Open":
        return 0
    return sum(
        _cohort_size(school, seed, g, academic_year - _year_index(g))
        for g in _YEAR_GROUPS[school.phase]
        if include_reception or g != "R"
    )
