"""The daily register feed: parsing and validation (pure).

A body is JSON `{"pupils": [row, ...]}` or text/csv with the same columns. Validation is all-or-nothing:
every problem is reported as {row, field, message}, rows numbered from 1 in body order, and messages
never repeat the offending value (it may be personal data).

One set of rules, two ways through them. A national day is 8 million rows, so a valid body takes the
fast way: pydantic-core checks the shape, types, lengths, enumerations and unknown fields of every row
in one call (`FeedRowData`, no Python per field), then one loop applies the rules written in Python
(UPN format and check letter, year group, date of birth, codes in force). A body that fails either is
validated again by `FeedRow`, field by field with the same rules, which reports every problem; that is
the only way the error list is built, so it does not depend on which way found the first problem.

Two rules are checked on the body itself, so that the fast way stays fast. A name used twice in one
JSON object (`"am": "/", "am": "X"`, or two `"pupils"`) is refused, never "last one wins": pydantic-core
keeps the last, so a body whose colons are more than one per member of a valid register is decoded
again by `schemas.json_strict`, which finds the names used twice. A text field holds no control
character (`schemas.json_strict.Line`), leading or trailing ones included (stripping would hide them):
a body in which a few scans of the bytes find nothing that could spell one takes the fast way;
any other body takes `FeedRow`'s, which checks every value before stripping it.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    with_config,
)
from typing_extensions import TypedDict

from schemas.codes import StatClass, codes_in_force
from schemas.json_strict import LINE_MESSAGE, JsonRefused, control_character_in, loads
from schemas.upn import _check_letter, _compact_upn, validate_upn

FEED_FIELDS = (
    "upn",
    "forename",
    "surname",
    "date_of_birth",
    "year_group",
    "sen_status",
    "fsm_eligible",
    "am",
    "pm",
)
#: National Curriculum year groups as the school census records them (nursery N1/N2, reception R, 1-14).
YEAR_GROUPS = frozenset({"N1", "N2", "R", *(str(n) for n in range(1, 15))})
#: Oldest plausible date of birth: nobody born earlier is on a school roll.
EARLIEST_DOB = dt.date(1980, 1, 1)



def normalise_year_group(value: str) -> str:
    value = value.upper()
    if value not in YEAR_GROUPS:
        raise ValueError("not a National Curriculum year group (N1, N2, R, 1-14)")
    return value


def _dob_plausible(value: dt.date, register_date: dt.date | None) -> bool:
    return not (value < EARLIEST_DOB or (register_date is not None and value >= register_date))


_DOB_MESSAGE = "date of birth is not plausible for a pupil on roll on this date"
_CODE_MESSAGE = "not a register code in force on this date"

#: Shared by both ways through the rules, so that they check the same shapes.
_ROW_CONFIG = ConfigDict(extra="forbid", str_strip_whitespace=True)
_Name = Annotated[str, Field(min_length=1, max_length=100)]
_SenStatus = Literal["N", "K", "E"]


@with_config(_ROW_CONFIG)
class FeedRowData(TypedDict):
    """A register row after validation (a plain dict: 8 million of them a day)."""

    upn: str
    forename: _Name
    surname: _Name
    date_of_birth: dt.date
    year_group: str
    sen_status: _SenStatus
    fsm_eligible: bool
    am: str
    pm: str


@with_config(ConfigDict(extra="forbid"))
class _JsonBodyData(TypedDict):
    pupils: list[FeedRowData]


_FAST_JSON = TypeAdapter(_JsonBodyData)
_FAST_ROWS = TypeAdapter(list[FeedRowData])


class FeedRow(BaseModel):
    """The same row, validated field by field: the way that reports every problem of a body."""

    model_config = ConfigDict(**_ROW_CONFIG, frozen=True)

    upn: str
    forename: _Name
    surname: _Name
    date_of_birth: dt.date
    year_group: str
    sen_status: _SenStatus
    fsm_eligible: bool
    am: str
    pm: str

    @field_validator(*FEED_FIELDS, mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        # Before stripping: a name that ends in a line break is refused, not trimmed.
        if isinstance(value, str) and control_character_in(value):
            raise ValueError(LINE_MESSAGE)
        return value

    @field_validator("upn")
    @classmethod
    def _valid_upn(cls, value: str) -> str:
        return validate_upn(value)

    @field_validator("year_group")
    @classmethod
    def _valid_year_group(cls, value: str) -> str:
        return normalise_year_group(value)

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_dob(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        if not _dob_plausible(value, (info.context or {}).get("date")):
            raise ValueError(_DOB_MESSAGE)
        return value

    @field_validator("am", "pm")
    @classmethod
    def _code_in_force(cls, value: str, info: ValidationInfo) -> str:
        register_date = (info.context or {}).get("date")
        in_force = codes_in_force(register_date) if register_date else codes_in_force(dt.date.max)
        if value not in in_force:
            raise ValueError(_CODE_MESSAGE)
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
    rows: list[FeedRowData]
    #: Rows whose UPN check letter is still to be checked (`defer_check_letters`; see `check_letters`).
    unchecked: frozenset[int] = frozenset()


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


def _check_duplicates(upns: list[str]) -> list[dict[str, Any]]:
    seen: dict[str, int] = {}
    errors = []
    for number, upn in enumerate(upns, start=1):
        first = seen.setdefault(upn, number)
        if first != number:
            errors.append(
                {"row": number, "field": "upn", "message": f"duplicate pupil (same UPN as row {first})"}
            )
    return errors


def _apply_rules(rows: list[FeedRowData], register_date: dt.date, unchecked: list[int] | None = None) -> bool:
    """The Python rules of `FeedRow`, in one loop over rows that pydantic-core has already checked;
    normalises UPN and year group in place. False at the first problem (the caller then lets
    `FeedRow` find and report them all).

    With `unchecked` (a list to fill), the check letter of a compact UPN is left out and the row's
    index appended instead: see `parse_json`'s `defer_check_letters`."""
    codes = codes_in_force(register_date)
    try:
        for n, row in enumerate(rows):
            if unchecked is None:
                row["upn"] = validate_upn(row["upn"])
            else:
                number = _compact_upn(row["upn"])
                if number is None:
                    row["upn"] = validate_upn(row["upn"])
                else:
                    row["upn"] = number
                    unchecked.append(n)
            if row["year_group"] not in YEAR_GROUPS:
                row["year_group"] = normalise_year_group(row["year_group"])
            if (
                not _dob_plausible(row["date_of_birth"], register_date)
                or row["am"] not in codes
                or row["pm"] not in codes
            ):
                return False
    except ValueError:
        return False
    return True


def check_letters(parsed: ParsedFeed, rows: Iterable[int]) -> bool:
    """Whether the UPNs of these rows of a feed parsed with `defer_check_letters` have the right check
    letter (stdnum's `calc_check_digit`); rows whose letter was already checked pass."""
    try:
        for n in rows:
            if n in parsed.unchecked:
                _check_letter(parsed.rows[n]["upn"])
    except ValueError:
        return False
    return True


#: A JSON escape that could spell a character `Line` refuses (a false alarm, such as an escaped
#: backslash before "n", only sends the body the long way). Raw C0 controls inside a string are not
#: JSON, and pydantic-core refuses them and unpaired surrogates itself.
_ESCAPED_CONTROL = re.compile(rb"\\(?:[bfnrt]|u(?:00[0189]|007[fF]|202[89]))")
#: C1 controls and the line and paragraph separators, as UTF-8 (each with a literal first byte, which
#: the regular expression engine scans for quickly).
_RAW_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_RAW_SEPARATOR = re.compile(rb"\xe2\x80[\xa8\xa9]")
#: C0 controls and DEL to a byte that UTF-8 never uses; CR and LF (which end CSV records) are deleted.
_CSV_CONTROLS = bytes(0xFF if b < 0x20 or b == 0x7F else b for b in range(256))


def _raw_c1_or_separator(body: bytes) -> bool:
    return _RAW_C1.search(body) is not None or _RAW_SEPARATOR.search(body) is not None


def _json_may_hold_controls(body: bytes) -> bool:
    """False only when no string of this JSON body can hold a character `Line` refuses."""
    if b"\x7f" in body or _ESCAPED_CONTROL.search(body) is not None:
        return True
    return not body.isascii() and _raw_c1_or_separator(body)


def _csv_may_hold_controls(body: bytes) -> bool:
    """False only when no character of this CSV body but the CR and LF that end records is one
    `Line` refuses (a value holding a line break is found by counting lines: `_parse_csv`)."""
    if b"\xff" in body.translate(_CSV_CONTROLS, b"\r\n"):
        return True
    return not body.isascii() and _raw_c1_or_separator(body)


def _refuse_names_used_twice(body: bytes, accepted: list[FeedRowData] | None = None) -> None:
    """FeedInvalid naming each name used twice in an object of the body (and each unpaired surrogate);
    a body that is not JSON passes, for `FeedRow` to report.

    `accepted`, the rows of a body the fast way accepted, settles most bodies without decoding them
    again: each row has the nine fields and the body the one "pupils", each member with one colon
    outside strings, and a name used twice is a member more; so as many colons as members means no
    name is used twice. A body with more colons (one in a name, say) is decoded to be sure."""
    if accepted is not None and body.count(b":") == len(FEED_FIELDS) * len(accepted) + 1:
        return
    try:
        loads(body)
    except JsonRefused as exc:
        raise FeedInvalid([_problem_at(path, message) for path, message in exc.problems]) from None
    except (ValueError, RecursionError):
        return  # not JSON (json.JSONDecodeError is a ValueError), or nested past the decoder's depth


def _problem_at(path: tuple[str | int, ...], message: str) -> dict[str, Any]:
    """{row, field, message} for a place in a JSON body: rows numbered from 1; "pupils" itself, and
    anything else outside the rows, is the body's (row None)."""
    if len(path) >= 2 and path[0] == "pupils" and isinstance(path[1], int):
        rest = path[2:]
        return {"row": path[1] + 1, "field": ".".join(str(p) for p in rest) or None, "message": message}
    return {"row": None, "field": ".".join(str(p) for p in path) or None, "message": message}


def parse_json(body: bytes, register_date: dt.date, *, defer_check_letters: bool = False) -> ParsedFeed:
    """The register's rows, or FeedInvalid listing every problem.

    `defer_check_letters`: the UPN check letters of the rows in the result's `unchecked` are left to
    the caller, who checks them with `check_letters` (all of them, or those of pupils not already
    known under that very UPN) and, when one is wrong, parses again without deferring for the
    problems. Everything else is checked as without it, and a body that fails anything else gets
    exactly the problems it gets without it."""
    if defer_check_letters:
        try:
            return _parse_json(body, register_date, [])
        except FeedInvalid:
            pass  # the problems are listed as without deferring, check letters included
    return _parse_json(body, register_date, None)


def _parse_json(body: bytes, register_date: dt.date, unchecked: list[int] | None) -> ParsedFeed:
    rows: list[FeedRowData] | None = None
    if not _json_may_hold_controls(body):
        try:
            rows = _FAST_JSON.validate_json(body)["pupils"]
        except ValidationError:
            rows = None
    if rows is not None:
        _refuse_names_used_twice(body, rows)
        if _apply_rules(rows, register_date, unchecked):
            return _finish(rows, unchecked)
    if unchecked is not None:
        raise FeedInvalid([])  # parse_json lists the problems without deferring
    # Names used twice first: `FeedRow` would see only the last of each.
    _refuse_names_used_twice(body)
    try:
        parsed = _JsonBody.model_validate_json(body, context={"date": register_date})
    except ValidationError as exc:
        raise FeedInvalid(_errors_from(exc, row_offset=1)) from None
    return _finish(_as_data(parsed.pupils), None)


def parse_csv(body: bytes, register_date: dt.date, *, defer_check_letters: bool = False) -> ParsedFeed:
    """As `parse_json`, for a text/csv body."""
    if defer_check_letters:
        try:
            return _parse_csv(body, register_date, [])
        except FeedInvalid:
            pass
    return _parse_csv(body, register_date, None)


def _parse_csv(body: bytes, register_date: dt.date, unchecked: list[int] | None) -> ParsedFeed:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FeedInvalid([{"row": None, "field": None, "message": "CSV body is not UTF-8"}]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
        problems = [
            {
                "row": None,
                "field": name,
                "message": "unknown column: the gateway accepts only the fields some purpose needs",
            }
            for name in header
            if name not in FEED_FIELDS
        ]
        problems += [
            {"row": None, "field": name, "message": "missing column"}
            for name in FEED_FIELDS
            if name not in header
        ]
        if len(set(header)) != len(header):
            problems.append({"row": None, "field": None, "message": "a column is named twice"})
        if problems:
            raise FeedInvalid(problems)
        raw_rows: list[dict[str, Any]] = []
        for number, raw in enumerate(reader, start=1):
            if None in raw or any(v is None for v in raw.values()):
                raise FeedInvalid(
                    [{"row": number, "field": None, "message": "wrong number of values in this row"}]
                )
            raw_rows.append(raw)
    except csv.Error:
        raise FeedInvalid(
            [{"row": reader.line_num or None, "field": None, "message": "malformed CSV"}]
        ) from None
    rows: list[FeedRowData] | None = None
    # One line per record (the header's and each row's): no value holds a line break.
    if reader.line_num == len(raw_rows) + 1 and not _csv_may_hold_controls(body):
        try:
            rows = _FAST_ROWS.validate_python(raw_rows)
        except ValidationError:
            rows = None
    if rows is not None and _apply_rules(rows, register_date, unchecked):
        return _finish(rows, unchecked)
    if unchecked is not None:
        raise FeedInvalid([])
    try:
        checked = _ROWS.validate_python(raw_rows, context={"date": register_date})
    except ValidationError as exc:
        raise FeedInvalid(_errors_from(exc, row_offset=1)) from None
    return _finish(_as_data(checked), None)


def _as_data(rows: list[FeedRow]) -> list[FeedRowData]:
    # Reached when `FeedRow` accepts a body the fast way did not take: one whose scan for control
    # characters raised a false alarm (a name with a backslash before "n", a blank line in a CSV).
    return [FeedRowData(**row.model_dump()) for row in rows]  # type: ignore[typeddict-item]


def _finish(rows: list[FeedRowData], unchecked: list[int] | None) -> ParsedFeed:
    if not rows:
        raise FeedInvalid(
            [{"row": None, "field": "pupils", "message": "a register must list at least one pupil"}]
        )
    upns = [row["upn"] for row in rows]
    if len(set(upns)) != len(upns):
        raise FeedInvalid(_check_duplicates(upns))
    return ParsedFeed(rows=rows, unchecked=frozenset(unchecked or ()))


def canonical_digest(rows: list[FeedRowData]) -> str:
    """SHA-256 of a register's content, independent of format and row order: the same register sent
    as JSON or CSV, in any order, is the same body.

    The content is one line per row, the row as compact JSON (what `FeedRow.model_dump_json` writes),
    the lines sorted. Every line starts with `{"upn":"` and a 13-character UPN, unique in the body,
    so sorting the rows by UPN sorts the lines; the sorted rows are written in one call and split at
    the row boundaries (the bytes `},{"upn":` cannot occur inside a JSON string, where every quote is
    escaped)."""
    ordered = sorted(rows, key=lambda row: row["upn"])
    lines = _FAST_ROWS.dump_json(ordered)[1:-1].replace(b'},{"upn":', b'}\n{"upn":')
    return hashlib.sha256(lines + b"\n").hexdigest()


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


#: The order of the per-class running totals (columns sessions_<class>).
TOTAL_CLASSES = ("possible", "present", "aea", "authorised", "unauthorised", "not_counted")


def session_deltas(on: dt.date) -> dict[tuple[str, str], tuple[int, int, int, int, int, int]]:
    """How a day's (AM, PM) marks move a pupil's totals, in the order of `TOTAL_CLASSES`, for every
    pair of codes in force on the date (built with `SessionTotals` once per set of codes in force)."""
    return _deltas_table(frozenset(codes_in_force(on).items()))


@functools.lru_cache(maxsize=8)
def _deltas_table(
    codes: frozenset[tuple[str, StatClass]],
) -> dict[tuple[str, str], tuple[int, int, int, int, int, int]]:
    table = {}
    for am, am_class in codes:
        for pm, pm_class in codes:
            totals = SessionTotals()
            totals.add(am_class)
            totals.add(pm_class)
            table[(am, pm)] = (
                totals.possible,
                totals.present,
                totals.aea,
                totals.authorised,
                totals.unauthorised,
                totals.not_counted,
            )
    return table
