"""Attacks on authentication: every one is a 401, and nothing is stored."""

from __future__ import annotations

import base64
import datetime as dt
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.conftest import Gateway
from tests.factories import feed_json, pupil

URL = "/v1/schools/100001/attendance/2025-10-06"
CLAIMS = {"sub": "attacker", "org_type": "school", "org_id": "100001", "roles": ["feed_submitter"]}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(gw: Gateway, **over: object) -> dict[str, object]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims: dict[str, object] = {**CLAIMS, "iss": gw.settings.jwt_issuer, "aud": gw.settings.jwt_audience, "exp": now + 600}
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _dev_kid(gw: Gateway) -> str:
    return (gw.settings.data_dir / "dev-idp" / "kid").read_text().strip()


def _dev_key(gw: Gateway) -> ed25519.Ed25519PrivateKey:
    key = serialization.load_pem_private_key((gw.settings.data_dir / "dev-idp" / "private.pem").read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


def _send(gw: Gateway, token: str | None, scheme: str = "Bearer"):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    return gw.client.put(URL, content=feed_json([pupil(1)]), headers=headers)


def test_a_valid_dev_token_is_accepted(loaded: Gateway) -> None:
    token = jwt.encode(_claims(loaded), _dev_key(loaded), algorithm="EdDSA", headers={"kid": _dev_kid(loaded)})
    assert _send(loaded, token).status_code == 201


def test_a_missing_token_is_refused(loaded: Gateway) -> None:
    response = _send(loaded, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30.", "Basic dXNlcjpwYXNz"])
def test_a_malformed_token_is_refused(loaded: Gateway, token: str) -> None:
    assert _send(loaded, token).status_code == 401


def test_a_token_with_another_scheme_is_refused(loaded: Gateway) -> None:
    assert _send(loaded, loaded.token("school", "100001", "feed_submitter"), scheme="Basic").status_code == 401


def test_an_alg_none_token_is_refused(loaded: Gateway) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": _dev_kid(loaded)}).encode())
    body = _b64(json.dumps(_claims(loaded)).encode())
    assert _send(loaded, f"{header}.{body}.").status_code == 401


def test_an_hs256_token_signed_with_the_public_key_is_refused(loaded: Gateway) -> None:
    jwks = json.loads((loaded.settings.data_dir / "dev-idp" / "jwks.json").read_text())
    public_x = jwks["keys"][0]["x"].encode()
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": _dev_kid(loaded)}).encode())
    body = _b64(json.dumps(_claims(loaded)).encode())
    import hashlib
    import hmac

    sig = _b64(hmac.new(public_x, f"{header}.{body}".encode(), hashlib.sha256).digest())
    assert _send(loaded, f"{header}.{body}.{sig}").status_code == 401


def test_an_hmac_signed_token_is_refused(loaded: Gateway) -> None:
    token = jwt.encode(_claims(loaded), "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256", headers={"kid": _dev_kid(loaded)})
    assert _send(loaded, token).status_code == 401


def test_a_forged_token_signed_by_another_key_with_the_right_kid_is_refused(loaded: Gateway) -> None:
    token = jwt.encode(_claims(loaded), ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": _dev_kid(loaded)})
    assert _send(loaded, token).status_code == 401


def test_a_tampered_payload_is_refused(loaded: Gateway) -> None:
    token = loaded.token("school", "100003", "feed_submitter")
    header, _, sig = token.split(".")
    body = _b64(json.dumps(_claims(loaded)).encode())
    assert _send(loaded, f"{header}.{body}.{sig}").status_code == 401


def test_an_expired_token_is_refused(loaded: Gateway) -> None:
    token = loaded.token("school", "100001", "feed_submitter", ttl=dt.timedelta(minutes=-5))
    response = _send(loaded, token)
    assert response.status_code == 401
    assert response.json()["detail"] == "token expired"


@pytest.mark.parametrize("claim", ["exp", "iss", "aud"])
def test_a_token_without_a_required_claim_is_refused(loaded: Gateway, claim: str) -> None:
    token = jwt.encode(_claims(loaded, **{claim: None}), _dev_key(loaded), algorithm="EdDSA", headers={"kid": _dev_kid(loaded)})
    assert _send(loaded, token).status_code == 401


def test_a_wrong_audience_is_refused(loaded: Gateway) -> None:
    token = jwt.encode(_claims(loaded, aud="another-service"), _dev_key(loaded), algorithm="EdDSA", headers={"kid": _dev_kid(loaded)})
    assert _send(loaded, token).status_code == 401


def test_a_wrong_issuer_is_refused(loaded: Gateway) -> None:
    token = jwt.encode(_claims(loaded, iss="evil-idp"), _dev_key(loaded), algorithm="EdDSA", headers={"kid": _dev_kid(loaded)})
    assert _send(loaded, token).status_code == 401


def test_an_unknown_key_id_is_refused(loaded: Gateway) -> None:
    token = jwt.encode(_claims(loaded), _dev_key(loaded), algorithm="EdDSA", headers={"kid": "someone-else"})
    assert _send(loaded, token).status_code == 401


@pytest.mark.parametrize("make_key,alg", [(lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
                                          (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")])
def test_es256_and_rs256_from_an_untrusted_key_are_refused(loaded: Gateway, make_key, alg: str) -> None:
    token = jwt.encode(_claims(loaded), make_key(), algorithm=alg, headers={"kid": _dev_kid(loaded)})
    assert _send(loaded, token).status_code == 401


@pytest.mark.parametrize("bad", [{"org_type": "parent"}, {"roles": ["superuser"]}, {"org_id": None}, {"roles": "dpo"}])
def test_a_token_with_bad_claims_is_refused(loaded: Gateway, bad: dict) -> None:
    token = jwt.encode(_claims(loaded, **bad), _dev_key(loaded), algorithm="EdDSA", headers={"kid": _dev_kid(loaded)})
    assert _send(loaded, token).status_code == 401
