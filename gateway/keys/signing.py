"""The audit log's Ed25519 signing keys, in the data directory.

Layout under GATEWAY_DATA_DIR:
  audit-keys/keys.json      {"current": key_id, "keys": {key_id: {"public_key": base64url, "created_at",
                             "retired_at"}}}: every key the log has ever signed with (public halves only)
  audit-keys/<key_id>.pem   the current private key, PKCS#8 PEM, mode 0600

Retired private keys are deleted at rotation (a stolen old key must not be able to sign heads after the
fact), while their public halves stay in keys.json, so that every head ever issued still verifies
and `GET /v1/audit/keys` keeps publishing them. A key id is derived from the public key
(`audit.heads.key_id_for`), so a manifest entry can be checked rather than trusted.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from audit.heads import key_id_for, public_key_to_jwk

__all__ = [
    "SigningKeyMissing",
    "SigningKeys",
    "ensure_signing_key",
    "jwks_public_keys",
    "prepare_next_key",
    "promote_key",
    "signing_keys",
]

_MANIFEST = "keys.json"


class SigningKeyMissing(Exception):
    """No audit signing key in the data directory: run `gateway init`."""


def keys_dir(data_dir: Path) -> Path:
    return data_dir / "audit-keys"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def _write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (_MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(folder / _MANIFEST)


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / _MANIFEST
    if not path.exists():
        raise SigningKeyMissing(f"no audit signing keys at {path}; run `gateway init`")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _raw_public(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _public_from(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _new_private_key(folder: Path) -> tuple[str, Ed25519PrivateKey]:
    private = Ed25519PrivateKey.generate()
    key_id = key_id_for(private.public_key())
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    _write_private(folder / f"{key_id}.pem", pem)
    return key_id, private


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ensure_signing_key(data_dir: Path) -> bool:
    """Create the first signing key if there is none; True when one was created."""
    folder = keys_dir(data_dir)
    if (folder / _MANIFEST).exists():
        return False
    key_id, private = _new_private_key(folder)
    entry = {"public_key": _raw_public(private.public_key()), "created_at": _now(), "retired_at": None}
    _write_manifest(folder, {"current": key_id, "keys": {key_id: entry}})
    return True


def prepare_next_key(data_dir: Path) -> tuple[str, str]:
    """Write a new private key beside the current one, not yet in use: (new key id, current key id)."""
    folder = keys_dir(data_dir)
    current = _read_manifest(folder)["current"]
    key_id, _ = _new_private_key(folder)
    return key_id, current


def promote_key(data_dir: Path, key_id: str) -> None:
    """Make a prepared key current, retire the others, and delete the retired private keys."""
    folder = keys_dir(data_dir)
    manifest = _read_manifest(folder)
    private = _load_private(folder, key_id)
    now = _now()
    for kid, entry in manifest["keys"].items():
        if kid != key_id and entry.get("retired_at") is None:
            entry["retired_at"] = now
    manifest["keys"][key_id] = {
        "public_key": _raw_public(private.public_key()),
        "created_at": now,
        "retired_at": None,
    }
    manifest["current"] = key_id
    _write_manifest(folder, manifest)
    for kid in manifest["keys"]:
        if kid != key_id:
            _destroy(folder / f"{kid}.pem")


def _destroy(path: Path) -> None:
    """Overwrite, then unlink, a retired private key (best effort on journalled file systems)."""
    if not path.exists():
        return
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.write(os.urandom(size))
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()


def _load_private(folder: Path, key_id: str) -> Ed25519PrivateKey:
    path = folder / f"{key_id}.pem"
    if not path.exists():
        raise SigningKeyMissing(f"the private key {key_id} is not in {folder}")
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey) or key_id_for(key.public_key()) != key_id:
        raise SigningKeyMissing(f"{path.name} is not the Ed25519 key {key_id}")
    return key


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int]
    current_id: str
    private: Ed25519PrivateKey
    public: dict[str, Ed25519PublicKey]
    created: dict[str, str | None]
    retired: dict[str, str | None]


class SigningKeys:
    """The keys of one data directory, re-read when `audit rotate-key` changes them on disk, so
    that a running gateway signs with the new key without a restart."""

    def __init__(self, data_dir: Path):
        self.folder = keys_dir(data_dir)
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def _load(self) -> _Loaded:
        with self._lock:
            try:
                info = (self.folder / _MANIFEST).stat()
            except OSError:
                raise SigningKeyMissing(
                    f"no audit signing keys in {self.folder}; run `gateway init`"
                ) from None
            # The manifest is replaced, never edited in place, so a new inode means new keys.
            stamp = (info.st_ino, info.st_mtime_ns)
            if self._loaded is None or self._loaded.stamp != stamp:
                manifest = _read_manifest(self.folder)
                public: dict[str, Ed25519PublicKey] = {}
                for kid, entry in manifest["keys"].items():
                    key = _public_from(entry["public_key"])
                    if key_id_for(key) != kid:
                        raise SigningKeyMissing(f"the manifest's key {kid} does not match its public key")
                    public[kid] = key
                current = manifest["current"]
                self._loaded = _Loaded(
                    stamp=stamp,
                    current_id=current,
                    private=_load_private(self.folder, current),
                    public=public,
                    created={k: e.get("created_at") for k, e in manifest["keys"].items()},
                    retired={k: e.get("retired_at") for k, e in manifest["keys"].items()},
                )
            return self._loaded

    @property
    def current(self) -> tuple[str, Ed25519PrivateKey]:
        loaded = self._load()
        return loaded.current_id, loaded.private

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return dict(self._load().public)

    def jwks(self) -> dict[str, Any]:
        """Every public key, current first, as an RFC 7517 JWK Set (RFC 8037 OKP keys)."""
        loaded = self._load()
        order = sorted(
            loaded.public, key=lambda kid: (kid != loaded.current_id, loaded.created.get(kid) or "", kid)
        )
        keys = []
        for kid in order:
            jwk: dict[str, Any] = public_key_to_jwk(loaded.public[kid], kid)
            # Not registered JWK members, but harmless to JWK parsers: when each key was in use.
            jwk["created_at"] = loaded.created.get(kid)
            jwk["retired_at"] = loaded.retired.get(kid)
            keys.append(jwk)
        return {"keys": keys}


def jwks_public_keys(jwks: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS (e.g. an export's keys.json), keyed by their derived key id.

    A key whose ``kid`` is not the id derived from its bytes is skipped: it could not have signed
    a head that names it.
    """
    out: dict[str, Ed25519PublicKey] = {}
    for jwk in jwks.get("keys", []):
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        try:
            key = _public_from(str(jwk["x"]))
        except (KeyError, ValueError):
            continue
        if key_id_for(key) == jwk.get("kid"):
            out[key_id_for(key)] = key
    return out


_registry: dict[Path, SigningKeys] = {}
_registry_lock = threading.Lock()


def signing_keys(data_dir: Path) -> SigningKeys:
    """The (process-wide, cached) signing keys of a data directory."""
    path = data_dir.resolve()
    with _registry_lock:
        if path not in _registry:
            _registry[path] = SigningKeys(path)
        return _registry[path]
