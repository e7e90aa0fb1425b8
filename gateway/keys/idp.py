"""The dev identity provider: an Ed25519 key and its JWKS in the data directory.

In production tokens come from the real identity provider (DfE Sign-in plays that part); nothing else in
the gateway can sign a token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm


def idp_dir(data_dir: Path) -> Path:
    return data_dir / "dev-idp"


def init_dev_idp(data_dir: Path) -> bool:
    """Write the dev IdP's private key and JWKS if absent; True when created."""
    folder = idp_dir(data_dir)
    key_file = folder / "private.pem"
    if key_file.exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public_raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = "dev-" + hashlib.sha256(public_raw).hexdigest()[:12]
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})
    (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}, indent=2))
    (folder / "kid").write_text(kid)
    return True


def mint_token(
    data_dir: Path,
    *,
    org_type: str,
    org_id: str,
    roles: list[str],
    sub: str | None = None,
    issuer: str,
    audience: str,
    ttl: dt.timedelta = dt.timedelta(hours=8),
) -> str:
    folder = idp_dir(data_dir)
    key = serialization.load_pem_private_key((folder / "private.pem").read_bytes(), password=None)
    kid = (folder / "kid").read_text().strip()
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": sub or f"dev-{org_type}-{org_id}",
        "org_type": org_type,
        "org_id": org_id,
        "roles": roles,
        "iss": issuer,
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})  # type: ignore[arg-type]
