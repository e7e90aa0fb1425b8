"""Synthetic England: schools, pupils and daily registers for `gateway demo` and the benchmarks.

Why synthetic: the gateway must never be demonstrated or load-tested on real children. Why realistic: a
demo, a benchmark or a statistic built on uniform noise hides the problems real data brings (a few pupils
carrying most absence, unauthorised holidays in week-long blocks, reasons that arrive days late, names with
apostrophes and accents, LA codes that changed). So every LA x phase is driven by DfE's published 2025/26
year-to-date figures (shipped as `gateway/data/dfe-pupil-attendance-ytd-2025-26.csv`, Crown copyright,
Open Government Licence v3.0): its school count, enrolment, register-code mix and persistent-absence share.

Everything is deterministic: the same seed gives the same schools, pupils and marks, whatever subset of
LAs is asked for, so that a failing benchmark or demo can be replayed. Each purpose draws from its own
`random.Random` seeded from a string naming it (seed, purpose, URN, date, ...), or for single numbers
asked for millions of times from an integer hash; never from the global generator or Python's salted
`hash()`.

Typical use (what `gateway demo` and the benchmarks do):

    profiles = load_la_profiles()
    by_key = {(p.old_la_code, p.phase): p for p in profiles}
    schools = synthetic_schools(profiles, scale=0.002, seed=2026)
    write_gias_csv(schools, "schools.csv")                # then `gateway schools import schools.csv`
    for school in schools:
        profile = by_key[(school.la_code, school.phase)]
        pupils = synthetic_pupils(school, profile, 2025, seed=2026)
        for day in school_days(dt.date(2025, 9, 1), dt.date(2025, 12, 31)):
            body = feed_csv(daily_register(school, pupils, profile, day, seed=2026))
            # PUT /v1/schools/{school.urn}/attendance/{day}

Assumptions that are not in the published data are named constants below, each with its reason.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
import hashlib
import io
import itertools
import math
import operator
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from stdnum.gb import upn as stdnum_upn

from schemas.codes import CURRENT_CODES, StatClass

__all__ = [
    "DEFAULT_PA_WINDOW_SESSIONS",
    "FEED_COLUMNS",
    "GIAS_COLUMNS",
    "PHASES",
    "REASON_COLUMNS",
    "LaProfile",
    "SyntheticPupil",
    "SyntheticSchool",
    "Term",
    "daily_register",
    "feed_csv",
    "is_school_day",
    "load_la_profiles",
    "roll_size",
    "school_days",
    "synthetic_pupils",
    "synthetic_schools",
    "term_dates",
    "write_gias_csv",
]

# --------------------------------------------------------------------------------------------------
# Published profiles
# --------------------------------------------------------------------------------------------------

#: The phases DfE publishes per LA (its "Total" row is their sum and is not a kind of school).
PHASES: tuple[str, ...] = ("Primary", "Secondary", "Special")

_DATA_FILE = "dfe-pupil-attendance-ytd-2025-26.csv"

#: Every session-count column of the DfE file and the register code it counts. DfE still carries the
#: withdrawn codes H (agreed holiday, authorised) and J (interview, approved activity) for back-series;
#: they are folded into the current code of the same statistical class (C and B) so that no synthetic
#: register ever carries a code that is not in force.
_COLUMN_CODES: dict[str, str] = {
    "reason_present_am": "/",
    "reason_present_pm": "\\",
    "reason_l_present_late_before_registers_closed": "L",
    "reason_i_authorised_illness": "I",
    "reason_m_authorised_medical_dental": "M",
    "reason_r_authorised_religious_observance": "R",
    "reason_s_authorised_study_leave": "S",
    "reason_t_authorised_mobile_child": "T",
    "reason_h_authorised_holiday": "C",
    "reason_e_authorised_excluded": "E",
    "reason_c_authorised_other": "C",
    "reason_c1_authorised_regulated_performance": "C1",
    "reason_j1_authorised_interview": "J1",
    "reason_c2_authorised_temp_reduced_timetable": "C2",
    "reason_b_aea_education_off_site": "B",
    "reason_j_aea_interview": "B",
    "reason_p_aea_approved_sporting_activity": "P",
    "reason_v_aea_educational_visit_trip": "V",
    "reason_w_aea_work_experience": "W",
    "reason_k_aea_education_arranged_by_la": "K",
    "reason_g_unauthorised_holiday": "G",
    "reason_u_unauthorised_late_after_registers_closed": "U",
    "reason_o_other_unauthorised": "O",
    "reason_n_no_reason_yet": "N",
}

#: The DfE reason columns a profile carries, in the file's order.
REASON_COLUMNS: tuple[str, ...] = tuple(_COLUMN_CODES)

#: England's share of pupils eligible for free school meals (24.6% in January 2024, DOMAIN.md section 5).
_FSM_RATE_ENGLAND = 0.25


@dataclass(frozen=True, slots=True)
class LaProfile:
    """One LA and phase as DfE published it for 2025/26: the target the synthetic data is drawn to.

    `reason_sessions` is a tuple of (column, sessions) pairs rather than a dict so that a profile is
    hashable and the calibration derived from it can be cached; `reasons` gives it as a dict.
    `relative_absence` is the LA's overall absence over England's for the phase. `fsm_rate` is not
    published per LA: it is England's rate scaled by that ratio (clamped to 8%-50%), because
    free-school-meal eligibility and absence go together.
    `suppressed` marks the cells DfE replaced by "c" (a single school): their rates are the national
    phase's, so no figure about that one school is reproduced.
    """

    old_la_code: str
    la_name: str
    new_la_code: str
    region: str
    region_code: str
    phase: str
    total_num_schools: int
    total_enrolments: int
    possible_sessions: int
    reason_sessions: tuple[tuple[str, int], ...]
    overall_absence_perc: float
    authorised_absence_perc: float
    unauthorised_absence_perc: float
    pa_perc: float
    relative_absence: float
    fsm_rate: float
    suppressed: bool

    @property
    def reasons(self) -> dict[str, int]:
        """Sessions per DfE reason column (reason_i_authorised_illness, ...)."""
        return dict(self.reason_sessions)

    @property
    def mean_enrolment(self) -> float:
        """Mean compulsory-age enrolment per school, the centre of the school-size distribution."""
        return self.total_enrolments / max(self.total_num_schools, 1)

    @property
    def code_shares(self) -> dict[str, float]:
        """Share of possible sessions per register code, legacy columns folded into current codes.

        Divided by the sum of the reason columns rather than `possible_sessions`, which differs from it
        by a few sessions in some rows, so that the shares sum to exactly one.
        """
        total = sum(n for _, n in self.reason_sessions) or 1
        shares: dict[str, float] = {}
        for column, sessions in self.reason_sessions:
            code = _COLUMN_CODES[column]
            shares[code] = shares.get(code, 0.0) + sessions / total
        return shares

    @property
    def overall_absence_rate(self) -> float:
        """Absence sessions over possible sessions (0 to 1), the headline rate the data is drawn to."""
        return self.overall_absence_perc / 100.0


def _number(row: dict[str, str], column: str) -> float | None:
    value = row.get(column, "")
    if value in ("", "c", "x", "z", "low", "k", "u"):
        return None
    return float(value)


def _read_rows(csv_path: str | Path | None) -> list[dict[str, str]]:
    if csv_path is None:
        source = resources.files("gateway.data").joinpath(_DATA_FILE)
        with source.open("r", encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    with open(csv_path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def load_la_profiles(csv_path: str | Path | None = None) -> list[LaProfile]:
    """Every LA x phase of DfE's 2025/26 file (153 LAs; not every LA has every phase).

    Reads the packaged copy unless given a path, so an installed gateway does not depend on the
    repository layout. Cells suppressed as "c" fall back to the national profile of the phase (rates,
    reason mix, persistent absence, mean school size), keeping the published school count or assuming
    one school. Sorted by LA code then phase so that callers iterate in a stable order.
    """
    rows = _read_rows(csv_path)
    national = {
        r["education_phase"]: r for r in rows if r["geographic_level"] == "National" and r["education_phase"]
    }
    missing = [phase for phase in PHASES if phase not in national]
    if missing:
        raise ValueError(f"{csv_path or _DATA_FILE}: no national row for {missing}")
    profiles: list[LaProfile] = []
    for row in rows:
        phase = row["education_phase"]
        if row["geographic_level"] != "Local authority" or phase not in PHASES:
            continue
        nat = national[phase]
        needed = ("total_enrolments", "possible_sessions", "pa_perc", "overall_absence_perc", *REASON_COLUMNS)
        suppressed = any(_number(row, column) is None for column in needed)
        source = nat if suppressed else row
        schools_published = _number(row, "total_num_schools")
        schools = int(schools_published) if schools_published is not None else 1
        if suppressed:
            nat_mean = float(nat["total_enrolments"]) / float(nat["total_num_schools"])
            enrolments = round(nat_mean * schools)
        else:
            enrolments = int(float(row["total_enrolments"]))
        absence = float(source["overall_absence_perc"])
        relative = absence / float(nat["overall_absence_perc"])
        profiles.append(
            LaProfile(
                old_la_code=row["old_la_code"],
                la_name=row["la_name"],
                new_la_code=row["new_la_code"],
                region=row["region_name"],
                region_code=row["region_code"],
                phase=phase,
                total_num_schools=schools,
                total_enrolments=enrolments,
                possible_sessions=int(float(source["possible_sessions"])),
                reason_sessions=tuple((c, int(float(source[c]))) for c in REASON_COLUMNS),
                overall_absence_perc=absence,
                authorised_absence_perc=float(source["authorised_absence_perc"]),
                unauthorised_absence_perc=float(source["unauthorised_absence_perc"]),
                pa_perc=float(source["pa_perc"]),
                relative_absence=relative,
                fsm_rate=min(max(_FSM_RATE_ENGLAND * relative, 0.08), 0.5),
                suppressed=suppressed,
            )
        )
    profiles.sort(key=lambda p: (p.old_la_code, PHASES.index(p.phase)))
    return profiles


# --------------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------------


def _rng(*parts: object) -> random.Random:
    """A generator for one purpose: seeding from a string (SHA-512 inside `random`) keeps it stable
    across runs and Python versions, unlike `hash()`, and independent of every other purpose."""
    return random.Random(":".join(str(p) for p in parts))


_MASK64 = (1 << 64) - 1


@functools.lru_cache(maxsize=256)
def _seed_key(seed: int | str, purpose: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a well-mixed 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _unit(seed: int | str, purpose: str, a: int, b: int) -> float:
    """One uniform number in [0, 1) for (seed, purpose, a, b): integer hashing, far cheaper than seeding
    a generator when a single draw is all that is needed (cohort sizes are asked for millions of times)."""
    return _mix64(_seed_key(seed, purpose) ^ _mix64((a << 16) ^ b)) / 2.0 ** 64


# --------------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------------


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

#: Pupil days a year: 190 days (380 sessions) is what maintained schools must meet (DOMAIN.md 2.1).
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


# --------------------------------------------------------------------------------------------------
# Schools
# --------------------------------------------------------------------------------------------------

#: LAs created by reorganisation and the LA numbers their area had before (1 April of the given year):
#: a UPN keeps the LA number of the LA that issued it, so older pupils there carry the old number.
_UPN_PREDECESSORS: dict[str, tuple[tuple[str, ...], int]] = {
    "838": (("835",), 2019),  # Dorset (from Dorset 835)
    "839": (("836", "837"), 2019),  # Bournemouth, Christchurch and Poole (from Poole 836, Bournemouth 837)
    "940": (("928",), 2021),  # North Northamptonshire (from Northamptonshire 928)
    "941": (("928",), 2021),  # West Northamptonshire
    "942": (("909",), 2023),  # Cumberland (from Cumbria 909)
    "943": (("909",), 2023),  # Westmorland and Furness
}

#: LAs whose schools must not share an establishment number because their older UPNs share an LA number.
_ESTAB_GROUP: dict[str, str] = {"940": "928", "941": "928", "942": "909", "943": "909"}

#: DfE establishment-number ranges by phase (2xxx-3xxx primary, 4xxx-5xxx secondary, 7xxx special).
_ESTAB_RANGE: dict[str, tuple[int, int]] = {
    "Primary": (2000, 4000),
    "Secondary": (4000, 6000),
    "Special": (7000, 8000),
}

#: Spread of school sizes (sigma of a log-normal around the LA mean): small rural primaries of 40 and
#: city primaries of 700 both exist; secondaries vary less; special schools a lot.
_SIZE_SIGMA = {"Primary": 0.45, "Secondary": 0.35, "Special": 0.5}
_SIZE_BOUNDS = {"Primary": (20, 900), "Secondary": (150, 2600), "Special": (15, 450)}
#: Schools differ beyond their intake: each school scales its pupils' absence by a log-normal factor
#: (sigma 0.25: most schools of an LA within -40%..+60% of its rate).
_SCHOOL_EFFECT_SIGMA = 0.25

#: (TypeOfEstablishment code, name, EstablishmentTypeGroup code, name, weight) per phase: roughly the
#: 2025 mix, most secondaries and about half of primaries being academies.
_TYPES: dict[str, tuple[tuple[str, str, str, str, float], ...]] = {
    "Primary": (
        ("01", "Community school", "4", "Local authority maintained schools", 0.33),
        ("02", "Voluntary aided school", "4", "Local authority maintained schools", 0.08),
        ("03", "Voluntary controlled school", "4", "Local authority maintained schools", 0.08),
        ("05", "Foundation school", "4", "Local authority maintained schools", 0.02),
        ("34", "Academy converter", "10", "Academies", 0.36),
        ("28", "Academy sponsor led", "10", "Academies", 0.11),
        ("35", "Free schools", "11", "Free Schools", 0.02),
    ),
    "Secondary": (
        ("01", "Community school", "4", "Local authority maintained schools", 0.08),
        ("02", "Voluntary aided school", "4", "Local authority maintained schools", 0.04),
        ("05", "Foundation school", "4", "Local authority maintained schools", 0.04),
        ("34", "Academy converter", "10", "Academies", 0.55),
        ("28", "Academy sponsor led", "10", "Academies", 0.22),
        ("35", "Free schools", "11", "Free Schools", 0.07),
    ),
    "Special": (
        ("07", "Community special school", "5", "Special schools", 0.40),
        ("12", "Foundation special school", "5", "Special schools", 0.05),
        ("44", "Academy special converter", "10", "Academies", 0.25),
        ("33", "Academy special sponsor led", "10", "Academies", 0.08),
        ("36", "Free schools special", "11", "Free Schools", 0.22),
    ),
}

#: GIAS `PhaseOfEducation` (code, name): special schools are "Not applicable", not a phase of their own.
_GIAS_PHASE = {
    "Primary": ("2", "Primary"), "Secondary": ("4", "Secondary"), "Special": ("0", "Not applicable"),
}

_SAINTS = (
    "St Mary's", "St John's", "St Peter's", "St Paul's", "St Joseph's", "St Michael's", "St Andrew's",
    "St George's", "St Anne's", "St Margaret's", "St Thomas'", "St James'", "St Bernadette's",
    "St Edmund's", "Holy Trinity", "Christ Church", "Holy Family", "Our Lady of Lourdes", "Sacred Heart",
    "All Saints", "St Augustine's", "St Francis'", "St Teresa's", "St Wilfrid's", "St Chad's",
    "St Aidan's", "St Cuthbert's", "St Oswald's", "St Bede's", "St Patrick's", "St Thérèse's",
    "St Bartholomew's", "St Luke's", "St Mark's", "St Matthew's", "St Stephen's", "St Nicholas'",
    "Emmanuel", "St Benedict's", "Notre Dame", "St Winefride's", "St Hilda's",
)
_PLACES = (
    "Oakwood", "Hillside", "Riverside", "Meadowbank", "Elmhurst", "Ashfield", "Brookfield", "Woodlands",
    "Fairfield", "Highfield", "Greenacres", "Millbrook", "Beechwood", "Westfield", "Northgate",
    "Southmead", "Eastbrook", "Kingsway", "Queensbury", "Castle Hill", "Willow Bank", "Holly Grove",
    "Rosewood", "Cedar", "Birchwood", "Hazelwood", "Larkrise", "Moorside", "Heathfield", "Springfield",
    "Lakeside", "Bridgewater", "Manor", "Abbey", "Priory", "Grange", "Hawthorn", "Rowan", "Fernhill",
    "Ladybrook", "Stonebridge", "Windmill", "Orchard", "Thornbury", "Ravenscliffe", "Kingfisher",
    "Sandringham", "Marlborough", "Cavendish", "Brunel", "Tennyson", "Wordsworth", "Brontë", "Beaumont",
    "Foxhill", "Harewood", "Linden", "Mayfield", "Newlands", "Redhill", "Stanley", "Trinity", "Valley",
    "Wellington", "Whitehall", "Hartley", "Langley", "Norbury", "Pelham", "Rushey Mead", "Sefton",
    "Thornhill", "Upton", "Wharton", "Yew Tree", "Greenfield", "Elm Park", "Oak Tree", "Acorn",
)
_PLACE_SUFFIXES = ("", "", "", " Park", " Green", " Hill", " Vale", " Fields", " Lane", " Meadows", " Wood",
                   " Heath", " Bank", " Grove", " View", " Road", " Farm", " Court")

#: Per region: GIAS `GOR (code)`, postcode areas and a rough grid reference of its centre, so that
#: addresses and eastings/northings are plausible for the region without being anyone's real address.
_REGION = {
    "North East": ("A", ("NE", "SR", "DH", "TS", "DL"), (425000, 560000)),
    "North West": ("B", ("M", "L", "PR", "BB", "BL", "OL", "WN", "WA", "CH", "CA", "LA", "FY", "SK"),
                   (360000, 430000)),
    "Yorkshire and The Humber": ("D", ("LS", "BD", "HD", "HX", "WF", "S", "DN", "HU", "YO", "HG"),
                                 (440000, 450000)),
    "East Midlands": ("E", ("NG", "DE", "LE", "LN", "NN", "PE"), (470000, 330000)),
    "West Midlands": ("F", ("B", "CV", "WV", "WS", "DY", "ST", "TF", "SY", "WR", "HR"), (390000, 280000)),
    "East of England": ("G", ("CB", "CM", "CO", "IP", "NR", "SS", "SG", "AL", "LU", "PE"), (570000, 250000)),
    "London": ("H", ("E", "N", "NW", "SE", "SW", "W", "BR", "CR", "DA", "EN", "HA", "IG", "KT", "RM", "SM",
                     "TW", "UB"), (530000, 180000)),
    "South East": ("J", ("BN", "CT", "GU", "ME", "OX", "PO", "RG", "RH", "SL", "SO", "TN", "HP", "MK"),
                   (480000, 150000)),
    "South West": ("K", ("BS", "BA", "EX", "GL", "PL", "SN", "SP", "TA", "TQ", "TR", "BH", "DT"),
                   (300000, 120000)),
}
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass(frozen=True, slots=True)
class SyntheticSchool:
    """A made-up state-funded school, shaped like the GIAS record of a real one.

    `phase` is DfE's statistical phase (Primary, Secondary, Special) and picks the LA profile;
    `phase_of_education` and `type_of_establishment` are spelled as GIAS spells them (a special school's
    phase of education is "Not applicable"). `size` is the expected compulsory-age roll (Years 1-11, the
    DfE statistics' scope); primary schools also have a Reception year group on top of it (`roll_size`).
    `absence_factor` scales its pupils' absence: schools differ beyond their intake, so each draws a
    log-normal factor, normalised within its LA and phase (size-weighted mean 1) so that the LA's rates
    hold however few of its schools are drawn.
    """

    urn: int
    la_code: str
    la_name: str
    new_la_code: str
    region: str
    establishment_number: str
    name: str
    phase: str
    phase_of_education: str
    type_of_establishment: str
    establishment_type_group: str
    religious_character: str
    status: str
    size: int
    statutory_low_age: int
    statutory_high_age: int
    open_date: dt.date | None
    close_date: dt.date | None
    postcode: str
    ukprn: int
    absence_factor: float

    @property
    def laestab(self) -> str:
        """LA number and establishment number, the seven-digit DfE number."""
        return self.la_code + self.establishment_number


def _stochastic_round(x: float, rng: random.Random) -> int:
    """Round so the expectation is x: at scale 0.01 an LA of 60 schools still gets one 60% of the time."""
    whole = math.floor(x)
    return whole + (rng.random() < x - whole)


def _school_name(rng: random.Random, phase: str, type_name: str, religion: str) -> str:
    """A name of the kind schools of that phase, type and religious character have."""
    academy = "Academy" in type_name or "Free" in type_name
    if religion in ("Church of England", "Roman Catholic"):
        stem = rng.choice(_SAINTS)
    elif rng.random() < 0.12:  # community schools named after a saint or a church
        stem = rng.choice(("St George's", "St Andrew's", "St Edmund's", "St Margaret's", "St Nicholas'",
                           "Christ Church", "All Saints"))
    else:
        place = rng.choice(_PLACES)
        stem = place + ("" if " " in place else rng.choice(_PLACE_SUFFIXES))
    if phase == "Primary":
        if religion == "Church of England":
            kind = rng.choice(("C of E Primary School", "Church of England Primary School",
                               "CE Primary Academy" if academy else "CofE Primary School"))
        elif religion == "Roman Catholic":
            kind = "Catholic Primary Academy" if academy and rng.random() < 0.4 else "Catholic Primary School"
        elif academy and rng.random() < 0.5:
            kind = rng.choice(("Primary Academy", "Academy"))
        else:
            kind = rng.choice(("Primary School", "Primary School", "Community Primary School",
                               "Junior and Infant School"))
    elif phase == "Secondary":
        if religion == "Church of England":
            kind = "Church of England Academy" if academy else "C of E High School"
        elif religion == "Roman Catholic":
            kind = rng.choice(("Catholic High School", "Catholic College", "Catholic School"))
        else:
            kind = rng.choice(("Academy", "School", "High School", "Community College") if academy
                              else ("High School", "School", "Community School", "College"))
    else:
        kind = rng.choice(("School", "School", "Special School", "Academy" if academy else "School",
                           "Community Special School" if "Community" in type_name else "School"))
    return f"{stem} {kind}"


def _postcode(rng: random.Random, region: str) -> str:
    areas = _REGION.get(region, _REGION["London"])[1]
    area = rng.choice(areas)
    district = rng.randint(1, 28 if len(area) == 1 else 20)
    inward = f"{rng.randint(1, 9)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
    return f"{area}{district} {inward}"


def _urn_pool(seed: int | str, total: int) -> list[int]:
    """URNs for every school at once, so that each is unique and depends only on (seed, total).

    GIAS URNs are six digits, most from 100000-149999; that range holds over twice the 21,292 schools,
    so larger scales spill over into the rest of the six-digit space.
    """
    span = 50_000 if total <= 40_000 else min(900_000, 2 * total)
    if total > span:
        raise ValueError(f"{total} schools do not fit in six-digit URNs")
    return _rng(seed, "urn").sample(range(100_000, 100_000 + span), total)


def synthetic_schools(
    profiles: Sequence[LaProfile],
    scale: float = 1.0,
    seed: int | str = 0,
    *,
    las: set[str] | None = None,
    closed_fraction: float = 0.0,
) -> list[SyntheticSchool]:
    """Open schools per LA x phase = published count x scale, stochastically rounded.

    Counts, URNs and establishment numbers are allocated for every profile before `las` filters, so a
    school is the same (URN, name, size) whether it is generated alone or with all of England; it depends
    on (seed, scale). `closed_fraction` adds that share of extra schools with status "Closed" (as a GIAS
    extract has), which have no pupils. The result is in LA code, phase order.
    """
    if scale < 0:
        raise ValueError("scale must not be negative")
    ordered = sorted(profiles, key=lambda p: (p.old_la_code, PHASES.index(p.phase)))
    plan: list[tuple[LaProfile, int, int]] = []
    for profile in ordered:
        count_rng = _rng(seed, "count", profile.old_la_code, profile.phase)
        n_open = _stochastic_round(profile.total_num_schools * scale, count_rng)
        n_closed = _stochastic_round(profile.total_num_schools * scale * closed_fraction, count_rng)
        plan.append((profile, n_open, n_closed))
    pool = _urn_pool(seed, sum(n + c for _, n, c in plan))

    group_counts: dict[tuple[str, str], int] = {}
    for profile, n_open, n_closed in plan:
        key = (_ESTAB_GROUP.get(profile.old_la_code, profile.old_la_code), profile.phase)
        group_counts[key] = group_counts.get(key, 0) + n_open + n_closed
    estab_numbers: dict[tuple[str, str], list[int]] = {}
    for key, count in group_counts.items():
        lo, hi = _ESTAB_RANGE[key[1]]
        if count > hi - lo:
            raise ValueError(f"{count} {key[1].lower()} schools do not fit in LA {key[0]}'s number range")
        estab_numbers[key] = _rng(seed, "estab", *key).sample(range(lo, hi), count)

    schools: list[SyntheticSchool] = []
    next_urn = 0
    group_used: dict[tuple[str, str], int] = {}
    for profile, n_open, n_closed in plan:
        key = (_ESTAB_GROUP.get(profile.old_la_code, profile.old_la_code), profile.phase)
        first_estab = group_used.get(key, 0)
        group_used[key] = first_estab + n_open + n_closed
        urns = pool[next_urn: next_urn + n_open + n_closed]
        next_urn += n_open + n_closed
        if las is not None and profile.old_la_code not in las:
            continue
        estabs = estab_numbers[key][first_estab: first_estab + n_open + n_closed]
        schools.extend(_profile_schools(profile, n_open, urns, estabs, seed))
    return schools


def _profile_schools(
    profile: LaProfile, n_open: int, urns: list[int], estabs: list[int], seed: int | str
) -> list[SyntheticSchool]:
    """The schools of one LA x phase, drawn in sequence so that names stay unique within the LA."""
    rng = _rng(seed, "schools", profile.old_la_code, profile.phase)
    phase = profile.phase
    types = _TYPES[phase]
    weights = [t[4] for t in types]
    sigma = _SIZE_SIGMA[phase]
    low, high = _SIZE_BOUNDS[phase]
    names: set[str] = set()
    drafts: list[dict[str, Any]] = []
    effect_rng = _rng(seed, "school-effect", profile.old_la_code, profile.phase)
    effects = [math.exp(_SCHOOL_EFFECT_SIGMA * effect_rng.gauss(0.0, 1.0)) for _ in urns]
    # Every LA has a St Mary's and a Catholic primary; giving two of its first few primaries those names
    # puts an apostrophe and a latin-1 letter in any GIAS extract of an LA, so decoding is exercised.
    st_marys = _rng(seed, "st-marys", profile.old_la_code).randrange(4) if phase == "Primary" else -1
    for index, (urn, estab) in enumerate(zip(urns, estabs, strict=True)):
        _, type_name, _, group_name, _ = rng.choices(types, weights)[0]
        religion = "Does not apply"
        draw = rng.random()
        if type_name == "Voluntary aided school":
            religion = "Roman Catholic" if draw < 0.6 else "Church of England"
        elif type_name == "Voluntary controlled school":
            religion = "Church of England"
        elif phase != "Special" and "Academy" in type_name and draw < 0.3:
            religion = "Church of England" if draw < 0.2 else "Roman Catholic"
        size = profile.mean_enrolment * math.exp(rng.gauss(0.0, sigma) - sigma * sigma / 2)
        size = int(min(max(round(size), low), high))
        if index == st_marys:
            name, type_name, group_name = ("St Mary's C of E Primary School", "Voluntary controlled school",
                                           "Local authority maintained schools")
            religion = "Church of England"
        elif index == st_marys + 1 and st_marys >= 0:
            name, type_name, group_name = ("St Thérèse's Catholic Primary School", "Voluntary aided school",
                                           "Local authority maintained schools")
            religion = "Roman Catholic"
        else:
            name = _school_name(rng, phase, type_name, religion)
            for _ in range(30):
                if name not in names:
                    break
                name = _school_name(rng, phase, type_name, religion)
            else:
                name = f"{rng.choice(('North', 'South', 'East', 'West', 'Upper', 'Lower'))} {name}"
        names.add(name)
        closed = index >= n_open
        academy = "Academy" in type_name or "Free" in type_name
        open_date = None
        if academy:
            open_date = dt.date(rng.randint(2011, 2024), rng.choice((1, 4, 9, 9, 9)), 1)
        close_date = None
        if closed:
            close_date = dt.date(rng.randint(2012, 2025), 8, 31)
            if open_date and open_date >= close_date:
                open_date = dt.date(close_date.year - 3, 9, 1)
        if phase == "Primary":
            ages = (3 if rng.random() < 0.4 else 4, 11)  # with or without a nursery class
        elif phase == "Secondary":
            ages = (11, 18 if rng.random() < 0.55 else 16)  # with or without a sixth form
        else:  # all-age special schools, as their pupils span Years 1 to 11
            ages = rng.choice(((2, 19), (3, 19), (4, 19), (5, 19), (5, 16)))
        drafts.append(
            dict(
                urn=urn,
                la_code=profile.old_la_code,
                la_name=profile.la_name,
                new_la_code=profile.new_la_code,
                region=profile.region,
                establishment_number=f"{estab:04d}",
                name=name,
                phase=phase,
                phase_of_education=_GIAS_PHASE[phase][1],
                type_of_establishment=type_name,
                establishment_type_group=group_name,
                religious_character=religion,
                status="Closed" if closed else "Open",
                size=size,
                statutory_low_age=ages[0],
                statutory_high_age=ages[1],
                open_date=open_date,
                close_date=close_date,
                postcode=_postcode(rng, profile.region),
                ukprn=10_000_000 + (urn * 7919) % 9_000_000,
                absence_factor=effects[index],
            )
        )
    sizes = [d["size"] for d in drafts[:n_open]]
    weighted = sum(size * effect for size, effect in zip(sizes, effects))
    norm = sum(sizes) / weighted if weighted > 0 else 1.0
    return [SyntheticSchool(**{**d, "absence_factor": d["absence_factor"] * norm}) for d in drafts]


# --------------------------------------------------------------------------------------------------
# GIAS establishment CSV
# --------------------------------------------------------------------------------------------------

#: The columns of a GIAS "all establishment data" extract (edubasealldata, layout of 2024-25), in order.
GIAS_COLUMNS: tuple[str, ...] = (
    "URN", "LA (code)", "LA (name)", "EstablishmentNumber", "EstablishmentName",
    "TypeOfEstablishment (code)", "TypeOfEstablishment (name)", "EstablishmentTypeGroup (code)",
    "EstablishmentTypeGroup (name)", "EstablishmentStatus (code)", "EstablishmentStatus (name)",
    "ReasonEstablishmentOpened (code)", "ReasonEstablishmentOpened (name)", "OpenDate",
    "ReasonEstablishmentClosed (code)", "ReasonEstablishmentClosed (name)", "CloseDate",
    "PhaseOfEducation (code)", "PhaseOfEducation (name)", "StatutoryLowAge", "StatutoryHighAge",
    "Boarders (code)", "Boarders (name)", "NurseryProvision (name)", "OfficialSixthForm (code)",
    "OfficialSixthForm (name)", "Gender (code)", "Gender (name)", "ReligiousCharacter (code)",
    "ReligiousCharacter (name)", "ReligiousEthos (name)", "Diocese (code)", "Diocese (name)",
    "AdmissionsPolicy (code)", "AdmissionsPolicy (name)", "SchoolCapacity", "SpecialClasses (code)",
    "SpecialClasses (name)", "CensusDate", "NumberOfPupils", "NumberOfBoys", "NumberOfGirls",
    "PercentageFSM", "TrustSchoolFlag (code)", "TrustSchoolFlag (name)", "Trusts (code)", "Trusts (name)",
    "SchoolSponsorFlag (name)", "SchoolSponsors (name)", "FederationFlag (name)", "Federations (code)",
    "Federations (name)", "UKPRN", "FEHEIdentifier", "FurtherEducationType (name)", "OfstedLastInsp",
    "OfstedSpecialMeasures (code)", "OfstedSpecialMeasures (name)", "LastChangedDate", "Street",
    "Locality", "Address3", "Town", "County (name)", "Postcode", "SchoolWebsite", "TelephoneNum",
    "HeadTitle (name)", "HeadFirstName", "HeadLastName", "HeadPreferredJobTitle",
    "BSOInspectorateName (name)", "InspectorateReport", "DateOfLastInspectionVisit",
    "NextInspectionVisit", "TeenMoth (name)", "TeenMothPlaces", "CCF (name)", "SENPRU (name)",
    "EBD (name)", "PlacesPRU", "FTProv (name)", "EdByOther (name)", "Section41Approved (name)",
    "SEN1 (name)", "SEN2 (name)", "SEN3 (name)", "SEN4 (name)", "SEN5 (name)", "SEN6 (name)",
    "SEN7 (name)", "SEN8 (name)", "SEN9 (name)", "SEN10 (name)", "SEN11 (name)", "SEN12 (name)",
    "SEN13 (name)", "TypeOfResourcedProvision (name)", "ResourcedProvisionOnRoll",
    "ResourcedProvisionCapacity", "SenUnitOnRoll", "SenUnitCapacity", "GOR (code)", "GOR (name)",
    "DistrictAdministrative (code)", "DistrictAdministrative (name)", "AdministrativeWard (code)",
    "AdministrativeWard (name)", "ParliamentaryConstituency (code)", "ParliamentaryConstituency (name)",
    "UrbanRural (code)", "UrbanRural (name)", "GSSLACode (name)", "Easting", "Northing", "MSOA (name)",
    "LSOA (name)", "InspectorateName (name)", "SENStat", "SENNoStat", "BoardingEstablishment (name)",
    "PropsName", "PreviousLA (code)", "PreviousLA (name)", "PreviousEstablishmentNumber",
    "OfstedRating (name)", "Country (name)", "UPRN", "SiteName", "QABName (code)", "QABName (name)",
    "EstablishmentAccredited (code)", "EstablishmentAccredited (name)", "QABReport", "CHNumber",
    "MSOA (code)", "LSOA (code)", "FSM", "AccreditationExpiryDate",
)

#: Columns GIAS writes as bare numbers; every other field is quoted, as in a real extract.
_GIAS_NUMERIC = frozenset(
    {"URN", "StatutoryLowAge", "StatutoryHighAge", "SchoolCapacity", "UKPRN", "Easting", "Northing",
     "SENStat", "SENNoStat"}
)

_RELIGION_CODES = {"Does not apply": "00", "Church of England": "02", "Roman Catholic": "03"}
_URBAN_RURAL = (
    ("A1", "(England/Wales) Urban major conurbation"), ("C1", "(England/Wales) Urban city and town"),
    ("C1", "(England/Wales) Urban city and town"), ("D1", "(England/Wales) Rural town and fringe"),
    ("E1", "(England/Wales) Rural village"),
)
_SEN_TYPES = ("ASD - Autistic Spectrum Disorder", "SLD - Severe Learning Difficulty",
              "MLD - Moderate Learning Difficulty", "SEMH - Social, Emotional and Mental Health",
              "PMLD - Profound and Multiple Learning Difficulty", "SLCN - Speech, language and Communication")


def _gias_date(day: dt.date | None) -> str:
    return "" if day is None else day.strftime("%d-%m-%Y")


def _gias_row(school: SyntheticSchool) -> dict[str, str | int]:
    """One school's GIAS record; columns the gateway does not read are plausible or empty."""
    rng = _rng("gias", school.urn)
    type_code, _, group_code, _, _ = next(
        t for types in _TYPES.values() for t in types if t[1] == school.type_of_establishment)
    phase_code, phase_name = _GIAS_PHASE[school.phase]
    gor_code, _, (easting, northing) = _REGION.get(school.region, _REGION["London"])
    closed = school.status == "Closed"
    academy = school.establishment_type_group in ("Academies", "Free Schools")
    pupils = 0 if closed else roll_size(school, 2024)
    boys = round(pupils * (0.7 if school.phase == "Special" else 0.51))
    religion = school.religious_character
    head_title = rng.choice(("Mrs", "Mr", "Ms", "Miss", "Dr"))
    sixth_form = school.statutory_high_age > 16
    diocese = ""
    if religion != "Does not apply":
        diocese = f"{'CE' if 'England' in religion else 'RC'}{rng.randint(10, 99)}"
    urban_rural = rng.choice(_URBAN_RURAL)
    row: dict[str, str | int] = {
        "URN": school.urn,
        "LA (code)": school.la_code,
        "LA (name)": school.la_name,
        "EstablishmentNumber": school.establishment_number,
        "EstablishmentName": school.name,
        "TypeOfEstablishment (code)": type_code,
        "TypeOfEstablishment (name)": school.type_of_establishment,
        "EstablishmentTypeGroup (code)": group_code,
        "EstablishmentTypeGroup (name)": school.establishment_type_group,
        "EstablishmentStatus (code)": "2" if closed else "1",
        "EstablishmentStatus (name)": school.status,
        "ReasonEstablishmentOpened (code)": "10" if academy else "00",
        "ReasonEstablishmentOpened (name)": "Academy Converter" if academy else "Not applicable",
        "OpenDate": _gias_date(school.open_date),
        "ReasonEstablishmentClosed (code)": "10" if closed else "00",
        "ReasonEstablishmentClosed (name)": "Academy Converter" if closed else "Not applicable",
        "CloseDate": _gias_date(school.close_date),
        "PhaseOfEducation (code)": phase_code,
        "PhaseOfEducation (name)": phase_name,
        "StatutoryLowAge": school.statutory_low_age,
        "StatutoryHighAge": school.statutory_high_age,
        "Boarders (code)": "1",
        "Boarders (name)": "No boarders",
        "NurseryProvision (name)": "Has Nursery Classes" if school.statutory_low_age <= 3
        else "No Nursery Classes",
        "OfficialSixthForm (code)": "1" if sixth_form else "2",
        "OfficialSixthForm (name)": "Has a sixth form" if sixth_form else "Does not have a sixth form",
        "Gender (code)": "3",
        "Gender (name)": "Mixed",
        "ReligiousCharacter (code)": _RELIGION_CODES[religion],
        "ReligiousCharacter (name)": religion,
        "ReligiousEthos (name)": religion if religion != "Does not apply" else "Does not apply",
        "Diocese (code)": diocese or "0000",
        "Diocese (name)": "Not applicable" if religion == "Does not apply" else "Diocese of Synthshire",
        "AdmissionsPolicy (code)": "2" if school.phase == "Secondary" else "0",
        "AdmissionsPolicy (name)": "Non-selective" if school.phase == "Secondary" else "Not applicable",
        "SchoolCapacity": max(pupils, round(pupils * rng.uniform(1.0, 1.2))) if pupils else "",
        "SpecialClasses (code)": "1" if school.phase == "Special" else "2",
        "SpecialClasses (name)": "Has Special Classes" if school.phase == "Special" else "No Special Classes",
        "CensusDate": "" if closed else "16-01-2025",
        "NumberOfPupils": "" if closed else str(pupils),
        "NumberOfBoys": "" if closed else str(boys),
        "NumberOfGirls": "" if closed else str(pupils - boys),
        "PercentageFSM": "" if closed else f"{rng.uniform(8, 40):.1f}",
        "TrustSchoolFlag (code)": "5" if academy else "0",
        "TrustSchoolFlag (name)": "Supported by a multi-academy trust" if academy else "Not applicable",
        "Trusts (code)": str(rng.randint(1000, 19999)) if academy else "",
        "Trusts (name)": f"{rng.choice(_PLACES)} Learning Trust" if academy else "",
        "SchoolSponsorFlag (name)": "Linked to a sponsor" if "sponsor" in school.type_of_establishment
        else "Not applicable",
        "SchoolSponsors (name)": "",
        "FederationFlag (name)": "Not under a federation",
        "UKPRN": school.ukprn,
        "FurtherEducationType (name)": "Not applicable",
        "OfstedSpecialMeasures (code)": "0",
        "OfstedSpecialMeasures (name)": "Not applicable",
        "LastChangedDate": _gias_date(dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 300))),
        "Street": f"{rng.choice(_PLACES)} {rng.choice(('Road', 'Lane', 'Street', 'Avenue', 'Way'))}",
        "Town": school.la_name.split(",")[0],
        "Postcode": school.postcode,
        "TelephoneNum": f"01632{rng.randint(960000, 960999)}",  # Ofcom's range reserved for fiction
        "HeadTitle (name)": head_title,
        "HeadFirstName": rng.choice(_LATIN1_FORENAMES),
        "HeadLastName": rng.choice(_LATIN1_SURNAMES),
        "HeadPreferredJobTitle": "Headteacher",
        "BSOInspectorateName (name)": "Not applicable",
        "TeenMoth (name)": "Not applicable",
        "CCF (name)": "Not applicable",
        "SENPRU (name)": "Not applicable",
        "EBD (name)": "Not applicable",
        "FTProv (name)": "Not applicable",
        "EdByOther (name)": "Not applicable",
        "Section41Approved (name)": "Not applicable",
        "SEN1 (name)": rng.choice(_SEN_TYPES) if school.phase == "Special" else "",
        "TypeOfResourcedProvision (name)": "Not applicable",
        "GOR (code)": gor_code,
        "GOR (name)": school.region,
        "DistrictAdministrative (code)": school.new_la_code,
        "DistrictAdministrative (name)": school.la_name,
        "UrbanRural (code)": urban_rural[0],
        "UrbanRural (name)": urban_rural[1],
        "GSSLACode (name)": school.new_la_code,
        "Easting": easting + rng.randint(-30000, 30000),
        "Northing": northing + rng.randint(-30000, 30000),
        "InspectorateName (name)": "Not applicable",
        "SENStat": "",
        "SENNoStat": "",
        "BoardingEstablishment (name)": "Not applicable",
        "PreviousLA (code)": "999",
        "PreviousLA (name)": "Not applicable",
        "OfstedRating (name)": rng.choice(("Good", "Good", "Good", "Outstanding", "Requires improvement",
                                           "")),
        "Country (name)": "",
        "UPRN": str(rng.randint(10_000_000, 99_999_999_999)),
        "QABName (code)": "0",
        "QABName (name)": "Not applicable",
        "EstablishmentAccredited (code)": "0",
        "EstablishmentAccredited (name)": "Not applicable",
    }
    return {column: row.get(column, "") for column in GIAS_COLUMNS}


def write_gias_csv(schools: Iterable[SyntheticSchool], path: str | Path) -> None:
    """Write a GIAS establishment extract of the schools for `gateway schools import`.

    As GIAS publishes it: latin-1, CRLF, the real column names in the real order, text fields quoted and
    the numeric ones (URN, ages, capacity, UKPRN, grid references) bare, dates as dd-mm-yyyy. A name
    that latin-1 cannot hold raises UnicodeEncodeError rather than being silently mangled.
    """
    with open(path, "w", encoding="latin-1", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        writer.writerow(GIAS_COLUMNS)
        for school in schools:
            row = _gias_row(school)
            writer.writerow(
                [value if column in _GIAS_NUMERIC and isinstance(value, int) else str(value)
                 for column, value in row.items()]
            )


# --------------------------------------------------------------------------------------------------
# Pupils
# --------------------------------------------------------------------------------------------------

#: Names as they appear on English rolls: common ones, names from the communities that live here, and
#: the awkward cases a gateway must carry intact (apostrophes, hyphens, spaces, lower-case particles,
#: accents, letters outside latin-1 such as Ł, ş and ễ; the feed is UTF-8). Uniform draws, not frequencies.
_FORENAMES = (
    "Oliver", "Amelia", "Muhammad", "Olivia", "George", "Isla", "Noah", "Ava", "Arthur", "Mia", "Leo", "Ivy",
    "Harry", "Freya", "Oscar", "Lily", "Archie", "Florence", "Henry", "Willow", "Theodore", "Isabella",
    "Jack", "Sophia", "Charlie", "Elsie", "Freddie", "Grace", "Alfie", "Evie", "Thomas", "Poppy", "Jacob",
    "Ella", "Jude", "Aria", "Ethan", "Emily", "Luca", "Chloé", "Zoë", "Siân", "Seán", "Oisín", "Aoife",
    "Niamh", "Renée", "José", "Zainab", "Fatima", "Aisha", "Maryam", "Yusuf", "Ibrahim", "Omar", "Ali",
    "Hassan", "Ayaan", "Aarav", "Arjun", "Priya", "Ananya", "Riya", "Kiran", "Harpreet", "Gurpreet",
    "Jaspreet", "Simran", "Kwame", "Kofi", "Ama", "Chidi", "Chioma", "Adebayo", "Oluwaseun", "Tolu", "Nia",
    "Amara", "Malachi", "Tyrese", "Jayden", "Kai", "Mei", "Wei", "Hana", "Yuki", "Minh", "Linh",
    "Łukasz", "Zofia", "Wiktoria", "Jakub", "Szymon", "Maja", "Kacper", "Natalia", "Ioana", "Andrei",
    "Mihai", "Elena", "Darius", "Giorgos", "Sofía", "Mateo", "Lucía", "Anaïs", "Noé", "Inès", "Léa",
    "Mary-Jane", "Anne-Marie", "Lily-Mae", "Ellie-May", "Tia-Rose", "D'Arcy", "Jean-Luc", "Ffion", "Dafydd",
    "Rhys", "Cerys", "Callum", "Eilidh", "Ruaridh", "Mohammed", "Abdullah", "Sara", "Leah", "Ruby", "Daisy",
    "Sienna", "Harper", "Evelyn", "Matilda", "Rosie", "Max", "Finley", "Reuben", "Samuel", "Joshua", "Daniel",
    "Benjamin", "Isaac", "Elijah", "Hugo", "Sebastian", "Albie", "Louie", "Teddy", "Bobby", "Frankie",
    "Esmé", "Maëlle", "Björn", "Søren", "Ngozi", "Temitope", "Ayşe", "Emre", "Mehmet", "Zeynep",
)
_SURNAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
    "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
    "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward",
    "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "James", "Scott",
    "Phillips", "Watson", "Davis", "Parker", "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly",
    "Cook", "Carter", "Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Miller", "Cox",
    "Richards", "Khan", "Marshall", "Anderson", "Simpson", "Ellis", "Adams", "Singh", "Begum", "Wilkinson",
    "Foster", "Chapman", "Powell", "Webb", "Rogers", "Gray", "Mason", "Ali", "Hunt", "Hussain", "Campbell",
    "Matthews", "Owen", "Palmer", "Holmes", "Mills", "Barnes", "Knight", "Lloyd", "Butler", "Russell",
    "Barker", "Fisher", "Stevens", "Jenkins", "Murray", "Dixon", "Harvey", "Ahmed", "Akhtar", "Rahman",
    "Islam", "Uddin", "Miah", "Choudhury", "Kaur", "Sharma", "Gupta", "Shah", "Mistry", "Chauhan", "Okafor",
    "Adeyemi", "Mensah", "Osei", "Nwosu", "Abdi", "Mohamed", "Hassan", "Yılmaz", "Kaya", "Nowak",
    "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Popescu", "Ionescu", "Nguyễn", "Tran", "Chen", "Wang",
    "Li", "Zhang", "O'Brien", "O'Connor", "O'Neill", "O'Sullivan", "McCarthy", "MacDonald", "McKenzie",
    "D'Souza", "D'Almeida", "De'Ath", "Smith-Jones", "Ashworth-Clarke", "Baker-Hughes", "Müller",
    "García", "Núñez", "Gonçalves", "Da Silva", "van der Berg", "Le Roux", "Ó Briain", "Ní Bhriain",
    "Fernández", "Pérez", "Öztürk", "Çelik", "Sørensen", "Ngô", "Boateng", "Mensah-Bonsu", "Lewis-Evans",
)


def _latin1(names: tuple[str, ...]) -> tuple[str, ...]:
    """The names a latin-1 GIAS extract can carry (pupil names may be any Unicode; GIAS is latin-1)."""
    out = []
    for name in names:
        try:
            name.encode("latin-1")
        except UnicodeEncodeError:
            continue
        out.append(name)
    return tuple(out)


_LATIN1_FORENAMES = _latin1(_FORENAMES)
_LATIN1_SURNAMES = _latin1(_SURNAMES)

#: Absence relative to pupils without the characteristic: FSM-eligible pupils miss about twice as much,
#: pupils with SEN support or an EHC plan 1.7 and 2.3 times (autumn 2024/25, DOMAIN.md section 5). The
#: ratios are shrunk (1.7, 1.5, 1.9) because they are combined multiplicatively and FSM and SEN overlap.
_FSM_ABSENCE_RATIO = 1.7
_SEN_ABSENCE_RATIO = {"N": 1.0, "K": 1.5, "E": 1.9}
#: SEN status shares (assumption): mainstream about 13% SEN support and 3% EHC plan; special schools
#: almost all EHC plans.
_SEN_SHARES = {
    "Primary": (("N", 0.84), ("K", 0.13), ("E", 0.03)),
    "Secondary": (("N", 0.84), ("K", 0.13), ("E", 0.03)),
    "Special": (("N", 0.02), ("K", 0.05), ("E", 0.93)),
}
#: No pupil's propensity exceeds 95%: even the most absent child is sometimes marked present, as on
#: real registers (a child who never attends is taken off roll, not marked absent forever).
_P_CAP = 0.95

#: How each code's sessions arise (assumption): the share that comes as whole days (both sessions) and,
#: for the rest, the share falling in the morning. Illness is mostly whole days, appointments half days,
#: late after registers closed (U) and late (L) are mornings, a reduced timetable (C2) afternoons.
_SHAPE: dict[str, tuple[float, float]] = {
    "I": (0.9, 0.5), "M": (0.15, 0.5), "R": (1.0, 0.5), "S": (1.0, 0.5), "T": (1.0, 0.5), "E": (1.0, 0.5),
    "C": (0.8, 0.5), "C1": (1.0, 0.5), "J1": (0.5, 0.5), "C2": (0.0, 0.1), "G": (1.0, 0.5),
    "U": (0.0, 0.9), "O": (0.75, 0.5), "N": (0.8, 0.5), "L": (0.0, 0.85), "B": (0.6, 0.5),
    "P": (0.2, 0.5), "V": (0.8, 0.5), "W": (1.0, 0.5), "K": (0.8, 0.5),
}

#: Codes carried by a few pupils rather than spread over all (assumption): a temporary part-time
#: timetable, suspension, a mobile (Traveller) family, education arranged by the LA. The share of pupils
#: carrying each, by phase; the code's whole published share is concentrated on them.
_CARRIERS: dict[str, dict[str, float]] = {
    "C2": {"Primary": 0.01, "Secondary": 0.02, "Special": 0.08},
    "E": {"Primary": 0.004, "Secondary": 0.03, "Special": 0.02},
    "T": {"Primary": 0.002, "Secondary": 0.001, "Special": 0.002},
    "K": {"Primary": 0.002, "Secondary": 0.006, "Special": 0.01},
}

#: Unauthorised holidays (G) come as blocks of 2-5 school days at the start or end of a week.
_G_BLOCK_DAYS = (2, 3, 4, 5)
_G_BLOCK_SESSIONS_MEAN = 2 * sum(_G_BLOCK_DAYS) / len(_G_BLOCK_DAYS)
_G_BLOCK_SESSIONS_SQ_MEAN = sum((2 * d) ** 2 for d in _G_BLOCK_DAYS) / len(_G_BLOCK_DAYS)

#: How a pupil's unauthorised share of absence varies (assumption): it rises with the pupil's absence
#: relative to the mean (to this power: persistent absentees' absence is more often unauthorised) and
#: has individual log-normal noise of this sigma; each school's absence-weighted share is then rescaled
#: to the LA's published one.
_UNAUTH_TILT = 0.35
_UNAUTH_NOISE = 0.5

#: Dual registration (D on one weekday, e.g. alternative provision) and part-time Reception (X in the
#: afternoon in the autumn term): rare, not possible sessions, there to exercise that class.
_DUAL_SHARE = 0.003
_PART_TIME_RECEPTION_SHARE = 0.04

#: The window the persistent-absence share is calibrated over: the autumn term (73 days), the term a demo
#: feeds. Over a whole year the same pupils come out a few points lower, as in DfE's own figures.
DEFAULT_PA_WINDOW_SESSIONS = 146

#: First registers: how the MIS sends a day before reasons are known (assumption, consistent with DfE's
#: note that a day's absence falls by about a point as registers are corrected). Absences of these codes
#: are sent as N first, then corrected within 1-5 school days; and 2% of present pupils are first sent
#: as N in the morning (arrived after the first extract) and corrected within 1-2 days.
_PENDING_SHARE = {"I": 0.35, "O": 0.5, "G": 0.5, "M": 0.2}
_PRESENT_PENDING = 0.02

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


@functools.lru_cache(maxsize=None)
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


@dataclass(frozen=True, slots=True)
class _Table:
    """Outcomes of one kind of event with cumulative weights in [0, 1]."""

    cum: tuple[float, ...]
    out: tuple[tuple[str, str], ...]

    def pick(self, frac: float) -> tuple[tuple[str, str], float]:
        """The outcome at a uniform position, and the position within it (a fresh uniform)."""
        j = bisect.bisect_right(self.cum, frac)
        if j >= len(self.out):
            j = len(self.out) - 1
        lo = self.cum[j - 1] if j else 0.0
        width = self.cum[j] - lo
        return self.out[j], ((frac - lo) / width if width > 0 else 0.0)


def _table(entries: list[tuple[float, str, str]]) -> _Table:
    """A table from (weight, AM mark, PM mark) entries; an empty one (no such sessions published) still
    gives a valid outcome, though no band leads to it."""
    entries = [e for e in entries if e[0] > 0]
    if not entries:
        return _Table((1.0,), (("O", "O"),))
    total = sum(e[0] for e in entries)
    cum: list[float] = []
    acc = 0.0
    for weight, _, _ in entries:
        acc += weight / total
        cum.append(acc)
    cum[-1] = 1.0
    return _Table(tuple(cum), tuple((am, pm) for _, am, pm in entries))


def _code_entries(shares: dict[str, float], codes: Iterable[str], part: str) -> list[tuple[float, str, str]]:
    """Table entries of whole-day ("whole") or single-session ("single") events of the given codes."""
    out: list[tuple[float, str, str]] = []
    for code in codes:
        share = shares.get(code, 0.0)
        whole, am = _SHAPE[code]
        if part == "whole":
            out.append((whole * share, code, code))
        else:
            out.append((2 * (1 - whole) * share * am, code, "\\"))
            out.append((2 * (1 - whole) * share * (1 - am), "/", code))
    return out


@dataclass(frozen=True, slots=True)
class _Tables:
    whole_auth: _Table
    whole_unauth: _Table
    single_auth: _Table
    single_unauth: _Table
    present: _Table


@dataclass(frozen=True, slots=True)
class _Model:
    """What a profile implies for drawing pupils: derived once per profile and window, then cached."""

    m_all: float  # overall absence rate
    m_gen: float  # absence not carried by the carrier codes
    concentration: float  # Beta concentration k of the ordinary pupils' propensity (diagnostics)
    beta_cdf: tuple[float, ...]  # its cumulative mass per grid cell, for inverse-transform sampling
    severe: float  # share of pupils in severe absence (before the FSM/SEN/school multiplier)
    omega: float  # unauthorised share of general absence, G included
    g_frac: float  # G's share of unauthorised
    phi_auth: float  # whole-day share of authorised, of unauthorised (non-G) sessions
    phi_unauth: float
    present_events: float  # daily probability of a late or approved-activity event
    fsm_norm: float
    sen_norm: float
    # (code, share of pupils carrying it, daily probability, the marks of such a day)
    carriers: tuple[tuple[str, float, float, tuple[str, str]], ...]
    tables: tuple[_Tables, _Tables]  # ordinary; Years 10-11 (who alone take study leave)


_AUTH_GENERAL = ("I", "M", "R", "S", "C", "C1", "J1")
_UNAUTH_GENERAL = ("U", "O", "N")
_PRESENT_EVENTS = ("L", "B", "P", "V", "W")

#: Share of pupils in severe absence (half their sessions or more) by phase at England's absence rate
#: (assumption: DfE's daily data does not publish it; these give 2.3% overall, the 2023/24 census
#: figure in DOMAIN.md section 5), scaled by the LA's absence relative to England's to the power 1.5.
#: A Beta fitted to the persistent-absence share alone has too thin a tail to produce them.
_SEVERE_SHARE = {"Primary": 0.009, "Secondary": 0.038, "Special": 0.06}
_SEVERE_LOW, _SEVERE_SPAN = 0.5, 0.35  # their propensity is uniform on 50%-85%


def _check_classes() -> None:
    """The code groups above must agree with schemas.codes (the gateway's single source of truth) and
    the fast UPN check letter with stdnum's."""
    expected = {
        **dict.fromkeys(_AUTH_GENERAL + ("T", "E", "C2"), StatClass.AUTHORISED),
        **dict.fromkeys(_UNAUTH_GENERAL + ("G",), StatClass.UNAUTHORISED),
        **dict.fromkeys(("B", "P", "V", "W", "K"), StatClass.AEA),
        **dict.fromkeys(("/", "\\", "L"), StatClass.PRESENT),
    }
    wrong = [c for c, k in expected.items() if CURRENT_CODES.get(c) is not k]
    if wrong or not set(_COLUMN_CODES.values()) <= set(CURRENT_CODES):
        raise RuntimeError(f"synthetic code groups disagree with schemas.codes: {wrong}")
    for body in ("801200005001", "942754026999", "209123415000"):
        if _check_letter(_digit_weight(body[:9]), int(body[9:])) != stdnum_upn.calc_check_digit(body):
            raise RuntimeError("fast UPN check letter disagrees with stdnum")


#: The check-letter alphabet of the UPN standard (I, O and S never used). A body is all digits, whose
#: alphabet positions are 23 + digit, so modulo 23 the check is the weighted sum of the digits alone:
#: computing it incrementally is ~20x faster than stdnum's per-character search, and `_check_classes`
#: verifies it against `stdnum.gb.upn.calc_check_digit` at import.
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def _digit_weight(prefix: str) -> int:
    """Weighted digit sum of the first nine body digits (weights 2 to 10)."""
    return sum(w * int(d) for w, d in zip(range(2, 11), prefix, strict=True))


def _check_letter(prefix_weight: int, serial: int) -> str:
    """Check letter of a body whose first nine digits weigh `prefix_weight` and end in `serial`."""
    hundreds, tens, units = serial // 100, serial // 10 % 10, serial % 10
    return _UPN_LETTERS[(prefix_weight + 11 * hundreds + 12 * tens + 13 * units) % 23]


_check_classes()


def _p_at_least(p: float, threshold: float, n: int, phi: float, g: float) -> float:
    """P(sessions absent >= threshold of n | propensity p), normal approximation with the clustering
    of whole days and holiday blocks in the variance (they make high totals more likely)."""
    if threshold <= 0:
        return 1.0
    pg = p * g
    pn = p - pg
    var_session = pn * (1 + phi) - 2 * pn * pn
    var_session += pg * _G_BLOCK_SESSIONS_SQ_MEAN / _G_BLOCK_SESSIONS_MEAN - 10 * pg * pg
    var = max(var_session, 1e-12) * n
    z = (threshold - 0.5 - n * p) / math.sqrt(2 * var)
    return 0.5 * math.erfc(z)


#: Grid on which propensity distributions are integrated and sampled: quadratic spacing puts cells
#: where absence rates live (a cell is 0.0004 wide at 5%, 0.008 at 100%).
_CELLS = 240
_EDGES = tuple((j / _CELLS) ** 2 for j in range(_CELLS + 1))
_MIDS = tuple(((j + 0.5) / _CELLS) ** 2 for j in range(_CELLS))
_LOG_MID = tuple(math.log(b) for b in _MIDS)
_LOG_WIDTH = tuple(math.log(_EDGES[j + 1] - _EDGES[j]) for j in range(_CELLS))
_LOG1M = tuple(math.log1p(-b) for b in _MIDS)


def _beta_cells(mean: float, k: float) -> list[float]:
    """Mass of Beta(mean k, (1 - mean) k) in each grid cell, normalised.

    When a < 1 the density's b^(a-1) singularity is integrated exactly per cell; otherwise the midpoint
    rule is applied in logs, since powers of the small edges would underflow.
    """
    a1, b1 = mean * k - 1, (1 - mean) * k - 1
    if a1 < 0:
        a = a1 + 1
        powers = [e ** a for e in _EDGES]
        logs = [math.log(hi - lo) + b1 * l1 if hi > lo else -math.inf
                for lo, hi, l1 in zip(powers, powers[1:], _LOG1M)]
    else:
        logs = [a1 * lm + b1 * l1 + lw for lm, l1, lw in zip(_LOG_MID, _LOG1M, _LOG_WIDTH, strict=True)]
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total = sum(weights)
    return [w / total for w in weights]


def _scaled(values: Sequence[float], r: float) -> list[float]:
    """A function tabulated at the grid midpoints, evaluated at r times each midpoint (capped).

    The grid is quadratic, so r x b_j sits at fractional index (j + 0.5) sqrt(r) - 0.5: linear
    interpolation there is far cheaper than evaluating the function again for every multiplier.
    """
    root = math.sqrt(r)
    top = math.sqrt(_P_CAP) * _CELLS - 0.5
    last = len(values) - 1
    out: list[float] = []
    for j in range(len(values)):
        x = min((j + 0.5) * root - 0.5, top)
        if x <= 0:
            out.append(values[0])
            continue
        i = min(int(x), last - 1)
        t = x - i
        out.append(values[i] * (1 - t) + values[i + 1] * t)
    return out


def _calibrate(mean: float, pa: float, cond: Sequence[float]) -> tuple[float, bool]:
    """The Beta concentration k whose propensity spread makes the PA share equal pa.

    `cond[j]` is the probability that a pupil whose Beta draw falls in grid cell j ends up persistently
    absent (over the groups: FSM x SEN x school effect, the carrier codes, severe absence). With the
    mean fixed, the PA share for a k is the Beta's cell masses dotted with it. Scanning from
    concentrated to dispersed, the first k that reaches the target is refined by bisection: the least
    dispersion that explains the published share. Returns it and whether the target was reached; if
    not, the k that comes closest.
    """

    def share(log_k: float) -> float:
        return sum(map(operator.mul, _beta_cells(mean, math.exp(log_k)), cond))

    log_ks = [x * 0.75 for x in range(int(math.log(5000) / 0.75), int(math.log(0.05) / 0.75) - 1, -1)]
    values = [share(x) for x in log_ks]
    for i in range(1, len(log_ks)):
        if (values[i - 1] - pa) * (values[i] - pa) <= 0:
            lo, hi, v_lo = log_ks[i], log_ks[i - 1], values[i]
            for _ in range(14):
                mid = (lo + hi) / 2
                v_mid = share(mid)
                if (v_mid - pa) * (v_lo - pa) <= 0:
                    hi = mid
                else:
                    lo, v_lo = mid, v_mid
            return math.exp((lo + hi) / 2), True
    return math.exp(log_ks[min(range(len(log_ks)), key=lambda i: abs(values[i] - pa))]), False


@functools.lru_cache(maxsize=None)
def _model(profile: LaProfile, window: int) -> _Model:
    """Derive per-pupil drawing parameters from a published profile (cached: about 20 ms each)."""
    shares = profile.code_shares
    phase = profile.phase
    m_all = sum(shares.get(c, 0.0) for c, k in CURRENT_CODES.items()
                if k in (StatClass.AUTHORISED, StatClass.UNAUTHORISED))
    auth = sum(shares.get(c, 0.0) for c in _AUTH_GENERAL)
    unauth_other = sum(shares.get(c, 0.0) for c in _UNAUTH_GENERAL)
    g_share = shares.get("G", 0.0)
    m_gen = max(auth + unauth_other + g_share, 1e-4)
    omega = (unauth_other + g_share) / m_gen
    g_frac = g_share / (unauth_other + g_share) if unauth_other + g_share > 0 else 0.0
    phi_auth = sum(_SHAPE[c][0] * shares.get(c, 0.0) for c in _AUTH_GENERAL) / auth if auth else 1.0
    phi_unauth = (sum(_SHAPE[c][0] * shares.get(c, 0.0) for c in _UNAUTH_GENERAL) / unauth_other
                  if unauth_other else 1.0)
    present_events = sum((2 - _SHAPE[c][0]) * shares.get(c, 0.0) for c in _PRESENT_EVENTS)

    carriers: list[tuple[str, float, float, tuple[str, str]]] = []
    for code, by_phase in _CARRIERS.items():
        frac = by_phase[phase]
        share = shares.get(code, 0.0)
        if share <= 0:
            continue
        if code == "C2":
            carriers.append((code, frac, min(0.95, 2 * share / frac), ("/", "C2")))
        else:
            carriers.append((code, frac, min(0.95, share / frac), (code, code)))
    carrier_total = sum(c[1] for c in carriers)

    fsm = profile.fsm_rate
    fsm_norm = fsm * _FSM_ABSENCE_RATIO + (1 - fsm)
    sen_norm = sum(s * _SEN_ABSENCE_RATIO[c] for c, s in _SEN_SHARES[phase])
    school_points = ((-math.sqrt(3), 1 / 6), (0.0, 2 / 3), (math.sqrt(3), 1 / 6))
    multipliers: list[tuple[float, float]] = []
    for is_fsm, w_fsm in ((True, fsm), (False, 1 - fsm)):
        for sen, w_sen in _SEN_SHARES[phase]:
            for z, w_z in school_points:
                r = ((_FSM_ABSENCE_RATIO if is_fsm else 1.0) / fsm_norm * _SEN_ABSENCE_RATIO[sen] / sen_norm
                     * math.exp(_SCHOOL_EFFECT_SIGMA * z - _SCHOOL_EFFECT_SIGMA ** 2 / 2))
                multipliers.append((w_fsm * w_sen * w_z, r))

    # Severe absence: a pupil is severe with probability severe x r, so FSM and SEN pupils more often.
    # The ordinary pupils' mean is lowered to keep the profile's mean, never below half of it. Severe
    # pupils take absence away from the others, which lowers the most persistent absence the rest can
    # show at that mean; where the published share is then out of reach (low-absence LAs with high
    # persistent absence), the severe share gives way, since persistent absence is the published target.
    severe_mean = _SEVERE_LOW + _SEVERE_SPAN / 2
    severe = _SEVERE_SHARE[phase] * profile.relative_absence ** 1.5
    severe = min(severe, 0.5 * m_gen / (severe_mean - 0.5 * m_gen), 0.2)
    second_moment = sum(w * r * r for w, r in multipliers)
    phi = (phi_auth * auth + phi_unauth * unauth_other) / max(auth + unauth_other, 1e-12)
    threshold = math.ceil(0.1 * window - 1e-9)

    def cond_vector(extra: float) -> list[float]:
        return [_p_at_least(b, threshold - extra * window, window, phi, omega * g_frac) for b in _MIDS]

    base = cond_vector(0.0)
    ordinary = [_scaled(base, r) for _, r in multipliers]
    carried = [(frac, cond_vector(daily / 2 if code == "C2" else daily))
               for code, frac, daily, _ in carriers if CURRENT_CODES[code] is not StatClass.AEA]
    for attempt in range(8):
        mean = (m_gen - severe * severe_mean) / (1 - severe * second_moment)
        cond = [severe] * _CELLS
        for (w, r), vector in zip(multipliers, ordinary, strict=True):
            weight = w * (1 - min(severe * r, 0.5)) * (1 - carrier_total)
            cond = [c + weight * v for c, v in zip(cond, vector, strict=True)]
        for frac, vector in carried:
            cond = [c + frac * v for c, v in zip(cond, vector, strict=True)]
        k, reached = _calibrate(mean, profile.pa_perc / 100.0, cond)
        if reached or attempt == 7:
            break
        severe *= 0.6

    def tables(study_leave: float) -> _Tables:
        auth_shares = dict(shares)
        auth_shares["S"] = shares.get("S", 0.0) * study_leave
        return _Tables(
            whole_auth=_table(_code_entries(auth_shares, _AUTH_GENERAL, "whole")),
            whole_unauth=_table(_code_entries(shares, _UNAUTH_GENERAL, "whole")),
            single_auth=_table(_code_entries(auth_shares, _AUTH_GENERAL, "single")),
            single_unauth=_table(_code_entries(shares, _UNAUTH_GENERAL, "single")),
            present=_table(_code_entries(shares, _PRESENT_EVENTS, "whole")
                           + _code_entries(shares, _PRESENT_EVENTS, "single")),
        )

    # Study leave is taken by Years 10 and 11 only: their weight makes up for everyone else's zero.
    senior = 0.4 if phase == "Secondary" else sum(_cohort_weights("Special")[g] for g in ("10", "11"))
    cdf = list(itertools.accumulate(_beta_cells(mean, k)))
    cdf[-1] = 1.0
    return _Model(
        m_all=m_all, m_gen=m_gen, concentration=k, beta_cdf=tuple(cdf), severe=severe, omega=omega,
        g_frac=g_frac, phi_auth=phi_auth, phi_unauth=phi_unauth, present_events=present_events,
        fsm_norm=fsm_norm, sen_norm=sen_norm, carriers=tuple(carriers),
        tables=(tables(0.0), tables(1.0 / senior if phase != "Primary" else 0.0)),
    )


@dataclass(slots=True)
class SyntheticPupil:
    """A made-up pupil on roll, with the static part of its feed row and its absence behaviour.

    `absence_propensity` is the expected share of possible sessions missed (besides the codes a few
    pupils carry, `carrier_code`: C2, E, T or K) and `unauthorised_share` the part of it that is
    unauthorised. The underscored fields are precomputed so that a register row costs one random draw.
    Treat it as read-only: it is not frozen only because frozen dataclasses cost 6 us more to build,
    which is a minute over England's 8.8 million pupils.
    """

    upn: str
    forename: str
    surname: str
    date_of_birth: dt.date
    year_group: str
    sen_status: str
    fsm_eligible: bool
    absence_propensity: float
    unauthorised_share: float
    carrier_code: str | None
    _row: dict[str, str | bool] = field(repr=False, compare=False)
    _bands: tuple[float, float, float, float, float, float] = field(repr=False, compare=False)
    _gate: float = field(repr=False, compare=False)
    _tables: _Tables = field(repr=False, compare=False)
    _carrier: tuple[str, str] = field(repr=False, compare=False)
    _holiday_week: float = field(repr=False, compare=False)
    _fixed: tuple[int, str, str] | None = field(repr=False, compare=False)


def _upn_prefix(la_code: str, estab: str, cohort: int) -> str:
    """LA number of the issuing LA, establishment number and 2-digit issue year (the Reception year).

    A UPN keeps the number of the LA that issued it: in LAs created by reorganisation, pupils who
    started school before it carry the old LA's number (Poole or Bournemouth split by school).
    """
    predecessors = _UPN_PREDECESSORS.get(la_code)
    if predecessors and cohort < predecessors[1]:
        olds = predecessors[0]
        la_code = olds[int(estab) % len(olds)]
    return f"{la_code}{estab}{cohort % 100:02d}"


def synthetic_pupils(
    school: SyntheticSchool,
    profile: LaProfile,
    academic_year: int,
    seed: int | str = 0,
    *,
    include_reception: bool = True,
    pa_window_sessions: int = DEFAULT_PA_WINDOW_SESSIONS,
) -> list[SyntheticPupil]:
    """The pupils on roll in an academic year (2025 = 2025/26), in year-group order.

    Pupils belong to intake cohorts (the year they entered Reception), each drawn from its own seed, so
    the same child is on roll in successive years, one year group up, with the same UPN, name and date
    of birth. Absence propensity is Beta-distributed with the profile's mean and a spread calibrated so
    that the share of pupils missing 10% or more of `pa_window_sessions` sessions matches the published
    persistent-absence share, then scaled for FSM, SEN and the school; a few pupils are in severe
    absence. A closed school has no pupils.
    """
    if (school.la_code, school.phase) != (profile.old_la_code, profile.phase):
        raise ValueError(f"profile {profile.old_la_code}/{profile.phase} is not school {school.urn}'s")
    if school.status != "Open":
        return []
    model = _model(profile, pa_window_sessions)
    phase = school.phase
    school_mult = school.absence_factor
    sen_n, sen_k = _SEN_SHARES[phase][0][1], _SEN_SHARES[phase][1][1]
    fsm_rate = profile.fsm_rate
    mult_fsm = _FSM_ABSENCE_RATIO / model.fsm_norm * school_mult
    mult_plain = 1.0 / model.fsm_norm * school_mult
    mult_sen = {c: r / model.sen_norm for c, r in _SEN_ABSENCE_RATIO.items()}
    severe = model.severe
    cdf, edges = model.beta_cdf, _EDGES
    last_cell = len(cdf) - 1
    carrier_cum = list(itertools.accumulate(c[1] for c in model.carriers))
    forenames, surnames = _FORENAMES, _SURNAMES
    n_fore, n_sur = len(forenames), len(surnames)
    bisect_right, fromordinal, exp = bisect.bisect_right, dt.date.fromordinal, math.exp
    noise_shift = _UNAUTH_NOISE ** 2 / 2
    inv_mean = 1.0 / model.m_gen

    drafts: list[tuple[str, str, str, dt.date, str, str, bool, float, float, int, int]] = []
    for year_group in _YEAR_GROUPS[phase]:
        if year_group == "R" and not include_reception:
            continue
        cohort = academic_year - _year_index(year_group)
        rng = _rng(seed, "cohort", school.urn, cohort)
        rnd, gauss = rng.random, rng.gauss
        prefix = _upn_prefix(school.la_code, school.establishment_number, cohort)
        weight = _digit_weight(prefix)
        first_day = dt.date(cohort - 5, 9, 1).toordinal()
        days = dt.date(cohort - 4, 9, 1).toordinal() - first_day
        for serial in range(1, _cohort_size(school, seed, year_group, cohort) + 1):
            forename = forenames[int(rnd() * n_fore)]
            surname = surnames[int(rnd() * n_sur)]
            if rnd() < 0.03:
                surname = f"{surname}-{surnames[int(rnd() * n_sur)]}"
            dob = fromordinal(first_day + int(rnd() * days))
            u = rnd()
            sen = "N" if u < sen_n else ("K" if u < sen_n + sen_k else "E")
            fsm = rnd() < fsm_rate
            r = (mult_fsm if fsm else mult_plain) * mult_sen[sen]
            u_severe, u_p = rnd(), rnd()
            if u_severe < severe * r:
                p = _SEVERE_LOW + _SEVERE_SPAN * u_p
            else:
                j = min(bisect_right(cdf, u_p), last_cell)
                below = cdf[j - 1] if j else 0.0
                within = (u_p - below) / (cdf[j] - below) if cdf[j] > below else 0.5
                p = min(r * (edges[j] + within * (edges[j + 1] - edges[j])), _P_CAP)
            tilt = (max(p, 1e-6) * inv_mean) ** _UNAUTH_TILT * exp(gauss(0.0, _UNAUTH_NOISE) - noise_shift)
            carrier = bisect_right(carrier_cum, rnd())
            u_fixed, fixed_day = rnd(), int(rnd() * 5)
            fixed = -1
            if u_fixed < _DUAL_SHARE:
                fixed = fixed_day
            elif year_group == "R" and u_fixed < _DUAL_SHARE + _PART_TIME_RECEPTION_SHARE:
                fixed = 5
            upn = _check_letter(weight, serial) + prefix + f"{serial:03d}"
            drafts.append((upn, forename, surname, dob, year_group, sen, fsm, p, tilt, carrier, fixed))

    # Scale the unauthorised tilt so that the school's absence-weighted unauthorised share is the LA's
    # (a few fixed-point rounds, since individual shares are capped).
    total = sum(d[7] for d in drafts) or 1.0
    scale = model.omega * total / (sum(d[7] * d[8] for d in drafts) or 1.0)
    for _ in range(4):
        realised = sum(d[7] * min(0.98, d[8] * scale) for d in drafts) / total
        if realised <= 0:
            break
        scale *= model.omega / realised

    pupils: list[SyntheticPupil] = []
    tables_young, tables_senior = model.tables
    g_frac, phi_a, phi_u = model.g_frac, model.phi_auth, model.phi_unauth
    present_rate = model.present_events / max(1 - model.m_all, 1e-6)
    holiday_week = 10 / _G_BLOCK_SESSIONS_MEAN
    for upn, forename, surname, dob, year_group, sen, fsm, p, tilt, carrier, fixed in drafts:
        omega = tilt * scale
        if omega > 0.98:
            omega = 0.98
        carrier_prob, carrier_marks, carrier_code = 0.0, _PRESENT, None
        if carrier < len(model.carriers):
            carrier_code, _, carrier_prob, carrier_marks = model.carriers[carrier]
        a_unauth = p * omega
        holiday = a_unauth * g_frac
        # Registers on holiday-block days are all G, so the other events happen on the remaining days
        # at a rate raised to keep their expected count.
        keep = 1.0 / (1.0 - holiday)
        a_auth = p * (1 - omega) * keep
        a_other = (a_unauth - holiday) * keep
        carrier_prob = carrier_prob * keep
        if carrier_prob > 0.95:
            carrier_prob = 0.95
        w_a, s_a = phi_a * a_auth, 2 * (1 - phi_a) * a_auth
        w_u, s_u = phi_u * a_other, 2 * (1 - phi_u) * a_other
        present = present_rate * (1 - p)
        excess = carrier_prob + w_a + s_a + w_u + s_u + present - 0.999
        if excess > 0:  # turn single sessions into whole days (same sessions, fewer events)
            singles = s_a + s_u
            convert = min(1.0, 2 * excess / singles) if singles > 0 else 0.0
            w_a, s_a = w_a + s_a * convert / 2, s_a * (1 - convert)
            w_u, s_u = w_u + s_u * convert / 2, s_u * (1 - convert)
            present = max(0.0, min(present, 0.999 - (carrier_prob + w_a + s_a + w_u + s_u)))
        b1 = carrier_prob + w_a
        b2 = b1 + w_u
        b3 = b2 + s_a
        b4 = b3 + s_u
        b5 = min(b4 + present, 0.999)
        fixed_marks: tuple[int, str, str] | None = None
        if fixed == 5:
            fixed_marks = (5, "/", "X")
        elif fixed >= 0:
            fixed_marks = (fixed, "D", "D")
        pupils.append(
            SyntheticPupil(
                upn=upn,
                forename=forename,
                surname=surname,
                date_of_birth=dob,
                year_group=year_group,
                sen_status=sen,
                fsm_eligible=fsm,
                absence_propensity=p,
                unauthorised_share=omega,
                carrier_code=carrier_code,
                _row={
                    "upn": upn,
                    "forename": forename,
                    "surname": surname,
                    "date_of_birth": dob.isoformat(),
                    "year_group": year_group,
                    "sen_status": sen,
                    "fsm_eligible": fsm,
                },
                _bands=(carrier_prob, b1, b2, b3, b4, b5),
                _gate=2.0 if fixed_marks else b5,
                _tables=tables_senior if year_group in ("10", "11") else tables_young,
                _carrier=carrier_marks,
                _holiday_week=min(0.6, holiday * holiday_week),
                _fixed=fixed_marks,
            )
        )
    return pupils


# --------------------------------------------------------------------------------------------------
# Daily registers
# --------------------------------------------------------------------------------------------------

#: Columns of a register feed row, in the order of the CSV body the gateway accepts.
FEED_COLUMNS: tuple[str, ...] = (
    "upn", "forename", "surname", "date_of_birth", "year_group", "sen_status", "fsm_eligible", "am", "pm",
)

_PRESENT = ("/", "\\")


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
