"""A school's attendance measures, overall and by pupil group, from its pupils' session totals (pure).

Every measure is per enrolment, as DfE's (docs/domain.md 2.2): overall, authorised and unauthorised
absence are sessions missed over possible sessions; persistent and severe absence are the shares of
enrolments that missed at least 10% and 50% of their own possible sessions. Groups are the year
group, SEN status (N none, K SEN support, E EHC plan) and eligibility for free school meals. An
enrolment with no possible session in the window counts in no measure.

The counts behind each rate are kept beside it (`Cohort`), so that a group of schools' value is the
ratio of summed counts, not a mean of rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from policies.thresholds import PERSISTENT_ABSENCE_PERCENT, SEVERE_ABSENCE_PERCENT

#: The ways a school's pupils are grouped, in the order reports show them.
DIMENSIONS = ("all", "year_group", "sen_status", "fsm")
SEN_NAMES = {"N": "No SEN", "K": "SEN support", "E": "EHC plan"}


class Cohort(NamedTuple):
    dimension: str
    #: The group: "all", a year group ("R", "1" ... "13"), an SEN status, "FSM" or "not FSM".
    group: str
    enrolments: int
    possible: int
    authorised: int
    unauthorised: int
    persistent: int
    severe: int

    @property
    def overall_absence_rate(self) -> float | None:
        return _percent(self.authorised + self.unauthorised, self.possible)

    @property
    def authorised_absence_rate(self) -> float | None:
        return _percent(self.authorised, self.possible)

    @property
    def unauthorised_absence_rate(self) -> float | None:
        return _percent(self.unauthorised, self.possible)

    @property
    def persistent_absence_rate(self) -> float | None:
        return _percent(self.persistent, self.enrolments)

    @property
    def severe_absence_rate(self) -> float | None:
        return _percent(self.severe, self.enrolments)


RATES = ("overall_absence_rate", "authorised_absence_rate", "unauthorised_absence_rate",
         "persistent_absence_rate", "severe_absence_rate")


def _percent(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def _year_order(group: str) -> tuple[int, str]:
    return (int(group), "") if group.isdigit() else (-1, group)


def cohorts(
    year_group: Sequence[str], sen_status: Sequence[str], fsm: Sequence[bool],
    possible: Sequence[int], authorised: Sequence[int], unauthorised: Sequence[int],
) -> list[Cohort]:
    """The measures' counts for all enrolments and for each group, one row per enrolment in."""
    possible_a = np.asarray(possible, dtype=np.int64)
    authorised_a = np.asarray(authorised, dtype=np.int64)
    unauthorised_a = np.asarray(unauthorised, dtype=np.int64)
    counted = possible_a > 0
    absent = authorised_a + unauthorised_a
    # Integer comparisons, as the releases make them: exactly 10% is persistent absence.
    persistent = counted & (absent * 100 >= possible_a * PERSISTENT_ABSENCE_PERCENT)
    severe = counted & (absent * 100 >= possible_a * SEVERE_ABSENCE_PERCENT)
    labels = {
        "all": np.full(len(possible_a), "all", dtype=object),
        "year_group": np.asarray(year_group, dtype=object),
        "sen_status": np.array([SEN_NAMES.get(s, s) for s in sen_status], dtype=object),
        "fsm": np.array(["FSM" if f else "not FSM" for f in fsm], dtype=object),
    }
    out: list[Cohort] = []
    for dimension in DIMENSIONS:
        # "all" is always there, even for a school with no possible session yet.
        present = set(labels[dimension][counted].tolist()) if dimension != "all" else {"all"}
        groups = sorted(present, key=_year_order if dimension == "year_group" else str)
        for group in groups:
            member = counted & (labels[dimension] == group)
            out.append(Cohort(
                dimension, group, int(member.sum()), int(possible_a[member].sum()),
                int(authorised_a[member].sum()), int(unauthorised_a[member].sum()),
                int(persistent[member].sum()), int(severe[member].sum()),
            ))
    return out


def combine(parts: Sequence[Cohort]) -> Cohort:
    """Several schools' counts for the same group, as one cohort."""
    first = parts[0]
    return Cohort(
        first.dimension, first.group,
        enrolments=sum(p.enrolments for p in parts), possible=sum(p.possible for p in parts),
        authorised=sum(p.authorised for p in parts), unauthorised=sum(p.unauthorised for p in parts),
        persistent=sum(p.persistent for p in parts), severe=sum(p.severe for p in parts),
    )
