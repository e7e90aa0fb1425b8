"""Audit events: canonical bytes that re-derive exactly, and no pupil identifier ever in the log."""

from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.canonical import NotCanonicalisable, canonical_bytes
from audit.events import (
    ACTIONS,
    AuditEvent,
    IdentifierInAuditEvent,
    InvalidAuditEvent,
    assert_no_identifiers,
    event_bytes,
    event_from_dict,
    event_to_dict,
    format_occurred_at,
)

# A valid UPN (the python-stdnum documentation example) and the same shape with a wrong check letter.
VALID_UPN = "B801200005001"
MISTYPED_UPN = "A801200005001"

ACTOR = {"org_type": "la", "org_id": "LA-801", "sub": "case-officer-7"}
WHEN = datetime(2025, 1, 31, 12, 0, 0, 5, tzinfo=UTC)


def an_event(**overrides: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "action": "release.decided",
        "actor": dict(ACTOR),
        "occurred_at": WHEN,
        "purpose": "la-targeting-support",
        "decision": "allow",
        "reasons": ["policy:la-targeting-support"],
        "subject_org_ids": ["URN-100001", "LA-801"],
        "record_count": 2,
        "release_id": "rel-0001",
        "details": {"fields": ["pupil_ref", "attendance_rate"], "policy_version": 3},
        "pupil_refs": ["ar_3f9c2a", "ar_77d01b"],
    }
    return AuditEvent(**(values | overrides))


# --- canonical bytes --------------------------------------------------------------------------------


def test_canonical_bytes_sort_keys_and_drop_whitespace_as_rfc_8785_requires() -> None:
    assert canonical_bytes({"b": [1, True, None], "a": "é"}) == '{"a":"é","b":[1,true,null]}'.encode()


def test_canonical_bytes_order_keys_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, which sorts before U+FB33.
    assert canonical_bytes({"\ufb33": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb33":1}'.encode()


@given(st.dictionaries(st.text(max_size=5), st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=5)))
@settings(max_examples=100)
def test_canonical_bytes_do_not_depend_on_the_order_keys_were_inserted(data: dict[str, Any]) -> None:
    backwards = dict(reversed(list(data.items())))
    assert canonical_bytes(backwards) == canonical_bytes(data)


_ASCII = st.text(alphabet=st.characters(max_codepoint=127), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=5) | st.lists(_ASCII, max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=5), _JSON, max_size=6))
@settings(max_examples=300)
def test_canonical_bytes_are_byte_for_byte_those_of_the_rfc8785_package(data: dict[str, Any]) -> None:
    # canonical_bytes writes lists of plain strings itself (a release's ten thousand pseudonyms);
    # every other value, and the result, must be exactly rfc8785's.
    assert canonical_bytes(data) == rfc8785.dumps(data)


def test_a_list_of_pseudonyms_is_written_as_rfc8785_writes_it() -> None:
    refs = [f"ap_{n:026d}" for n in range(3)] + ['needs "escaping"', "tab\there", "del\x7f", "é"]
    for value in (refs[:3], refs, refs[3:], [], [""]):
        assert canonical_bytes({"pupil_refs": value}) == rfc8785.dumps({"pupil_refs": value})


def test_canonical_bytes_accept_any_mapping_and_tuples() -> None:
    assert canonical_bytes(MappingProxyType({"x": MappingProxyType({"y": (1, 2)})})) == b'{"x":{"y":[1,2]}}'


@pytest.mark.parametrize(
    "value",
    [2**53, float("nan"), float("inf"), {1: "int key"}, b"bytes", datetime(2025, 1, 1, tzinfo=UTC)],
    ids=["big-int", "nan", "inf", "int-key", "bytes", "datetime"],
)
def test_values_outside_i_json_are_refused_without_quoting_them(value: object) -> None:
    with pytest.raises(NotCanonicalisable) as raised:
        canonical_bytes({"v": value})
    assert "9007199254740992" not in str(raised.value)
    assert raised.value.__cause__ is None


# --- the event's JSON form ----------------------------------------------------------------------------


def test_an_event_serialises_every_field_with_a_microsecond_utc_timestamp() -> None:
    assert event_to_dict(an_event()) == {
        "action": "release.decided",
        "actor": ACTOR,
        "occurred_at": "2025-01-31T12:00:00.000005Z",
        "purpose": "la-targeting-support",
        "decision": "allow",
        "reasons": ["policy:la-targeting-support"],
        "subject_org_ids": ["URN-100001", "LA-801"],
        "record_count": 2,
        "release_id": "rel-0001",
        "details": {"fields": ["pupil_ref", "attendance_rate"], "policy_version": 3},
        "pupil_refs": ["ar_3f9c2a", "ar_77d01b"],
    }


def test_a_minimal_event_serialises_its_absent_fields_as_nulls_and_empty_lists() -> None:
    event = AuditEvent(action="keys.rotated", actor=ACTOR, occurred_at=datetime(2025, 1, 1, tzinfo=UTC))
    assert event_bytes(event) == (
        b'{"action":"keys.rotated","actor":{"org_id":"LA-801","org_type":"la","sub":"case-officer-7"},'
        b'"decision":null,"details":{},"occurred_at":"2025-01-01T00:00:00.000000Z","pupil_refs":[],'
        b'"purpose":null,"reasons":[],"record_count":null,"release_id":null,"subject_org_ids":[]}'
    )


def test_event_bytes_are_stable_under_the_key_order_of_actor_and_details() -> None:
    shuffled = an_event(
        actor={"sub": "case-officer-7", "org_id": "LA-801", "org_type": "la"},
        details={"policy_version": 3, "fields": ["pupil_ref", "attendance_rate"]},
    )
    assert event_bytes(shuffled) == event_bytes(an_event())


def test_the_same_instant_in_another_zone_gives_the_same_bytes() -> None:
    london_summer = timezone(timedelta(hours=1))
    assert event_bytes(an_event(occurred_at=WHEN.astimezone(london_summer))) == event_bytes(an_event())
    assert format_occurred_at(WHEN.astimezone(london_summer)) == "2025-01-31T12:00:00.000005Z"


def test_an_event_round_trips_through_its_json_form() -> None:
    event = an_event()
    assert event_from_dict(event_to_dict(event)) == event


@pytest.mark.parametrize(
    "change",
    [{"extra": 1}, {"occurred_at": "2025-01-31T12:00:00Z"}, {"occurred_at": None}],
    ids=["extra-field", "no-microseconds", "null-time"],
)
def test_a_malformed_json_event_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidAuditEvent):
        event_from_dict(event_to_dict(an_event()) | change)


def test_changing_the_serialised_dict_does_not_change_the_event() -> None:
    event = an_event()
    data = event_to_dict(event)
    data["details"]["fields"].append("upn")
    data["reasons"].append("tampered")
    assert event_to_dict(event) == event_to_dict(an_event())


def test_every_documented_action_is_accepted() -> None:
    for action in sorted(ACTIONS):
        assert an_event(action=action).action == action


@pytest.mark.parametrize(
    "change",
    [
        {"action": "Release Decided"},
        {"action": "release"},
        {"actor": {"org_type": "la", "org_id": "LA-801"}},
        {"actor": {"org_type": "la", "org_id": 801, "sub": "x"}},
        {"actor": "LA-801"},
        {"occurred_at": datetime(2025, 1, 31, 12, 0)},  # noqa: DTZ001
        {"occurred_at": "2025-01-31T12:00:00Z"},
        {"decision": "maybe"},
        {"record_count": -1},
        {"record_count": 2.0},
        {"purpose": 7},
        {"release_id": ["rel-0001"]},
        {"reasons": "one reason"},
        {"pupil_refs": [1, 2]},
        {"details": ["not", "a", "mapping"]},
    ],
    ids=[
        "action-words",
        "action-no-dot",
        "actor-missing-sub",
        "actor-int",
        "actor-str",
        "naive-time",
        "str-time",
        "decision",
        "negative-count",
        "float-count",
        "int-purpose",
        "list-release-id",
        "str-reasons",
        "int-refs",
        "list-details",
    ],
)
def test_a_malformed_event_is_refused_when_built(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidAuditEvent):
        an_event(**change)


def test_a_denial_without_counts_or_release_is_a_valid_event() -> None:
    event = an_event(decision="deny", record_count=None, release_id=None, reasons=["unknown purpose"])
    assert event_to_dict(event)["decision"] == "deny"


# --- no identifiers in the log ------------------------------------------------------------------------


def test_event_bytes_refuse_an_event_carrying_a_upn_and_never_quote_it() -> None:
    with pytest.raises(IdentifierInAuditEvent) as raised:
        event_bytes(an_event(pupil_refs=["ar_3f9c2a", VALID_UPN]))
    assert VALID_UPN not in str(raised.value)
    assert "pupil_refs" in str(raised.value)


@pytest.mark.parametrize(
    "value",
    [
        VALID_UPN,
        VALID_UPN.lower(),
        MISTYPED_UPN,
        "B80120000500A",
        "B801 2000 05001",
        f"pupil {VALID_UPN} late",
    ],
    ids=["valid", "lower-case", "wrong-check-letter", "temporary", "spaced", "inside-text"],
)
def test_a_upn_shaped_value_anywhere_is_refused(value: str) -> None:
    with pytest.raises(IdentifierInAuditEvent):
        assert_no_identifiers({"details": {"notes": [{"text": value}]}})


@pytest.mark.parametrize(
    "key",
    ["upn", "UPN", "forename", "surname", "date_of_birth", "dateOfBirth", "Date-Of-Birth", "name", "dob"],
)
def test_an_identifier_key_anywhere_is_refused(key: str) -> None:
    with pytest.raises(IdentifierInAuditEvent, match="identifier field"):
        assert_no_identifiers({"details": {"rows": [{key: "x"}]}})


def test_a_upn_used_as_a_key_is_refused_without_being_quoted() -> None:
    with pytest.raises(IdentifierInAuditEvent) as raised:
        assert_no_identifiers({"details": {VALID_UPN: 1}})
    assert VALID_UPN not in str(raised.value)


def test_event_bytes_refuse_an_identifier_key_in_details() -> None:
    with pytest.raises(IdentifierInAuditEvent):
        event_bytes(an_event(details={"fields": ["upn"], "pupil": {"forename": "Ada"}}))


@pytest.mark.parametrize(
    "value",
    [
        "ar_3f9c2a",
        "URN-100001",
        "B80120000500",
        "B8012000050011",
        "XB801200005001",
        "5dc9da79a70659a9ad559cb7",
        "la-targeting-support",
        801200005001,
        None,
        "upn",
    ],
    ids=[
        "pseudonym",
        "urn",
        "twelve-chars",
        "fourteen-chars",
        "letter-prefixed",
        "hex",
        "purpose",
        "int",
        "null",
        "the-word-upn-as-a-value",
    ],
)
def test_values_that_are_not_upns_pass_the_guard(value: object) -> None:
    assert_no_identifiers({"details": {"fields": ["upn", "forename"], "v": [value], 3: "int key"}})
