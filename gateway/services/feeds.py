"""Use case: a school submits its register for a day (first submission, correction, or repeat).

A national day is about 20,000 registers and 8 million pupil-days, so the work is arranged for bulk:
everything that needs no database (validation, the body's digest, pupil ids, identity digests, the
marks and how they move each pupil's totals) is done before the transaction opens; inside it, each
table is written once for the whole register (COPY on PostgreSQL, executemany on SQLite), and the
audit event is appended last, so that the log's append lock is held only from there to the commit.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session, sessionmaker

from anonymisation.keys import (
    KeyUnavailable,
    encrypt_identity,
    identity_digests,
    seal_new_identities,
    unwrap_data_key,
)
from anonymisation.pseudonyms import pupil_ids as make_pupil_ids
from gateway.auth import Principal
from gateway.db.base import utcnow
from gateway.db.repositories import identities as identity_repo
from gateway.db.repositories import registers as register_repo
from gateway.db.repositories import rollup, rosters
from gateway.db.session import transaction
from gateway.errors import InvalidInput, NotFound
from gateway.keys.store import Keys
from gateway.services import access, audit
from gateway.services.access import Target
from gateway.services.common import LONDON, OPEN_STATUSES
from policies.access import REGISTER_SUBMIT
from schemas import registers as packed_registers
from schemas.calendar import academic_year_of
from schemas.codes import StatClass, codes_in_force
from schemas.feeds import (
    FeedInvalid,
    FeedRowData,
    ParsedFeed,
    canonical_digest,
    check_letters,
    parse_csv,
    parse_json,
    session_deltas,
)
from schemas.records import Identity, RegisterRow, make_register_row
from schemas.rosters import Roster, apply_register

log = structlog.get_logger("gateway.feeds")

#: Codes not kept in the per-code totals: they are implied by sessions_present less L.
_PLAIN_PRESENT = frozenset({"/", "\\"})
#: The six totals a register moves, in the order of its rows' deltas.
_TOTAL_KEYS = RegisterRow._fields[6:12]


@dataclass(frozen=True)
class FeedReceipt:
    urn: int
    date: dt.date
    pupils: int
    version: int
    supersedes: int | None
    audit_index: int
    created: bool  # False: the same register was already stored (nothing written)


def authorise_feed(sessions: sessionmaker[Session], principal: Principal, urn: int) -> None:
    access.authorise(sessions, principal, REGISTER_SUBMIT, Target(urn=urn))


async def authorise_feed_async(sessions: sessionmaker[Session], principal: Principal, urn: int) -> None:
    """Before the body is read: a refusal costs the client no upload and the gateway no parsing."""
    await access.authorise_async(sessions, principal, REGISTER_SUBMIT, Target(urn=urn))


class _SchoolClosed(Exception):
    """Raised inside ingest's transaction, so that it rolls back before the refusal is recorded."""


def parse_body(
    body: bytes, content_type: str, day: dt.date, *, defer_check_letters: bool = False
) -> ParsedFeed:
    media = content_type.split(";")[0].strip().lower()
    parse = parse_csv if media == "text/csv" else parse_json
    try:
        return parse(body, day, defer_check_letters=defer_check_letters)
    except FeedInvalid as exc:
        raise InvalidInput(exc.errors) from None


@dataclass(frozen=True, slots=True)
class _Register:
    """A validated register and what is derived from it without the database."""

    rows: list[FeedRowData]
    digest: str  # of the content (schemas.feeds.canonical_digest)
    pupil_ids: list[str]
    identity_digests: list[str]


def _prepare(rows: list[FeedRowData], keys: Keys) -> _Register:
    upns = [row["upn"] for row in rows]
    identities = [(row["upn"], row["forename"], row["surname"], row["date_of_birth"]) for row in rows]
    return _Register(
        rows=rows,
        digest=canonical_digest(rows),
        pupil_ids=make_pupil_ids(upns, keys.pupil_id_key),
        identity_digests=identity_digests(identities, keys.digest_key),
    )


def _check_new_upns(
    parsed: ParsedFeed, register: _Register, changed: set[str], body: bytes, content_type: str, day: dt.date
) -> None:
    """The UPN check letters that parsing left out (`defer_check_letters`), of the pupils whose identity
    is not stored for the year under the very same keyed digest: new pupils and changed identities.
    A stored digest is of a UPN, names and date of birth that passed every rule, check letter included,
    when they were stored, and the digest is keyed: nobody can make another identity match it. So a
    body is accepted or refused exactly as if every letter were checked here; and when one is wrong,
    the body is parsed again without deferring, for the list of problems the client gets."""
    if not changed or not parsed.unchecked:
        return
    pupil_ids = register.pupil_ids
    if not check_letters(parsed, (n for n in parsed.unchecked if pupil_ids[n] in changed)):
        parse_body(body, content_type, day)
        raise InvalidInput(
            [{"row": None, "field": "upn", "message": "not a valid UPN (format or check letter)"}]
        )


def ingest(
    sessions: sessionmaker[Session],
    keys: Keys,
    principal: Principal,
    urn: int,
    day: dt.date,
    body: bytes,
    content_type: str,
) -> FeedReceipt:
    authorise_feed(sessions, principal, urn)
    today = dt.datetime.now(LONDON).date()
    if day > today:
        raise InvalidInput(
            [{"row": None, "field": "date", "message": "a register cannot be for a date in the future"}]
        )
    parsed = parse_body(body, content_type, day, defer_check_letters=True)
    register = _prepare(parsed.rows, keys)
    year = academic_year_of(day)
    try:
        return _store(sessions, keys, principal, urn, day, body, content_type, parsed, register, year)
    except _SchoolClosed:
        closed = Target(urn=urn, school_open=False)
        access.refuse(sessions, principal, access.decide(principal, REGISTER_SUBMIT, closed), closed)


def _store(
    sessions: sessionmaker[Session],
    keys: Keys,
    principal: Principal,
    urn: int,
    day: dt.date,
    body: bytes,
    content_type: str,
    parsed: ParsedFeed,
    register: _Register,
    year: int,
) -> FeedReceipt:
    rows, digest, pupil_ids = register.rows, register.digest, register.pupil_ids
    with _one_writer(sessions), transaction(sessions, locks_before_flush=True) as db:
        target = register_repo.feed_target(db, urn, day, lock=True)
        # Pupils whose identity is not stored for the year as it is here: their check letters (422
        # before 404 and 403, as when every letter was checked before the transaction), then their
        # encrypted identities.
        changed = set(identity_repo.changed_identities(db, year, pupil_ids, register.identity_digests))
        _check_new_upns(parsed, register, changed, body, content_type, day)
        if target is None:
            raise NotFound(f"school {urn} is not in the register of schools")
        if target.status not in OPEN_STATUSES:
            raise _SchoolClosed()
        current: int | None = target.version
        if current is not None and target.body_sha256 == digest:
            log.info("feed_unchanged", urn=urn, date=day.isoformat(), version=current)
            return FeedReceipt(
                urn,
                day,
                target.pupil_count,
                current,
                current - 1 if current > 1 else None,
                target.audit_index,
                created=False,
            )
        version = 1 if current is None else current + 1

        # The roster's slots lay out the packed registers: a correction's superseded marks are read
        # through them, and the new register is packed by them once new pupils have theirs.
        kept = rosters.lock(db, urn, year)
        roster = kept if kept is not None else Roster(year)
        old: list[tuple[str, str, str]] = []
        if current is not None:
            old = packed_registers.marks(register_repo.supersede(db, urn, day), roster.pupil_ids)

        _store_identities(db, keys, register, year, changed)
        _store_marks_and_totals(db, target.la_code, urn, day, year, version, rows, pupil_ids, old)
        _update_roster(db, urn, day, roster, register, old, new=kept is None)
        rollup.refresh(db, year, [*pupil_ids, *(pid for pid, _, _ in old)])  # the statistics' pupil-years
        marks = packed_registers.pack([roster.slot[pid] for pid in pupil_ids], [row["am"] for row in rows],
                                      [row["pm"] for row in rows])

        # Last, so that the log's append lock is held only from here to the commit.
        event = audit.new_event(
            principal,
            "feed.corrected" if current is not None else "feed.accepted",
            subject_org_ids=[str(urn), target.la_code],
            record_count=len(rows),
            details={
                "urn": urn,
                "date": day.isoformat(),
                "version": version,
                "supersedes": current,
                "body_sha256": digest,
            },
        )
        index = audit.record(db, event)
        register_repo.insert_register(
            db,
            urn=urn,
            date=day,
            version=version,
            academic_year=year,
            body_sha256=digest,
            pupil_count=len(rows),
            received_at=utcnow(),
            submitted_by=principal.sub,
            audit_index=index,
            format=packed_registers.FORMAT,
            marks=marks,
        )
    log.info(
        "feed_stored", urn=urn, date=day.isoformat(), version=version, pupils=len(rows), audit_index=index
    )
    return FeedReceipt(urn, day, len(rows), version, current, index, created=True)


#: SQLite has one writer at a time, and a writer that finds the database locked sleeps in growing
#: steps (up to 100 ms) before it tries again, so concurrent registers spent most of their time asleep
#: while the database was free. In one process they queue here instead, and each starts as soon as the
#: previous one commits. (PostgreSQL needs nothing of the kind: a register locks only its school's row
#: and, at the end, the audit log's.)
_SQLITE_WRITER = threading.Lock()


@contextmanager
def _one_writer(sessions: sessionmaker[Session]) -> Iterator[None]:
    if sessions.kw["bind"].dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITER:
        yield


def _store_identities(db: Session, keys: Keys, register: _Register, year: int, different: set[str]) -> None:
    """Encrypt identifiers only for pupils new this year or whose identifiers changed (`different`:
    their keyed digest differs from the stored one). On a school day after the first, nobody's has."""
    pupil_ids, digests = register.pupil_ids, register.identity_digests
    if not different:
        return
    changed = [n for n, pid in enumerate(pupil_ids) if pid in different]
    existing_keys = identity_repo.wrapped_keys(db, year, [pupil_ids[n] for n in changed])
    try:
        kek_id, kek = keys.kek_for_year(year)
    except KeyUnavailable:
        raise InvalidInput(
            [
                {
                    "row": None,
                    "field": "date",
                    "message": "this academic year is past retention: its registers are deleted",
                }
            ]
        ) from None
    rows = register.rows

    def identity(n: int) -> Identity:
        row = rows[n]
        return Identity(row["upn"], row["forename"], row["surname"], row["date_of_birth"])

    now = utcnow()
    fresh = [n for n in changed if pupil_ids[n] not in existing_keys]
    sealed = seal_new_identities([identity(n) for n in fresh], [pupil_ids[n] for n in fresh], year, kek)
    inserted = identity_repo.insert_data_keys(
        db,
        year,
        kek_id,
        now,
        [(pupil_ids[n], wrapped) for n, (wrapped, _) in zip(fresh, sealed, strict=True)],
    )
    stored = [
        (pupil_ids[n], ciphertext, digests[n])
        for n, (_, ciphertext) in zip(fresh, sealed, strict=True)
        if pupil_ids[n] in inserted
    ]
    # Everyone else has a data key for the year: their identity is encrypted under it. That includes
    # a pupil on two schools' rolls whose other register stored a key between our read and our insert.
    rekeyed = [n for n in changed if pupil_ids[n] not in inserted]
    missing = [pupil_ids[n] for n in rekeyed if pupil_ids[n] not in existing_keys]
    if missing:
        existing_keys.update(identity_repo.wrapped_keys(db, year, missing))
    for n in rekeyed:
        pid = pupil_ids[n]
        wrapped, key_id = existing_keys[pid]
        data_key = unwrap_data_key(wrapped, keys.kek(key_id), pid, year)
        stored.append((pid, encrypt_identity(identity(n), data_key, pid, year), digests[n]))
    identity_repo.upsert_identities(db, year, now, stored)


def _store_marks_and_totals(
    db: Session,
    la_code: str,
    urn: int,
    day: dt.date,
    year: int,
    version: int,
    rows: list[FeedRowData],
    pupil_ids: list[str],
    old: list[tuple[str, str, str]],
) -> None:
    """Store the register's marks and move each pupil's running totals by them, less those of the
    register it supersedes (a correction); the reason-code totals likewise."""
    moves = _moves(day)
    superseded: dict[str, tuple[str, str]] = {pid: (am, pm) for pid, am, pm in old}
    register: list[RegisterRow] = []
    for pid, row in zip(pupil_ids, rows, strict=True):
        am, pm = row["am"], row["pm"]
        move = moves[(am, pm)]
        if superseded:
            previous = superseded.pop(pid, None)
            if previous is not None:
                before = moves[previous]
                move = (*(a - b for a, b in zip(move[:6], before[:6], strict=True)), *move[6:])
        register.append(
            make_register_row((pid, am, pm, row["year_group"], row["sen_status"], row["fsm_eligible"], *move))
        )
    register_repo.store_register(db, urn, day, year, version, la_code, register)
    if not old:
        return
    # The superseded marks' reason codes come off; pupils in the superseded register but not in the
    # correction have all their marks taken off.
    codes: dict[tuple[str, str], int] = defaultdict(int)
    for pid, am, pm in old:
        for code in (am, pm):
            if code not in _PLAIN_PRESENT:
                codes[(pid, code)] -= 1
    register_repo.upsert_code_totals(db, urn, year, [(pid, code, n) for (pid, code), n in codes.items()])
    register_repo.subtract_enrolment_totals(
        db,
        urn,
        year,
        [
            {
                "pupil_id": pid,
                **{f"sessions_{k}": -v for k, v in zip(_TOTAL_KEYS, moves[marks][:6], strict=True)},
            }
            for pid, marks in superseded.items()
        ],
    )
    register_repo.prune_code_totals(db, urn, year)


def _update_roster(db: Session, urn: int, day: dt.date, roster: Roster, register: _Register,
                   old: list[tuple[str, str, str]], *, new: bool) -> None:
    """Move the school's roster for the year (locked) by the register, less the version it supersedes."""
    changed = apply_register(
        roster,
        day,
        [
            (pid, digest, row["year_group"], row["sen_status"], row["fsm_eligible"], row["am"], row["pm"])
            for pid, digest, row in zip(
                register.pupil_ids, register.identity_digests, register.rows, strict=True
            )
        ],
        old,
    )
    rosters.save(db, urn, roster, changed, new=new)


Move = tuple[int, int, int, int, int, int, str | None, int | None, str | None, int | None]
#: Moves per set of codes in force (there are two: before and since the 2024 regulations).
_MOVES: dict[frozenset[tuple[str, StatClass]], dict[tuple[str, str], Move]] = {}


def _moves(day: dt.date) -> dict[tuple[str, str], Move]:
    """For every (AM, PM) pair of codes in force on the day: how it moves a pupil's totals (the six
    deltas of `schemas.feeds.session_deltas`), then the reason codes it adds (code1, n1, code2, n2:
    the codes other than plain present, with their sessions; None when fewer)."""
    key = frozenset(codes_in_force(day).items())
    moves = _MOVES.get(key)
    if moves is None:
        moves = {}
        for (am, pm), delta in session_deltas(day).items():
            counted = [code for code in (am, pm) if code not in _PLAIN_PRESENT]
            codes: tuple[str | None, int | None, str | None, int | None] = (None, None, None, None)
            if len(counted) == 1 or (len(counted) == 2 and counted[0] == counted[1]):
                codes = (counted[0], len(counted), None, None)
            elif counted:
                codes = (counted[0], 1, counted[1], 1)
            moves[(am, pm)] = (*delta, *codes)
        _MOVES[key] = moves
    return moves
