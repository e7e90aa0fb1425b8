"""Signed tree heads: the exact signed bytes, Ed25519 round trips, and the published JSON form."""

import base64
import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.heads import (
    MalformedTreeHead,
    TreeHead,
    format_timestamp,
    head_from_json,
    head_to_json,
    key_id_for,
    parse_timestamp,
    public_key_to_jwk,
    sign_tree_head,
    signed_bytes,
    verify_tree_head,
)

# RFC 8032 section 7.1, TEST 1: a published Ed25519 key pair, so the JWK can be checked against
# RFC 8037 Appendix A.2, which encodes this same public key.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
WHEN = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture(scope="module")
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)


@pytest.fixture(scope="module")
def public_key(private_key: Ed25519PrivateKey) -> Ed25519PublicKey:
    return private_key.public_key()


@pytest.fixture(scope="module")
def key_id(public_key: Ed25519PublicKey) -> str:
    return key_id_for(public_key)


@pytest.fixture(scope="module")
def head(private_key: Ed25519PrivateKey, key_id: str) -> TreeHead:
    return sign_tree_head(8, ROOT, WHEN, private_key, key_id)


def test_the_signed_bytes_are_size_hex_root_and_utc_time_each_on_its_own_line() -> None:
    assert signed_bytes(8, ROOT, WHEN) == (
        b"8\n5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328\n2025-03-04T05:06:07Z\n"
    )


def test_a_signed_head_verifies_against_its_signed_bytes_with_the_public_key(
    head: TreeHead, public_key: Ed25519PublicKey, key_id: str
) -> None:
    assert head.algorithm == "Ed25519"
    assert head.key_id == key_id
    public_key.verify(head.signature, signed_bytes(8, ROOT, WHEN))  # raises if not
    assert verify_tree_head(head, {key_id: public_key})


def test_the_timestamp_is_utc_with_whole_seconds_and_a_trailing_z_wherever_it_came_from(
    private_key: Ed25519PrivateKey, public_key: Ed25519PublicKey, key_id: str
) -> None:
    paris = timezone(timedelta(hours=1))
    local = datetime(2025, 3, 4, 6, 6, 7, 999_999, tzinfo=paris)
    assert format_timestamp(local) == "2025-03-04T05:06:07Z"
    head = sign_tree_head(8, ROOT, local, private_key, key_id)
    assert head.timestamp == WHEN
    assert head.timestamp.tzinfo is UTC
    assert verify_tree_head(head, {key_id: public_key})


def test_a_naive_timestamp_is_refused(private_key: Ed25519PrivateKey, key_id: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_tree_head(8, ROOT, datetime(2025, 3, 4, 5, 6, 7), private_key, key_id)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("size", "root"),
    [(-1, ROOT), (True, ROOT), (8, ROOT[:31]), (8, ROOT.hex())],
    ids=["neg", "bool", "short", "hex"],
)
def test_a_head_with_an_impossible_size_or_root_is_not_signed(
    private_key: Ed25519PrivateKey, key_id: str, size: int, root: bytes
) -> None:
    with pytest.raises(ValueError):
        sign_tree_head(size, root, WHEN, private_key, key_id)


def test_a_flipped_signature_byte_fails_verification(
    head: TreeHead, public_key: Ed25519PublicKey, key_id: str
) -> None:
    for position in (0, 31, 63):
        signature = bytearray(head.signature)
        signature[position] ^= 0x01
        assert not verify_tree_head(
            dataclasses.replace(head, signature=bytes(signature)), {key_id: public_key}
        )


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 9},
        {"root_hash": bytes(32)},
        {"timestamp": WHEN + timedelta(seconds=1)},
    ],
    ids=["size", "root", "timestamp"],
)
def test_changing_any_signed_field_fails_verification(
    head: TreeHead, public_key: Ed25519PublicKey, key_id: str, change: dict[str, object]
) -> None:
    assert not verify_tree_head(dataclasses.replace(head, **change), {key_id: public_key})  # type: ignore[arg-type]


def test_an_unknown_key_id_fails_verification(head: TreeHead, public_key: Ed25519PublicKey) -> None:
    assert not verify_tree_head(head, {"someone-else": public_key})
    assert not verify_tree_head(head, {})


def test_a_head_signed_by_another_key_fails_under_our_key_id(
    head: TreeHead, public_key: Ed25519PublicKey, key_id: str
) -> None:
    other = Ed25519PrivateKey.generate()
    forged = sign_tree_head(8, ROOT, WHEN, other, key_id)
    assert not verify_tree_head(forged, {key_id: public_key})
    assert verify_tree_head(forged, {key_id: other.public_key()})


@pytest.mark.parametrize(
    "change",
    [
        {"algorithm": "ES256"},
        {"key_id": 7},
        {"tree_size": -8},
        {"tree_size": "8"},
        {"root_hash": "5dc9"},
        {"signature": b"\x00" * 63},
        {"signature": None},
        {"timestamp": "2025-03-04T05:06:07Z"},
        {"timestamp": datetime(2025, 3, 4, 5, 6, 7)},  # noqa: DTZ001
    ],
    ids=[
        "algorithm",
        "key-id-type",
        "negative-size",
        "str-size",
        "str-root",
        "short-sig",
        "no-sig",
        "str-time",
        "naive-time",
    ],
)
def test_a_malformed_head_is_answered_false_not_raised(
    head: TreeHead, public_key: Ed25519PublicKey, key_id: str, change: dict[str, object]
) -> None:
    assert verify_tree_head(dataclasses.replace(head, **change), {key_id: public_key}) is False  # type: ignore[arg-type]


def test_a_key_mapping_holding_something_other_than_an_ed25519_key_fails(head: TreeHead, key_id: str) -> None:
    assert not verify_tree_head(head, {key_id: "not a key"})  # type: ignore[dict-item]


def test_the_json_form_has_hex_root_rfc3339_time_and_base64_signature(head: TreeHead, key_id: str) -> None:
    published = head_to_json(head)
    assert published == {
        "tree_size": 8,
        "root_hash": ROOT.hex(),
        "timestamp": "2025-03-04T05:06:07Z",
        "key_id": key_id,
        "algorithm": "Ed25519",
        "signature": base64.b64encode(head.signature).decode(),
    }


def test_a_head_survives_a_json_round_trip_and_still_verifies(
    head: TreeHead, public_key: Ed25519PublicKey, key_id: str
) -> None:
    again = head_from_json(head_to_json(head))
    assert again == head
    assert verify_tree_head(again, {key_id: public_key})


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"tree_size": "8"},
        {"tree_size": -1},
        {"tree_size": True},
        {"key_id": None},
        {"algorithm": 1},
        {"root_hash": "zz" * 32},
        {"root_hash": "ab" * 31},
        {"root_hash": "ab" * 31 + "  "},
        {"root_hash": None},
        {"signature": "not base64!"},
        {"signature": 12},
        {"timestamp": "2025-03-04T05:06:07+00:00"},
        {"timestamp": "2025-3-4T5:6:7Z"},
        {"timestamp": "2025-03-04T05:06:07.5Z"},
        {"timestamp": 1741064767},
    ],
    ids=[
        "extra-field",
        "str-size",
        "neg-size",
        "bool-size",
        "null-key-id",
        "int-algorithm",
        "non-hex-root",
        "short-root",
        "spaced-root",
        "null-root",
        "bad-base64",
        "int-signature",
        "offset-time",
        "unpadded-time",
        "fractional-time",
        "epoch-time",
    ],
)
def test_malformed_json_is_refused_when_parsed(head: TreeHead, change: dict[str, object]) -> None:
    published = head_to_json(head) | change
    with pytest.raises(MalformedTreeHead):
        head_from_json(published)


def test_json_missing_a_field_or_not_an_object_is_refused(head: TreeHead) -> None:
    published = head_to_json(head)
    del published["signature"]
    with pytest.raises(MalformedTreeHead):
        head_from_json(published)
    with pytest.raises(MalformedTreeHead):
        head_from_json(["tree_size"])  # type: ignore[arg-type]


def test_timestamps_parse_back_to_the_aware_utc_instant_they_name() -> None:
    assert parse_timestamp("2025-03-04T05:06:07Z") == WHEN
    assert format_timestamp(parse_timestamp("1999-12-31T23:59:59Z")) == "1999-12-31T23:59:59Z"


def test_the_key_id_is_the_first_16_hex_characters_of_the_sha256_of_the_raw_key(
    public_key: Ed25519PublicKey,
) -> None:
    assert key_id_for(public_key) == hashlib.sha256(RFC8032_PUBLIC).hexdigest()[:16]
    assert len(key_id_for(Ed25519PrivateKey.generate().public_key())) == 16


def test_the_public_key_is_published_as_the_rfc_8037_okp_jwk(public_key: Ed25519PublicKey) -> None:
    assert public_key_to_jwk(public_key, "k1") == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC8037_X,
        "kid": "k1",
        "alg": "EdDSA",
        "use": "sig",
    }
