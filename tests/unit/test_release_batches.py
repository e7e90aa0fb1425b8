"""The batched forms used by large releases give what the one-at-a-time forms give: pseudonyms, the
identifier guard over lists of strings, and the release's JSON."""

from __future__ import annotations

import datetime as dt
import math

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.gb import upn
from stdnum.util import _char_map  # type: ignore[attr-defined]

from anonymisation import pseudonyms
from audit import events
from gateway.api.releases import json_bytes
from tests.factories import upn as make_upn

KEY = b"unit-tests-only-pseudonym-key-32-bytes"
pupil_ids = st.lists(st.text(min_size=0, max_size=70), max_size=30)


@given(pupil_ids, st.sampled_from(["la:202", "school:100001", "la:9"]), st.integers(2000, 2100))
def test_pupil_refs_of_many_pupils_are_each_pupils_pupil_ref(ids: list[str], recipient: str, year: int) -> None:
    assert pseudonyms.pupil_refs(ids, recipient, year, KEY) == [pseudonyms.pupil_ref(i, recipient, year, KEY) for i in ids]


@given(pupil_ids)
def test_audit_pseudonyms_of_many_pupils_are_each_pupils_audit_pseudonym(ids: list[str]) -> None:
    assert pseudonyms.audit_pseudonyms(ids, KEY) == [pseudonyms.audit_pseudonym(i, KEY) for i in ids]


@given(st.binary(min_size=1, max_size=40), st.data())
def test_base32_of_many_digests_is_each_digests_base32(digest: bytes, data: st.DataObject) -> None:
    chars = data.draw(st.integers(1, math.ceil(len(digest) * 8 / 5)))
    assert pseudonyms._base32_many([digest, digest[::-1]], chars) == [pseudonyms._base32(digest, chars),
                                                                      pseudonyms._base32(digest[::-1], chars)]


def test_batched_pseudonyms_refuse_what_the_single_ones_refuse() -> None:
    for call in (lambda: pseudonyms.pupil_refs(["a"], "la|202", 2025, KEY), lambda: pseudonyms.pupil_refs(["a"], "", 2025, KEY),
                 lambda: pseudonyms.pupil_refs(["a"], "la:202", 2025, b"short"), lambda: pseudonyms.audit_pseudonyms(["a"], b"short")):
        try:
            call()
        except ValueError:
            continue
        raise AssertionError("accepted")


def one_at_a_time(texts: list[str]) -> bool:
    return any(events._looks_like_upn(text) for text in texts)


strings = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.text(alphabet="AbZ0123456789 \n-", max_size=30),
        st.builds(lambda serial, pad: pad + make_upn(serial=serial) + pad, st.integers(0, 999), st.sampled_from(["", " ", "x", "\n", "_"])),
        st.builds(lambda serial: " ".join(make_upn(serial=serial)), st.integers(0, 999)),
        st.builds(lambda i: pseudonyms.audit_pseudonym(str(i), KEY), st.integers()),
    ),
    max_size=12,
)


@settings(max_examples=300)
@given(strings)
def test_a_list_of_strings_is_refused_exactly_when_one_of_its_strings_would_be(texts: list[str]) -> None:
    assert events._any_looks_like_upn(texts) == one_at_a_time(texts)


def test_no_audit_pseudonym_is_ever_taken_for_a_upn() -> None:
    # The premise of skipping stdnum for them: its cleaning leaves their characters alone and deletes
    # none, so a cleaned pseudonym keeps its 29 characters and can never be a 13-character UPN.
    alphabet = "ap_abcdefghijklmnopqrstuvwxyz234567"
    assert all(_char_map.get(c, c) == c for c in alphabet)
    refs = pseudonyms.audit_pseudonyms([f"pupil-{n}" for n in range(2000)], KEY)
    assert all(events._AUDIT_PSEUDONYM.fullmatch(r) and len(r) == 29 for r in refs)
    assert not any(upn.is_valid(r) for r in refs) and not events._any_looks_like_upn(refs)


def test_an_event_naming_thousands_of_pupils_is_still_refused_for_one_upn() -> None:
    refs = pseudonyms.audit_pseudonyms([f"pupil-{n}" for n in range(5000)], KEY)
    events.assert_no_identifiers({"pupil_refs": refs})
    for intruder in (make_upn(serial=7), " ".join(make_upn(serial=7)), "a" + make_upn(serial=7)[1:]):
        try:
            events.assert_no_identifiers({"pupil_refs": [*refs[:2500], intruder, *refs[2500:]]})
        except events.IdentifierInAuditEvent as exc:
            assert str(exc) == "UPN-shaped value in field 'pupil_refs'"
            continue
        raise AssertionError(f"{intruder!r} was let through")


def test_the_release_json_is_what_jsonable_encoder_and_json_response_would_write() -> None:
    release = {
        "release_id": "rel_1", "created_at": dt.datetime(2025, 12, 19, 10, 30, 1, 5, tzinfo=dt.UTC),
        "expires_at": dt.datetime(2027, 12, 19, 10, 30, tzinfo=dt.UTC), "from": dt.date(2025, 8, 1), "to": dt.date(2025, 12, 19),
        "fields": ["upn", "forename"], "acknowledgement": None, "reasons": ["ok: fine"],
        "records": [{"upn": "A123", "forename": "Zoë", "surname": "O'Brien \"Jr\"", "attendance_rate": 0.8999, "fsm_eligible": True,
                     "unauthorised_sessions": [{"date": dt.date(2025, 10, 6), "session": "AM", "code": "G"}]}],
        "record_count": 1,
    }
    assert json_bytes(release) == JSONResponse(content=jsonable_encoder(release)).body
