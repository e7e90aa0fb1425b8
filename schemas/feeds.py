"""The daily register feed: parsing and validation (pure).

A body is JSON `{"pupils": [row, ...]}` or text/csv with the same columns. Validation is all-or-nothing:
every problem is reported as {row, field, message}, rows numbered from 1 in body order, and messages
never repeat the offending value (it may be personal data).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator
from stdnum.exceptions import InvalidComponent
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.gb import upn as upn_rules

from schemas.codes import StatClass, codes_in_force

FEED_FIELDS = ("upn", "forename", "surname", "date_of_birth", "year_group", "sen_status", "fsm_eligible", "am", "pm")
#: National Curriculum year groups as the school census records them (nursery N1/N2, reception R, 1-14).
YEAR_GROUPS = frozenset({"N1", "N2", "R", *(str(n) for n in range(1, 15))})
#: Oldest plausible date of birth: nobody born earlier is on a school roll.
EARLIEST_DOB = dt.date(1980, 1, 1)


#: LA numbers created by local government reorganisations that python-stdnum's list of issuing LAs
#: (stdnum.gb.upn) does not know yet: Dorset 838 and Bournemouth, Christchurch and Poole 839 (April
#: 2019), North and West Northamptonshire 940 and 941 (April 2021), Cumberland 942 and Westmorland and
#: Furness 943 (April 2023). All six are in DfE's 2025/26 attendance data (DOMAIN.md 5); without them
#: every register from those LAs' schools would be refused.
LA_NUMBERS_SINCE_2019 = frozenset({838, 839, 940, 941, 942, 943})


def validate_upn(value: str) -> str:
    """The UPN in its compact form; ValueError (never echoing the value) when the format or check
    letter is wrong. python-stdnum implements the DfE format and check-letter rules."""
    try:
        return str(upn_rules.validate(value))
    except InvalidComponent:
        number = upn_rules.compact(value)
        if int(number[1:4]) in LA_NUMBERS_SINCE_2019 and upn_rules.calc_check_digit(number[1:]) == number[0]:
            return number
        raise ValueError("not a valid UPN (unknown issuing LA number)") from None
    except StdnumValidationError:
        raise ValueError("not a valid UPN (format or check letter)") from None


class FeedRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    upn: str
    forename: str = Field(min_length=1, max_length=100)
    surname: str = Field(min_length=1, max_length=100)
    date_of_birth: dt.date
    year_group: str
    sen_status: Literal["N", "K", "E"]
    fsm_eligible: bool
    am: str
    pm: str

    @field_validator("upn")
    @classmethod
    def _valid_upn(cls, value: str) -> str:
        return validate_upn(value)

    @field_validator("year_group")
    @classmethod
    def _valid_year_group(cls, value: str) -> str:
        value = value.upper()
        if value not in YEAR_GROUPS:
            raise ValueError("not a National Curriculum year group (N1, N2, R, 1-14)")
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_dob(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        register_date = (info.context or {}).get("date")
        if value < EARLIEST_DOB or (register_date is not None and value >= register_date):
            raise ValueError("date of birth is not plausible for a pupil on roll on this date")
        return value

    @field_validator("am", "pm")
    @classmethod
    def _code_in_force(cls, value: str, info: ValidationInfo) -> str:
        register_date = (info.context or {}).get("date")
        in_force = codes_in_force(register_date) if register_date else codes_in_force(dt.date.max)
        if value not in in_force:
            raise ValueError("not a register code in force on this date")
        return value


class _JsonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pupils: list[FeedRow]


_ROWS = TypeAdapter(list[FeedRow])


class FeedInvalid(Exception):
    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(f"{len(errors)} problem(s) in the register")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    rows: list[FeedRow]


def _errors_from(exc: ValidationError, row_offset: int) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = list(err["loc"])
        if loc and loc[0] == "pupils":
            loc = loc[1:]
        row: int | None = None
        if loc and isinstance(loc[0], int):
            row = loc[0] + row_offset
            loc = loc[1:]
        field = ".".join(str(p) for p in loc) or None
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field: the gateway accepts only the fields some purpose needs"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        errors.append({"row": row, "field": field, "message": message})
    return errors


def _check_duplicates(rows: list[FeedRow]) -> list[dict[str, Any]]:
    seen: dict[str, int] = {}
    errors = []
    for number, row in enumerate(rows, start=1):
        first = seen.setdefault(row.upn, number)
        if first != number:
            errors.append({"row": number, "field": "upn", "message": f"duplicate pupil (same UPN as row {first})"})
    return errors


def parse_json(body: bytes, register_date: dt.date) -> ParsedFeed:
    try:
        parsed = _JsonBody.model_validate_json(body, context={"date": register_date})
    except ValidationError as exc:
        raise FeedInvalid(_errors_from(exc, row_offset=1)) from None
    return _finish(parsed.pupils)


def parse_csv(body: bytes, register_date: dt.date) -> ParsedFeed:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FeedInvalid([{"row": None, "field": None, "message": "CSV body is not UTF-8"}]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
        problems = [
            {"row": None, "field": name, "message": "unknown column: the gateway accepts only the fields some purpose needs"}
            for name in header
            if name not in FEED_FIELDS
        ]
        problems += [{"row": None, "field": name, "message": "missing column"} for name in FEED_FIELDS if name not in header]
        if len(set(header)) != len(header):
            problems.append({"row": None, "field": None, "message": "a column is named twice"})
        if problems:
            raise FeedInvalid(problems)
        raw_rows: list[dict[str, Any]] = []
        for number, raw in enumerate(reader, start=1):
            if None in raw or any(v is None for v in raw.values()):
                raise FeedInvalid([{"row": number, "field": None, "message": "wrong number of values in this row"}])
            raw_rows.append(raw)
    except csv.Error:
        raise FeedInvalid([{"row": reader.line_num or None, "field": None, "message": "malformed CSV"}]) from None
    try:
        rows = _ROWS.validate_python(raw_rows, context={"date": register_date})
    except ValidationError as exc:
        raise FeedInvalid(_errors_from(exc, row_offset=1)) from None
    return _finish(rows)


def _finish(rows: list[FeedRow]) -> ParsedFeed:
    if not rows:
        raise FeedInvalid([{"row": None, "field": "pupils", "message": "a register must list at least one pupil"}])
    duplicates = _check_duplicates(rows)
    if duplicates:
        raise FeedInvalid(duplicates)
    return ParsedFeed(rows=rows)


@dataclass(slots=True)
class SessionTotals:
    """Sessions by statistical class; the unit in which running totals move."""

    possible: int = 0
    present: int = 0
    aea: int = 0
    authorised: int = 0
    unauthorised: int = 0
    not_counted: int = 0

    def add(self, stat_class: StatClass, sign: int = 1) -> None:
        if stat_class is StatClass.NOT_COUNTED:
            self.not_counted += sign
            return
        self.possible += sign
        if stat_class is StatClass.PRESENT:
            self.present += sign
        elif stat_class is StatClass.AEA:
            self.aea += sign
        elif stat_class is StatClass.AUTHORISED:
            self.authorised += sign
        else:
            self.unauthorised += sign


def session_totals(am: str, pm: str, on: dt.date, sign: int = 1) -> SessionTotals:
    table = codes_in_force(on)
    totals = SessionTotals()
    totals.add(table[am], sign)
    totals.add(table[pm], sign)
    return totals
