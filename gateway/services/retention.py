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
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from gateway.db.repositories import retention as rrepo
from gateway.db.session import transaction
from gateway.keys.store import Keys, MasterKeyNotRotated
from gateway.services import audit
from policies.dates import academic_year_end, add_years
from policies.model import Catalogue
from schemas.calendar import academic_year_of

log = structlog.get_logger("gateway.retention")

if TYPE_CHECKING:
    from gateway.runtime import Runtime

SYSTEM_ACTOR = {"org_type": "operator", "org_id": "operator", "sub": "retention"}


@dataclass(frozen=True, slots=True)
class RefusedYear:
    academic_year: int
    reason: str


@dataclass(frozen=True, slots=True)
class OverdueRelease:
    release_id: str
    purpose: str
    recipient: str  # "org_type:org_id"
    expires_at: str  # ISO 8601


@dataclass(slots=True)
class RetentionSummary:
    """What a retention run did (or, dry, would do). Built up as the run goes."""

    as_of: str  # ISO 8601
    dry_run: bool
    register_retention_years: int
    shredded_years: list[int] = field(default_factory=list)
    shredded_keys: int = 0
    deleted_identities: int = 0
    deleted_marks: int = 0
    deleted_registers: int = 0
    deleted_register_history: int = 0
    deleted_enrolments: int = 0
    deleted_code_totals: int = 0
    dropped_partitions: list[str] = field(default_factory=list)  # PostgreSQL: the years' partitions
    expired_releases: int = 0
    deleted_consent_records: int = 0
    overdue_releases: list[OverdueRelease] = field(default_factory=list)
    refused_years: list[RefusedYear] = field(default_factory=list)
    retired_master_key_ids: list[str] = field(default_factory=list)
    master_key_id: str | None = None  # the master key version after the run, when it rotated one

    def as_dict(self) -> dict[str, Any]:
        """For the CLI's JSON: the master key version only when the run rotated it."""
        out = asdict(self)
        if self.master_key_id is None:
            del out["master_key_id"]
        return out


def _schedule_years(catalogue: Catalogue, item_id: str) -> int:
    for item in catalogue.retention_schedule:
        if item.id == item_id:
            return item.years
    raise LookupError(f"the catalogue's retention schedule has no '{item_id}'")


def years_past_retention(years: list[int], register_years: int, as_of: dt.date) -> list[int]:
    """Academic years whose registers' retention ended before `as_of`."""
    return [
        y
        for y in years
        if add_years(
            dt.datetime.combine(academic_year_end(y), dt.time(23, 59, 59), dt.UTC), register_years
        ).date()
        < as_of
    ]


def run(
    sessions: sessionmaker[Session], keys: Keys, catalogue: Catalogue, *, as_of: dt.date, dry_run: bool
) -> RetentionSummary:
    register_years = _schedule_years(catalogue, "attendance-registers")
    consent_years = _schedule_years(catalogue, "consent-history")
    moment = dt.datetime.combine(as_of, dt.time(0, 0), dt.UTC)
    summary = RetentionSummary(
        as_of=as_of.isoformat(), dry_run=dry_run, register_retention_years=register_years
    )
    if not dry_run:
        # This year's partitions and the next two's, made ahead of the registers that fill them.
        this_year = academic_year_of(as_of)
        with transaction(sessions) as db:
            rrepo.prepare_years(db, [this_year, this_year + 1, this_year + 2])
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
                audit.record(
                    db,
                    audit.new_event(
                        None,
                        "retention.shred_refused",
                        actor=SYSTEM_ACTOR,
                        decision="deny",
                        reasons=["master_key_not_rotated"],
                        record_count=0,
                        details={"academic_year": year},
                    ),
                )
                summary.refused_years.append(RefusedYear(academic_year=year, reason=str(exc)))
                log.warning("retention_shred_refused", academic_year=year, reason="master_key_not_rotated")
                continue
            dropped = rrepo.delete_year(db, year)
            summary.dropped_partitions += dropped
            audit.record(
                db,
                audit.new_event(
                    None,
                    "retention.shredded",
                    actor=SYSTEM_ACTOR,
                    record_count=counts["shredded_keys"],
                    details={
                        "academic_year": year,
                        **counts,
                        **(rotation or {}),
                        "year_key_destroyed": rotation is not None,
                        "partitions_dropped": dropped,
                    },
                ),
            )
        _add(summary, counts, year)
        if rotation is not None:
            retired = rotation["retired_master_key_ids"]
            assert isinstance(retired, list)
            summary.master_key_id = str(rotation["master_key_id"])
            summary.retired_master_key_ids += retired
    with transaction(sessions) as db:
        expiring = rrepo.releases_to_expire(db, moment)
        summary.expired_releases = len(expiring)
        stale = rrepo.stale_consents(db, add_years(moment, -consent_years))
        summary.deleted_consent_records = len(stale)
        if not dry_run:
            if expiring:
                rrepo.mark_expired(db, [r.id for r in expiring], dt.datetime.now(dt.UTC))
                audit.record(
                    db,
                    audit.new_event(
                        None,
                        "retention.releases_expired",
                        actor=SYSTEM_ACTOR,
                        record_count=len(expiring),
                        subject_org_ids=sorted({r.recipient_org_id for r in expiring}),
                        details={"release_ids": [r.id for r in expiring]},
                    ),
                )
            if stale:
                rrepo.delete_consents(db, stale)
                audit.record(
                    db,
                    audit.new_event(
                        None,
                        "retention.consents_deleted",
                        actor=SYSTEM_ACTOR,
                        record_count=len(stale),
                        details={"receipt_ids": stale},
                    ),
                )
        summary.overdue_releases = [
            OverdueRelease(
                release_id=r.id,
                purpose=r.purpose,
                recipient=f"{r.recipient_org_type}:{r.recipient_org_id}",
                expires_at=r.expires_at.isoformat(),
            )
            for r in rrepo.overdue_releases(db, moment)
        ]
    log.info(
        "retention_run",
        dry_run=dry_run,
        shredded_years=summary.shredded_years,
        expired=summary.expired_releases,
        overdue=len(summary.overdue_releases),
    )
    return summary


def _add(summary: RetentionSummary, counts: dict[str, int], year: int) -> None:
    summary.shredded_years.append(year)
    for key, value in counts.items():
        setattr(summary, key, getattr(summary, key) + value)


@contextlib.asynccontextmanager
async def retention_daily(runtime: Runtime) -> AsyncIterator[None]:
    """While the server runs: retention once a day, the first run a few minutes after start-up."""
    settings = runtime.settings

    async def loop() -> None:
        await asyncio.sleep(settings.retention_first_run_seconds)
        while True:
            try:
                summary = await asyncio.to_thread(
                    run,
                    runtime.sessions,
                    runtime.keys,
                    runtime.catalogue,
                    as_of=dt.date.today(),
                    dry_run=False,
                )
                log.info(
                    "retention_daily_summary",
                    expired=summary.expired_releases,
                    overdue=len(summary.overdue_releases),
                    shredded_years=summary.shredded_years,
                )
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
