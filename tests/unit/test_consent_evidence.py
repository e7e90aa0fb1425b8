"""Consent evidence is sealed under the pupil's data key for the year, bound to the pupil and year."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anonymisation.keys import decrypt_evidence, encrypt_evidence, new_key

PID = "pid-1"


def test_evidence_sealed_for_a_pupil_and_year_opens_with_the_same_key():
    key = new_key()

    sealed = encrypt_evidence("Signed form, 3 Oct 2025", key, PID, 2025)

    assert b"Signed form" not in sealed
    assert decrypt_evidence(sealed, key, PID, 2025) == "Signed form, 3 Oct 2025"


def test_evidence_stored_in_the_format_written_before_it_moved_to_the_key_module_still_opens():
    # The bytes the consent service wrote itself: 12-byte nonce, then AES-GCM over the text with
    # associated data "consent-evidence|<pupil_id>|<year>".
    key, nonce = new_key(), os.urandom(12)
    aad = f"consent-evidence|{PID}|2025".encode()
    stored = nonce + AESGCM(key).encrypt(nonce, b"Letter from parent", aad)

    assert decrypt_evidence(stored, key, PID, 2025) == "Letter from parent"


@pytest.mark.parametrize(("pupil", "year"), [("pid-2", 2025), (PID, 2024)])
def test_evidence_does_not_open_for_another_pupil_or_year(pupil, year):
    key = new_key()
    sealed = encrypt_evidence("Signed form", key, PID, 2025)

    with pytest.raises(InvalidTag):
        decrypt_evidence(sealed, key, pupil, year)
