"""What more than one service needs, so that no service is imported by another for it: the time zone
of "today", the open statuses, a year's identities decrypted, and a release's metadata."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from anonymisation.keys import KeyUnavailable, decrypt_identity, unwrap_data_key
from gateway.db.repositories import identities as identity_repo
from gateway.db.repositories.releases import StoredRelease
from gateway.keys.store import Keys
from schemas.records import Identity

#: Registers are taken in England; "today" (no register for a future date; the default window of a
#: view or a statistic) is London's date.
LONDON = ZoneInfo("Europe/London")
#: GIAS statuses of schools that may submit a register.
OPEN_STATUSES = frozenset({"Open", "Open, but proposed to close"})


def decrypt_identities(db: Session, keys: Keys, year: int, pupil_ids: list[str]) -> dict[str, Identity]:
    out: dict[str, Identity] = {}
    masters: dict[str, bytes | None] = {}  # each master key looked up once
    stored = identity_repo.identities_with_keys(db, year, pupil_ids)
    for pid, (ciphertext, wrapped, master_id) in stored.items():
        if master_id not in masters:
            try:
                masters[master_id] = keys.kek(master_id)
            except KeyUnavailable:
                masters[master_id] = None
        master = masters[master_id]
        if master is None:
            continue  # the year's key was destroyed at the end of retention: nothing identifying remains
        out[pid] = decrypt_identity(ciphertext, unwrap_data_key(wrapped, master, pid, year), pid, year)
    return out


@dataclass(frozen=True, slots=True)
class Recipient:
    org_type: str
    org_id: str


@dataclass(frozen=True, slots=True)
class ReleaseMetadata:
    """What the gateway keeps about a release: never its records."""

    release_id: str
    purpose: str
    recipient: Recipient
    created_at: dt.datetime
    expires_at: dt.datetime
    policy_version: str
    policy_hash: str
    criterion: str
    from_date: dt.date
    to_date: dt.date
    fields: list[str]
    record_count: int
    withheld_consent: int
    withheld_objection: int
    audit_index: int
    status: str
    deleted_at: dt.datetime | None
    deletion_attested_by: str | None
    # For the console's release pages; the API's ReleaseMeta does not list them, so they stay out of it.
    justification: str
    requested_by: str

    def as_dict(self) -> dict[str, Any]:
        """Under the names the API writes (the window as "from" and "to"), for the console's lists."""
        return {_WIRE_NAMES.get(name, name): value for name, value in asdict(self).items()}


#: The window's names on the wire: "from" is a Python keyword.
_WIRE_NAMES = {"from_date": "from", "to_date": "to"}


def status_of(release: StoredRelease, now: dt.datetime) -> str:
    if release.deleted_at is not None:
        return "deleted"
    if release.expires_at <= now:
        return "overdue"
    return "active"


def release_metadata(release: StoredRelease, now: dt.datetime) -> ReleaseMetadata:
    return ReleaseMetadata(
        release_id=release.id,
        purpose=release.purpose,
        recipient=Recipient(release.recipient_org_type, release.recipient_org_id),
        created_at=release.created_at,
        expires_at=release.expires_at,
        policy_version=release.policy_version,
        policy_hash=release.policy_hash,
        criterion=release.criterion,
        from_date=release.window_from,
        to_date=release.window_to,
        fields=json.loads(release.fields),
        record_count=release.record_count,
        withheld_consent=release.withheld_consent,
        withheld_objection=release.withheld_objection,
        audit_index=release.audit_index,
        status=status_of(release, now),
        deleted_at=release.deleted_at,
        deletion_attested_by=release.deletion_attested_by,
        justification=release.justification,
        requested_by=release.requested_by,
    )
