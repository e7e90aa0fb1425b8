"""Fuzzing the token parser: whatever a bearer token holds, `verify_token` either returns a well-formed
principal or raises `Unauthenticated` with a reason, and over HTTP the answer is 200 or 401, never 500.

Most tokens here are signed with the dev identity provider's real key, so that the signature verifies
and the hostile header and claim shapes reach the code after it; the rest are garbage segments, wrong
base64 and forged or missing signatures.
"""

from __future__ import annotations

import base64
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gateway.auth import ALLOWED_ALGORITHMS, FileKeySource, Principal, verify_token
from gateway.keys.idp import idp_dir, init_dev_idp
from gateway.errors import Unauthenticated
from tests.conftest import Gateway

ISSUER, AUDIENCE = "fuzz-idp", "fuzz-gateway"
ROLES = ["feed_submitter", "attendance_officer", "case_officer", "trust_officer", "dpo", "statistician"]
ORGS = [("school", "100001"), ("la", "202"), ("trust", "16776"), ("dfe", "dfe"), ("operator", "operator")]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- shapes ------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=8)
# A value that may be hostile, or the one the gateway wants.
def _maybe(good: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(good), st.just(good), json_values)


@st.composite
def headers(draw: st.DrawFn, kid: str) -> Any:
    shape = draw(st.integers(0, 19))
    if shape == 0:
        return draw(json_values)  # not even an object, most of the time
    header: dict[str, Any] = {"alg": "EdDSA", "kid": kid}
    if shape > 6:
        return header  # a well-formed header, so that most examples reach the claims
    header["alg"] = draw(_maybe("EdDSA") | st.sampled_from([*ALLOWED_ALGORITHMS, "none", "HS256", "eddsa"]))
    header["kid"] = draw(_maybe(kid) | st.just(kid + "x"))
    members = st.sampled_from(["typ", "crit", "b64", "jwk", "jku", "x5u", "x5c", "cty", "zip"])
    for name in draw(st.lists(members, max_size=2, unique=True)):
        header[name] = draw(json_values | st.sampled_from(["JWT", ["exp"], False, True]))
    header.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    if draw(st.booleans()):
        header = {k: v for k, v in header.items() if k not in draw(st.sets(st.sampled_from(["alg", "kid"])))}
    return header


@st.composite
def claims(draw: st.DrawFn, issuer: str, audience: str) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    now = int(time.time())
    org_type, org_id = draw(st.sampled_from(ORGS))
    good: dict[str, Any] = {
        "sub": "fuzz-user", "org_type": org_type, "org_id": org_id, "roles": [draw(st.sampled_from(ROLES))],
        "iss": issuer, "aud": audience, "exp": now + 600, "iat": now, "nbf": now - 5,
    }
    hostile = {
        "sub": st.text(max_size=250) | json_values,
        "org_type": st.sampled_from([t for t, _ in ORGS]) | json_values,
        "org_id": st.sampled_from([i for _, i in ORGS]) | st.from_regex(r"\A[0-9]{1,8}\Z") | json_values,
        "roles": st.lists(st.sampled_from(ROLES) | json_values, max_size=4) | json_values,
        "iss": json_values,
        "aud": st.lists(st.just(audience) | st.text(max_size=5), max_size=3) | json_values,
        "exp": st.integers(min_value=-(10**30), max_value=10**30) | st.just(str(now + 600)) | json_values,
        "iat": st.floats() | json_values, "nbf": st.integers() | json_values,
    }
    for name in draw(st.sets(st.sampled_from(sorted(good)), max_size=3)):
        if draw(st.integers(0, 4)) == 0:
            del good[name]
        else:
            good[name] = draw(hostile[name])
    good.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    return good


def _dump(value: Any) -> bytes:
    # allow_nan: NaN and Infinity literals are among the hostile inputs.
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def tokens(draw: st.DrawFn, key: ed25519.Ed25519PrivateKey, kid: str, issuer: str = ISSUER,
           audience: str = AUDIENCE) -> tuple[str, Any, Any]:
    """(token, header, claims): header and claims as encoded, or None when the token is garbage."""
    kind = draw(st.integers(0, 19))  # 0-4: garbage of one kind or another; the rest signed
    if kind == 0:
        alphabet = st.sampled_from("ABCxyz019-_.=+/!é \t")
        return draw(st.text(alphabet, max_size=120) | st.text(max_size=60)), None, None
    header, body = draw(headers(kid)), draw(claims(issuer, audience))
    raw_header, raw_body = _dump(header), _dump(body)
    if kind == 1:
        raw_header = draw(st.binary(max_size=40))
    if kind == 2:
        raw_body = draw(st.binary(max_size=40))
    head, payload = _b64(raw_header), _b64(raw_body)
    if kind == 3:  # wrong base64: padding, the standard alphabet, stray characters
        head = draw(st.sampled_from([head + "=", head.replace("-", "+"), head + "!", head[:-1] or "A"]))
    signing_input = f"{head}.{payload}".encode()
    signature = _b64(key.sign(signing_input))
    if kind == 4:
        forged = _b64(ed25519.Ed25519PrivateKey.generate().sign(signing_input))
        signature = draw(st.sampled_from(["", "AAAA", signature[:-2], forged]))
    return f"{head}.{payload}.{signature}", header, body


# --- the properties ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> tuple[ed25519.Ed25519PrivateKey, str, FileKeySource]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz-idp")
    init_dev_idp(data_dir)
    folder = idp_dir(data_dir)
    key = serialization.load_pem_private_key((folder / "private.pem").read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key, (folder / "kid").read_text().strip(), FileKeySource(folder / "jwks.json")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_verify_token_returns_a_well_formed_principal_or_refuses_with_a_reason(idp,
                                                                              data: st.DataObject) -> None:
    key, kid, source = idp
    token, header, body = data.draw(tokens(key, kid))
    try:
        principal = verify_token(token, source, issuer=ISSUER, audience=AUDIENCE)
    except Unauthenticated as refused:
        assert isinstance(refused.detail, str) and refused.detail
        event(refused.detail.split(":")[0])  # --hypothesis-show-statistics: which checks were reached
        return
    event("accepted")
    # Accepted: then the token was what the gateway documents, and the principal says what it said.
    assert isinstance(principal, Principal) and isinstance(header, dict) and isinstance(body, dict)
    assert header["alg"] == "EdDSA" and header["kid"] == kid
    assert not {"crit", "b64", "jwk", "jku", "x5u", "x5c"} & header.keys()
    assert _number(body["exp"]) and body["exp"] > time.time() - 60
    assert all(_number(body[name]) for name in ("nbf", "iat") if name in body)
    assert body["iss"] == ISSUER and (body["aud"] == AUDIENCE or AUDIENCE in body["aud"])
    assert principal.actor() == {"org_type": body["org_type"], "org_id": body["org_id"], "sub": body["sub"]}
    assert isinstance(body["roles"], list) and set(principal.roles) == set(body["roles"]) <= set(ROLES)
    assert Principal.model_validate(principal.model_dump()) == principal


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_token_makes_the_api_answer_anything_but_200_or_401(gw: Gateway, data: st.DataObject) -> None:
    # The same gateway serves every example: GET /v1/purposes changes nothing, and a keep-alive
    # client that a 500 would have reset is exactly what must keep working.
    folder = idp_dir(gw.settings.data_dir)
    key = serialization.load_pem_private_key((folder / "private.pem").read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    kid = (folder / "kid").read_text().strip()
    token, _, _ = data.draw(tokens(key, kid, gw.settings.jwt_issuer, gw.settings.jwt_audience))
    # As a client could send it: any byte but the control characters HTTP forbids in a header value.
    value = bytes(b for b in f"Bearer {token}".encode("utf-8", "surrogatepass") if b >= 32 or b == 9)
    response = gw.client.get("/v1/purposes", headers={"Authorization": value})
    assert response.status_code in (200, 401), response.text
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer" and response.json()["detail"]
