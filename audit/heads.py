"""Signed tree heads: the log's signed statement "these are my first N entries, and this is their root".

A tree head is what lets a DPO hold the operator to its log: once a head is published, any later
head must be consistent with it (RFC 9162 consistency proof), and any event must be provably
included under it. The signature is Ed25519 over a deliberately plain byte string::

    f"{tree_size}\\n{root_hash_hex}\\n{timestamp}\\n"   (UTF-8)

with the root as lowercase hex and the timestamp as RFC 3339 UTC with a trailing "Z" and whole
seconds. Plain text, rather than JSON or a binary TLS structure, so that a verifier in any language
(or `openssl pkeyutl`) can rebuild the signed bytes from the published JSON without our code.
"""

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.merkle import HASH_SIZE

__all__ = [
    "ALGORITHM",
    "MalformedTreeHead",
    "TreeHead",
    "format_timestamp",
    "head_from_json",
    "head_to_json",
    "key_id_for",
    "parse_timestamp",
    "public_key_to_jwk",
    "sign_tree_head",
    "signed_bytes",
    "verify_tree_head",
]

ALGORITHM = "Ed25519"
"""The only signature algorithm a tree head may carry; a head naming another is not ours."""

_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SIGNATURE_SIZE = 64
_KEY_ID_HEX_CHARS = 16


class MalformedTreeHead(ValueError):
    """A tree head in JSON form is missing a field or has one of the wrong type or shape."""


@dataclass(frozen=True, kw_only=True)
class TreeHead:
    """One signed tree head, as stored and as published.

    ``timestamp`` is an aware UTC datetime with whole seconds, exactly the instant the signed
    string names, so that re-formatting it always reproduces the signed bytes.
    """

    tree_size: int
    root_hash: bytes
    timestamp: datetime
    key_id: str
    algorithm: str = ALGORITHM
    signature: bytes


def format_timestamp(when: datetime) -> str:
    """RFC 3339 in UTC, whole seconds, trailing "Z": the one spelling used in signed bytes and JSON.

    One function so that the signer, the verifier and the JSON form can never drift apart.
    Naive datetimes are refused: a tree head's time must be unambiguous.
    """
    return _to_utc_seconds(when).strftime(_TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Inverse of `format_timestamp`; accepts only exactly that spelling."""
    try:
        when = datetime.strptime(text, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        when = None
    # strptime also takes unpadded fields ("2025-1-31T..."); only the one spelling is the signed one.
    if when is None or format_timestamp(when) != text:
        raise MalformedTreeHead("timestamp must be RFC 3339 UTC like 2025-01-31T12:00:00Z")
    return when


def _to_utc_seconds(when: datetime) -> datetime:
    """Convert to UTC and drop sub-second precision, which the signed format does not carry."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("tree head timestamps must be timezone-aware")
    return when.astimezone(UTC).replace(microsecond=0)


def signed_bytes(tree_size: int, root_hash: bytes, timestamp: datetime) -> bytes:
    """The exact bytes an Ed25519 tree-head signature covers (see the module docstring)."""
    return f"{tree_size}\n{root_hash.hex()}\n{format_timestamp(timestamp)}\n".encode()


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """First 16 hex characters of SHA-256 of the raw 32-byte public key.

    Derived from the key itself, so a key id can be checked rather than trusted, and stays the
    same across deployments and key stores.
    """
    return hashlib.sha256(_raw(public_key)).hexdigest()[:_KEY_ID_HEX_CHARS]


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_to_jwk(public_key: Ed25519PublicKey, key_id: str) -> dict[str, str]:
    """The key as an RFC 8037 OKP JWK, for ``GET /v1/audit/keys`` (a JWKS lists these)."""
    x = base64.urlsafe_b64encode(_raw(public_key)).rstrip(b"=").decode("ascii")
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": key_id, "alg": "EdDSA", "use": "sig"}


def sign_tree_head(
    tree_size: int, root_hash: bytes, when: datetime, private_key: Ed25519PrivateKey, key_id: str
) -> TreeHead:
    """Sign a head for the first ``tree_size`` leaves whose root is ``root_hash``.

    ``when`` is truncated to whole seconds before signing, and the head keeps the truncated value,
    so the head verifies and round-trips through JSON unchanged.
    """
    if type(tree_size) is not int or tree_size < 0:
        raise ValueError("tree_size must be a non-negative int")
    if not isinstance(root_hash, bytes) or len(root_hash) != HASH_SIZE:
        raise ValueError(f"root_hash must be {HASH_SIZE} bytes")
    timestamp = _to_utc_seconds(when)
    signature = private_key.sign(signed_bytes(tree_size, root_hash, timestamp))
    return TreeHead(
        tree_size=tree_size,
        root_hash=root_hash,
        timestamp=timestamp,
        key_id=key_id,
        algorithm=ALGORITHM,
        signature=signature,
    )


def verify_tree_head(head: TreeHead, public_keys: Mapping[str, Ed25519PublicKey]) -> bool:
    """True iff ``head`` carries a valid Ed25519 signature by the key its ``key_id`` names.

    Never raises: an unknown key id, another algorithm, a malformed field or a bad signature are
    all just "not verified", because heads are checked on input from outside.
    """
    public_key = public_keys.get(head.key_id) if isinstance(head.key_id, str) else None
    if not isinstance(public_key, Ed25519PublicKey) or head.algorithm != ALGORITHM:
        return False
    if type(head.tree_size) is not int or head.tree_size < 0:
        return False
    if not isinstance(head.root_hash, bytes) or len(head.root_hash) != HASH_SIZE:
        return False
    if not isinstance(head.signature, bytes) or len(head.signature) != _SIGNATURE_SIZE:
        return False
    if not isinstance(head.timestamp, datetime) or head.timestamp.utcoffset() is None:
        return False
    try:
        public_key.verify(head.signature, signed_bytes(head.tree_size, head.root_hash, head.timestamp))
    except InvalidSignature:
        return False
    return True


def head_to_json(head: TreeHead) -> dict[str, Any]:
    """The published form (docs/design.md "tree head"): hex root, RFC 3339 time, base64 signature."""
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash.hex(),
        "timestamp": format_timestamp(head.timestamp),
        "key_id": head.key_id,
        "algorithm": head.algorithm,
        "signature": base64.b64encode(head.signature).decode("ascii"),
    }


def head_from_json(data: Mapping[str, Any]) -> TreeHead:
    """Parse the published form strictly; `MalformedTreeHead` on any deviation.

    Parsing does not verify: call `verify_tree_head` on the result.
    """
    expected = {"tree_size", "root_hash", "timestamp", "key_id", "algorithm", "signature"}
    if not isinstance(data, Mapping) or set(data) != expected:
        raise MalformedTreeHead(f"a tree head has exactly the fields {sorted(expected)}")
    tree_size, key_id, algorithm = data["tree_size"], data["key_id"], data["algorithm"]
    if type(tree_size) is not int or tree_size < 0:
        raise MalformedTreeHead("tree_size must be a non-negative integer")
    if not isinstance(key_id, str) or not isinstance(algorithm, str):
        raise MalformedTreeHead("key_id and algorithm must be strings")
    root_text, signature_text = data["root_hash"], data["signature"]
    if not isinstance(root_text, str) or len(root_text) != 2 * HASH_SIZE:
        raise MalformedTreeHead("root_hash must be 64 hex characters")
    if not isinstance(signature_text, str):
        raise MalformedTreeHead("signature must be a base64 string")
    try:
        root_hash = bytes.fromhex(root_text)
        signature = base64.b64decode(signature_text, validate=True)
    except ValueError:  # binascii.Error is a ValueError
        raise MalformedTreeHead("root_hash must be hex and signature base64") from None
    if len(root_hash) != HASH_SIZE:  # fromhex skips whitespace, so 64 characters can be fewer bytes
        raise MalformedTreeHead("root_hash must be 64 hex characters")
    return TreeHead(
        tree_size=tree_size,
        root_hash=root_hash,
        timestamp=parse_timestamp(data["timestamp"]),
        key_id=key_id,
        algorithm=algorithm,
        signature=signature,
    )
