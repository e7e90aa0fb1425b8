"""Plain records that the shell hands to the pure core (policies, anonymisation, consent).

They carry the internal pupil key (`pupil_id`, a keyed pseudonym of the UPN) and never an identifier,
except `Identity`, which the shell decrypts only when a purpose's fields need it.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Literal, NamedTuple


class EnrolmentTotals(NamedTuple):
    """One pupil's enrolment at one school, totals over a window of marks.

    A named tuple, as `Mark` is: a large LA's case list makes ten thousand of them per release, and a
    frozen dataclass costs several times as much to make."""

    pupil_id: str
    school_urn: int
    la_code: str
    academic_year: int  # the calendar year in which the academic year starts (2025 = 2025/26)
    year_group: str  # "N1", "N2", "R", "1".."14"
    sen_status: str  # N, K, E
    fsm_eligible: bool
    sessions_possible: int
    sessions_present: int
    sessions_aea: int
    sessions_authorised: int
    sessions_unauthorised: int

    @property
    def sessions_absent(self) -> int:
        return self.sessions_authorised + self.sessions_unauthorised


class Mark(NamedTuple):
    """One registration session's mark for one pupil at one school.

    A named tuple rather than a frozen dataclass like `Identity`: a penalty-notice release builds and
    checks about 80,000 of them, and a frozen dataclass costs several times as much to make."""

    pupil_id: str
    school_urn: int
    date: dt.date
    session: Literal["AM", "PM"]
    code: str


#: `Mark(*fields)` from a tuple of its fields, without the named tuple's `__new__` (a Python function):
#: for the shell, which reads marks by the ten thousand.
make_mark = functools.partial(tuple.__new__, Mark)


class RegisterRow(NamedTuple):
    """One pupil's line of a register as it is stored: the marks, the attributes, how the day moves
    the pupil's totals (less the superseded register's, for a correction), and up to two reason codes
    with the sessions to add to each (None when fewer). Built by the feed service, written in bulk by
    the register repository (whose staging columns are these fields, in this order)."""

    pupil_id: str
    am: str
    pm: str
    year_group: str
    sen_status: str
    fsm_eligible: bool
    possible: int
    present: int
    aea: int
    authorised: int
    unauthorised: int
    not_counted: int
    code1: str | None
    n1: int | None
    code2: str | None
    n2: int | None


#: `RegisterRow(*fields)` from a tuple of its fields, as `make_mark`: a register is built per pupil-day.
make_register_row = functools.partial(tuple.__new__, RegisterRow)


@dataclass(frozen=True, slots=True)
class Identity:
    """Decrypted identifiers, held only in memory while a permitted response is built."""

    upn: str
    forename: str
    surname: str
    date_of_birth: dt.date
