"""The checks a DPO runs on the audit log from the console: one entry proved into the latest signed
head, the latest head's signature, the whole log verified (as `gateway audit verify`), and an entry's
inclusion proof as a document anyone can check offline. The console only renders what these return.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from audit.canonical import canonical_bytes
from audit.heads import head_from_json, verify_tree_head
from audit.merkle import leaf_hash, verify_inclusion
from gateway.auth import Principal
from gateway.db.session import transaction
from gateway.keys.signing import SigningKeyMissing, SigningKeys, signing_keys
from gateway.services import access, audit
from gateway.services.audit import trail
from gateway.services.audit.answers import InclusionProof, LoggedEvent, PublishedHead
from gateway.services.audit.verify import verify_database
from policies.access import AUDIT_READ


@dataclass(frozen=True, slots=True)
class EntryCheck:
    """Whether an entry shown is the one the signed log holds, and each step of knowing it."""

    head: PublishedHead
    rehashed: bool
    signed: bool
    included: bool
    holds: bool


_ABOUT_PROOF = (
    "RFC 9162 inclusion proof of one audit log entry. The entry's canonical JSON (RFC 8785) "
    "hashes to leaf_hash (SHA-256 of 0x00 || entry); the audit_path places that leaf in the "
    "signed tree head; verify the head's signature with the keys at /v1/audit/keys."
)


@dataclass(frozen=True, slots=True)
class ProofDocument:
    """An entry, its inclusion proof and the signed head it leads to: written as one JSON file."""

    index: int
    entry: dict[str, Any]
    leaf_hash: str
    proof: InclusionProof
    tree_head: PublishedHead

    def as_json(self) -> dict[str, Any]:
        return {
            "about": _ABOUT_PROOF,
            "index": self.index,
            "entry": self.entry,
            "entry_canonical_json": canonical_bytes(self.entry).decode("utf-8"),
            "leaf_hash": self.leaf_hash,
            "inclusion_proof": {"tree_size": self.proof.tree_size, "audit_path": self.proof.audit_path},
            "tree_head": self.tree_head.as_json(),
        }


@dataclass(frozen=True, slots=True)
class LogVerified:
    """`gateway audit verify`'s report (`VerifyReport.as_json`), and the event that recorded the check."""

    ok: bool
    tree_size: int
    events_checked: int
    nodes_checked: int
    heads_checked: int
    first_bad_index: int | None
    first_bad_head: int | None
    problem_count: int
    problems: list[dict[str, Any]]
    seconds: float
    events_per_second: int | None
    audit_index: int


def _keys(data_dir: Path) -> SigningKeys:
    try:
        return signing_keys(data_dir)
    except SigningKeyMissing:
        raise trail.NoSigningKey() from None


def latest_head(sessions: sessionmaker[Session], data_dir: Path) -> tuple[PublishedHead, bool]:
    """The latest signed tree head, and whether its signature verifies with the published keys."""
    keys = _keys(data_dir)
    head = trail.current_head(sessions, keys)
    return head, verify_tree_head(head_from_json(head.as_json()), keys.public_keys())


def check_entry(sessions: sessionmaker[Session], data_dir: Path, event: LoggedEvent) -> EntryCheck:
    """Is the entry shown the one the signed log holds? Re-hash it, prove it into the latest head."""
    head, signed = latest_head(sessions, data_dir)
    index = event.index
    rehashed = leaf_hash(canonical_bytes(event.event)).hex() == event.leaf_hash
    included = False
    if index < head.tree_size:
        proof = trail.inclusion(sessions, index, head.tree_size)
        included = verify_inclusion(
            bytes.fromhex(event.leaf_hash),
            index,
            head.tree_size,
            [bytes.fromhex(p) for p in proof.audit_path],
            bytes.fromhex(head.root_hash),
        )
    return EntryCheck(
        head=head, rehashed=rehashed, signed=signed, included=included, holds=rehashed and signed and included
    )


def proof_document(sessions: sessionmaker[Session], data_dir: Path, event: LoggedEvent) -> ProofDocument:
    """An entry with its RFC 9162 inclusion proof and the signed head it leads to, as one document."""
    head = trail.current_head(sessions, _keys(data_dir))
    proof = trail.inclusion(sessions, event.index, head.tree_size)
    return ProofDocument(
        index=event.index, entry=event.event, leaf_hash=event.leaf_hash, proof=proof, tree_head=head
    )


def verify_whole_log(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path, principal: Principal
) -> LogVerified:
    """What `gateway audit verify` does, for a DPO in the browser; the check itself is recorded."""
    access.authorise(sessions, principal, AUDIT_READ)
    public_keys = _keys(data_dir).public_keys()
    report = verify_database(database_url, public_keys)
    with transaction(sessions) as db:
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "audit.verified",
                decision="allow",
                record_count=report.events_checked,
                details={
                    "ok": report.ok,
                    "tree_size": report.tree_size,
                    "heads_checked": report.heads_checked,
                    "problem_count": report.problem_count,
                    "first_bad_index": report.first_bad_index,
                },
            ),
        )
    return LogVerified(**report.as_json(), audit_index=index)
