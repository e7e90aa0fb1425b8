"""JWKS sources: the URL source caches and survives a failed refresh; both accept ES256 and RS256."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from gateway.auth import FileKeySource, Principal, UrlKeySource, verify_token
from gateway.errors import Unauthenticated


def _jwks(public_key, kid: str, alg: str) -> dict:
    to_jwk = ECAlgorithm.to_jwk if alg == "ES256" else RSAAlgorithm.to_jwk
    jwk = json.loads(to_jwk(public_key))
    jwk.update({"kid": kid, "alg": alg})
    return {"keys": [jwk]}


def _token(key, kid: str, alg: str) -> str:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"sub": "u1", "org_type": "la", "org_id": "202", "roles": ["case_officer"], "iss": "idp", "aud": "gw", "exp": now + 60}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


class FlakyIdp:
    def __init__(self, document: dict):
        self.document = document
        self.up = True
        self.calls = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if not self.up:
            return httpx.Response(503)
        return httpx.Response(200, json=self.document)


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_the_url_source_verifies_and_keeps_keys_when_a_refresh_fails(alg: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp = FlakyIdp(_jwks(key.public_key(), "k1", alg))
    source = UrlKeySource("https://idp.example/jwks", ttl_seconds=0, min_refresh_seconds=0, client=httpx.Client(transport=httpx.MockTransport(idp.handler)))
    principal = verify_token(_token(key, "k1", alg), source, issuer="idp", audience="gw")
    assert principal.org_id == "202"
    idp.up = False
    # The refresh fails (503) but the cached key still verifies.
    assert verify_token(_token(key, "k1", alg), source, issuer="idp", audience="gw").sub == "u1"
    assert idp.calls >= 2


def test_the_url_source_refreshes_for_an_unknown_key_id() -> None:
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    idp = FlakyIdp(_jwks(old.public_key(), "old", "ES256"))
    source = UrlKeySource("https://idp.example/jwks", ttl_seconds=3600, min_refresh_seconds=0, client=httpx.Client(transport=httpx.MockTransport(idp.handler)))
    verify_token(_token(old, "old", "ES256"), source, issuer="idp", audience="gw")
    idp.document = _jwks(new.public_key(), "new", "ES256")
    assert verify_token(_token(new, "new", "ES256"), source, issuer="idp", audience="gw").org_type == "la"


def test_the_url_source_with_an_unreachable_idp_refuses_tokens() -> None:
    idp = FlakyIdp({"keys": []})
    idp.up = False
    key = ec.generate_private_key(ec.SECP256R1())
    source = UrlKeySource("https://idp.example/jwks", client=httpx.Client(transport=httpx.MockTransport(idp.handler)))
    with pytest.raises(Unauthenticated):
        verify_token(_token(key, "k1", "ES256"), source, issuer="idp", audience="gw")


def test_the_file_source_ignores_symmetric_keys(tmp_path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}))
    assert FileKeySource(path).get("s") is None


def test_the_file_source_picks_up_a_rotated_file(tmp_path) -> None:
    path = tmp_path / "jwks.json"
    a, b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    path.write_text(json.dumps(_jwks(a.public_key(), "a", "ES256")))
    source = FileKeySource(path)
    assert source.get("a") is not None and source.get("b") is None
    import os

    path.write_text(json.dumps(_jwks(b.public_key(), "b", "ES256")))
    os.utime(path, (1, 1))
    assert source.get("b") is not None


def test_a_header_pointing_at_another_key_set_is_refused_and_never_fetched() -> None:
    trusted, attacker = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    idp = FlakyIdp(_jwks(trusted.public_key(), "k1", "ES256"))
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return idp.handler(request)

    source = UrlKeySource("https://idp.example/jwks", min_refresh_seconds=0,
                          client=httpx.Client(transport=httpx.MockTransport(handler)))
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"sub": "u1", "org_type": "la", "org_id": "202", "roles": ["case_officer"],
              "iss": "idp", "aud": "gw", "exp": now + 60}
    for name, value in [("jku", "https://evil.example/jwks"), ("x5u", "https://evil.example/cert.pem"),
                        ("jwk", json.loads(ECAlgorithm.to_jwk(attacker.public_key())))]:
        token = jwt.encode(claims, attacker, algorithm="ES256", headers={"kid": "k1", name: value})
        with pytest.raises(Unauthenticated, match="names its own key"):
            verify_token(token, source, issuer="idp", audience="gw")
    assert all(url == "https://idp.example/jwks" for url in seen)


@pytest.mark.parametrize("org_type,org_id", [("school", "12"), ("la", "20202"), ("trust", "T1"),
                                             ("dfe", "dfe-2")])
def test_a_principal_cannot_be_made_with_an_org_id_of_the_wrong_shape(org_type: str, org_id: str) -> None:
    with pytest.raises(ValueError, match="org_id"):
        Principal(sub="u1", org_type=org_type, org_id=org_id, roles=("case_officer",))  # type: ignore[arg-type]
