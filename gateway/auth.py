"""Bearer-token verification: JWTs from the trusted identity provider, checked against a JWKS.

Allow-list of asymmetric algorithms only (EdDSA, ES256, RS256): `none` and every HMAC algorithm are
refused before any key is looked at, so an HS256 token "signed" with a public key cannot pass.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Literal, Protocol

import httpx
import jwt
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import Unauthenticated

log = structlog.get_logger("gateway.auth")

ALLOWED_ALGORITHMS = ("EdDSA", "ES256", "RS256")
_KTY_FOR_ALG = {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA"}
#: Clock skew tolerated on exp/nbf/iat between the identity provider and the gateway.
LEEWAY_SECONDS = 30

OrgType = Literal["school", "la", "dfe", "operator"]
Role = Literal["feed_submitter", "attendance_officer", "case_officer", "dpo", "statistician"]


class Principal(BaseModel):
    """Who is asking, as the token says."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str = Field(min_length=1, max_length=200)
    org_type: OrgType
    org_id: str = Field(min_length=1, max_length=20)
    roles: tuple[Role, ...]

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def recipient(self) -> str:
        return f"{self.org_type}:{self.org_id}"

    def actor(self) -> dict[str, str]:
        return {"org_type": self.org_type, "org_id": self.org_id, "sub": self.sub}


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

    def __init__(self, url: str, ttl_seconds: int = 300, min_refresh_seconds: int = 10, client: httpx.Client | None = None):
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


def verify_token(token: str, keys: KeySource, *, issuer: str, audience: str) -> Principal:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise Unauthenticated("malformed token") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise Unauthenticated("token algorithm not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise Unauthenticated("token has no key id")
    key = keys.get(kid)
    if key is None:
        raise Unauthenticated("unknown signing key")
    if key.key_type != _KTY_FOR_ALG[alg]:
        raise Unauthenticated("token algorithm does not match its key")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated("token audience not accepted") from None
    except jwt.InvalidIssuerError:
        raise Unauthenticated("token issuer not trusted") from None
    except jwt.PyJWTError:
        raise Unauthenticated("invalid token") from None
    try:
        return Principal.model_validate(claims)
    except ValidationError:
        raise Unauthenticated("token claims are incomplete") from None
