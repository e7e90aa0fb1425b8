"""GOV.UK date inputs read on the server: a date is three fields, `<name>-day`, `<name>-month` and
`<name>-year`, as the Design System's date input sends them (no browser date picker). A page's links
carry the date as one ISO field, `<name>=2025-10-03`, which is read too when the three are empty.

A mistake is named on its field in the Design System's words ("From must include a month", "From
must be a real date, for example 3 10 2025"), with the parts to mark; never a 500.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

PARTS = ("day", "month", "year")
#: Longer than any part a person types, so that "20255" is named as wrong, not cut to 2025.
MAX_PART_CHARS = 10
_DIGITS = re.compile(r"[0-9]+")
_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")


@dataclass(frozen=True)
class DateField:
    """One date input as typed: its parts (shown again), the date, or the mistake and its parts."""

    name: str
    parts: dict[str, str]
    value: dt.date | None = None
    error: str | None = None
    bad: tuple[str, ...] = ()

    @property
    def iso(self) -> str:
        return self.value.isoformat() if self.value else ""

    @property
    def target(self) -> str:
        """The id the error summary links to: the first part to correct."""
        return f"{self.name}-{self.bad[0] if self.bad else 'day'}"


def read_date(fields: Mapping[str, str], name: str, label: str, example: str) -> DateField:
    """The date input `name` from a form or an address; empty (all three parts, and the ISO field)
    gives no date and no error: whether a date is needed is the caller's rule."""
    parts = {p: (fields.get(f"{name}-{p}") or "").strip()[:MAX_PART_CHARS] for p in PARTS}
    if not any(parts.values()):
        iso = (fields.get(name) or "").strip()[:MAX_PART_CHARS]
        if not iso:
            return DateField(name, parts)
        found = _ISO.fullmatch(iso)
        if not found:
            return DateField(name, parts, error=f"{label} must be a real date, for example {example}",
                             bad=PARTS)
        parts = dict(zip(("year", "month", "day"), found.groups(), strict=True))
        parts = {p: parts[p] for p in PARTS}
    missing = tuple(p for p in PARTS if not parts[p])
    if missing:
        return DateField(name, parts, error=f"{label} must include a {' and '.join(missing)}", bad=missing)
    real = f"{label} must be a real date, for example {example}"
    wrong = tuple(p for p in PARTS if not _DIGITS.fullmatch(parts[p]))
    if wrong:
        return DateField(name, parts, error=real, bad=wrong)
    day, month, year = (int(parts[p]) for p in PARTS)
    if len(parts["year"]) != 4 or year < 1000:
        return DateField(name, parts, error=f"{label} must have a year of 4 numbers, for example {example}",
                         bad=("year",))
    if not 1 <= month <= 12:
        return DateField(name, parts, error=real, bad=("month",))
    try:
        value = dt.date(year, month, day)
    except ValueError:
        return DateField(name, parts, error=real, bad=("day",))
    return DateField(name, parts, value=value)


def read_dates(
    fields: Mapping[str, str],
    labels: Mapping[str, str],
    example: str,
    errors: dict[str, str],
    *,
    ordered: bool = True,
) -> dict[str, DateField]:
    """Several date inputs (`labels`: name to label), each mistake put in `errors` under its name;
    with `ordered`, a second date before the first is named on the second."""
    out = {name: read_date(fields, name, label, example) for name, label in labels.items()}
    for name, field in out.items():
        if field.error:
            errors[name] = field.error
    names = list(labels)
    if ordered and len(names) == 2:
        first, second = out[names[0]], out[names[1]]
        if first.value and second.value and second.value < first.value:
            errors[names[1]] = f"{labels[names[1]]} must be the same as or after {labels[names[0]]}"
            out[names[1]] = DateField(second.name, second.parts, error=errors[names[1]])
    return out


def error_targets(dates: Mapping[str, DateField]) -> dict[str, str]:
    return {name: field.target for name, field in dates.items() if field.error}
