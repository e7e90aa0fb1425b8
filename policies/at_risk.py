"""Pupils at risk of becoming persistently absent: a transparent rule with reasons in plain words (pure).

A pupil who is already persistently absent is not "at risk": the school knows. Among the others, a
pupil is flagged for any of three reasons, each from the pupil's own record and each stated so that
the attendance officer can check it against the register:

- a recent fall: attendance over the last weeks below a line and well below the pupil's own before;
- persistent absence last year;
- absence so far this year close to the persistent-absence line.

The thresholds are the catalogue's (``at_risk``); the line itself is DfE's (10%).
"""

from __future__ import annotations

from typing import NamedTuple

from policies.report_policy import AtRiskRule
from policies.thresholds import PERSISTENT_ABSENCE_PERCENT

_LINE = PERSISTENT_ABSENCE_PERCENT / 100


class PupilRecord(NamedTuple):
    #: Possible sessions and sessions of absence (authorised or not) so far this year.
    possible: int
    absent: int
    #: The same over the last ``recent_weeks`` school weeks (included in the above).
    recent_possible: int
    recent_absent: int
    #: Last year's, or None when the pupil has no record last year.
    prior_possible: int | None = None
    prior_absent: int | None = None


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def reasons(pupil: PupilRecord, rule: AtRiskRule) -> tuple[str, ...]:
    """Why this pupil is at risk; empty when the pupil is not (or is already persistently absent)."""
    if pupil.possible < rule.min_possible_sessions:
        return ()
    absence = pupil.absent / pupil.possible
    if absence >= _LINE:
        return ()
    found: list[str] = []
    before_possible = pupil.possible - pupil.recent_possible
    if pupil.recent_possible > 0 and before_possible > 0:
        recent = 1 - pupil.recent_absent / pupil.recent_possible
        before = 1 - (pupil.absent - pupil.recent_absent) / before_possible
        if recent < rule.recent_attendance_below and 100 * (before - recent) >= rule.recent_drop_pp:
            found.append(
                f"attendance in the last {rule.recent_weeks} school weeks {_percent(recent)} "
                f"against {_percent(before)} before"
            )
    if pupil.prior_possible and pupil.prior_absent is not None:
        prior = pupil.prior_absent / pupil.prior_possible
        if prior >= _LINE:
            found.append(f"persistently absent last year (attendance {_percent(1 - prior)})")
    if absence >= rule.near_threshold:
        found.append(
            f"absence so far this year {_percent(absence)}, close to the "
            f"{_percent(_LINE)} line of persistent absence"
        )
    return tuple(found)
