"""The UPN rule: a Unique Pupil Number's format, issuing LA and check letter, as the feed and the
synthetic pupils both apply it (python-stdnum implements DfE's rules; this adds the LAs it does not
know yet and a fast path for compact UPNs)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from stdnum.exceptions import InvalidComponent
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.gb import upn as upn_rules

#: LA numbers created by local government reorganisations that python-stdnum's list of issuing LAs
#: (stdnum.gb.upn) does not know yet: Dorset 838 and Bournemouth, Christchurch and Poole 839 (April
#: 2019), North and West Northamptonshire 940 and 941 (April 2021), Cumberland 942 and Westmorland and
#: Furness 943 (April 2023). All six are in DfE's 2025/26 attendance data (docs/domain.md 5); without them
#: every register from those LAs' schools would be refused.
LA_NUMBERS_SINCE_2019 = frozenset({838, 839, 940, 941, 942, 943})

#: A UPN as the API documents it: a check letter, eleven digits (issuing LA, establishment, year,
#: serial), and a digit or, for a temporary UPN, a letter; the check alphabet has no I, O or S. The
#: check letter itself and the issuing LA are checked by `validate_upn` (OpenAPI format `upn`).
UPN_PATTERN = r"^[A-HJ-NP-RT-Za-hj-np-rt-z][0-9]{11}[0-9A-HJ-NP-RT-Za-hj-np-rt-z]$"
Upn = Annotated[
    str,
    Field(
        pattern=UPN_PATTERN,
        json_schema_extra={"format": "upn"},
        description="a Unique Pupil Number (DfE), with its check letter",
    ),
]

_UPN_FORMAT = "not a valid UPN (format or check letter)"
_UPN_LA = "not a valid UPN (unknown issuing LA number)"
#: What may end a UPN: a digit, or a letter of the check alphabet (temporary UPNs).
_UPN_LAST = frozenset("ABCDEFGHJKLMNPQRTUVWXYZ0123456789")


def _stdnum_las() -> frozenset[int]:
    """The issuing LA numbers python-stdnum accepts, asked through its public `validate` (one
    well-formed UPN per LA number) rather than read from its private list."""
    known = set()
    for la in range(1000):
        body = f"{la:03d}200115001"
        try:
            upn_rules.validate(upn_rules.calc_check_digit(body) + body)
        except InvalidComponent:
            continue
        known.add(la)
    return frozenset(known)


_STDNUM_LAS = _stdnum_las()
#: The same as the three digits a UPN spells them with, for the compact path.
_STDNUM_LA_DIGITS = frozenset(f"{la:03d}" for la in _STDNUM_LAS)
_NEW_LA_DIGITS = frozenset(f"{la:03d}" for la in LA_NUMBERS_SINCE_2019)


def _compact_upn(value: str) -> str | None:
    """A UPN that is already compact (13 ASCII letters and digits, what an MIS sends), upper-cased,
    with its format and issuing LA checked (ValueError) but not its check letter; None for any other
    value (only `stdnum.gb.upn.validate` judges those)."""
    if len(value) == 13 and value.isascii() and value.isalnum():
        number = value.upper()
        if not number[1:12].isdigit() or number[12] not in _UPN_LAST:
            raise ValueError(_UPN_FORMAT)
        la = number[1:4]
        if la not in _STDNUM_LA_DIGITS and la not in _NEW_LA_DIGITS:
            raise ValueError(_UPN_LA)
        return number
    return None


def _check_letter(number: str) -> None:
    """The check letter of a UPN that `_compact_upn` passed, by stdnum's own `calc_check_digit`."""
    if upn_rules.calc_check_digit(number[1:]) != number[0]:
        raise ValueError(_UPN_FORMAT if number[1:4] in _STDNUM_LA_DIGITS else _UPN_LA)


def upn_from_body(body: str) -> str:
    """The UPN whose twelve characters after the check letter are ``body``, by python-stdnum's rule
    (the synthetic pupils and the test factories make their UPNs with it)."""
    return upn_rules.calc_check_digit(body) + body


def validate_upn(value: str) -> str:
    """The UPN in its compact form; ValueError (never echoing the value) when the format or check
    letter is wrong. python-stdnum implements the DfE format and check-letter rules.

    A UPN that is already compact (13 ASCII letters and digits, what an MIS sends) is checked here
    with stdnum's own check letter and LA list: for it, stdnum's `compact` would only upper-case it,
    and its generic cleaning costs more than the rest of a register row. Anything else goes through
    `stdnum.gb.upn.validate`. Both give the same answer and the same message for every input."""
    number = _compact_upn(value)
    if number is not None:
        _check_letter(number)
        return number
    try:
        return str(upn_rules.validate(value))
    except InvalidComponent:
        number = upn_rules.compact(value)
        if int(number[1:4]) in LA_NUMBERS_SINCE_2019 and upn_rules.calc_check_digit(number[1:]) == number[0]:
            return number
        raise ValueError(_UPN_LA) from None
    except StdnumValidationError:
        raise ValueError(_UPN_FORMAT) from None
