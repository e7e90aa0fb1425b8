"""Keyed pseudonyms of pupils.

Three kinds, for three audiences, so that none of them can be joined to another without the key:

- `pupil_id`: the gateway's internal key of a pupil, so that no UPN is stored in clear;
- `pupil_ref`: what a recipient sees, scoped to the recipient and the academic year, so that two
  LAs, or one LA in two years, cannot link their releases about the same child, while one LA's
  releases within a year line up; the pupil's school resolves it through the gateway;
- `audit_pseudonym`: how the audit log refers to a pupil, so that the log never holds a UPN. The
  gateway keys it by academic year (the year of the data an event is about), under a key destroyed
  with the year at the end of retention: after that, a known UPN no longer leads to the year's events,
  while the log, which stores the pseudonyms and not the key, still verifies.

All are HMAC-SHA-256 under a key the caller passes in; this module never reads a key from anywhere.
The messages have different shapes ("UPN", "recipient|year|pupil_id", "audit|pupil_id"; a UPN has no
"|"), so one key could serve all three without one pseudonym being another's input.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence

from anonymisation.keys import hmac_sha256

#: 256-bit keys: the HMAC-SHA-256 key length that gives its full strength (RFC 2104 section 3).
MIN_KEY_BYTES = 32

#: 20 base32 characters are 100 bits: with 9 million pupils a recipient's references collide with
#: probability about 2**-55 (birthday bound), and a reference stays short enough to read aloud.
PUPIL_REF_CHARS = 20
PUPIL_REF_PREFIX = "pr_"

#: 26 base32 characters are 130 bits: audit pseudonyms are kept for the life of the log.
AUDIT_PSEUDONYM_CHARS = 26
AUDIT_PSEUDONYM_PREFIX = "ap_"


def normalise_upn(upn: str) -> str:
    """The UPN as schools write it, upper case and without surrounding spaces, so that one child has
    one pupil_id however the MIS formatted the UPN."""
    normal = upn.strip().upper()
    if not normal:
        raise ValueError("a UPN cannot be empty")
    return normal


def pupil_id(upn: str, key: bytes) -> str:
    """The internal key of a pupil: HMAC-SHA-256 hex of the normalised UPN."""
    return _mac(key, normalise_upn(upn)).hex()


def pupil_ids(upns: Iterable[str], key: bytes) -> list[str]:
    """`pupil_id` of many UPNs (a register's), with the key set up once."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a pseudonym key needs at least {MIN_KEY_BYTES} bytes")
    mac = hmac_sha256(key)
    return [mac(normalise_upn(upn).encode("utf-8")).hex() for upn in upns]


def pupil_ref(pupil_id: str, recipient: str, academic_year: int, key: bytes) -> str:
    """The reference a recipient sees, e.g. 'pr_k3v...'; `recipient` is like 'la:202'."""
    if "|" in recipient or not recipient:
        raise ValueError("a recipient is a non-empty name without '|'")
    return PUPIL_REF_PREFIX + _base32(_mac(key, f"{recipient}|{academic_year}|{pupil_id}"), PUPIL_REF_CHARS)


def pupil_refs(pupil_ids: Iterable[str], recipient: str, academic_year: int, key: bytes) -> list[str]:
    """`pupil_ref` of many pupils (a release's) for one recipient and year, with the key set up once
    and the references written in one base32 encoding."""
    if "|" in recipient or not recipient:
        raise ValueError("a recipient is a non-empty name without '|'")
    prefix = f"{recipient}|{academic_year}|"
    mac = _batch_mac(key)
    digests = [mac((prefix + pid).encode("utf-8")) for pid in pupil_ids]
    return [PUPIL_REF_PREFIX + text for text in _base32_many(digests, PUPIL_REF_CHARS)]


def resolve_pupil_ref(
    ref: str, pupil_ids: Iterable[str], recipient: str, academic_year: int, key: bytes
) -> str | None:
    """The pupil_id among `pupil_ids` (a school's own pupils) that `ref` refers to, if any.

    A reference cannot be reversed, only recomputed: the school's own roll is the search space, so
    a school can resolve references to its own pupils and to no one else.
    """
    for candidate in pupil_ids:
        if hmac.compare_digest(pupil_ref(candidate, recipient, academic_year, key), ref):
            return candidate
    return None


def audit_pseudonym(pupil_id: str, key: bytes) -> str:
    """How the audit log names a pupil: stable for the life of the key (one academic year's), so that
    a DPO can answer 'who has seen this child's data?' by recomputing it from the UPN, until the key
    is destroyed."""
    return AUDIT_PSEUDONYM_PREFIX + _base32(_mac(key, f"audit|{pupil_id}"), AUDIT_PSEUDONYM_CHARS)


def audit_pseudonyms(pupil_ids: Iterable[str], key: bytes) -> list[str]:
    """`audit_pseudonym` of many pupils (a release's), with the key set up once and the pseudonyms
    written in one base32 encoding."""
    mac = _batch_mac(key)
    digests = [mac(f"audit|{pid}".encode()) for pid in pupil_ids]
    return [AUDIT_PSEUDONYM_PREFIX + text for text in _base32_many(digests, AUDIT_PSEUDONYM_CHARS)]


def _batch_mac(key: bytes) -> Callable[[bytes], bytes]:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a pseudonym key needs at least {MIN_KEY_BYTES} bytes")
    return hmac_sha256(key)


#: Every pair of base32 characters, indexed by the 10 bits they spell (RFC 4648 alphabet, lower case).
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_BASE32_PAIRS = tuple(a + b for a in _BASE32 for b in _BASE32)


def _base32_many(digests: Sequence[bytes], chars: int) -> list[str]:
    """`_base32(digest, chars)` of each digest, reading ten bits at a time: the first `chars`
    characters of a base32 text spell the first 5 * `chars` bits of its bytes."""
    pairs = -(-chars // 2)
    length = -(-pairs * 10 // 8)
    surplus = length * 8 - pairs * 10
    shifts = tuple(10 * (pairs - 1 - n) for n in range(pairs))
    table, from_bytes = _BASE32_PAIRS, int.from_bytes
    out = []
    for digest in digests:
        # Past a digest's end, base32 reads zero bits.
        bits = from_bytes(digest[:length].ljust(length, b"\0"), "big") >> surplus
        out.append("".join([table[(bits >> shift) & 1023] for shift in shifts])[:chars])
    return out


def _mac(key: bytes, message: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a pseudonym key needs at least {MIN_KEY_BYTES} bytes")
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _base32(digest: bytes, chars: int) -> str:
    return base64.b32encode(digest).decode("ascii").lower()[:chars]
