"""Use case: rotate the master key without re-encrypting any data.

The master key wraps only the year keys (keys/years/*.json). Embedded default: a rotation makes a new
master key version, re-wraps every year key under it, then destroys the old version. With
GATEWAY_MASTER_KEY the operator makes the new key: set GATEWAY_MASTER_KEY to "new,old", run this to
re-wrap every year key under the new one, then drop the old one from the environment and destroy it.
Data keys and the identifiers they encrypt are untouched. A retention run that shreds a year rotates
the master key in the same way (gateway.keys.store.YearKeys.shred).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from gateway.db.session import transaction
from gateway.keys.store import Keys
from gateway.services import audit
from gateway.settings import Settings


class MasterKeyFromEnvironment(Exception):
    """The master key comes from GATEWAY_MASTER_KEY and no new key was given beside the old one."""


@dataclass(frozen=True, slots=True)
class MasterKeyRotation:
    old_key_id: str
    new_key_id: str
    retired_key_ids: list[str]
    year_keys_rewrapped: int
    audit_index: int
    backup: str  # what the operator must do next


def rotate_master(settings: Settings, sessions: sessionmaker[Session], keys: Keys) -> MasterKeyRotation:
    del settings  # the keys say where the master key comes from
    master = keys.master
    old_id = master.ring().current_id
    if master.external:
        ring = master.ring()
        if len(ring.keys) < 2:
            raise MasterKeyFromEnvironment(
                "the master key is set by GATEWAY_MASTER_KEY: make a new key where it is kept, set "
                "GATEWAY_MASTER_KEY to 'new,old' (base64, comma-separated), run this again, "
                "then remove the old key")
        rewrapped = keys.year_keys.rewrap(ring)
        retired = sorted(k for k in ring.keys if k != ring.current_id)
        old_id = retired[0]
    else:
        # The ring is saved with both versions first, so that a crash mid-way leaves everything readable.
        ring = master.add_version()
        rewrapped = keys.year_keys.rewrap(ring)
        retired = master.keep_only_current()
    with transaction(sessions) as db:
        index = audit.record(db, audit.new_event(
            None, "keys.rotated", actor={"org_type": "operator", "org_id": "operator", "sub": "cli"},
            details={"key": "master", "old_key_id": old_id, "new_key_id": ring.current_id,
                     "retired_key_ids": retired, "year_keys_rewrapped": rewrapped}))
    return MasterKeyRotation(
        old_key_id=old_id, new_key_id=ring.current_id, retired_key_ids=retired, year_keys_rewrapped=rewrapped,
        audit_index=index,
        backup="back up keys/ again: older copies open nothing once the old master key is gone",
    )
