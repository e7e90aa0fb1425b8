"""Key files in the data directory (the embedded default) or keys from the environment (production).

Layout under GATEWAY_DATA_DIR:
  keys/master-keys.json   {"current": id, "keys": {id: base64}}: the master key ring (mode 0600)
  keys/pseudonym.key      base64 root of the pseudonymisation keys (pupil ids, pupil_refs, audit pseudonyms)
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from anonymisation.keys import KeyRing, derive_subkey, master_key_id, new_key
from gateway.settings import Settings


class KeysMissing(Exception):
    """The data directory has no keys: run `gateway init`."""


@dataclass(frozen=True)
class Keys:
    master: KeyRing
    pupil_id_key: bytes
    pupil_ref_key: bytes
    audit_key: bytes
    digest_key: bytes


def _keys_dir(settings: Settings) -> Path:
    return settings.data_dir / "keys"


def _write_secret(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    tmp.replace(path)


def init_keys(settings: Settings) -> bool:
    """Create the key files if absent; True when something was created."""
    kdir = _keys_dir(settings)
    created = False
    ring_file = kdir / "master-keys.json"
    if settings.master_key is None and not ring_file.exists():
        key = new_key()
        kid = master_key_id(key)
        _write_secret(ring_file, json.dumps({"current": kid, "keys": {kid: base64.b64encode(key).decode()}}))
        created = True
    pseudo_file = kdir / "pseudonym.key"
    if not pseudo_file.exists():
        _write_secret(pseudo_file, base64.b64encode(new_key()).decode())
        created = True
    return created


def load_master_ring(settings: Settings) -> KeyRing:
    if settings.master_key is not None:
        key = base64.b64decode(settings.master_key.get_secret_value())
        kid = master_key_id(key)
        return KeyRing(keys={kid: key}, current_id=kid)
    ring_file = _keys_dir(settings) / "master-keys.json"
    if not ring_file.exists():
        raise KeysMissing(f"no master key ring at {ring_file}; run `gateway init`")
    data = json.loads(ring_file.read_text())
    return KeyRing(keys={k: base64.b64decode(v) for k, v in data["keys"].items()}, current_id=data["current"])


def save_master_ring(settings: Settings, ring: KeyRing) -> None:
    ring_file = _keys_dir(settings) / "master-keys.json"
    payload = {"current": ring.current_id, "keys": {k: base64.b64encode(v).decode() for k, v in ring.keys.items()}}
    _write_secret(ring_file, json.dumps(payload))


def load_keys(settings: Settings) -> Keys:
    pseudo_file = _keys_dir(settings) / "pseudonym.key"
    if not pseudo_file.exists():
        raise KeysMissing(f"no pseudonymisation key at {pseudo_file}; run `gateway init`")
    root = base64.b64decode(pseudo_file.read_text())
    return Keys(
        master=load_master_ring(settings),
        pupil_id_key=derive_subkey(root, "pupil-id"),
        pupil_ref_key=derive_subkey(root, "pupil-ref"),
        audit_key=derive_subkey(root, "audit-pseudonym"),
        digest_key=derive_subkey(root, "identity-digest"),
    )
