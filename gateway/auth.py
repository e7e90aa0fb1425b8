"""Bearer-token verification: JWTs from the trusted identity provider, checked against a JWKS.

Allow-list of asymmetric algorithms only (EdDSA, ES256, RS256): `none` and every HMAC algorithm are
refused before any key is looked at, so an HS256 token "signed" with a public key cannot pass.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import httpx
import jwt
import structlog
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.errors import Unauthenticated

log = structlog.get_logger("gateway.auth")

ALLOWED_ALGORITHMS = ("EdDSA", "ES256", "RS256")
_KTY_FOR_ALG = {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA"}
#: Clock skew tolerated on exp/nbf/iat between the identity provider and the gateway.
LEEWAY_SECONDS = 30
#: Longest token read. Identity providers' access tokens run to one or two kilobytes (a few more with
#: group claims); anything longer is refused before it is decoded, so that no client can make the
#: gateway parse megabytes of JSON on an unauthenticated request.
MAX_TOKEN_CHARS = 16 * 1024

OrgType = Literal["school", "la", "trust", "dfe", "operator"]
Role = Literal["feed_submitter", "attendance_officer", "case_officer", "trust_officer", "dpo", "statistician"]

#: What each organisation's `org_id` looks like (docs/design.md, "Identity"): a school's six-digit URN, an
#: LA's three-digit code, a trust's GIAS group UID (digits), and one fixed id for DfE and the operator.
_ORG_ID_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "school": (re.compile(r"[1-9][0-9]{5}"), "a six-digit URN"),
    "la": (re.compile(r"[0-9]{3}"), "a three-digit LA code"),
    "trust": (re.compile(r"[1-9][0-9]{0,7}"), "a GIAS trust UID (digits)"),
    "dfe": (re.compile(r"dfe"), "'dfe'"),
    "operator": (re.compile(r"operator"), "'operator'"),
}
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
#: Header parameters by which a token would name its own verification key (RFC 7515 4.1.2-4.1.6):
#: keys come only from the identity provider's published JWKS, so a token carrying one is refused.
_SELF_KEY_HEADERS = ("jwk", "jku", "x5u", "x5c")


def _printable(value: str) -> str:
    # No control characters or lone surrogates: they would break log lines and database encodings.
    if not value.isprintable():
        raise ValueError("must be printable text")
    return value


_Text = Annotated[str, Field(strict=True, min_length=1, max_length=200), AfterValidator(_printable)]
_NumericDate = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # RFC 7519 2: a JSON number


class Principal(BaseModel):
    """Who is asking, as the token says. Every field is checked for type and shape: a principal that
    exists is one the rest of the gateway can trust to be well formed."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    sub: _Text
    org_type: OrgType
    org_id: Annotated[str, Field(strict=True, min_length=1, max_length=20)]
    roles: tuple[Role, ...]

    @field_validator("roles", mode="before")
    @classmethod
    def _roles_are_a_list(cls, value: object) -> object:
        # JSON has no tuples: a token carries a list (strict mode alone would refuse it).
        if isinstance(value, tuple | list) and value:
            return tuple(value)
        raise ValueError("must be a non-empty list of roles")

    @field_validator("roles")
    @classmethod
    def _distinct(cls, value: tuple[Role, ...]) -> tuple[Role, ...]:
        # A set in meaning: a repeated role adds nothing, so it is dropped rather than refused.
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _org_id_has_its_types_shape(self) -> Principal:
        shape, described = _ORG_ID_SHAPES[self.org_type]
        if not shape.fullmatch(self.org_id):
            raise ValueError(f"org_id of an org_type '{self.org_type}' must be {described}")
        return self

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def recipient(self) -> str:
        return f"{self.org_type}:{self.org_id}"

    def actor(self) -> dict[str, str]:
        return {"org_type": self.org_type, "org_id": self.org_id, "sub": self.sub}


class _Header(BaseModel):
    """The JOSE header, as far as the gateway reads it."""

    model_config = ConfigDict(extra="ignore", strict=True)

    alg: str
    kid: Annotated[str, Field(strict=True, min_length=1, max_length=200)]
    typ: str | None = None


class _Registered(BaseModel):
    """The registered claims the gateway checks (RFC 7519 4.1)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    iss: str
    aud: tuple[str, ...]
    exp: _NumericDate
    nbf: _NumericDate | None = None
    iat: _NumericDate | None = None

    @field_validator("aud", mode="before")
    @classmethod
    def _one_or_more_audiences(cls, value: object) -> object:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise ValueError("must be a string or a non-empty list of strings")


class KeySource(Protocol):
    def get(self, kid: str) -> jwt.PyJWK | None: ...


def _parse_jwks(data: object) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWKS document")
    for raw in data["keys"]:
        if not isinstance(raw, dict) or "kid" not in raw:
            continue
        if raw.get("kty") not in _KTY_FOR_ALG.values():
            continue  # symmetric ("oct") keys are never trusted
        try:
            keys[str(raw["kid"])] = jwt.PyJWK(raw)
        except jwt.PyJWKError:
            log.warning("jwks_key_skipped", kid=str(raw.get("kid")))
    return keys


class FileKeySource:
    """A JWKS file, re-read when it changes on disk."""

    def __init__(self, path: Path):
        self.path = path
        self._mtime: float | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._lock = threading.Lock()

    def get(self, kid: str) -> jwt.PyJWK | None:
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime
            except OSError:
                return self._keys.get(kid)
            if mtime != self._mtime:
                try:
                    self._keys = _parse_jwks(json.loads(self.path.read_text()))
                    self._mtime = mtime
                except (OSError, ValueError):
                    log.warning("jwks_file_unreadable")
            return self._keys.get(kid)


class UrlKeySource:
    """A JWKS fetched from the identity provider, cached; a failed refresh keeps the cached keys."""

    def __init__(
        self, url: str, ttl_seconds: int = 300, min_refresh_seconds: int = 10,
        client: httpx.Client | None = None,
    ):
        self.url = url
        self.ttl = ttl_seconds
        self.min_refresh = min_refresh_seconds
        self._client = client or httpx.Client(timeout=5.0)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._attempted_at = 0.0
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        self._attempted_at = time.monotonic()
        try:
            response = self._client.get(self.url)
            response.raise_for_status()
            self._keys = _parse_jwks(response.json())
            self._fetched_at = time.monotonic()
        except (httpx.HTTPError, ValueError):
            log.warning("jwks_refresh_failed", cached_keys=len(self._keys))

    def get(self, kid: str) -> jwt.PyJWK | None:
        with self._lock:
            now = time.monotonic()
            stale = now - self._fetched_at > self.ttl
            unknown = kid not in self._keys
            never_tried = self._attempted_at == 0.0
            if never_tried or ((stale or unknown) and now - self._attempted_at >= self.min_refresh):
                self._refresh()
            return self._keys.get(kid)


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    """A JSON object with no repeated member (which copy would count is up to the parser) and no
    NaN or Infinity (not JSON, though Python's parser takes them)."""

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError("repeated member")
        return dict(pairs)

    def refuse(constant: str) -> None:
        raise ValueError("not a JSON number")

    try:
        value = json.loads(data, object_pairs_hook=members, parse_constant=refuse)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise Unauthenticated(f"malformed token: the {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise Unauthenticated(f"malformed token: the {what} is not a JSON object")
    return value


def _problem(error: ValidationError, what: str) -> str:
    """The first problem, naming the member and never its value."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"token {what} {where!r}: {message}" if where else f"token {what}: {message}"


def _read_header(token: str) -> _Header:
    segments = token.split(".")
    if len(segments) != 3 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise Unauthenticated("malformed token: expected three base64url segments")
    try:
        raw = base64.urlsafe_b64decode(segments[0] + "=" * (-len(segments[0]) % 4))
    except ValueError:
        raise Unauthenticated("malformed token: the header is not base64url") from None
    header = _json_object(raw, "header")
    if "crit" in header:
        raise Unauthenticated("token header lists critical extensions (crit); the gateway supports none")
    if "b64" in header:
        raise Unauthenticated("token header sets b64 (RFC 7797), which the gateway does not support")
    if any(name in header for name in _SELF_KEY_HEADERS):
        raise Unauthenticated(
            "token header names its own key (jwk, jku, x5u or x5c); "
            "only the identity provider's published keys are trusted"
        )
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise Unauthenticated("token algorithm not allowed")
    if "kid" not in header:
        raise Unauthenticated("token has no key id")
    try:
        return _Header.model_validate(header)
    except ValidationError as error:
        raise Unauthenticated(_problem(error, "header")) from None


def _check_registered(claims: _Registered, *, issuer: str, audience: str, now: float) -> None:
    if claims.iss != issuer:
        raise Unauthenticated("token issuer not trusted")
    if audience not in claims.aud:
        raise Unauthenticated("token audience not accepted")
    if claims.exp <= now - LEEWAY_SECONDS:
        raise Unauthenticated("token expired")
    if claims.nbf is not None and claims.nbf > now + LEEWAY_SECONDS:
        raise Unauthenticated("token not yet valid (nbf)")
    if claims.iat is not None and claims.iat > now + LEEWAY_SECONDS:
        raise Unauthenticated("token issued in the future (iat)")


def verify_token(token: str, keys: KeySource, *, issuer: str, audience: str) -> Principal:
    """The principal a token names, or `Unauthenticated` with the reason: nothing else is raised,
    whatever the token holds (tests/unit/test_token_fuzz.py)."""
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated(f"bearer token too long: at most {MAX_TOKEN_CHARS} characters")
    header = _read_header(token)
    key = keys.get(header.kid)
    if key is None:
        raise Unauthenticated("unknown signing key")
    if key.key_type != _KTY_FOR_ALG[header.alg]:
        raise Unauthenticated("token algorithm does not match its key")
    try:
        # The signature only: PyJWT's claim checks convert types (a string "exp" passes), ours do not.
        payload = jwt.api_jws.decode_complete(token, key.key, algorithms=[header.alg])["payload"]
    except jwt.InvalidSignatureError:
        raise Unauthenticated("token signature does not verify") from None
    except jwt.PyJWTError:
        raise Unauthenticated("malformed token") from None
    claims = _json_object(payload, "payload")
    try:
        registered = _Registered.model_validate(claims)
    except ValidationError as error:
        raise Unauthenticated(_problem(error, "claim")) from None
    _check_registered(registered, issuer=issuer, audience=audience, now=time.time())
    try:
        return Principal.model_validate(claims)
    except ValidationError as error:
        raise Unauthenticated(_problem(error, "claim")) from None
