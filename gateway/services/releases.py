"""Use cases: purpose-limited releases, their life cycle, and pupil_ref resolution by the school.

Every request reads top to bottom: decide (policy) -> gather (scoped queries) -> select and
minimise (core) -> record (audit) -> commit -> respond. A denial is recorded and committed before the
403 goes out; an allowed release's records leave only after its audit event is committed.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

import structlog
from sqlalchemy.orm import Session, sessionmaker

from anonymisation.keys import KeyUnavailable
from anonymisation.pseudonyms import audit_pseudonym, audit_pseudonyms
from anonymisation.pseudonyms import pupil_id as make_pupil_id
from anonymisation.pseudonyms import pupil_ref as make_pupil_ref
from anonymisation.pseudonyms import pupil_refs as make_pupil_refs
from anonymisation.transforms import apply_obligations
from consent.rules import ConsentDecision, ConsentFiltered, filter_by_consent, partition
from gateway.auth import Principal
from gateway.db.base import utcnow
from gateway.db.repositories import consents as consent_repo
from gateway.db.repositories import registers as register_repo
from gateway.db.repositories import releases as rrepo
from gateway.db.repositories import schools as school_repo
from gateway.db.repositories.releases import StoredRelease
from gateway.db.session import reading, transaction
from gateway.errors import Conflict, Forbidden, InvalidInput, NotFound
from gateway.keys.store import Keys
from gateway.services import access, audit
from gateway.services.access import Target
from gateway.services.common import (
    Recipient,
    ReleaseMetadata,
    decrypt_identities,
    release_metadata,
)
from policies.access import PUPIL_REF_RESOLVE, RELEASE_ATTEST_DELETION, RELEASE_VIEW, RELEASES_LIST
from policies.decide import decide
from policies.fields import Criterion
from policies.model import (
    Catalogue,
    ConsentRule,
    Decision,
    Obligations,
    ReleaseRequest,
    Requester,
    RequestFacts,
)
from policies.select import (
    PENALTY_NOTICE_SCHOOL_WEEKS,
    PENALTY_NOTICE_SESSIONS,
    PERSISTENT_ABSENCE_PERCENT,
    SEVERE_ABSENCE_PERCENT,
    TRANSITION_YEAR_GROUP,
    Selected,
    select,
)
from schemas.calendar import academic_year_of
from schemas.codes import (
    CODES_2024_IN_FORCE,
    PENALTY_NOTICE_CODES,
    StatClass,
    codes_by_class,
    codes_in_force,
    is_possible,
)
from schemas.records import EnrolmentTotals, Identity, Mark
from schemas.upn import validate_upn

log = structlog.get_logger("gateway.releases")

#: Most UPNs a transition request may name: a large secondary school's Year 7 intake.
MAX_NAMED_PUPILS = 2000


@dataclass(frozen=True, slots=True)
class ReleaseMade:
    """A release just made: its records leave once, in the answer to the request."""

    release_id: str
    purpose: str
    recipient: Recipient
    created_at: dt.datetime
    expires_at: dt.datetime
    policy_version: str
    policy_hash: str
    from_date: dt.date
    to_date: dt.date
    fields: list[str]
    records: list[dict[str, Any]]  # their fields vary by purpose (policies/catalogue)
    record_count: int
    audit_index: int
    acknowledgement: str
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class ReleaseListing:
    status: str | None
    releases: list[ReleaseMetadata]


@dataclass(frozen=True, slots=True)
class ResolvedRef:
    """The pupil behind a pupil_ref, for the pupil's own school."""

    pupil_ref: str
    upn: str
    forename: str
    surname: str
    date_of_birth: dt.date
    release_id: str
    purpose: str
    recipient: Recipient
    audit_index: int


def requester_of(principal: Principal) -> Requester:
    return Requester(org_type=principal.org_type, org_id=principal.org_id, roles=tuple(principal.roles))


def _facts(db: Session, principal: Principal, request: ReleaseRequest) -> RequestFacts:
    named = list(request.schools or ())
    las = school_repo.school_las(db, named) if named else {}
    requester_la, requester_phase = None, None
    if principal.org_type == "school" and principal.org_id.isdigit():
        school = school_repo.get_school(db, int(principal.org_id))
        if school is not None:
            requester_la, requester_phase = school.la_code, school.phase
    return RequestFacts(
        school_la_codes={urn: las.get(urn) for urn in named},
        requester_la_code=requester_la,
        requester_phase=requester_phase,
    )


def _valid_upns(upns: tuple[str, ...] | None) -> list[str]:
    if upns is None:
        return []
    if len(upns) > MAX_NAMED_PUPILS:
        raise InvalidInput(
            [{"row": None, "field": "upns", "message": f"at most {MAX_NAMED_PUPILS} UPNs per request"}]
        )
    errors = []
    clean = []
    for i, raw in enumerate(upns, start=1):
        try:
            clean.append(validate_upn(raw))
        except ValueError as exc:
            errors.append({"row": i, "field": "upns", "message": str(exc)})
    if errors:
        raise InvalidInput(errors)
    return clean


def explain(
    catalogue: Catalogue, requester: Requester, request: ReleaseRequest, facts: RequestFacts
) -> Decision:
    """The decision without touching pupil data (for `gateway policy explain`)."""
    return decide(catalogue, requester, request, facts, now=dt.datetime.now(dt.UTC))


def _deny_event(principal: Principal, decision: Decision, request: ReleaseRequest) -> Any:
    return audit.new_event(
        principal,
        "release.decided",
        purpose=request.purpose,
        decision="deny",
        reasons=list(decision.reasons),
        subject_org_ids=[str(u) for u in (request.schools or ())],
        record_count=0,
        details={
            "policy_version": decision.policy_version,
            "policy_hash": decision.policy_hash,
            "schools": list(request.schools or ()),
            "named_pupils": len(request.upns or ()),
            "from": request.from_date.isoformat() if request.from_date else None,
            "to": request.to_date.isoformat() if request.to_date else None,
        },
    )


def create_release(
    sessions: sessionmaker[Session],
    keys: Keys,
    catalogue: Catalogue,
    principal: Principal,
    request: ReleaseRequest,
) -> ReleaseMade:
    upns = _valid_upns(request.upns)
    now = dt.datetime.now(dt.UTC)
    with transaction(sessions) as db:
        facts = _facts(db, principal, request)
        decision = decide(catalogue, requester_of(principal), request, facts, now=now)
        if not decision.allow:
            audit.record(db, _deny_event(principal, decision, request))
    if not decision.allow:
        log.info(
            "release_denied", purpose=request.purpose, reasons=[r.split(":")[0] for r in decision.reasons]
        )
        raise Forbidden(list(decision.reasons))
    assert decision.obligations is not None
    obligations = decision.obligations

    # Reads first, in a transaction of their own that takes no lock; then the writes, in a short one.
    with reading(sessions) as db:
        named_ids = (
            {make_pupil_id(u, keys.pupil_id_key) for u in upns} if obligations.scope.named_pupils else None
        )
        selected, withheld_consent, withheld_objection, identities = gather(db, keys, obligations, named_ids)
    fields = list(obligations.output_fields)
    released = list(dict.fromkeys(s.pupil_id for s in selected))  # each pupil once, in release order
    recipient, year = obligations.recipient.key, obligations.academic_year
    refs = (
        dict(zip(released, make_pupil_refs(released, recipient, year, keys.pupil_ref_key), strict=True))
        if "pupil_ref" in fields
        else {}
    )

    def ref(pid: str, to: str, academic_year: int) -> str:
        if (to, academic_year) == (recipient, year) and pid in refs:
            return refs[pid]
        return make_pupil_ref(pid, to, academic_year, key=keys.pupil_ref_key)

    records = apply_obligations(obligations, selected, identity_of=identities.__getitem__, pupil_ref=ref)
    release_id = "rel_" + uuid.uuid4().hex
    event = audit.new_event(
        principal,
        "release.decided",
        purpose=obligations.purpose,
        decision="allow",
        reasons=list(decision.reasons),
        subject_org_ids=sorted(
            {str(s.school_urn) for s in selected if s.school_urn}
            | ({obligations.scope.la_code} if obligations.scope.la_code else set())
        ),
        record_count=len(records),
        release_id=release_id,
        pupil_refs=sorted(set(audit_pseudonyms(released, keys.audit_key_for_year(year)))) if released else [],
        details={
            "fields": fields,
            "expires_at": obligations.expires_at.isoformat(),
            "from": obligations.window.from_date.isoformat(),
            "to": obligations.window.to_date.isoformat(),
            "criterion": obligations.criterion.value,
            "withheld_consent": withheld_consent,
            "withheld_objection": withheld_objection,
            "policy_version": decision.policy_version,
            "policy_hash": decision.policy_hash,
            "schools": list(obligations.scope.school_urns or ()),
            "named_pupils": len(upns),
        },
    )
    # The release and its pupils' references are written first and the audit event last, as the transaction's
    # last step, so that the log's append lock is held only from there to the commit; the records
    # leave only after the commit, with the event (flushed to disk after the lock
    # is given up: gateway.db.session.transaction).
    with transaction(sessions, locks_before_flush=True) as db:
        rrepo.insert_release(
            db,
            {
                "id": release_id,
                "purpose": obligations.purpose,
                "recipient_org_type": obligations.recipient.org_type,
                "recipient_org_id": obligations.recipient.org_id,
                "requested_by": principal.sub,
                "criterion": obligations.criterion.value,
                "window_from": obligations.window.from_date,
                "window_to": obligations.window.to_date,
                "academic_year": obligations.academic_year,
                "fields": json.dumps(fields),
                "justification": (request.justification or "").strip()[:2000],
                "record_count": len(records),
                "withheld_consent": withheld_consent,
                "withheld_objection": withheld_objection,
                "policy_version": decision.policy_version,
                "policy_hash": decision.policy_hash,
                "created_at": now,
                "expires_at": obligations.expires_at,
                "audit_index": -1,
            },
            list(refs.items()),
        )
        index = audit.record(db, event)
        rrepo.set_release_audit_index(db, release_id, index)
    log.info(
        "release_made",
        purpose=obligations.purpose,
        records=len(records),
        audit_index=index,
        withheld_consent=withheld_consent,
        withheld_objection=withheld_objection,
    )
    return ReleaseMade(
        release_id=release_id,
        purpose=obligations.purpose,
        recipient=Recipient(obligations.recipient.org_type, obligations.recipient.org_id),
        created_at=now,
        expires_at=obligations.expires_at,
        policy_version=decision.policy_version,
        policy_hash=decision.policy_hash,
        from_date=obligations.window.from_date,
        to_date=obligations.window.to_date,
        fields=fields,
        records=records,
        record_count=len(records),
        audit_index=index,
        acknowledgement=obligations.acknowledgement,
        reasons=list(decision.reasons),
    )


class Gathered(NamedTuple):
    """What an allowed release is about, before its fields are transformed."""

    selected: list[Selected]
    withheld_consent: int  # counts only, never who
    withheld_objection: int
    identities: dict[str, Identity]  # decrypted only when a field keeps an identifier


def gather(db: Session, keys: Keys, obligations: Obligations, named_ids: set[str] | None) -> Gathered:
    """The reading and selection of an allowed release: the scoped queries (with their pre-filters),
    the consent registry, the criterion, the consent rule, and the identifiers the fields keep. The
    spec tests (tests/spec/world.py) run this very function against a small database."""
    totals, marks = _gather(db, obligations, named_ids)
    consented, objected = _consent_sets(db, obligations, [t.pupil_id for t in totals])
    # The criterion once, for everyone; then the consent rule. select() filters on consent before the
    # criterion and judges each enrolment on its own, so this equals select(..., consented, objected)
    # and also yields the counts withheld (tests/unit/test_consent_rules.py checks the equivalence).
    everyone = {t.pupil_id for t in totals}
    meeting = select(
        obligations, totals, marks, named_pupil_ids=named_ids, consented=everyone, objected=set()
    )
    selected, withheld_consent, withheld_objection = _apply_consent(obligations, meeting, consented, objected)
    identities = _identities_if_needed(db, keys, obligations, [s.pupil_id for s in selected])
    if len(identities) < len({s.pupil_id for s in selected}) and _keeps_identifiers(obligations):
        # Identifiers of this window were crypto-shredded: release the rows that still can be.
        selected = [s for s in selected if s.pupil_id in identities]
    return Gathered(selected, withheld_consent, withheld_objection, identities)


def _not_counted() -> tuple[dt.date, list[str], list[str]]:
    """(the date the 2024 code set came in, the codes that are no possible session from then on, and
    before)."""

    def listed(codes: dict[str, StatClass]) -> list[str]:
        return sorted(code for code, cls in codes.items() if not is_possible(cls))

    return (
        CODES_2024_IN_FORCE,
        listed(codes_in_force(CODES_2024_IN_FORCE)),
        listed(codes_in_force(CODES_2024_IN_FORCE - dt.timedelta(days=1))),
    )


def _gather(
    db: Session, obligations: Obligations, named_ids: set[str] | None
) -> tuple[list[EnrolmentTotals], list[Mark]]:
    """Read exactly the scope of the decision: the LA (and named schools) or the named pupils; and of
    them, for a threshold criterion, only the enrolments that can meet it (the core judges again)."""
    scope, window, criterion = obligations.scope, obligations.window, obligations.criterion
    la, urns = scope.la_code, scope.school_urns
    if criterion is Criterion.PENALTY_NOTICE_THRESHOLD:
        assert la is not None
        return rrepo.penalty_notice_candidates(
            db,
            window.from_date,
            window.to_date,
            la_code=la,
            urns=urns,
            codes=sorted(PENALTY_NOTICE_CODES),
            sessions=PENALTY_NOTICE_SESSIONS,
            school_weeks=PENALTY_NOTICE_SCHOOL_WEEKS,
            classes=codes_by_class(),
            not_counted=_not_counted(),
        )
    # Windows of the other criteria lie inside one academic year (policies.decide): enrolments whose
    # registers all fall in the window take their running totals, the rest are summed from the marks.
    year = obligations.academic_year
    inside = year if academic_year_of(window.from_date) == academic_year_of(window.to_date) == year else None
    if criterion is Criterion.YEAR_6_SUMMARY:
        ids = sorted(named_ids or ())
        if not ids:
            return [], []
        return rrepo.window_totals(
            db,
            window.from_date,
            window.to_date,
            codes_by_class(),
            academic_year=inside,
            pupil_ids=ids,
            year_group=TRANSITION_YEAR_GROUP,
        ), []
    threshold = {
        Criterion.PERSISTENT_ABSENCE: PERSISTENT_ABSENCE_PERCENT,
        Criterion.SEVERE_ABSENCE: SEVERE_ABSENCE_PERCENT,
    }[criterion]
    return rrepo.window_totals(
        db,
        window.from_date,
        window.to_date,
        codes_by_class(),
        academic_year=inside,
        la_code=la,
        urns=urns,
        min_absence_percent=threshold,
    ), []


def _consent_sets(db: Session, obligations: Obligations, pupil_ids: list[str]) -> tuple[set[str], set[str]]:
    if obligations.consent is ConsentRule.NONE or not pupil_ids:
        return set(), set()
    states = consent_repo.current_consent_states(db, obligations.purpose, sorted(set(pupil_ids)))
    return partition(obligations.consent, {p: ConsentDecision(d) for p, d in states.items()})


def _apply_consent(
    obligations: Obligations, meeting: list[Selected], consented: set[str], objected: set[str]
) -> ConsentFiltered[Selected]:
    """Rows that may be released under the purpose's consent rule (consent.rules), and how many were
    withheld for consent and for objection: counts only, never who."""
    return filter_by_consent(obligations.consent, meeting, consented, objected)


#: Fields whose values are decrypted identifiers.
_IDENTIFIER_FIELDS = frozenset({"upn", "forename", "surname", "date_of_birth"})


def _keeps_identifiers(obligations: Obligations) -> bool:
    return not _IDENTIFIER_FIELDS.isdisjoint(obligations.output_fields)


def _identities_if_needed(
    db: Session, keys: Keys, obligations: Obligations, pupil_ids: list[str]
) -> dict[str, Identity]:
    """Decrypt identifiers only when a field of the purpose keeps one, and only for released pupils."""
    if not _keeps_identifiers(obligations) or not pupil_ids:
        return {}
    return decrypt_identities(db, keys, obligations.academic_year, sorted(set(pupil_ids)))


# --- life cycle ----------------------------------------------------------------------------------


def _recipient(release: StoredRelease) -> Target:
    return Target(recipient=(release.recipient_org_type, release.recipient_org_id))


def get_release(sessions: sessionmaker[Session], principal: Principal, release_id: str) -> ReleaseMetadata:
    with transaction(sessions) as db:
        release = rrepo.get_release(db, release_id)
        if release is None:
            raise NotFound("no such release")
        # Release ids are random 128-bit names: telling "not yours" (403, recorded) from "absent" (404)
        # gives nobody a way to find another organisation's releases.
        target, meta = _recipient(release), release_metadata(release, utcnow())
    access.authorise(sessions, principal, RELEASE_VIEW, target, purpose=meta.purpose, release_id=release_id)
    with transaction(sessions) as db:
        audit.record(
            db,
            audit.new_event(
                principal,
                "release.viewed",
                purpose=meta.purpose,
                decision="allow",
                release_id=release_id,
                record_count=0,
                subject_org_ids=[meta.recipient.org_id],
            ),
        )
    return meta


def made_metadata(sessions: sessionmaker[Session], release_id: str) -> ReleaseMetadata:
    """The metadata of a release this request has just made, for the page that answers it: the
    release's decision is its audit event, so reading it back is not a second one."""
    with transaction(sessions) as db:
        release = rrepo.get_release(db, release_id)
        if release is None:
            raise AssertionError("a release made in this request is not stored")
        return release_metadata(release, utcnow())


def attest_deletion(
    sessions: sessionmaker[Session], principal: Principal, release_id: str
) -> ReleaseMetadata:
    now = utcnow()
    with transaction(sessions) as db:
        release = rrepo.get_release(db, release_id)
        if release is None:
            raise NotFound("no such release")
        target, purpose = _recipient(release), release.purpose
    access.authorise(
        sessions, principal, RELEASE_ATTEST_DELETION, target, purpose=purpose, release_id=release_id
    )
    with transaction(sessions) as db:
        release = rrepo.get_release(db, release_id)
        if release is None:
            raise NotFound("no such release")
        if release.deleted_at is not None:
            raise Conflict("the deletion of this release was already attested")
        rrepo.attest_deletion(db, release_id, now, principal.sub)
        audit.record(
            db,
            audit.new_event(
                principal,
                "release.deleted",
                purpose=release.purpose,
                release_id=release_id,
                record_count=release.record_count,
                subject_org_ids=[release.recipient_org_id],
                details={"expires_at": release.expires_at.isoformat(), "overdue": release.expires_at <= now},
            ),
        )
        release.deleted_at, release.deletion_attested_by = now, principal.sub
        return release_metadata(release, now)


def list_releases(
    sessions: sessionmaker[Session], principal: Principal, status: str | None, limit: int
) -> ReleaseListing:
    decision = access.authorise(sessions, principal, RELEASES_LIST)
    recipient = None if decision.scope == "all" else principal.org_id
    now = utcnow()
    with transaction(sessions) as db:
        rows = rrepo.list_releases(db, status, now, recipient, limit)
        audit.record(
            db,
            audit.new_event(
                principal,
                "releases.listed",
                decision="allow",
                record_count=len(rows),
                details={"status": status, "scope": decision.scope},
            ),
        )
        return ReleaseListing(status, [release_metadata(r, now) for r in rows])


def resolve_ref(
    sessions: sessionmaker[Session], keys: Keys, principal: Principal, urn: int, pupil_ref: str
) -> ResolvedRef:
    access.authorise(sessions, principal, PUPIL_REF_RESOLVE, Target(urn=urn))
    with transaction(sessions) as db:
        found = rrepo.resolve_pupil_ref(db, pupil_ref)
        year = register_repo.pupil_enrolled_at(db, found[0], urn) if found else None
        if found is None or year is None:
            raise NotFound("no pupil of this school has that pupil_ref")
        pid, release = found
        identity = decrypt_identities(db, keys, release.academic_year, [pid]).get(pid) or decrypt_identities(
            db, keys, year, [pid]
        ).get(pid)
        try:  # the release's pupils are named in the log under its academic year's audit key
            audit_ref = audit_pseudonym(pid, keys.audit_key_for_year(release.academic_year))
        except KeyUnavailable:
            identity = None
        if identity is None:
            raise NotFound("the identifiers behind this pupil_ref are past retention")
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "pupil_ref.resolved",
                purpose=release.purpose,
                release_id=release.id,
                record_count=1,
                subject_org_ids=[str(urn), release.recipient_org_id],
                pupil_refs=[audit_ref],
            ),
        )
    return ResolvedRef(
        pupil_ref=pupil_ref,
        upn=identity.upn,
        forename=identity.forename,
        surname=identity.surname,
        date_of_birth=identity.date_of_birth,
        release_id=release.id,
        purpose=release.purpose,
        recipient=Recipient(release.recipient_org_type, release.recipient_org_id),
        audit_index=index,
    )
