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


# --- hostile shapes signed with the real key: the signature verifies, the shape does not ---------

PURPOSES = "/v1/purposes"


def _signed(gw: Gateway, header: dict | bytes, claims: dict | bytes) -> str:
    """A token signed with the dev identity provider's key, whatever its header and claims hold."""
    head = _b64(header if isinstance(header, bytes) else json.dumps(header).encode())
    body = _b64(claims if isinstance(claims, bytes) else json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(_dev_key(gw).sign(f'{head}.{body}'.encode()))}"


def _with_claims(gw: Gateway, claims: dict | bytes) -> str:
    return _signed(gw, {"alg": "EdDSA", "kid": _dev_kid(gw)}, claims)


def _ask(gw: Gateway, token: str):
    # Bytes, so that a token with a non-ASCII character reaches the gateway as a client would send it.
    return gw.client.get(PURPOSES, headers={"Authorization": f"Bearer {token}".encode("latin-1")})


def _refused(response, *words: str) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail
    return detail


def test_a_token_signed_with_the_real_key_is_accepted_on_the_purposes_route(gw: Gateway) -> None:
    assert _ask(gw, _with_claims(gw, _claims(gw))).status_code == 200


@pytest.mark.parametrize("header,words", [
    ({"alg": "EdDSA", "kid": 123}, ("kid", "string")),
    ({"alg": "EdDSA", "kid": ["a"]}, ("kid",)),
    ({"alg": "EdDSA", "kid": ""}, ("kid",)),
    ({"alg": "EdDSA"}, ("key id",)),
    ({"alg": ["EdDSA"], "kid": "k"}, ("algorithm",)),
    ({"alg": "EdDSA", "kid": "KID", "typ": 7}, ("typ", "string")),
    ({"alg": "EdDSA", "kid": "KID", "crit": ["exp"]}, ("crit",)),
    ({"alg": "EdDSA", "kid": "KID", "crit": "exp"}, ("crit",)),
    ({"alg": "EdDSA", "kid": "KID", "b64": False, "crit": ["b64"]}, ("crit",)),
    ({"alg": "EdDSA", "kid": "KID", "b64": True}, ("b64",)),
    ({"alg": "EdDSA", "kid": "KID", "jku": "https://evil.example/jwks"}, ("own key",)),
    ({"alg": "EdDSA", "kid": "KID", "x5u": "https://evil.example/cert"}, ("own key",)),
    ({"alg": "EdDSA", "kid": "KID", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}}, ("own key",)),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else None)
def test_a_token_whose_header_is_hostile_is_a_401_with_its_reason(gw: Gateway, header: dict, words) -> None:
    header = {k: (_dev_kid(gw) if v == "KID" else v) for k, v in header.items()}
    _refused(_ask(gw, _signed(gw, header, _claims(gw))), *words)


@pytest.mark.parametrize("raw,words", [
    (b"[1, 2]", ("header", "JSON object")),
    (b'"EdDSA"', ("header", "JSON object")),
    (b'{"alg": "EdDSA", "kid": "KID", "alg": "none"}', ("header", "JSON")),
    (b'{"alg": "EdDSA", "kid": "KID", "n": NaN}', ("header", "JSON")),
    (b"\xff\xfe{}", ("header", "JSON")),
    (b"[" * 5000 + b"]" * 5000, ("header", "JSON")),
], ids=["list", "string", "repeated-member", "nan", "not-utf8", "deeply-nested"])
def test_a_token_whose_header_is_not_one_json_object_is_a_401(gw: Gateway, raw: bytes, words) -> None:
    _refused(_ask(gw, _signed(gw, raw.replace(b"KID", _dev_kid(gw).encode()), _claims(gw))), *words)


def test_a_key_id_that_is_not_a_string_leaves_the_keep_alive_connection_usable(gw: Gateway) -> None:
    _refused(_ask(gw, _signed(gw, {"alg": "EdDSA", "kid": 123}, _claims(gw))), "kid")
    assert _ask(gw, _with_claims(gw, _claims(gw))).status_code == 200


@pytest.mark.parametrize("token", ["a.b", "a.b.c.d", "a!.b.c", "ab==.cd.ef", "é.b.c", "a..c"])
def test_a_token_that_is_not_three_base64url_segments_is_a_401(gw: Gateway, token: str) -> None:
    _refused(_ask(gw, token), "malformed token")


@pytest.mark.parametrize("over,words", [
    ({"exp": "1796608452"}, ("exp", "number")),
    ({"exp": True}, ("exp", "number")),
    ({"exp": None}, ("exp", "required")),
    ({"exp": 10**400}, ("exp", "number")),
    ({"exp": [1796608452]}, ("exp", "number")),
    ({"nbf": "0"}, ("nbf", "number")),
    ({"iat": False}, ("iat", "number")),
    ({"sub": 17}, ("sub", "string")),
    ({"sub": ""}, ("sub",)),
    ({"sub": "tab\there"}, ("sub", "printable")),
    ({"iss": ["attendance-gateway-dev-idp"]}, ("iss", "string")),
    ({"aud": 5}, ("aud",)),
    ({"aud": []}, ("aud",)),
    ({"roles": []}, ("roles", "non-empty")),
    ({"roles": "feed_submitter"}, ("roles", "list")),
    ({"roles": ["feed_submitter", 1]}, ("roles",)),
    ({"roles": ["feed_submitter", "superuser"]}, ("roles",)),
    ({"roles": None}, ("roles",)),
    ({"org_id": 100001}, ("org_id", "string")),
    ({"org_type": "parent"}, ("org_type",)),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else None)
def test_a_token_whose_claims_have_the_wrong_type_is_a_401_naming_the_claim(gw: Gateway, over: dict,
                                                                            words: tuple[str, ...]) -> None:
    claims = {**_claims(gw), **over}
    claims = {k: v for k, v in claims.items() if v is not None}
    _refused(_ask(gw, _with_claims(gw, claims)), *words)


def test_a_payload_with_a_repeated_claim_is_a_401(gw: Gateway) -> None:
    claims = json.dumps(_claims(gw))[:-1] + ', "org_id": "100002"}'
    _refused(_ask(gw, _with_claims(gw, claims.encode())), "payload", "JSON")


@pytest.mark.parametrize("literal,words", [
    (b"1e400", ("exp", "finite")), (b"NaN", ("payload", "JSON")), (b"1" * 5000, ("payload", "JSON")),
], ids=["1e400", "NaN", "5000-digits"])
def test_an_exp_that_is_no_finite_number_is_a_401(gw: Gateway, literal: bytes, words) -> None:
    claims = json.dumps(_claims(gw, exp="EXP")).encode().replace(b'"EXP"', literal)
    _refused(_ask(gw, _with_claims(gw, claims)), *words)


@pytest.mark.parametrize("org_type,org_id", [
    ("school", "10001"), ("school", "1000011"), ("school", "012345"), ("school", "dfe"),
    ("school", "１００００１"),
    ("la", "20"), ("la", "2020"), ("la", "abc"), ("la", "202 "),
    ("trust", "trust-1"), ("trust", ""), ("trust", "0"),
    ("dfe", "dfe-2"), ("dfe", "DfE"), ("dfe", "202"),
    ("operator", "ops"), ("operator", "operator2"),
])
def test_an_org_id_of_the_wrong_shape_for_its_org_type_is_a_401(gw: Gateway, org_type: str,
                                                                org_id: str) -> None:
    _refused(_ask(gw, _with_claims(gw, _claims(gw, org_type=org_type, org_id=org_id))), "org_id")


@pytest.mark.parametrize("org_type,org_id,role", [
    ("school", "100001", "attendance_officer"), ("la", "202", "case_officer"),
    ("trust", "16776", "trust_officer"), ("dfe", "dfe", "statistician"), ("operator", "operator", "dpo"),
])
def test_an_org_id_of_its_org_types_shape_is_accepted(gw: Gateway, org_type: str, org_id: str,
                                                      role: str) -> None:
    assert _ask(gw, gw.token(org_type, org_id, role)).status_code == 200


def test_a_repeated_role_is_accepted_once(gw: Gateway) -> None:
    from gateway.auth import verify_token

    token = gw.token("school", "100001", "feed_submitter", "feed_submitter")
    assert _ask(gw, token).status_code == 200
    principal = verify_token(token, gw.runtime.key_source, issuer=gw.settings.jwt_issuer,
                             audience=gw.settings.jwt_audience)
    assert principal.roles == ("feed_submitter",)


@pytest.mark.parametrize("claim,words", [("nbf", ("nbf",)), ("iat", ("iat", "future"))])
def test_a_token_not_yet_valid_is_a_401(gw: Gateway, claim: str, words) -> None:
    later = int(dt.datetime.now(dt.UTC).timestamp()) + 3600
    _refused(_ask(gw, _with_claims(gw, _claims(gw, **{claim: later}))), *words)


def test_an_audience_list_holding_the_gateway_is_accepted(gw: Gateway) -> None:
    claims = _claims(gw, aud=["another-service", gw.settings.jwt_audience])
    assert _ask(gw, _with_claims(gw, claims)).status_code == 200


def test_an_over_long_token_is_a_401_saying_it_is_too_long(gw: Gateway) -> None:
    _refused(_ask(gw, "a" * 133_000), "too long")
    padded = _with_claims(gw, _claims(gw, pad="x" * 20_000))
    _refused(_ask(gw, padded), "too long")
