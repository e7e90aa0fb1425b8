"""Use case: retention. Nothing identifying outlives its purpose.

- Registers: an academic year's marks, totals and identifiers are kept for the period of the
  catalogue's retention schedule ("attendance-registers": six years after the end of the academic
  year, SI 2024/208 reg 7). After it, the year key is destroyed first (crypto-shredding: every copy of
  the year's wrapped data keys, backups included, becomes useless; the master key version that wrapped
  it is destroyed too, so a copy of keys/ taken before cannot bring it back; the year's audit
  pseudonyms, derived from it, can no longer be tied to a UPN), then the data keys, encrypted
  identifiers, marks and totals of that year are deleted.
- Releases: past their expiry they are marked expired, and the link from their pupil_refs to pupils
  is deleted; those without a deletion attestation are listed as overdue.
- Consent history: a record superseded or withdrawn more than the schedule's period ago is deleted.
Every action is an audit event; the log never held identifiers, so it still verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.repositories import retention as rrepo
from gateway.db.session import transaction
from gateway.keystore import Keys, MasterKeyNotRotated
from gateway.services import audit
from policies.dates import academic_year_end, add_years
from policies.model import Catalogue

log = structlog.get_logger("gateway.retention")

if TYPE_CHECKING:
    from gateway.runtime import Runtime

SYSTEM_ACTOR = {"org_type": "operator", "org_id": "operator", "sub": "retention"}


def _schedule_years(catalogue: Catalogue, item_id: str) -> int:
    for item in catalogue.retention_schedule:
        if item.id == item_id:
            return item.years
    raise LookupError(f"the catalogue's retention schedule has no '{item_id}'")


def years_past_retention(years: list[int], register_years: int, as_of: dt.date) -> list[int]:
    """Academic years whose registers' retention ended before `as_of`."""
    return [y for y in years if add_years(dt.datetime.combine(academic_year_end(y), dt.time(23, 59, 59), dt.UTC), register_years).date() < as_of]


def run(sessions: sessionmaker[Session], keys: Keys, catalogue: Catalogue, *, as_of: dt.date, dry_run: bool) -> dict[str, Any]:
    register_years = _schedule_years(catalogue, "attendance-registers")
    consent_years = _schedule_years(catalogue, "consent-history")
    moment = dt.datetime.combine(as_of, dt.time(0, 0), dt.UTC)
    summary: dict[str, Any] = {
        "as_of": as_of.isoformat(), "dry_run": dry_run, "register_retention_years": register_years,
        "shredded_years": [], "shredded_keys": 0, "deleted_identities": 0, "deleted_marks": 0,
        "deleted_mark_history": 0, "deleted_enrolments": 0, "deleted_code_totals": 0,
        "expired_releases": 0, "deleted_consent_records": 0, "overdue_releases": [],
        "refused_years": [], "retired_master_key_ids": [],
    }
    with transaction(sessions) as db:
        years = sorted(set(rrepo.years_with_data(db)) | set(keys.year_keys.years()))
    for year in years_past_retention(years, register_years, as_of):
        with transaction(sessions) as db:
            counts = rrepo.count_year(db, year)
            if dry_run:
                _add(summary, counts, year)
                continue
            # Key first: once it is gone, nothing of the year can be decrypted, whatever happens next.
            try:
                rotation = keys.year_keys.shred(year, dt.datetime.now(dt.UTC).isoformat())
            except MasterKeyNotRotated as exc:
                # Deleting the year's key file alone would leave it readable in every backup of keys/:
                # nothing of the year is deleted until the operator gives a new master key.
                audit.record(db, audit.new_event(None, "retention.shred_refused", actor=SYSTEM_ACTOR,
                                                 decision="deny", reasons=["master_key_not_rotated"],
                                                 record_count=0, details={"academic_year": year}))
                summary["refused_years"].append({"academic_year": year, "reason": str(exc)})
                log.warning("retention_shred_refused", academic_year=year, reason="master_key_not_rotated")
                continue
            rrepo.delete_year(db, year)
            audit.record(db, audit.new_event(None, "retention.shredded", actor=SYSTEM_ACTOR, record_count=counts["shredded_keys"],
                                             details={"academic_year": year, **counts, **(rotation or {}),
                                                      "year_key_destroyed": rotation is not None}))
        _add(summary, counts, year)
        if rotation is not None:
            summary["master_key_id"] = rotation["master_key_id"]
            summary["retired_master_key_ids"] += rotation["retired_master_key_ids"]
    with transaction(sessions) as db:
        expiring = rrepo.releases_to_expire(db, moment)
        summary["expired_releases"] = len(expiring)
        stale = rrepo.stale_consents(db, add_years(moment, -consent_years))
        summary["deleted_consent_records"] = len(stale)
        if not dry_run:
            if expiring:
                rrepo.mark_expired(db, [r.id for r in expiring], dt.datetime.now(dt.UTC))
                audit.record(db, audit.new_event(None, "retention.releases_expired", actor=SYSTEM_ACTOR, record_count=len(expiring),
                                                 subject_org_ids=sorted({r.recipient_org_id for r in expiring}),
                                                 details={"release_ids": [r.id for r in expiring]}))
            if stale:
                rrepo.delete_consents(db, stale)
                audit.record(db, audit.new_event(None, "retention.consents_deleted", actor=SYSTEM_ACTOR, record_count=len(stale),
                                                 details={"receipt_ids": stale}))
        summary["overdue_releases"] = [
            {"release_id": r.id, "purpose": r.purpose, "recipient": f"{r.recipient_org_type}:{r.recipient_org_id}",
             "expires_at": r.expires_at.isoformat()}
            for r in rrepo.overdue_releases(db, moment)
        ]
    log.info("retention_run", dry_run=dry_run, shredded_years=summary["shredded_years"], expired=summary["expired_releases"],
             overdue=len(summary["overdue_releases"]))
    return summary


def _add(summary: dict[str, Any], counts: dict[str, int], year: int) -> None:
    summary["shredded_years"].append(year)
    for key, value in counts.items():
        summary[key] += value


@contextlib.asynccontextmanager
async def retention_daily(runtime: Runtime) -> AsyncIterator[None]:
    """While the server runs: retention once a day, the first run a few minutes after start-up."""
    settings = runtime.settings

    async def loop() -> None:
        await asyncio.sleep(settings.retention_first_run_seconds)
        while True:
            try:
                summary = await asyncio.to_thread(run, runtime.sessions, runtime.keys, runtime.catalogue,
                                                  as_of=dt.date.today(), dry_run=False)
                log.info("retention_daily_summary", expired=summary["expired_releases"],
                         overdue=len(summary["overdue_releases"]), shredded_years=summary["shredded_years"])
            except Exception as exc:  # keep serving; the next day's run tries again
                log.error("retention_daily_failed", error_type=type(exc).__name__)
            await asyncio.sleep(settings.retention_interval_seconds)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
