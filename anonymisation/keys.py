"""Envelope encryption of pupil identifiers (pure: keys are passed in, never read from files).

Key hierarchy:
- master keys (a key ring: id -> 32 bytes) wrap data keys; rotating the master re-wraps data keys only;
- a data key per pupil per academic year encrypts that pupil's identifiers for the year (AES-256-GCM);
  destroying it crypto-shreds every copy of those identifiers, backups included;
- a separate pseudonymisation key derives the HMAC pseudonyms (see anonymisation.pseudonyms).
The associated data binds each ciphertext to its pupil and year, so rows cannot be swapped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schemas.records import Identity

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyUnavailable(Exception):
    """A data key or master key needed to decrypt is gone (shredded or rotated away)."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def master_key_id(key: bytes) -> str:
    """A public, stable identifier of a master key (not secret: a hash of a hash)."""
    return hashlib.sha256(b"master-key-id|" + hashlib.sha256(key).digest()).hexdigest()[:16]


def derive_subkey(root: bytes, label: str) -> bytes:
    """Independent keys for independent uses (pupil ids, pupil_refs, audit pseudonyms, digests)."""
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=label.encode()).derive(root)


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    current_id: str

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]

    def get(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyUnavailable(f"master key {key_id} is not in the key ring") from None


def _aad(pupil_id: str, academic_year: int, kind: str) -> bytes:
    return f"{kind}|{pupil_id}|{academic_year}".encode()


def wrap_data_key(data_key: bytes, master: bytes, pupil_id: str, academic_year: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _aad(pupil_id, academic_year, "data-key"))


def unwrap_data_key(wrapped: bytes, master: bytes, pupil_id: str, academic_year: int) -> bytes:
    return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _aad(pupil_id, academic_year, "data-key"))


def identity_plaintext(identity: Identity) -> bytes:
    return json.dumps(
        [identity.upn, identity.forename, identity.surname, identity.date_of_birth.isoformat()],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def encrypt_identity(identity: Identity, data_key: bytes, pupil_id: str, academic_year: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    aad = _aad(pupil_id, academic_year, "identity")
    return nonce + AESGCM(data_key).encrypt(nonce, identity_plaintext(identity), aad)


def decrypt_identity(ciphertext: bytes, data_key: bytes, pupil_id: str, academic_year: int) -> Identity:
    aad = _aad(pupil_id, academic_year, "identity")
    upn, forename, surname, dob = json.loads(AESGCM(data_key).decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], aad))
    return Identity(upn=upn, forename=forename, surname=surname, date_of_birth=dt.date.fromisoformat(dob))


def identity_digest(identity: Identity, digest_key: bytes) -> str:
    """Keyed digest used only to notice that a pupil's identifiers changed, without decrypting."""
    return hmac.new(digest_key, identity_plaintext(identity), hashlib.sha256).hexdigest()
