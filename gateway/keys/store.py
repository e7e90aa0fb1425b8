"""Key files in the data directory (the embedded default) or the master key from the environment.

Key hierarchy (README "Keys and retention"):
  master key (versions)     wraps the year keys. A new version is made at every shred (and by
                            `gateway keys rotate-master`); the surviving year keys are re-wrapped under it
                            and the old version is destroyed, so that a copy of keys/ taken before a shred
                            holds that year's key wrapped under a master key that no longer exists.
  year key (per academic    wraps every data key of that academic year, and derives the year's audit
    year, keys/years/)      pseudonym key; kept OUT of the database, so destroying it at the end of
                            retention makes the year's wrapped data keys useless in every copy of the
                            database, and the year's audit pseudonyms unlinkable to any UPN
  data key (per pupil per   encrypts that pupil's identifiers for the year (table data_keys, wrapped)
    academic year, in the database)

Layout under GATEWAY_DATA_DIR (folders 0700, files 0600):
  master/master-keys.json  {"current": id, "keys": {id: base64}}: the master key versions, embedded default
                           only; outside keys/ on purpose: it is the one file never to be backed up with keys/
  keys/years/2025.json     {"id": "y2025-...", "master_id": id, "wrapped": base64}: one file per year
  keys/shredded-years.json {"2018": {"id": ..., "shredded_at": ...}}: which years were shredded (no secret)
  keys/pseudonym.key       base64 root of the pupil id and pupil_ref keys (and of the audit pseudonyms
                           written before they were per year: keys/legacy-audit.json)
With GATEWAY_MASTER_KEY the master key comes from the environment (a key-management service in front of
it): "new,old" (base64, comma-separated, current first) while a rotation is under way.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from anonymisation.keys import (
    KeyRing,
    KeyUnavailable,
    derive_subkey,
    master_key_id,
    new_key,
    unwrap_data_key,
    wrap_data_key,
)
from gateway.settings import Settings

#: Folders hold secrets: only the gateway's own user may list or enter them.
DIR_MODE = 0o700
FILE_MODE = 0o600


class KeysMissing(Exception):
    """The data directory has no keys: run `gateway init`."""


class MasterKeyNotRotated(Exception):
    """A shred needs a master key version that did not wrap the year (GATEWAY_MASTER_KEY="new,old")."""


def _write_secret(path: Path, data: str) -> None:
    """Write through a 0600 temporary file renamed over `path`: the old file is unlinked, not overwritten
    (on journaling file systems and SSDs an overwrite would not reliably erase it either, which is why a
    shred rotates the master key rather than trusting the file system to forget)."""
    make_private_dir(path.parent)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def make_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)


@contextmanager
def _file_lock(folder: Path) -> Iterator[None]:
    """Several worker processes and the CLI share the key files."""
    make_private_dir(folder)
    fd = os.open(folder / ".lock", os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _decode(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise ValueError("GATEWAY_MASTER_KEY holds base64 keys, separated by commas") from None
    if len(key) != 32:
        raise ValueError("a master key is 32 bytes (44 base64 characters)")
    return key


class MasterKeys:
    """The master key versions: a file the gateway rotates itself, or keys given by the environment.

    Re-read when the file changes, so that a rotation by `gateway retention run` or `gateway keys
    rotate-master` is seen by a running server."""

    def __init__(self, path: Path, external: str | None):
        self.path = path
        self.external = external is not None
        self._ring: KeyRing | None = None
        self._stamp: tuple[int, int] | None = None
        if external is not None:
            keys = [_decode(part) for part in external.split(",") if part.strip()]
            if not keys:
                raise ValueError("GATEWAY_MASTER_KEY is empty")
            self._ring = KeyRing(keys={master_key_id(k): k for k in keys}, current_id=master_key_id(keys[0]))

    def ring(self) -> KeyRing:
        if self.external:
            assert self._ring is not None
            return self._ring
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise KeysMissing(f"no master key ring at {self.path}; run `gateway init`") from None
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp != self._stamp or self._ring is None:
            data = json.loads(self.path.read_text())
            self._ring = KeyRing(keys={k: base64.b64decode(v) for k, v in data["keys"].items()},
                                 current_id=data["current"])
            self._stamp = stamp
        return self._ring

    def _save(self, ring: KeyRing) -> None:
        encoded = {k: base64.b64encode(v).decode() for k, v in ring.keys.items()}
        payload = {"current": ring.current_id, "keys": encoded}
        _write_secret(self.path, json.dumps(payload))

    def add_version(self) -> KeyRing:
        """A new current version beside the old ones (saved first, so that a crash leaves all readable)."""
        old = self.ring()
        key = new_key()
        ring = KeyRing(keys={**old.keys, master_key_id(key): key}, current_id=master_key_id(key))
        self._save(ring)
        return ring

    def keep_only_current(self) -> list[str]:
        """Destroy every version but the current one; the ids destroyed."""
        ring = self.ring()
        gone = sorted(k for k in ring.keys if k != ring.current_id)
        self._save(KeyRing(keys={ring.current_id: ring.current}, current_id=ring.current_id))
        return gone


def _year_of(key_id: str) -> str | None:
    head = key_id.split("-", 1)[0]
    return head[1:] if head.startswith("y") and head[1:].isdigit() else None


class YearKeys:
    """Per-academic-year key-encryption keys, one file each in keys/years/.

    Created on first use under an exclusive file lock; the unwrapped keys are cached in memory, but the
    year's file is looked at on every use, so a shred by `gateway retention run` is seen by a running
    server at its next use of that year."""

    def __init__(self, folder: Path, master: MasterKeys):
        self.folder = folder
        self.master = master
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _file(self, year: str) -> Path:
        return self.folder / "years" / f"{year}.json"

    def _entry(self, year: str) -> dict[str, str] | None:
        try:
            return dict(json.loads(self._file(year).read_text()))
        except FileNotFoundError:
            return None

    def _shredded(self) -> dict[str, dict[str, str]]:
        try:
            return dict(json.loads((self.folder / "shredded-years.json").read_text()))
        except FileNotFoundError:
            return {}

    def _unwrap(self, year: str, entry: dict[str, str]) -> bytes:
        master = self.master.ring().get(entry["master_id"])
        return unwrap_data_key(base64.b64decode(entry["wrapped"]), master, "year-key", int(year))

    def _wrapped(self, key: bytes, year: str, ring: KeyRing) -> dict[str, str]:
        return {"master_id": ring.current_id,
                "wrapped": base64.b64encode(wrap_data_key(key, ring.current, "year-key", int(year))).decode()}

    def _key(self, year: str, entry: dict[str, str]) -> bytes:
        if entry["id"] not in self._cache:
            try:
                self._cache[entry["id"]] = self._unwrap(year, entry)
            except KeyUnavailable:
                # Another process may have re-wrapped the file and destroyed the old master version
                # between our reading the file and reading the ring: read the file again, once.
                fresh = self._entry(year)
                if fresh is None or fresh == entry or fresh["id"] != entry["id"]:
                    raise
                self._cache[entry["id"]] = self._unwrap(year, fresh)
        return self._cache[entry["id"]]

    def for_year(self, academic_year: int) -> tuple[str, bytes]:
        """The year's key id and key, creating the key if the year has none yet."""
        year = str(academic_year)
        with self._lock:
            entry = self._entry(year)
            if entry is None:
                with _file_lock(self.folder):
                    entry = self._entry(year)
                    if entry is None:
                        if year in self._shredded():
                            raise KeyUnavailable(
                                f"the key of academic year {year} was destroyed at the end of retention"
                            )
                        key, ring = new_key(), self.master.ring()
                        entry = {"id": f"y{year}-{master_key_id(key)[:8]}", **self._wrapped(key, year, ring)}
                        _write_secret(self._file(year), json.dumps(entry, sort_keys=True))
            return entry["id"], self._key(year, entry)

    def get(self, key_id: str) -> bytes:
        """The key with this id; KeyUnavailable once its year was shredded."""
        year = _year_of(key_id)
        if year is not None:
            with self._lock:
                entry = self._entry(year)
                if entry is not None and entry["id"] == key_id:
                    return self._key(year, entry)
        raise KeyUnavailable(f"key {key_id} is not available (destroyed at the end of retention, or unknown)")

    def years(self) -> list[int]:
        folder = self.folder / "years"
        if not folder.is_dir():
            return []
        return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())

    def audit_key(self, academic_year: int) -> bytes:
        """The key of the year's audit pseudonyms: derived from the year key, so destroyed with it."""
        _, key = self.for_year(academic_year)
        return derive_subkey(key, f"audit-pseudonym|{academic_year}")

    def live_audit_keys(self) -> list[bytes]:
        """The audit pseudonym key of every year whose key still exists."""
        out = []
        for year in self.years():
            try:
                key_id, key = self.for_year(year)
            except KeyUnavailable:  # shredded since the folder was listed
                continue
            del key_id
            out.append(derive_subkey(key, f"audit-pseudonym|{year}"))
        return out

    def _rewrap_all(self, ring: KeyRing, skip: str | None = None) -> int:
        count = 0
        for year in (str(y) for y in self.years()):
            entry = self._entry(year)
            if year == skip or entry is None:
                continue
            if entry["master_id"] != ring.current_id:
                key = self._unwrap(year, entry)
                fresh = {"id": entry["id"], **self._wrapped(key, year, ring)}
                _write_secret(self._file(year), json.dumps(fresh, sort_keys=True))
            count += 1
        return count

    def shred(self, academic_year: int, when: str) -> dict[str, object] | None:
        """Destroy the year's key: its file is unlinked, and the master key version that wrapped it is
        destroyed after the other years are re-wrapped under a new one, so that no copy of the file
        (a backup of keys/, a block the file system did not overwrite) can be unwrapped afterwards.
        None when the year has no key. With GATEWAY_MASTER_KEY, the operator supplies the new version
        ("new,old"); MasterKeyNotRotated if the current one wrapped the year."""
        year = str(academic_year)
        with self._lock, _file_lock(self.folder):
            entry = self._entry(year)
            if entry is None:
                return None
            if self.master.external:
                ring = self.master.ring()
                if entry["master_id"] == ring.current_id:
                    raise MasterKeyNotRotated(
                        f"the current master key wrapped academic year {year}: a shred needs a new one. "
                        "Set GATEWAY_MASTER_KEY to 'new,current' (base64), run retention again, then remove "
                        "the old key from the environment and destroy it in the key-management service"
                    )
            else:
                ring = self.master.add_version()
            rewrapped = self._rewrap_all(ring, skip=year)
            shredded = self._shredded()
            shredded[year] = {"id": entry["id"], "shredded_at": when}
            _write_secret(self.folder / "shredded-years.json", json.dumps(shredded, indent=1, sort_keys=True))
            self._file(year).unlink()
            self._cache.pop(entry["id"], None)
            retired = (
                self.master.keep_only_current()
                if not self.master.external
                else sorted(k for k in ring.keys if k != ring.current_id)
            )
            return {
                "master_key_id": ring.current_id,
                "retired_master_key_ids": retired,
                "year_keys_rewrapped": rewrapped,
            }

    def rewrap(self, ring: KeyRing) -> int:
        """Re-wrap every year key under `ring`'s current key: no data is re-encrypted."""
        with self._lock, _file_lock(self.folder):
            return self._rewrap_all(ring)


@dataclass(frozen=True)
class Keys:
    master: MasterKeys
    year_keys: YearKeys
    pupil_id_key: bytes
    pupil_ref_key: bytes
    #: The permanent audit pseudonym key of the events written before audit pseudonyms were per year
    #: (and of consent events, which belong to no academic year).
    audit_key: bytes
    digest_key: bytes
    legacy_audit_until_year: int | None = field(default=None)

    def kek_for_year(self, academic_year: int) -> tuple[str, bytes]:
        """The key id and key that wrap this academic year's data keys."""
        return self.year_keys.for_year(academic_year)

    def kek(self, key_id: str) -> bytes:
        return self.year_keys.get(key_id)

    def audit_key_for_year(self, academic_year: int) -> bytes:
        """How the log names pupils in events about this academic year's data."""
        return self.year_keys.audit_key(academic_year)

    def subject_access_keys(self) -> list[bytes]:
        """Every key under which a live event may name a pupil: each live year's, and the permanent key
        while a year that existed when the data directory was converted is still live."""
        keys = self.year_keys.live_audit_keys()
        until = self.legacy_audit_until_year
        if until is not None and any(y <= until for y in self.year_keys.years()):
            keys.append(self.audit_key)
        return keys


def _keys_dir(settings: Settings) -> Path:
    return settings.data_dir / "keys"


def _master_file(settings: Settings) -> Path:
    return settings.data_dir / "master" / "master-keys.json"


def _convert_old_layout(settings: Settings) -> None:
    """Data directories written before year keys had a file each: keys/master-keys.json moves to
    master/, keys/year-keys.json becomes keys/years/*.json (the same wrapped bytes), and the audit
    events of those years, whose pseudonyms came from the permanent key, stay findable by subject access
    until the last of those years is shredded (keys/legacy-audit.json)."""
    kdir = _keys_dir(settings)
    old_ring, old_years = kdir / "master-keys.json", kdir / "year-keys.json"
    if not old_ring.exists() and not old_years.exists():
        return
    with _file_lock(kdir):
        if old_ring.exists():
            if not _master_file(settings).exists():
                _write_secret(_master_file(settings), old_ring.read_text())
            old_ring.unlink()
        if old_years.exists():
            data = json.loads(old_years.read_text())
            shredded = dict(data.pop("_shredded", {}))
            for year, entry in data.items():
                _write_secret(kdir / "years" / f"{year}.json", json.dumps(entry, sort_keys=True))
            if data:
                legacy = {"until_year": max(int(y) for y in data)}
                _write_secret(kdir / "legacy-audit.json", json.dumps(legacy))
            if shredded:
                path = kdir / "shredded-years.json"
                known = json.loads(path.read_text()) if path.exists() else {}
                _write_secret(path, json.dumps({**shredded, **known}, indent=1, sort_keys=True))
            old_years.unlink()
            old_years.with_suffix(".lock").unlink(missing_ok=True)


def init_keys(settings: Settings) -> bool:
    """Create the key files if absent (converting an older layout first); True when something was created."""
    _convert_old_layout(settings)
    kdir = _keys_dir(settings)
    make_private_dir(kdir)
    created = False
    ring_file = _master_file(settings)
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


def load_master(settings: Settings) -> MasterKeys:
    external = settings.master_key.get_secret_value() if settings.master_key is not None else None
    master = MasterKeys(_master_file(settings), external)
    master.ring()  # fail now, not at the first use, when the ring is missing
    return master


def load_keys(settings: Settings) -> Keys:
    _convert_old_layout(settings)
    pseudo_file = _keys_dir(settings) / "pseudonym.key"
    if not pseudo_file.exists():
        raise KeysMissing(f"no pseudonymisation key at {pseudo_file}; run `gateway init`")
    root = base64.b64decode(pseudo_file.read_text())
    master = load_master(settings)
    legacy_file = _keys_dir(settings) / "legacy-audit.json"
    legacy = int(json.loads(legacy_file.read_text())["until_year"]) if legacy_file.exists() else None
    return Keys(
        master=master,
        year_keys=YearKeys(_keys_dir(settings), master),
        pupil_id_key=derive_subkey(root, "pupil-id"),
        pupil_ref_key=derive_subkey(root, "pupil-ref"),
        audit_key=derive_subkey(root, "audit-pseudonym"),
        digest_key=derive_subkey(root, "identity-digest"),
        legacy_audit_until_year=legacy,
    )
