"""Envelope encryption of pupil identifiers (pure: keys are passed in, never read from files).

Key hierarchy:
- master keys (a key ring: id -> 32 bytes) wrap the year keys; rotating the master re-wraps year keys only;
- a year key per academic year wraps that year's data keys (and derives the year's audit pseudonym key);
  destroying it crypto-shreds every copy of the year's identifiers, backups of the database included;
- a data key per pupil per academic year encrypts that pupil's identifiers for the year (AES-256-GCM);
- a separate pseudonymisation key derives the other HMAC pseudonyms (see anonymisation.pseudonyms).
The associated data binds each ciphertext to its pupil and year, so rows cannot be swapped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Sequence
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
    return AESGCM(master).decrypt(
        wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _aad(pupil_id, academic_year, "data-key")
    )


#: One encoder for every plaintext: `json.dumps` with options builds a new encoder per call.
_PLAINTEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def identity_plaintext(identity: Identity) -> bytes:
    return _PLAINTEXT(
        [identity.upn, identity.forename, identity.surname, identity.date_of_birth.isoformat()]
    ).encode()


def encrypt_identity(identity: Identity, data_key: bytes, pupil_id: str, academic_year: int) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    aad = _aad(pupil_id, academic_year, "identity")
    return nonce + AESGCM(data_key).encrypt(nonce, identity_plaintext(identity), aad)


def seal_new_identities(
    identities: Sequence[Identity], pupil_ids: Sequence[str], academic_year: int, key_encryption_key: bytes
) -> list[tuple[bytes, bytes]]:
    """For pupils who have no data key for the year yet (a register's new pupils): a fresh data key
    each, and (its wrapping under `key_encryption_key`, the identity encrypted under it). The same
    as `new_key`, `wrap_data_key` and `encrypt_identity` one pupil at a time, with the wrapping
    cipher set up once and the random bytes drawn in one call."""
    wrap = AESGCM(key_encryption_key).encrypt
    randomness = os.urandom(len(identities) * (KEY_BYTES + 2 * NONCE_BYTES))
    out = []
    step = KEY_BYTES + 2 * NONCE_BYTES
    for n, (identity, pupil_id) in enumerate(zip(identities, pupil_ids, strict=True)):
        chunk = randomness[n * step : (n + 1) * step]
        data_key, wrap_nonce, nonce = (
            chunk[:KEY_BYTES],
            chunk[KEY_BYTES : KEY_BYTES + NONCE_BYTES],
            chunk[KEY_BYTES + NONCE_BYTES :],
        )
        wrapped = wrap_nonce + wrap(wrap_nonce, data_key, _aad(pupil_id, academic_year, "data-key"))
        sealed = nonce + AESGCM(data_key).encrypt(
            nonce, identity_plaintext(identity), _aad(pupil_id, academic_year, "identity")
        )
        out.append((wrapped, sealed))
    return out


def decrypt_identity(ciphertext: bytes, data_key: bytes, pupil_id: str, academic_year: int) -> Identity:
    aad = _aad(pupil_id, academic_year, "identity")
    upn, forename, surname, dob = json.loads(
        AESGCM(data_key).decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], aad)
    )
    return Identity(upn=upn, forename=forename, surname=surname, date_of_birth=dt.date.fromisoformat(dob))


def encrypt_evidence(evidence: str, data_key: bytes, pupil_id: str, academic_year: int) -> bytes:
    """A consent's evidence text under the pupil's data key for the year: nonce + AES-256-GCM
    ciphertext, bound to the pupil and year like the identity, so shredding the year shreds it too."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(data_key).encrypt(
        nonce, evidence.encode(), _aad(pupil_id, academic_year, "consent-evidence")
    )


def decrypt_evidence(ciphertext: bytes, data_key: bytes, pupil_id: str, academic_year: int) -> str:
    aad = _aad(pupil_id, academic_year, "consent-evidence")
    return AESGCM(data_key).decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], aad).decode()


def identity_digest(identity: Identity, digest_key: bytes) -> str:
    """Keyed digest used only to notice that a pupil's identifiers changed, without decrypting."""
    return hmac.new(digest_key, identity_plaintext(identity), hashlib.sha256).hexdigest()


def identity_digests(identities: Sequence[tuple[str, str, str, dt.date]], digest_key: bytes) -> list[str]:
    """`identity_digest` of many identities given as (upn, forename, surname, date_of_birth), with the
    key set up once and the plaintexts written in one call (a register's pupils)."""
    mac = hmac_sha256(digest_key)
    return [mac(plaintext).hex() for plaintext in _plaintexts(identities)]


def _plaintexts(identities: Sequence[tuple[str, str, str, dt.date]]) -> list[bytes]:
    """`identity_plaintext` of each identity: the list of them encoded as one JSON array, cut at the
    row boundaries. A boundary is the only place where `"],["` can occur (inside a JSON string every
    quote is escaped), and JSON never holds a raw newline, so the cut is marked with one."""
    if not identities:
        return []
    text = _PLAINTEXT(
        [[upn, forename, surname, dob.isoformat()] for upn, forename, surname, dob in identities]
    )
    return text[1:-1].replace('"],["', '"]\n["').encode().split(b"\n")


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_SHA256_BLOCK = 64


def hmac_sha256(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA-256 under one key, for many messages: RFC 2104 with the key's inner and outer pads
    hashed once, so that each message costs two hash-state copies. The same bytes as
    `hmac.new(key, message, hashlib.sha256).digest()` (tested), at about a third of its cost here:
    with OpenSSL 3, every `hmac.new` looks the algorithm up again."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner, outer = hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))

    def mac(message: bytes) -> bytes:
        state = inner.copy()
        state.update(message)
        result = outer.copy()
        result.update(state.digest())
        return result.digest()

    return mac
