"""Transforms and apply_obligations: a record holds exactly the purpose's fields, an identifier a
purpose does not keep never reaches the record, and identifiers are not even fetched unless kept."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymisation.pseudonyms import pupil_ref
from anonymisation.transforms import IMPLEMENTATIONS, apply_obligations, attendance_band, rate
from policies.decide import decide
from policies.fields import FIELDS, IDENTIFYING_FIELDS, Transform
from policies.loader import load_catalogue
from policies.model import FieldRule, Obligations, ReleaseRequest, Requester, RequestFacts
from policies.select import Selected
from schemas.records import Identity, Mark

CATALOGUE = load_catalogue()
KEY = bytes(range(32))
NOW = dt.datetime(2025, 11, 14, 16, tzinfo=dt.UTC)
REF = functools.partial(pupil_ref, key=KEY)


def obligations_for(purpose: str) -> Obligations:
    if purpose == "transition-y6-y7":
        requester = Requester(org_type="school", org_id="100003", roles=("attendance_officer",))
        facts = RequestFacts(requester_phase="Secondary")
        upns: tuple[str, ...] | None = ("A1",)
    else:
        requester, facts, upns = (
            Requester(org_type="la", org_id="202", roles=("case_officer",)),
            RequestFacts(),
            None,
        )
    request = ReleaseRequest(purpose=purpose, upns=upns, justification="Testing the transforms of a purpose")
    decision = decide(CATALOGUE, requester, request, facts, now=NOW)
    assert decision.obligations is not None
    return decision.obligations


RELEASING = [p.id for p in CATALOGUE.purposes if not p.statistics_only and not p.view_only]

ROW = Selected(
    pupil_id="pid-0001",
    school_urn=100001,
    year_group="9",
    sen_status="K",
    fsm_eligible=True,
    sessions_possible=40,
    sessions_attended=34,
    sessions_authorised=2,
    sessions_unauthorised=4,
    unauthorised_sessions=(Mark("pid-0001", 100001, dt.date(2025, 11, 3), "AM", "G"),),
)
IDENTITY = Identity(
    upn="A202100124001", forename="Ada", surname="Lovelace", date_of_birth=dt.date(2011, 12, 10)
)


def no_identity(pupil_id: str) -> Identity:
    raise AssertionError("an identity was fetched for a release that keeps no identifier")


# --- the closed set ------------------------------------------------------------------------------


def test_every_field_and_transform_the_vocabulary_permits_has_exactly_one_implementation():
    permitted = {
        (name, t)
        for name, spec in FIELDS.items()
        for t in Transform
        if t is not Transform.DROP and spec.permits(t) and not spec.view_only
    }

    assert set(IMPLEMENTATIONS) == permitted


@pytest.mark.parametrize(
    ("attendance", "band"),
    [
        (Fraction(1), "95+"),
        (Fraction(95, 100), "95+"),
        (Fraction(949, 1000), "90-95"),
        (Fraction(9, 10), "90-95"),
        (Fraction(8999, 10000), "50-90"),
        (Fraction(1, 2), "50-90"),
        (Fraction(4999, 10000), "<50"),
        (Fraction(0), "<50"),
    ],
)
def test_a_band_boundary_belongs_to_the_band_above_it(attendance: Fraction, band: str):
    assert attendance_band(attendance) == band


def test_a_negative_attendance_has_no_band():
    with pytest.raises(ValueError, match="negative"):
        attendance_band(Fraction(-1, 10))


@pytest.mark.parametrize(
    ("attendance", "released"),
    [
        (Fraction(9, 10), 0.9),
        (Fraction(1, 8), 0.125),
        (Fraction(2, 3), 0.6667),
        (Fraction(1, 3), 0.3333),
        (Fraction(1, 20000), 0.0001),  # exactly half of the last place rounds up, as DfE rounds
        (Fraction(3, 80000), 0.0),
        (Fraction(1), 1.0),
    ],
)
def test_a_rate_is_released_to_four_places_rounding_half_up(attendance: Fraction, released: float):
    assert rate(attendance) == released


@given(st.integers(0, 10**6), st.integers(1, 10**6))
@settings(max_examples=500)
def test_a_rate_in_whole_numbers_is_the_decimal_rounding_half_up(attended: int, possible: int):
    # rate() works in whole numbers (a large release has ten thousand rates); it must release
    # exactly what quantising the exact decimal half up gives.
    exact = Decimal(attended) / Decimal(possible)
    assert rate(Fraction(attended, possible)) == float(exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


# --- the shipped purposes ------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", RELEASING)
def test_a_record_holds_exactly_the_purposes_fields_in_catalogue_order(purpose: str):
    obligations = obligations_for(purpose)

    (record,) = apply_obligations(obligations, [ROW], identity_of=lambda _: IDENTITY, pupil_ref=REF)

    assert tuple(record) == CATALOGUE.purpose(purpose).output_fields  # type: ignore[union-attr]


@pytest.mark.parametrize("purpose", ["la-targeting-support", "mentoring-referral"])
def test_a_pseudonymous_purpose_never_fetches_an_identity(purpose: str):
    records = apply_obligations(obligations_for(purpose), [ROW, ROW], identity_of=no_identity, pupil_ref=REF)

    assert len(records) == 2


def test_the_pupil_ref_is_scoped_to_the_decisions_recipient_and_academic_year():
    calls = []

    def recording_ref(pupil_id: str, recipient: str, academic_year: int) -> str:
        calls.append((pupil_id, recipient, academic_year))
        return "pr_test"

    (record,) = apply_obligations(
        obligations_for("la-targeting-support"), [ROW], identity_of=no_identity, pupil_ref=recording_ref
    )

    assert record["pupil_ref"] == "pr_test"
    assert calls == [("pid-0001", "la:202", 2025)]


def test_an_identity_is_fetched_once_per_row_when_identifiers_are_kept():
    fetched = []

    def identity_of(pupil_id: str) -> Identity:
        fetched.append(pupil_id)
        return IDENTITY

    (record,) = apply_obligations(
        obligations_for("la-severe-absence"), [ROW], identity_of=identity_of, pupil_ref=REF
    )

    assert fetched == ["pid-0001"]
    assert record == {
        "upn": "A202100124001",
        "forename": "Ada",
        "surname": "Lovelace",
        "date_of_birth": dt.date(2011, 12, 10),
        "school_urn": 100001,
        "year_group": "9",
        "sen_status": "K",
        "sessions_possible": 40,
        "sessions_authorised_absence": 2,
        "sessions_unauthorised_absence": 4,
        "attendance_rate": 0.85,
    }


def test_penalty_notice_sessions_are_released_as_date_session_and_code_only():
    (record,) = apply_obligations(
        obligations_for("la-penalty-notice"), [ROW], identity_of=lambda _: IDENTITY, pupil_ref=REF
    )

    assert record["unauthorised_sessions"] == [{"date": dt.date(2025, 11, 3), "session": "AM", "code": "G"}]


def test_a_row_with_no_possible_sessions_cannot_release_an_attendance_rate():
    empty = Selected("pid", 100001, "9", "N", False, 0, 0, 0, 0)

    with pytest.raises(ValueError, match="no possible sessions"):
        apply_obligations(
            obligations_for("mentoring-referral"), [empty], identity_of=no_identity, pupil_ref=REF
        )


# --- properties over any purpose the vocabulary allows ---------------------------------------------

field_rules = st.lists(
    st.sampled_from(sorted(n for n, s in FIELDS.items() if not s.view_only)).flatmap(
        lambda name: st.sampled_from([t for t in Transform if FIELDS[name].permits(t)]).map(
            lambda transform: FieldRule(field=name, transform=transform)
        )
    ),
    unique_by=lambda rule: rule.field,
)
sentinel = st.text(alphabet="0123456789abcdef", min_size=12, max_size=12)


@st.composite
def rows_and_identities(draw: st.DrawFn) -> tuple[list[Selected], dict[str, Identity]]:
    rows, identities = [], {}
    for _ in range(draw(st.integers(1, 3))):
        pid = "PID" + draw(sentinel)
        possible = draw(st.integers(1, 400))
        absent = draw(st.integers(0, possible))
        authorised = draw(st.integers(0, absent))
        marks = tuple(
            Mark(pid, 100001, dt.date(2025, 9, 1) + dt.timedelta(days=d), "AM", "O")
            for d in draw(st.lists(st.integers(0, 60), unique=True, max_size=12))
        )
        rows.append(
            Selected(
                pupil_id=pid,
                school_urn=draw(st.integers(100000, 999999)),
                year_group=draw(st.sampled_from(["R", "1", "6", "11"])),
                sen_status=draw(st.sampled_from(["N", "K", "E"])),
                fsm_eligible=draw(st.booleans()),
                sessions_possible=possible,
                sessions_attended=possible - absent,
                sessions_authorised=authorised,
                sessions_unauthorised=absent - authorised,
                unauthorised_sessions=marks,
            )
        )
        identities[pid] = Identity(
            upn="UPN" + draw(sentinel),
            forename="FORENAME" + draw(sentinel),
            surname="SURNAME" + draw(sentinel),
            date_of_birth=draw(st.dates(dt.date(2008, 1, 1), dt.date(2020, 12, 31))),
        )
    return rows, identities


def flatten(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in flatten(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in flatten(item)]
    return [value]


@given(rules=field_rules, data=rows_and_identities())
def test_a_record_holds_exactly_the_listed_fields_and_no_identifier_a_purpose_does_not_keep(
    rules: list[FieldRule], data: tuple[list[Selected], dict[str, Identity]]
):
    rows, identities = data
    obligations = obligations_for("la-targeting-support").model_copy(update={"fields": tuple(rules)})
    kept = {rule.field for rule in rules if rule.transform is Transform.KEEP}
    fetched: list[str] = []

    def identity_of(pupil_id: str) -> Identity:
        fetched.append(pupil_id)
        return identities[pupil_id]

    records = apply_obligations(obligations, rows, identity_of=identity_of, pupil_ref=REF)

    expected_names = [rule.output for rule in rules if rule.output is not None]
    for row, record in zip(rows, records, strict=True):
        assert list(record) == expected_names
        leaves = flatten(record)
        text = repr(record)
        identity = identities[row.pupil_id]
        for name, value in (
            ("upn", identity.upn),
            ("forename", identity.forename),
            ("surname", identity.surname),
        ):
            if name not in kept:
                assert value not in text
        if "date_of_birth" not in kept:
            assert identity.date_of_birth not in leaves
        assert row.pupil_id not in text
    if not kept & IDENTIFYING_FIELDS:
        assert fetched == []
    else:
        assert fetched == [row.pupil_id for row in rows]


@given(data=rows_and_identities(), first=st.integers(100, 999), second=st.integers(100, 999))
def test_two_las_receive_different_pupil_refs_for_the_same_rows(
    data: tuple[list[Selected], dict[str, Identity]], first: int, second: int
):
    rows, _ = data
    base = obligations_for("la-targeting-support")

    def refs(org_id: int) -> list[object]:
        recipient = base.recipient.model_copy(update={"org_id": str(org_id)})
        records = apply_obligations(
            base.model_copy(update={"recipient": recipient}), rows, identity_of=no_identity, pupil_ref=REF
        )
        return [record["pupil_ref"] for record in records]

    if first == second:
        assert refs(first) == refs(second)
    else:
        assert set(refs(first)).isdisjoint(refs(second))
