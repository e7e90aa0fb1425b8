"""Use case: rotate the master key without re-encrypting any data.

The master key wraps only the year keys (keys/year-keys.json); a rotation generates a new master key,
re-wraps every year key under it, then drops the old master key from the ring. Data keys and the
identifiers they encrypt are untouched.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anonymisation.keys import KeyRing, master_key_id, new_key
from gateway.db.session import transaction
from gateway.keystore import Keys, save_master_ring
from gateway.services import audit
from gateway.settings import Settings


class MasterKeyFromEnvironment(Exception):
    """The master key comes from GATEWAY_MASTER_KEY: rotate it in the key-management service."""


def rotate_master(settings: Settings, sessions: sessionmaker[Session], keys: Keys) -> dict[str, Any]:
    if settings.master_key is not None:
        raise MasterKeyFromEnvironment(
            "the master key is set by GATEWAY_MASTER_KEY: rotate it where it is kept, then run this with both keys available"
        )
    old = keys.master
    key = new_key()
    new_id = master_key_id(key)
    # Save the ring with both keys first, so that a crash mid-way leaves everything readable.
    save_master_ring(settings, KeyRing(keys={**old.keys, new_id: key}, current_id=new_id))
    rewrapped = keys.year_keys.rewrap(KeyRing(keys={**old.keys, new_id: key}, current_id=new_id))
    save_master_ring(settings, KeyRing(keys={new_id: key}, current_id=new_id))
    keys.year_keys.master = KeyRing(keys={new_id: key}, current_id=new_id)
    with transaction(sessions) as db:
        index = audit.record(db, audit.new_event(None, "keys.rotated", actor={"org_type": "operator", "org_id": "operator", "sub": "cli"},
                                                 details={"key": "master", "old_key_id": old.current_id, "new_key_id": new_id,
                                                          "year_keys_rewrapped": rewrapped}))
    return {"old_key_id": old.current_id, "new_key_id": new_id, "year_keys_rewrapped": rewrapped, "audit_index": index}
