"""Use cases: a school records parental consent or objection; the registry answers who may be released.

The stored record names the pupil only by pupil_id (a keyed pseudonym); the evidence text is
encrypted under the pupil's data key; the audit event carries the audit pseudonym. A receipt modelled
on the Kantara Consent Receipt goes back to the school.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anonymisation.keys import encrypt_evidence, unwrap_data_key
from anonymisation.pseudonyms import audit_pseudonym
from anonymisation.pseudonyms import pupil_id as make_pupil_id
from consent.rules import ConsentDecision, DecisionNotAccepted, check_accepts
from gateway.auth import Principal
from gateway.db.base import utcnow
from gateway.db.repositories import consents as consent_repo
from gateway.db.repositories import identities as identity_repo
from gateway.db.repositories import registers as register_repo
from gateway.db.repositories import schools as school_repo
from gateway.db.session import transaction
from gateway.errors import InvalidInput, NotFound
from gateway.keys.store import Keys
from gateway.services import access, audit
from gateway.services.access import Target
from gateway.services.common import decrypt_identities
from policies.access import CONSENT_HISTORY_VIEW, CONSENT_RECORD, CONSENTS_VIEW
from policies.model import Catalogue
from policies.ropa import categories, recipients
from schemas.calendar import academic_year_of
from schemas.upn import validate_upn

#: The operator named as controller on receipts; a deployment sets its own in the catalogue header.
RECEIPT_VERSION = "KI-CR-v1.1.0"
JURISDICTION = "GB-ENG"


@dataclass(frozen=True, slots=True)
class Controller:
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class ReceiptSubject:
    audit_pseudonym: str  # never the UPN


@dataclass(frozen=True, slots=True)
class ReceiptPurpose:
    id: str
    title: str
    description: str
    lawful_basis: str
    legal_references: list[str]


@dataclass(frozen=True, slots=True)
class RecordedBy:
    org_type: str
    urn: int


@dataclass(frozen=True, slots=True)
class ConsentReceipt:
    """A consent receipt after the Kantara Initiative's model, for the school to give the parent."""

    receipt_id: str
    version: str
    jurisdiction: str
    consent_timestamp: dt.datetime
    collection_method: str
    controller: Controller
    subject: ReceiptSubject
    purpose: ReceiptPurpose
    data_categories: str
    recipients: str
    retention: str
    decision: str
    recorded_by: RecordedBy
    how_to_withdraw: str
    audit_index: int


@dataclass(frozen=True, slots=True)
class ConsentState:
    """A pupil's current decision for a purpose, as the pupil's school sees it."""

    upn: str
    forename: str
    surname: str
    purpose: str
    decision: str
    recorded_at: dt.datetime
    receipt_id: str


@dataclass(frozen=True, slots=True)
class ConsentStates:
    urn: int
    purpose: str | None
    consents: list[ConsentState]
    audit_index: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    receipt_id: str
    purpose: str
    decision: str
    recorded_at: dt.datetime
    recorded_by_urn: int
    audit_index: int


@dataclass(frozen=True, slots=True)
class ConsentHistory:
    purpose: str | None
    history: list[HistoryEntry]
    audit_index: int


def _purpose(catalogue: Catalogue, purpose_id: str, decision: ConsentDecision) -> Any:
    purpose = catalogue.purpose(purpose_id)
    if purpose is None:
        raise InvalidInput([{"row": None, "field": "purpose", "message": "not a purpose in the catalogue"}])
    try:
        check_accepts(purpose.consent, decision)
    except DecisionNotAccepted as exc:
        raise InvalidInput(
            [
                {
                    "row": None,
                    "field": "decision" if purpose.consent.value != "none" else "purpose",
                    "message": str(exc),
                }
            ]
        ) from None
    return purpose


def _pupil_id(keys: Keys, upn: str) -> str:
    try:
        clean = validate_upn(upn)
    except ValueError as exc:
        raise InvalidInput([{"row": None, "field": "upn", "message": str(exc)}]) from None
    return make_pupil_id(clean, keys.pupil_id_key)


def _encrypt_evidence(db: Session, keys: Keys, pid: str, year: int, evidence: str | None) -> bytes | None:
    if not evidence:
        return None
    wrapped = identity_repo.wrapped_keys(db, year, [pid]).get(pid)
    if wrapped is None:
        return None
    data_key = unwrap_data_key(wrapped[0], keys.kek(wrapped[1]), pid, year)
    return encrypt_evidence(evidence, data_key, pid, year)


def record_consent(
    sessions: sessionmaker[Session],
    keys: Keys,
    catalogue: Catalogue,
    principal: Principal,
    urn: int,
    upn: str,
    purpose_id: str,
    decision: ConsentDecision,
    evidence: str | None,
) -> ConsentReceipt:
    access.authorise(sessions, principal, CONSENT_RECORD, Target(urn=urn))
    purpose = _purpose(catalogue, purpose_id, decision)
    receipt_id = "cr_" + uuid.uuid4().hex
    now = utcnow()
    pid = _pupil_id(keys, upn)
    with transaction(sessions) as db:
        if school_repo.get_school(db, urn) is None:
            raise NotFound(f"school {urn} is not in the register of schools")
        enrolled = register_repo.pupil_enrolled_at(db, pid, urn)
    # Asked again with the roll, outside the transaction that read it (gateway.services.access).
    access.authorise(
        sessions, principal, CONSENT_RECORD, Target(urn=urn, on_roll=enrolled is not None), purpose=purpose.id
    )
    assert enrolled is not None
    year = enrolled
    with transaction(sessions) as db:
        # Named as the year of the enrolment names the pupil, under a key destroyed with that year.
        subject = audit_pseudonym(pid, keys.audit_key_for_year(year))
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "consent.recorded",
                purpose=purpose.id,
                subject_org_ids=[str(urn)],
                record_count=1,
                pupil_refs=[subject],
                details={"receipt_id": receipt_id, "consent_decision": decision.value},
            ),
        )
        consent_repo.insert_consent(
            db,
            {
                "receipt_id": receipt_id,
                "seq": index,
                "pupil_id": pid,
                "academic_year": year,
                "purpose": purpose.id,
                "decision": decision.value,
                "recorded_by_urn": urn,
                "recorded_by_sub": principal.sub,
                "evidence": _encrypt_evidence(db, keys, pid, year, evidence),
                "recorded_at": now,
                "audit_index": index,
            },
        )
    return _receipt(catalogue, purpose, receipt_id, now, subject, decision.value, urn, index)


def _receipt(
    catalogue: Catalogue,
    purpose: Any,
    receipt_id: str,
    now: dt.datetime,
    subject: str,
    decision: str,
    urn: int,
    index: int,
) -> ConsentReceipt:
    return ConsentReceipt(
        receipt_id=receipt_id,
        version=RECEIPT_VERSION,
        jurisdiction=JURISDICTION,
        consent_timestamp=now,
        collection_method="recorded by the pupil's school on the parent's instruction",
        controller=Controller(name=catalogue.catalogue.title, role="operator of the attendance data gateway"),
        subject=ReceiptSubject(audit_pseudonym=subject),
        purpose=ReceiptPurpose(
            id=purpose.id,
            title=purpose.title,
            description=purpose.description,
            lawful_basis=purpose.lawful_basis.article,
            legal_references=list(purpose.lawful_basis.legal_references),
        ),
        data_categories=categories(purpose),
        recipients=recipients(purpose),
        retention=purpose.retention.describe(),
        decision=decision,
        recorded_by=RecordedBy(org_type="school", urn=urn),
        how_to_withdraw=(
            "Ask the school to record 'withdrawn' for this purpose; it takes effect for every release from "
            "that moment, and releases already made are listed to the school and its DPO."
        ),
        audit_index=index,
    )


def get_receipt(
    sessions: sessionmaker[Session],
    keys: Keys,
    catalogue: Catalogue,
    principal: Principal,
    urn: int,
    receipt_id: str,
) -> ConsentReceipt:
    """A receipt the school recorded, to show or print again. Another school's receipt is not found
    (rather than refused), so that a receipt id says nothing about who holds it; the view is audited."""
    access.authorise(sessions, principal, CONSENTS_VIEW, Target(urn=urn))
    with transaction(sessions) as db:
        row = consent_repo.consent_by_receipt(db, receipt_id)
        if row is None or row.recorded_by_urn != urn:
            raise NotFound("no receipt with this id was recorded by your school")
        purpose = next((p for p in catalogue.purposes if p.id == row.purpose), None)
        if purpose is None:
            raise NotFound("the receipt's purpose is no longer in the catalogue")
        subject = audit_pseudonym(row.pupil_id, keys.audit_key_for_year(row.academic_year))
        audit.record(
            db,
            audit.new_event(
                principal,
                "consents.viewed",
                purpose=purpose.id,
                subject_org_ids=[str(urn)],
                record_count=1,
                pupil_refs=[subject],
                details={"receipt_id": receipt_id},
            ),
        )
        return _receipt(catalogue, purpose, row.receipt_id, row.recorded_at, subject, row.decision, urn,
                        row.audit_index)


def current_states(
    sessions: sessionmaker[Session], keys: Keys, principal: Principal, urn: int, purpose_id: str | None
) -> ConsentStates:
    access.authorise(sessions, principal, CONSENTS_VIEW, Target(urn=urn), purpose=purpose_id)
    with transaction(sessions) as db:
        pupils = register_repo.school_pupil_ids(db, urn)
        rows = consent_repo.current_consent_records(db, pupils, purpose_id)
        years = {r.pupil_id: r.academic_year for r in rows}
        identities: dict[str, Any] = {}
        for year in set(years.values()):
            identities.update(decrypt_identities(db, keys, year, [p for p, y in years.items() if y == year]))
        out: list[ConsentState] = []
        for r in rows:
            ident = identities.get(r.pupil_id)
            if ident is None:
                continue
            out.append(
                ConsentState(
                    upn=ident.upn,
                    forename=ident.forename,
                    surname=ident.surname,
                    purpose=r.purpose,
                    decision=r.decision,
                    recorded_at=r.recorded_at,
                    receipt_id=r.receipt_id,
                )
            )
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "consents.viewed",
                purpose=purpose_id,
                subject_org_ids=[str(urn)],
                record_count=len(out),
                details={"urn": urn},
            ),
        )
    return ConsentStates(urn=urn, purpose=purpose_id, consents=out, audit_index=index)


def history(
    sessions: sessionmaker[Session],
    keys: Keys,
    principal: Principal,
    upn: str,
    urn: int | None,
    purpose_id: str | None,
) -> ConsentHistory:
    """A pupil's full consent history: for the pupil's own school, or for a DPO."""
    try:
        clean = validate_upn(upn)
    except ValueError as exc:
        raise InvalidInput([{"row": None, "field": "upn", "message": str(exc)}]) from None
    pid = make_pupil_id(clean, keys.pupil_id_key)
    access.authorise(sessions, principal, CONSENT_HISTORY_VIEW, Target(urn=urn), purpose=purpose_id)
    if urn is not None:
        with transaction(sessions) as db:
            on_roll = register_repo.pupil_enrolled_at(db, pid, urn) is not None
        known = Target(urn=urn, on_roll=on_roll)
        access.authorise(sessions, principal, CONSENT_HISTORY_VIEW, known, purpose=purpose_id)
    with transaction(sessions) as db:
        records = consent_repo.consent_history(db, pid, purpose_id)
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "consents.viewed",
                purpose=purpose_id,
                subject_org_ids=[str(urn)] if urn else [],
                record_count=len(records),
                # This request is an event of the current academic year, and names the pupil as it does.
                pupil_refs=[audit_pseudonym(pid, keys.audit_key_for_year(academic_year_of(dt.date.today())))],
            ),
        )
    return ConsentHistory(
        purpose=purpose_id,
        history=[
            HistoryEntry(
                receipt_id=r.receipt_id,
                purpose=r.purpose,
                decision=r.decision,
                recorded_at=r.recorded_at,
                recorded_by_urn=r.recorded_by_urn,
                audit_index=r.audit_index,
            )
            for r in records
        ],
        audit_index=index,
    )
