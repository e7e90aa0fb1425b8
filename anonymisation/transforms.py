"""The closed set of transforms (keep, pseudonymise, band, drop) and the one function that builds
released records from them.

A record is built from the purpose's field list and nothing else: a value reaches a recipient only
if a line of the catalogue names its field with a transform other than drop, and only through an
implementation listed in `IMPLEMENTATIONS`. Identifiers are fetched (decrypted by the shell) only
when a kept field needs them, so a pseudonymous release never decrypts a name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

from policies.fields import Transform
from policies.model import Obligations
from policies.select import Selected
from schemas.records import Identity

__all__ = [
    "ATTENDANCE_BANDS",
    "IMPLEMENTATIONS",
    "Transform",
    "apply_obligations",
    "attendance_band",
    "attendance_rate",
    "rate",
]

#: Bands of Year 6 attendance released to a receiving school, highest first, each with its lower
#: bound in percent (included): 95+, 90-95, 50-90, <50. The 90% bound is the persistent-absence
#: line (DfE, 10% of sessions missed) and 50% the severe-absence line (docs/design.md, transition-y6-y7).
ATTENDANCE_BANDS: tuple[tuple[int, str], ...] = ((95, "95+"), (90, "90-95"), (50, "50-90"), (0, "<50"))

#: Rates are released to four decimal places (0.01 of a percentage point), rounded half up as DfE
#: rounds ("roundFiveUp", attendance-data-dashboard global.R; docs/domain.md 2.4).
RATE_QUANTUM = Decimal("0.0001")

PupilRefFunction = Callable[[str, str, int], str]  # (pupil_id, recipient, academic_year) -> pupil_ref
IdentityLookup = Callable[[str], Identity]  # pupil_id -> decrypted identifiers


def attendance_band(attendance: Fraction) -> str:
    """The band an exact attendance fraction falls in; a bound belongs to the band above it."""
    for lower_percent, label in ATTENDANCE_BANDS:
        if attendance * 100 >= lower_percent:
            return label
    raise ValueError("attendance cannot be negative")


def rate(attendance: Fraction) -> float:
    """An exact fraction as a released rate between 0 and 1."""
    return attendance_rate(attendance.numerator, attendance.denominator)


def attendance_rate(attended: int, possible: int) -> float:
    """The `attendance_rate` field wherever the gateway shows it (a release's records, a school's own
    pupils view), attended (present or approved educational activity) over possible sessions: to
    four decimal places, rounded half up, in whole numbers: the quanta are
    floor((attended / possible) * 10**4 + 1/2), which is what `Decimal.quantize` with ROUND_HALF_UP
    gives for a non-negative fraction; then `quanta / 10**4` is the double nearest that decimal, as
    `float(Decimal)` is (both divisions are exact to the last bit: tests compare them)."""
    if possible <= 0:
        raise ValueError("a row with no possible sessions has no attendance to release")
    quanta = (2 * _RATE_SCALE * attended + possible) // (2 * possible)
    return quanta / _RATE_SCALE


_RATE_SCALE = 10**4  # RATE_QUANTUM as a whole number of quanta per unit


class _Row:
    """One selected row while its record is built, fetching the identity at most once and only if asked."""

    __slots__ = ("row", "_obligations", "_identity_of", "_ref", "_identity")

    def __init__(
        self, row: Selected, obligations: Obligations, identity_of: IdentityLookup, ref: PupilRefFunction
    ):
        self.row = row
        self._obligations = obligations
        self._identity_of = identity_of
        self._ref = ref
        self._identity: Identity | None = None

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            self._identity = self._identity_of(self.row.pupil_id)
        return self._identity

    def pupil_ref(self) -> str:
        # Recipient and year come from the decision, never from the caller, so that a reference
        # cannot be computed for the wrong recipient.
        return self._ref(self.row.pupil_id, self._obligations.recipient.key, self._obligations.academic_year)

    def attendance(self) -> Fraction:
        attendance = self.row.attendance
        if attendance is None:
            raise ValueError("a row with no possible sessions has no attendance to release")
        return attendance

    def rate(self) -> float:
        return attendance_rate(self.row.sessions_attended, self.row.sessions_possible)


def _sessions(row: _Row) -> list[dict[str, object]]:
    # Unpacked, not read by name: a penalty-notice release writes some 80,000 of these.
    return [
        {"date": date, "session": session, "code": code}
        for _, _, date, session, code in row.row.unauthorised_sessions
    ]


_Implementation = Callable[[_Row], object]
K, P, B = Transform.KEEP, Transform.PSEUDONYMISE, Transform.BAND

#: Every (field, transform) the catalogue may use, except drop, which releases nothing.
IMPLEMENTATIONS: Mapping[tuple[str, Transform], _Implementation] = MappingProxyType(
    {
        ("upn", K): lambda r: r.identity.upn,
        ("upn", P): lambda r: r.pupil_ref(),
        ("forename", K): lambda r: r.identity.forename,
        ("surname", K): lambda r: r.identity.surname,
        ("date_of_birth", K): lambda r: r.identity.date_of_birth,
        ("school_urn", K): lambda r: r.row.school_urn,
        ("year_group", K): lambda r: r.row.year_group,
        ("sen_status", K): lambda r: r.row.sen_status,
        ("fsm_eligible", K): lambda r: r.row.fsm_eligible,
        ("sessions_possible", K): lambda r: r.row.sessions_possible,
        ("sessions_authorised_absence", K): lambda r: r.row.sessions_authorised,
        ("sessions_unauthorised_absence", K): lambda r: r.row.sessions_unauthorised,
        ("attendance_rate", K): lambda r: r.rate(),
        ("attendance_rate", B): lambda r: attendance_band(r.attendance()),
        ("persistent_absence", K): lambda r: r.row.persistently_absent,
        ("unauthorised_sessions", K): _sessions,
    }
)


def apply_obligations(
    obligations: Obligations,
    rows: Sequence[Selected],
    *,
    identity_of: IdentityLookup,
    pupil_ref: PupilRefFunction,
) -> list[dict[str, object]]:
    """The released records: for each row, exactly the purpose's output fields, in catalogue order.

    `identity_of` is called only for rows whose record keeps an identifier; `pupil_ref` is the
    pseudonym function with the key bound, e.g. `functools.partial(pseudonyms.pupil_ref, key=key)`.
    Values are plain Python (dates stay `datetime.date`); the shell's response schema serialises them.
    """
    released = [
        (rule.output, IMPLEMENTATIONS[(rule.field, rule.transform)])
        for rule in obligations.fields
        if rule.output is not None
    ]
    records = []
    for selected in rows:
        row = _Row(selected, obligations, identity_of, pupil_ref)
        records.append({name: implementation(row) for name, implementation in released})
    return records
