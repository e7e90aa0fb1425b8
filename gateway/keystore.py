"""Key files in the data directory (the embedded default) or keys from the environment (production).

Key hierarchy (README "Keys"):
  master key (ring)         wraps the year keys; rotating it re-wraps only the year keys file
  year key (per academic    wraps every data key of that academic year; kept OUT of the database, so
    year, keys/year-keys.json)  destroying it at the end of retention makes the year's wrapped data keys
                            useless in every copy of the database, backups included (crypto-shredding)
  data key (per pupil per   encrypts that pupil's identifiers for the year (table data_keys, wrapped)
    academic year, in the database)

Layout under GATEWAY_DATA_DIR:
  keys/master-keys.json   {"current": id, "keys": {id: base64}}: the master key ring (mode 0600)
  keys/year-keys.json     {"2025": {"id": "y2025-...", "master_id": id, "wrapped": base64}} (mode 0600)
  keys/pseudonym.key      base64 root of the pseudonymisation keys (pupil ids, pupil_refs, audit pseudonyms)
In production the master key comes from GATEWAY_MASTER_KEY (or a key-management service in front of it).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from anonymisation.keys import KeyRing, KeyUnavailable, derive_subkey, master_key_id, new_key, unwrap_data_key, wrap_data_key
from gateway.settings import Settings


class KeysMissing(Exception):
    """The data directory has no keys: run `gateway init`."""


class YearKeys:
    """Per-academic-year key-encryption keys, in a file beside the master key ring.

    Created on first use under an exclusive file lock (several worker processes share the file);
    cached in memory, re-read when the file changes, so a shred by `gateway retention run` is seen by
    a running server at its next use of that year."""

    def __init__(self, path: Path, master: KeyRing):
        self.path = path
        self.master = master
        self._cache: dict[str, bytes] = {}
        self._mtime: float | None = None
        self._lock = threading.Lock()

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return {}

    def _write(self, data: dict[str, dict[str, str]]) -> None:
        _write_secret(self.path, json.dumps(data, indent=1, sort_keys=True))

    def _refresh(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime != self._mtime:
            self._cache.clear()
            self._mtime = mtime

    def _unwrap(self, year: str, entry: dict[str, str]) -> bytes:
        return unwrap_data_key(base64.b64decode(entry["wrapped"]), self.master.get(entry["master_id"]), "year-key", int(year))

    def for_year(self, academic_year: int) -> tuple[str, bytes]:
        """The year's key id and key, creating the key if the year has none yet."""
        year = str(academic_year)
        with self._lock:
            self._refresh()
            data = self._read()
            entry = data.get(year)
            if entry is None:
                with self._file_lock():
                    data = self._read()
                    entry = data.get(year)
                    if entry is None:
                        if year in data.get("_shredded", {}):
                            raise KeyUnavailable(f"the key of academic year {year} was destroyed at the end of retention")
                        key = new_key()
                        entry = {"id": f"y{year}-{master_key_id(key)[:8]}", "master_id": self.master.current_id,
                                 "wrapped": base64.b64encode(wrap_data_key(key, self.master.current, "year-key", int(year))).decode()}
                        data[year] = entry
                        self._write(data)
                        self._refresh()
            if entry["id"] not in self._cache:
                self._cache[entry["id"]] = self._unwrap(year, entry)
            return entry["id"], self._cache[entry["id"]]

    def get(self, key_id: str) -> bytes:
        """The key with this id; KeyUnavailable once its year was shredded."""
        with self._lock:
            self._refresh()
            if key_id in self._cache:
                return self._cache[key_id]
            for year, entry in self._read().items():
                if not year.startswith("_") and entry["id"] == key_id:
                    self._cache[key_id] = self._unwrap(year, entry)
                    return self._cache[key_id]
        raise KeyUnavailable(f"key {key_id} is not available (destroyed at the end of retention, or unknown)")

    def years(self) -> list[int]:
        return sorted(int(y) for y in self._read() if not y.startswith("_"))

    def shred(self, academic_year: int, when: str) -> bool:
        """Destroy the year's key (the file is rewritten; the old file is overwritten, not kept)."""
        with self._lock, self._file_lock():
            data = self._read()
            entry = data.pop(str(academic_year), None)
            if entry is None:
                return False
            data.setdefault("_shredded", {})[str(academic_year)] = {"id": entry["id"], "shredded_at": when}  # type: ignore[index]
            self._write(data)
            self._cache.pop(entry["id"], None)
            self._refresh()
            return True

    def rewrap(self, new_master: KeyRing) -> int:
        """Re-wrap every year key under the new master's current key: no data is re-encrypted."""
        with self._lock, self._file_lock():
            data = self._read()
            count = 0
            for year, entry in data.items():
                if year.startswith("_"):
                    continue
                key = self._unwrap(year, entry)
                entry["wrapped"] = base64.b64encode(wrap_data_key(key, new_master.current, "year-key", int(year))).decode()
                entry["master_id"] = new_master.current_id
                count += 1
            self._write(data)
            self.master = new_master
            self._refresh()
            return count


@dataclass(frozen=True)
class Keys:
    master: KeyRing
    year_keys: YearKeys
    pupil_id_key: bytes
    pupil_ref_key: bytes
    audit_key: bytes
    digest_key: bytes

    def kek_for_year(self, academic_year: int) -> tuple[str, bytes]:
        """The key id and key that wrap this academic year's data keys."""
        return self.year_keys.for_year(academic_year)

    def kek(self, key_id: str) -> bytes:
        return self.year_keys.get(key_id)


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
    master = load_master_ring(settings)
    return Keys(
        master=master,
        year_keys=YearKeys(_keys_dir(settings) / "year-keys.json", master),
        pupil_id_key=derive_subkey(root, "pupil-id"),
        pupil_ref_key=derive_subkey(root, "pupil-ref"),
        audit_key=derive_subkey(root, "audit-pseudonym"),
        digest_key=derive_subkey(root, "identity-digest"),
    )
