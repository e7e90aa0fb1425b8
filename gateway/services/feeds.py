"""Use case: a school submits its register for a day (first submission, correction, or repeat)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.orm import Session, sessionmaker

from anonymisation.keys import KeyUnavailable, encrypt_identity, identity_digest, new_key, unwrap_data_key, wrap_data_key
from anonymisation.pseudonyms import pupil_id as make_pupil_id
from gateway.auth import Principal
from gateway.db import repositories as repo
from gateway.db.base import utcnow
from gateway.db.session import transaction
from gateway.errors import Forbidden, InvalidInput, NotFound
from gateway.keystore import Keys
from gateway.services import audit
from schemas.calendar import academic_year_of
from schemas.codes import codes_in_force
from schemas.feeds import FeedInvalid, FeedRow, SessionTotals, parse_csv, parse_json
from schemas.records import Identity

log = structlog.get_logger("gateway.feeds")

#: Registers are taken in England; "today" for the no-future-date rule is London's date.
LONDON = ZoneInfo("Europe/London")
#: GIAS statuses of schools that may submit a register.
OPEN_STATUSES = frozenset({"Open", "Open, but proposed to close"})
#: Codes not kept in the per-code totals: they are implied by sessions_present less L.
_PLAIN_PRESENT = frozenset({"/", "\\"})
_TOTAL_KEYS = ("possible", "present", "aea", "authorised", "unauthorised", "not_counted")


@dataclass(frozen=True)
class FeedReceipt:
    urn: int
    date: dt.date
    pupils: int
    version: int
    supersedes: int | None
    audit_index: int
    created: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "date": self.date.isoformat(),
            "pupils": self.pupils,
            "version": self.version,
            "supersedes": self.supersedes,
            "audit_index": self.audit_index,
        }


def authorise_feed(principal: Principal, urn: int) -> None:
    reasons = []
    if principal.org_type != "school" or principal.org_id != str(urn):
        reasons.append("wrong_organisation: only the school itself may submit its register")
    if not principal.has_role("feed_submitter"):
        reasons.append("wrong_role: submitting a register needs the feed_submitter role")
    if reasons:
        raise Forbidden(reasons)


def parse_body(body: bytes, content_type: str, day: dt.date) -> list[FeedRow]:
    media = content_type.split(";")[0].strip().lower()
    try:
        if media == "text/csv":
            return parse_csv(body, day).rows
        return parse_json(body, day).rows
    except FeedInvalid as exc:
        raise InvalidInput(exc.errors) from None


def canonical_digest(rows: list[FeedRow]) -> str:
    """Digest of the register's content, independent of format and row order: the same register
    sent as JSON or CSV, in any order, is the same body."""
    h = hashlib.sha256()
    for line in sorted(row.model_dump_json() for row in rows):
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def _deltas(marks: list[tuple[str, str, str]], day: dt.date, sign: int) -> dict[str, SessionTotals]:
    table = codes_in_force(day)
    out: dict[str, SessionTotals] = {}
    for pid, am, pm in marks:
        t = out.setdefault(pid, SessionTotals())
        t.add(table[am], sign)
        t.add(table[pm], sign)
    return out


def ingest(
    sessions: sessionmaker[Session],
    keys: Keys,
    principal: Principal,
    urn: int,
    day: dt.date,
    body: bytes,
    content_type: str,
) -> FeedReceipt:
    authorise_feed(principal, urn)
    today = dt.datetime.now(LONDON).date()
    if day > today:
        raise InvalidInput([{"row": None, "field": "date", "message": "a register cannot be for a date in the future"}])
    rows = parse_body(body, content_type, day)
    digest = canonical_digest(rows)
    year = academic_year_of(day)
    pupil_ids = [make_pupil_id(r.upn, keys.pupil_id_key) for r in rows]

    with transaction(sessions) as db:
        school = repo.get_school(db, urn, lock=True)
        if school is None:
            raise NotFound(f"school {urn} is not in the register of schools")
        if school.status not in OPEN_STATUSES:
            raise Forbidden(["school_not_open: only open schools may submit registers"])
        current = repo.current_feed(db, urn, day)
        if current is not None and current.body_sha256 == digest:
            log.info("feed_unchanged", urn=urn, date=day.isoformat(), version=current.version)
            return FeedReceipt(urn, day, current.pupil_count, current.version,
                               current.version - 1 if current.version > 1 else None, current.audit_index, created=False)
        version = 1 if current is None else current.version + 1

        old: list[tuple[str, str, str]] = []
        if current is not None:
            old = [(m.pupil_id, m.am, m.pm) for m in repo.current_marks(db, urn, day)]
            repo.archive_marks(db, urn, day)

        _store_identities(db, keys, rows, pupil_ids, year)
        repo.insert_marks(db, [(urn, day, pid, year, r.am, r.pm, version) for pid, r in zip(pupil_ids, rows, strict=True)])
        _move_totals(db, school.la_code, urn, day, year, rows, pupil_ids, old)

        event = audit.new_event(
            principal,
            "feed.corrected" if current is not None else "feed.accepted",
            subject_org_ids=[str(urn), school.la_code],
            record_count=len(rows),
            details={"urn": urn, "date": day.isoformat(), "version": version, "supersedes": current.version if current else None,
                     "body_sha256": digest},
        )
        index = audit.record(db, event)
        repo.insert_feed(
            db, urn=urn, date=day, version=version, academic_year=year, body_sha256=digest, pupil_count=len(rows),
            received_at=utcnow(), submitted_by=principal.sub, audit_index=index,
        )
    log.info("feed_stored", urn=urn, date=day.isoformat(), version=version, pupils=len(rows), audit_index=index)
    return FeedReceipt(urn, day, len(rows), version, current.version if current else None, index, created=True)


def _store_identities(db: Session, keys: Keys, rows: list[FeedRow], pupil_ids: list[str], year: int) -> None:
    """Encrypt identifiers only for pupils new this year or whose identifiers changed."""
    known = repo.identity_digests(db, year, pupil_ids)
    changed: list[tuple[str, Identity, str]] = []
    for pid, row in zip(pupil_ids, rows, strict=True):
        identity = Identity(row.upn, row.forename, row.surname, row.date_of_birth)
        digest = identity_digest(identity, keys.digest_key)
        if known.get(pid) != digest:
            changed.append((pid, identity, digest))
    if not changed:
        return
    existing_keys = repo.wrapped_keys(db, year, [pid for pid, _, _ in changed])
    try:
        kek_id, kek = keys.kek_for_year(year)
    except KeyUnavailable:
        raise InvalidInput([{"row": None, "field": "date", "message": "this academic year is past retention: its registers are deleted"}]) from None
    now = utcnow()
    new_keys, identities = [], []
    for pid, identity, digest in changed:
        if pid in existing_keys:
            wrapped, master_id = existing_keys[pid]
            data_key = unwrap_data_key(wrapped, keys.kek(master_id), pid, year)
        else:
            data_key = new_key()
            new_keys.append({
                "pupil_id": pid, "academic_year": year, "created_at": now, "master_key_id": kek_id,
                "wrapped_key": wrap_data_key(data_key, kek, pid, year),
            })
        identities.append({"pupil_id": pid, "academic_year": year, "updated_at": now, "digest": digest,
                           "ciphertext": encrypt_identity(identity, data_key, pid, year)})
    repo.insert_data_keys(db, new_keys)
    repo.upsert_identities(db, identities)


def _move_totals(
    db: Session,
    la_code: str,
    urn: int,
    day: dt.date,
    year: int,
    rows: list[FeedRow],
    pupil_ids: list[str],
    old: list[tuple[str, str, str]],
) -> None:
    table = codes_in_force(day)
    minus = _deltas(old, day, -1)
    enrolments = []
    codes: dict[tuple[str, str], int] = defaultdict(int)
    for pid, row in zip(pupil_ids, rows, strict=True):
        t = minus.pop(pid, SessionTotals())
        t.add(table[row.am])
        t.add(table[row.pm])
        enrolments.append({
            "pupil_id": pid, "urn": urn, "academic_year": year, "la_code": la_code, "year_group": row.year_group,
            "sen_status": row.sen_status, "fsm_eligible": row.fsm_eligible, "first_date": day, "last_date": day,
            **{f"sessions_{k}": getattr(t, k) for k in _TOTAL_KEYS},
        })
        for code in (row.am, row.pm):
            if code not in _PLAIN_PRESENT:
                codes[(pid, code)] += 1
    for pid, am, pm in old:
        for code in (am, pm):
            if code not in _PLAIN_PRESENT:
                codes[(pid, code)] -= 1
    repo.upsert_enrolments(db, enrolments)
    # Pupils in the superseded register but not in the correction: take their marks off.
    repo.subtract_enrolment_totals(
        db, urn, year, [{"pupil_id": pid, **{f"sessions_{k}": getattr(t, k) for k in _TOTAL_KEYS}} for pid, t in minus.items()]
    )
    code_rows = [{"pupil_id": pid, "urn": urn, "academic_year": year, "code": code, "sessions": n}
                 for (pid, code), n in codes.items() if n != 0]
    repo.upsert_code_totals(db, code_rows)
    if old:
        repo.prune_code_totals(db, urn, year)
