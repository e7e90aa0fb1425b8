"""The reference implementation of the privacy-unit collapse and the exact aggregate, that the
production SQL is tested against."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Any

from anonymisation import cell_keysets, school_calendar
from anonymisation.dp.accounting import (
    MAX_SESSIONS_PER_YEAR,
    STATISTIC_NAMES,
    _check_sessions_possible,
)
from policies.thresholds import is_persistent, is_severe

# --------------------------------------------------------------------------------------------------
# Reference implementation of the privacy-unit collapse and the exact aggregate
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolment:
    """A pupil's totals at one school in one academic year, as the rollup table holds them."""

    pupil: str
    academic_year: str
    school_urn: str
    la_code: str
    phase: str
    year_group: str
    sen_status: str
    fsm: bool
    possible: int
    authorised: int
    unauthorised: int
    last_date: date


@dataclass(frozen=True)
class PupilYear:
    """One pupil in one academic year: the privacy unit, and one row of the DP input."""

    la_code: str
    phase: str
    year_group: str
    sen_status: str
    fsm: bool
    possible: int
    authorised: int
    unauthorised: int

    @property
    def absent(self) -> int:
        return self.authorised + self.unauthorised

    def keys(self) -> dict[str, cell_keysets.KeyValue]:
        """The grouping attributes, by pupil-row column."""
        return {col: getattr(self, col) for col in cell_keysets.DIMENSION_COLUMNS.values()}


@lru_cache(maxsize=4096)
def sessions_possible_bound(start: dt.date, end: dt.date) -> int:
    """``S_t``: two sessions per school day from ``start`` to ``end`` inclusive, at most 380. School
    days come from the public term dates (:mod:`anonymisation.school_calendar`; every weekday for a year
    it does not cover), never from the data, so the bound and the noise sized by it leak nothing."""
    if end < start:
        return 0
    return min(MAX_SESSIONS_PER_YEAR, 2 * school_calendar.school_days(start, end))


def is_clean_pupil_year(
    possible: int, authorised: int, unauthorised: int, last_date: dt.date, year_start: dt.date
) -> bool:
    """Whether a pupil's year-to-date totals sit within the public bounds of every year-to-date window
    that includes their last register: no negative count, absences within possible sessions, and
    possible sessions within ``sessions_possible_bound(year_start, last_date)``. Clamping such totals
    (:func:`clamp_pupil_year`) changes nothing, so they may be summed ahead of any question
    (``stats_cells``); any other pupil-year is clamped when a statistic is asked for."""
    return (
        authorised >= 0
        and unauthorised >= 0
        and authorised + unauthorised <= possible
        and possible <= sessions_possible_bound(year_start, last_date)
    )


def cell_contribution(
    possible: int, authorised: int, unauthorised: int
) -> tuple[int, int, int, int, int, int]:
    """What one clean pupil-year with possible sessions adds to its ``stats_cells`` row: (pupils,
    possible, authorised, unauthorised, persistent absence, severe absence), as :func:`_contributions`."""
    absent = authorised + unauthorised
    return (1, possible, authorised, unauthorised, int(is_persistent(absent, possible)),
            int(is_severe(absent, possible)))


def collapse_to_pupil_year(enrolment_rows: Iterable[Enrolment]) -> dict[tuple[str, str], PupilYear]:
    """One row per pupil per academic year, keyed by ``(academic_year, pupil)``.

    Session totals are summed over the pupil's enrolments. The grouping attributes come from one
    enrolment: the one with the most possible sessions; on a tie, the latest (by last date, then by
    school URN, so the choice never depends on row order). Without this a pupil who moved school sits
    in two cells and every sensitivity doubles (docs/differential-privacy.md section 4, point 1).
    Totals are clamped later, in :func:`exact_aggregate`, because ``S_t`` belongs to the window
    being released.
    """
    grouped: dict[tuple[str, str], list[Enrolment]] = {}
    for row in enrolment_rows:
        grouped.setdefault((row.academic_year, row.pupil), []).append(row)
    collapsed = {}
    for key, rows in grouped.items():
        main = max(rows, key=lambda r: (r.possible, r.last_date, r.school_urn))
        collapsed[key] = PupilYear(
            la_code=main.la_code,
            phase=main.phase,
            year_group=main.year_group,
            sen_status=main.sen_status,
            fsm=main.fsm,
            possible=sum(r.possible for r in rows),
            authorised=sum(r.authorised for r in rows),
            unauthorised=sum(r.unauthorised for r in rows),
        )
    return collapsed


def clamp_pupil_year(row: PupilYear, sessions_possible: int) -> PupilYear:
    """Clamp totals so one pupil moves any session sum by at most ``S_t``.

    ``possible`` goes to ``[0, S_t]``; ``authorised`` to ``[0, possible]``; ``unauthorised`` to
    ``[0, possible - authorised]``, so that ``absent`` can never exceed ``S_t`` either. For clean data
    (absences within possible sessions, possible within the window) nothing changes. In SQL:
    ``p = LEAST(GREATEST(possible, 0), S)``, ``a = LEAST(GREATEST(authorised, 0), p)``,
    ``u = LEAST(GREATEST(unauthorised, 0), p - a)``.
    """
    cap = _check_sessions_possible(sessions_possible)
    possible = min(max(row.possible, 0), cap)
    authorised = min(max(row.authorised, 0), possible)
    unauthorised = min(max(row.unauthorised, 0), possible - authorised)
    return PupilYear(
        row.la_code, row.phase, row.year_group, row.sen_status, row.fsm, possible, authorised, unauthorised
    )


def _contributions(row: PupilYear) -> dict[str, int]:
    """What one in-scope, clamped pupil-year adds to each statistic of its cell."""
    absent = row.absent
    return {
        "enrolments": 1,
        "possible": row.possible,
        "absent": absent,
        "authorised": row.authorised,
        "unauthorised": row.unauthorised,
        "pa": int(is_persistent(absent, row.possible)),
        "severe": int(is_severe(absent, row.possible)),
    }


@dataclass(frozen=True)
class ExactAggregate:
    """Exact cells over a public key set: ``columns[stat][i]`` belongs to ``keys[i]``.

    Secret: it never leaves the secure zone, and is discarded once noised.
    """

    by: tuple[str, ...]
    keys: tuple[dict[str, cell_keysets.KeyValue], ...]
    columns: dict[str, list[int]]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per cell, keys and statistics together: the shape a SQL GROUP BY returns."""
        return [key | {s: col[i] for s, col in self.columns.items()} for i, key in enumerate(self.keys)]


@cache
def _cell_index(dims: tuple[str, ...]) -> dict[tuple[cell_keysets.KeyValue, ...], int]:
    """Position of each cell's key values in the public key set (cached: there are up to 33,048)."""
    return {values: i for i, values in enumerate(cell_keysets.key_tuples(dims))}


def exact_aggregate(
    pupil_rows: Iterable[PupilYear],
    by: Sequence[str],
    sessions_possible: int,
    statistics: Sequence[str] = STATISTIC_NAMES,
) -> ExactAggregate:
    """The exact GROUP BY over the public key set, with empty cells as 0: the reference for the SQL.

    Rows come from one academic year (one row per pupil, see :func:`collapse_to_pupil_year`). Each is
    clamped (:func:`clamp_pupil_year`), and is out of scope unless it has possible sessions (DfE counts
    enrolments with none out, docs/domain.md 2.2) and every attribute is in the public key sets (the same
    population whatever the grouping). So each pupil adds to at most one cell of each statistic, at
    most 1 to a count and at most ``S_t`` to a sum: the sensitivities :func:`statistic` declares.

    ``pa`` counts pupils at or past the persistent-absence line (10%) and ``severe`` those at or past
    the severe-absence line (50%), as ``policies.thresholds`` draws them, on clamped totals.
    """
    unknown = [s for s in statistics if s not in STATISTIC_NAMES]
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; expected some of {STATISTIC_NAMES}")
    cap = _check_sessions_possible(sessions_possible)
    dims = cell_keysets.canonical_by(by)
    keys = cell_keysets.keys_for(dims)
    columns_of_key = [cell_keysets.DIMENSION_COLUMNS[d] for d in dims]
    index = _cell_index(dims)
    columns = {s: [0] * len(keys) for s in statistics}
    for raw in pupil_rows:
        row = clamp_pupil_year(raw, cap)
        attributes = row.keys()
        if row.possible == 0 or not cell_keysets.in_scope(attributes):
            continue
        cell = index[tuple(attributes[c] for c in columns_of_key)]
        contributions = _contributions(row)
        for s in statistics:
            columns[s][cell] += contributions[s]
    return ExactAggregate(by=dims, keys=tuple(keys), columns=columns)
