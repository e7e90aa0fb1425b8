"""Pseudonyms: one internal key per child, a reference per recipient and academic year that no two
recipients share, and an audit pseudonym; all keyed, none reversible without the key."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from anonymisation.pseudonyms import audit_pseudonym, normalise_upn, pupil_id, pupil_ref, resolve_pupil_ref

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
UPN = "A202100124001"

upns = st.text(alphabet="ABCDEFGHJKLMNPQRTUVWXYZ0123456789", min_size=13, max_size=13)
recipients = st.builds(
    lambda kind, code: f"{kind}:{code}", st.sampled_from(["la", "school", "dfe"]), st.integers(100, 999999)
)
years = st.integers(2000, 2100)


def test_a_pupil_id_is_the_hmac_sha256_hex_of_the_upper_case_upn():
    expected = hmac.new(KEY, UPN.encode(), hashlib.sha256).hexdigest()

    assert pupil_id(UPN, KEY) == expected
    assert pupil_id("  a202100124001 \n", KEY) == expected


def test_a_upn_is_normalised_to_upper_case_without_surrounding_spaces():
    assert normalise_upn(" a202100124001 ") == UPN


def test_an_empty_upn_has_no_pupil_id():
    with pytest.raises(ValueError, match="cannot be empty"):
        pupil_id("   ", KEY)


@pytest.mark.parametrize("key", [b"", b"short", bytes(31)])
def test_a_key_shorter_than_256_bits_is_refused(key: bytes):
    with pytest.raises(ValueError, match="at least 32 bytes"):
        pupil_id(UPN, key)


@given(first=upns, second=upns)
def test_different_upns_have_different_pupil_ids(first: str, second: str):
    assume(first != second)

    assert pupil_id(first, KEY) != pupil_id(second, KEY)


def test_a_pupil_ref_is_a_prefixed_20_character_base32_string():
    ref = pupil_ref(pupil_id(UPN, KEY), "la:202", 2025, KEY)

    assert re.fullmatch(r"pr_[a-z2-7]{20}", ref)


@given(upn=upns, first=recipients, second=recipients, year=years)
def test_two_recipients_get_different_references_for_the_same_child(
    upn: str, first: str, second: str, year: int
):
    assume(first != second)
    pid = pupil_id(upn, KEY)

    assert pupil_ref(pid, first, year, KEY) != pupil_ref(pid, second, year, KEY)


@given(upn=upns, recipient=recipients, first=years, second=years)
def test_one_recipient_gets_different_references_in_different_academic_years(
    upn: str, recipient: str, first: int, second: int
):
    assume(first != second)
    pid = pupil_id(upn, KEY)

    assert pupil_ref(pid, recipient, first, KEY) != pupil_ref(pid, recipient, second, KEY)


@given(upn=upns, recipient=recipients, year=years)
def test_one_recipient_gets_the_same_reference_for_a_child_within_an_academic_year(
    upn: str, recipient: str, year: int
):
    assert pupil_ref(pupil_id(upn, KEY), recipient, year, KEY) == pupil_ref(
        pupil_id(upn.lower(), KEY), recipient, year, KEY
    )


@given(first=upns, second=upns, recipient=recipients, year=years)
def test_two_children_get_different_references_from_one_recipient(
    first: str, second: str, recipient: str, year: int
):
    assume(first != second)

    assert pupil_ref(pupil_id(first, KEY), recipient, year, KEY) != pupil_ref(
        pupil_id(second, KEY), recipient, year, KEY
    )


def test_references_under_another_key_are_unrelated():
    pid = pupil_id(UPN, KEY)

    assert pupil_ref(pid, "la:202", 2025, KEY) != pupil_ref(pid, "la:202", 2025, OTHER_KEY)


@pytest.mark.parametrize("recipient", ["", "la:202|2025"])
def test_a_recipient_name_must_be_non_empty_and_free_of_the_separator(recipient: str):
    with pytest.raises(ValueError, match="recipient"):
        pupil_ref(pupil_id(UPN, KEY), recipient, 2025, KEY)


def test_the_pupils_school_resolves_a_reference_among_its_own_pupils_and_no_one_else_does():
    roll = [pupil_id(upn, KEY) for upn in ("A202100124001", "B202100124002", "C202100124003")]
    ref = pupil_ref(roll[1], "la:202", 2025, KEY)

    assert resolve_pupil_ref(ref, roll, "la:202", 2025, KEY) == roll[1]
    assert resolve_pupil_ref(ref, [roll[0], roll[2]], "la:202", 2025, KEY) is None
    assert resolve_pupil_ref(ref, roll, "la:203", 2025, KEY) is None
    assert resolve_pupil_ref(ref, roll, "la:202", 2026, KEY) is None


def test_an_audit_pseudonym_is_stable_and_differs_from_every_other_pseudonym_of_the_child():
    pid = pupil_id(UPN, KEY)

    assert audit_pseudonym(pid, KEY) == audit_pseudonym(pid, KEY)
    assert re.fullmatch(r"ap_[a-z2-7]{26}", audit_pseudonym(pid, KEY))
    assert audit_pseudonym(pid, KEY)[3:] not in {pid, pupil_ref(pid, "la:202", 2025, KEY)[3:]}
    assert audit_pseudonym(pid, KEY) != audit_pseudonym(pid, OTHER_KEY)
    assert audit_pseudonym(pid, KEY) != audit_pseudonym(pupil_id("B202100124002", KEY), KEY)
