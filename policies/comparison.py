"""Areas of relative strength and areas to focus on: a school's measure against its group's (pure).

The group's value is released with noise, so it comes with an interval. A school differs from its
group only where its own (exact) value lies outside that interval: inside it, the difference could
be the noise. Every measure compared here is a rate of absence, where lower is better.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Verdict = Literal["strength", "focus"]


class Interval(NamedTuple):
    value: float
    lower: float
    upper: float


def verdict(school: float | None, group: Interval | None) -> Verdict | None:
    if school is None or group is None:
        return None
    if school < group.lower:
        return "strength"
    if school > group.upper:
        return "focus"
    return None
