"""Attendance register codes and their statistical treatment.

Source: The School Attendance (Pupil Registration) (England) Regulations 2024 (SI 2024/208), reg 10,
in force 19 August 2024; statistical classes verified against DfE's published year-to-date data
(dfe-analytical-services/attendance-data-dashboard, EES_ytd_data.csv): see docs/domain.md section 1.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum


class StatClass(StrEnum):
    PRESENT = "present"
    AEA = "aea"  # approved educational activity: counts as attendance
    AUTHORISED = "authorised"
    UNAUTHORISED = "unauthorised"
    NOT_COUNTED = "not_counted"  # not a possible session


#: First day on which the 2024 codes are in force (SI 2024/208 commencement).
CODES_2024_IN_FORCE = dt.date(2024, 8, 19)

CURRENT_CODES: dict[str, StatClass] = {
    "/": StatClass.PRESENT,
    "\\": StatClass.PRESENT,
    "L": StatClass.PRESENT,
    "K": StatClass.AEA,
    "V": StatClass.AEA,
    "P": StatClass.AEA,
    "W": StatClass.AEA,
    "B": StatClass.AEA,
    "D": StatClass.NOT_COUNTED,
    "C1": StatClass.AUTHORISED,
    "M": StatClass.AUTHORISED,
    "J1": StatClass.AUTHORISED,
    "S": StatClass.AUTHORISED,
    "X": StatClass.NOT_COUNTED,
    "C2": StatClass.AUTHORISED,
    "C": StatClass.AUTHORISED,
    "T": StatClass.AUTHORISED,
    "R": StatClass.AUTHORISED,
    "I": StatClass.AUTHORISED,
    "E": StatClass.AUTHORISED,
    "Q": StatClass.NOT_COUNTED,
    "Y1": StatClass.NOT_COUNTED,
    "Y2": StatClass.NOT_COUNTED,
    "Y3": StatClass.NOT_COUNTED,
    "Y4": StatClass.NOT_COUNTED,
    "Y5": StatClass.NOT_COUNTED,
    "Y6": StatClass.NOT_COUNTED,
    "Y7": StatClass.NOT_COUNTED,
    "G": StatClass.UNAUTHORISED,
    "N": StatClass.UNAUTHORISED,
    "O": StatClass.UNAUTHORISED,
    "U": StatClass.UNAUTHORISED,
    "Z": StatClass.NOT_COUNTED,
    "#": StatClass.NOT_COUNTED,
}

#: Codes withdrawn on 19 August 2024; accepted only for sessions before that date.
#: H agreed holiday (authorised), F legacy extended family holiday (authorised), J interview (AEA),
#: Y unable to attend (not a possible session).
LEGACY_CODES: dict[str, StatClass] = {
    "H": StatClass.AUTHORISED,
    "F": StatClass.AUTHORISED,
    "J": StatClass.AEA,
    "Y": StatClass.NOT_COUNTED,
}

#: Codes that count towards the penalty-notice threshold (G, N, O, U).
PENALTY_NOTICE_CODES = frozenset({"G", "N", "O", "U"})


#: Before 19 August 2024 the 2006 code set applied; the 2024-only codes are still accepted since
#: MIS suppliers back-filled them, and the legacy ones keep their old treatment.
_CODES_BEFORE_2024: dict[str, StatClass] = {**CURRENT_CODES, **LEGACY_CODES}


def codes_in_force(on: dt.date) -> dict[str, StatClass]:
    """Every code a register may carry on a date, with its statistical class (do not mutate)."""
    return CURRENT_CODES if on >= CODES_2024_IN_FORCE else _CODES_BEFORE_2024


def classify(code: str, on: dt.date) -> StatClass:
    """The statistical class of a code on a date; KeyError when it is not in force then."""
    return codes_in_force(on)[code]


def is_possible(stat_class: StatClass) -> bool:
    return stat_class is not StatClass.NOT_COUNTED


def codes_by_class() -> dict[str, list[str]]:
    """Every code, current and legacy, under its statistical class's name."""
    out: dict[str, list[str]] = {c.value: [] for c in StatClass}
    for code, cls in {**CURRENT_CODES, **LEGACY_CODES}.items():
        out[cls.value].append(code)
    return out
