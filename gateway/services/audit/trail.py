"""Use cases of the audit log beyond appending: tree heads, proofs, the DPO's queries, key rotation, export.

Appending is `gateway.services.audit.record`, called by every other service inside its own
transaction. Everything here reads what those appends wrote, and signs tree heads over it.

Tree heads are signed "at least once per minute of activity" by `head_signer` (a background task
of the app) and on demand by `current_head` (``GET /v1/audit/tree-head``); either signs only when
the log grew since the latest stored head, and every head is kept. Two gateway processes may race to
sign the same size: the table's key (size, key id) keeps one, and both answer with it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from anonymisation.pseudonyms import audit_pseudonym
from anonymisation.pseudonyms import pupil_id as make_pupil_id
from audit.heads import TreeHead, head_to_json, sign_tree_head
from audit.merkle import (
    MissingNode,
    consistency_proof,
    inclusion_proof,
    nodes_for_consistency,
    nodes_for_inclusion,
    nodes_for_root,
    root_hash,
)
from gateway.auth import Principal
from gateway.db.repositories import audit as audit_repo
from gateway.db.repositories import registers as register_repo
from gateway.db.session import one_statement, transaction
from gateway.errors import Forbidden, InvalidInput, ServiceUnavailable
from gateway.keys.signing import SigningKeyMissing, SigningKeys, prepare_next_key, promote_key, signing_keys
from gateway.keys.store import Keys
from gateway.services import access, audit
from gateway.services.access import Target
from gateway.services.audit.answers import (
    ConsistencyProof,
    EventPage,
    Exported,
    InclusionProof,
    Jwks,
    KeyRotated,
    LoggedEvent,
    PublishedHead,
    Recipient,
    ReleaseSeen,
    SubjectAccessAnswer,
)
from policies.access import AUDIT_READ, SUBJECT_ACCESS
from schemas.calendar import academic_year_of

log = structlog.get_logger("gateway.audit_log")

#: "Signed tree heads ... issued at least once per minute of activity" (docs/design.md).
HEAD_INTERVAL_SECONDS = 60.0
#: Largest page of events; a DPO pages through more with the cursor.
MAX_PAGE = 1000
EXPORT_FORMAT = "attendance-gateway-audit-export/1"


class AuditStoreDamaged(ServiceUnavailable):
    """A node a proof needs is not stored: the log must be checked with `gateway audit verify`."""

    def __init__(self) -> None:
        super().__init__("the audit log cannot produce this proof; its operator has been alerted")


class NoSigningKey(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("the audit log has no signing key; run `gateway init`")


# --- tree heads -----------------------------------------------------------------------------------


def _head_of(row: audit_repo.StoredHead) -> TreeHead:
    return TreeHead(
        tree_size=int(row.tree_size),
        root_hash=bytes(row.root_hash),
        timestamp=row.signed_at,
        key_id=row.key_id,
        algorithm=row.algorithm,
        signature=bytes(row.signature),
    )


def _getter(nodes: Mapping[tuple[int, int], bytes]) -> Callable[[int, int], bytes]:
    def get(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise MissingNode(level, index) from None

    return get


def sign_head(sessions: sessionmaker[Session], keys: SigningKeys, *, force: bool = False) -> TreeHead:
    """The latest head, after signing one for the current size if the log grew since.

    ``force`` also signs when the size is unchanged but the current key has not signed it yet
    (after a rotation, so that the new key vouches for the same tree the old one did).
    """
    try:
        key_id, private_key = keys.current
    except SigningKeyMissing:
        raise NoSigningKey() from None
    with transaction(sessions) as db:
        size = audit_repo.read_audit_size(db)
        latest = audit_repo.get_head(db, size, key_id) if force else audit_repo.latest_head(db)
        if latest is not None and latest.tree_size >= size:
            # After a rotation two keys have signed this size: answer with the current key's head.
            return _head_of(audit_repo.get_head(db, latest.tree_size, key_id) or latest)
        try:
            root = root_hash(size, _getter(audit_repo.get_nodes(db, nodes_for_root(size))))
        except MissingNode:
            log.error("audit_node_missing", tree_size=size)
            raise AuditStoreDamaged() from None
        head = sign_tree_head(size, root, dt.datetime.now(dt.UTC), private_key, key_id)
        stored = audit_repo.insert_head(
            db,
            {
                "tree_size": head.tree_size,
                "key_id": head.key_id,
                "root_hash": head.root_hash,
                "signed_at": head.timestamp,
                "algorithm": head.algorithm,
                "signature": head.signature,
            },
        )
        if not stored:  # another process signed this size with this key first: theirs stands
            theirs = audit_repo.get_head(db, size, key_id)
            if theirs is None:
                raise AuditStoreDamaged()
            return _head_of(theirs)
    log.info("tree_head_signed", tree_size=head.tree_size, key_id=head.key_id)
    return head


def current_head(sessions: sessionmaker[Session], keys: SigningKeys) -> PublishedHead:
    """``GET /v1/audit/tree-head``: the published form of the latest head (signed now if needed)."""
    return PublishedHead.of(sign_head(sessions, keys))


@asynccontextmanager
async def head_signer(
    sessions: sessionmaker[Session], data_dir: Path, interval: float = HEAD_INTERVAL_SECONDS
) -> AsyncIterator[None]:
    """Run a background task that signs a head every ``interval`` seconds while the log grows."""
    keys = signing_keys(data_dir)

    async def run() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                # anyio's worker thread is waited for on cancellation, so shutdown never races it.
                await anyio.to_thread.run_sync(sign_head, sessions, keys)
            except (SQLAlchemyError, ServiceUnavailable, OSError) as exc:
                log.warning("tree_head_not_signed", error_type=type(exc).__name__)

    task = asyncio.create_task(run(), name="audit-tree-head-signer")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def public_jwks(data_dir: Path) -> Jwks:
    try:
        return Jwks(keys=list(signing_keys(data_dir).jwks()["keys"]))
    except SigningKeyMissing:
        raise NoSigningKey() from None


# --- proofs ---------------------------------------------------------------------------------------


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput([{"row": None, "field": field, "message": message}])


def inclusion(sessions: sessionmaker[Session], index: int, tree_size: int) -> InclusionProof:
    """RFC 9162 audit path of leaf ``index`` in the tree of ``tree_size`` leaves."""
    if tree_size < 1:
        raise _bad("tree_size", "tree_size must be at least 1")
    if index < 0 or index >= tree_size:
        raise _bad("index", "index must be at least 0 and smaller than tree_size")
    with one_statement(sessions) as db:
        size, nodes = audit_repo.size_and_nodes(db, [(0, index), *nodes_for_inclusion(index, tree_size)])
    if tree_size > size:
        raise _bad("tree_size", f"tree_size must be between 1 and the log's size ({size})")
    try:
        get = _getter(nodes)
        path = inclusion_proof(index, tree_size, get)
        leaf = get(0, index)
    except MissingNode:
        log.error("audit_node_missing", index=index, tree_size=tree_size)
        raise AuditStoreDamaged() from None
    return InclusionProof(
        index=index, tree_size=tree_size, leaf_hash=leaf.hex(), audit_path=[p.hex() for p in path]
    )


def consistency(sessions: sessionmaker[Session], first: int, second: int) -> ConsistencyProof:
    """RFC 9162 proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    if second < 1:
        raise _bad("second", "second must be at least 1")
    if first < 1 or first > second:
        # RFC 9162 defines no proof from the empty tree: every tree extends it.
        raise _bad("first", "first must be at least 1 and at most second")
    with one_statement(sessions) as db:
        size, nodes = audit_repo.size_and_nodes(db, nodes_for_consistency(first, second))
    if second > size:
        raise _bad("second", f"second must be between 1 and the log's size ({size})")
    try:
        proof = consistency_proof(first, second, _getter(nodes))
    except MissingNode:
        log.error("audit_node_missing", first=first, second=second)
        raise AuditStoreDamaged() from None
    return ConsistencyProof(first=first, second=second, proof=[p.hex() for p in proof])


# --- the DPO's view of events ---------------------------------------------------------------------


async def authorise_dpo(sessions: sessionmaker[Session], principal: Principal) -> None:
    """For the routes of the log (tree heads, proofs, events): a DPO's, and a refusal is recorded."""
    await access.authorise_async(sessions, principal, AUDIT_READ)


def visible_org(principal: Principal) -> str | None:
    """None when the DPO sees every event (the operator's); otherwise the one organisation it sees."""
    return None if principal.org_type == "operator" else principal.org_id


@dataclass(frozen=True)
class EventFilters:
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    org_id: str | None = None
    purpose: str | None = None
    decision: str | None = None
    action: str | None = None

    def as_details(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "org_id": self.org_id,
            "purpose": self.purpose,
            "decision": self.decision,
            "action": self.action,
        }


def encode_cursor(after: int, until: int) -> str:
    return base64.urlsafe_b64encode(f"{after}:{until}".encode()).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """(last index returned, log size when paging began): pages are over one fixed prefix of the log,
    so that paging ends even though every page is itself recorded."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        after, until = (int(part) for part in text.split(":"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad("cursor", "not a cursor this gateway issued") from None
    if not 0 <= after < until:
        raise _bad("cursor", "not a cursor this gateway issued")
    return after, until


def list_events(
    sessions: sessionmaker[Session],
    principal: Principal,
    filters: EventFilters,
    cursor: str | None,
    limit: int,
    *,
    newest_first: bool = False,
    with_total: bool = False,
) -> EventPage:
    """``GET /v1/audit/events``: a page of the events this DPO may see, in log order (the console:
    newest first if asked, and with the number of events matching the filters)."""
    access.authorise(sessions, principal, AUDIT_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise _bad("limit", f"limit must be between 1 and {MAX_PAGE}")
    after, until = decode_cursor(cursor) if cursor else (None, None)
    scope = visible_org(principal)
    with transaction(sessions) as db:
        if until is None:
            until = audit_repo.read_audit_size(db)
        rows = audit_repo.events_page(
            db,
            visible_org=scope,
            after=after,
            limit=limit + 1,
            max_index=until,
            start=filters.start,
            end=filters.end,
            org_id=filters.org_id,
            purpose=filters.purpose,
            decision=filters.decision,
            action=filters.action,
            descending=newest_first,
        )
        total = audit_repo.count_events(
            db, visible_org=scope, max_index=until, start=filters.start, end=filters.end,
            org_id=filters.org_id, purpose=filters.purpose, decision=filters.decision, action=filters.action,
        ) if with_total else None
        page, more = rows[:limit], len(rows) > limit
        events = [
            LoggedEvent(int(r.idx), bytes(r.leaf_hash).hex(), json.loads(bytes(r.entry))) for r in page
        ]
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "audit.events_viewed",
                decision="allow",
                subject_org_ids=[scope] if scope else [],
                record_count=len(events),
                details={
                    "filters": filters.as_details(),
                    "first_index": events[0].index if events else None,
                },
            ),
        )
    next_cursor = encode_cursor(events[-1].index, until) if more else None
    return EventPage(events=events, next_cursor=next_cursor, audit_index=index, total=total)


# --- subject access -------------------------------------------------------------------------------


def subject_access(
    sessions: sessionmaker[Session], keys: Keys, principal: Principal, upn: str
) -> SubjectAccessAnswer:
    """``POST /v1/audit/subject-access``: every release that included the pupil, for its DPOs and school.

    Who sees what: the operator's DPO, and the DPO or attendance officer of a school where the pupil
    is (or was) enrolled, see every release of that pupil; any other DPO sees the releases about its
    own organisation. Refusals are recorded too. The UPN is turned into the pupil's audit pseudonyms
    at once and goes no further: not into the event, the log or the answer. A pupil has one pseudonym
    per academic year, under a key destroyed with the year, so the releases of shredded years are
    found no more (and the permanent key's, for events written before, until those years are gone).
    """
    pid = make_pupil_id(upn, keys.pupil_id_key)
    searched = [audit_pseudonym(pid, key) for key in keys.subject_access_keys()]
    # This request is an event of the current academic year and names the pupil as that year does.
    ref = audit_pseudonym(pid, keys.audit_key_for_year(academic_year_of(dt.date.today())))
    del upn
    reasons: list[str] = []
    with transaction(sessions) as db:
        enrolled = (
            principal.org_type == "school"
            and principal.org_id.isdigit()
            and register_repo.is_enrolled_at(db, pid, int(principal.org_id))
        )
        # Recorded below with the answer, in this transaction, allowed or not (its refusal names
        # the pupil by audit pseudonym only, as the answer's event does).
        decision = access.decide(principal, SUBJECT_ACCESS, Target(on_roll=enrolled))
        reasons = [] if decision.allow else list(decision.reasons)
        scope = principal.org_id if decision.scope == "own_organisation" else None
        releases: list[ReleaseSeen] = []
        if not reasons:
            size = audit_repo.read_audit_size(db)
            for row in audit_repo.release_events_for_pupil(db, searched, visible_org=scope, max_index=size):
                event = json.loads(bytes(row.entry))
                details = event.get("details") or {}
                releases.append(
                    ReleaseSeen(
                        audit_index=int(row.idx),
                        release_id=event.get("release_id"),
                        when=event["occurred_at"],
                        recipient=Recipient(
                            org_type=event["actor"]["org_type"], org_id=event["actor"]["org_id"]
                        ),
                        purpose=event.get("purpose"),
                        fields=list(details.get("fields") or []),
                        expires_at=details.get("expires_at"),
                    )
                )
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "audit.subject_access",
                decision="deny" if reasons else "allow",
                reasons=reasons,
                subject_org_ids=[principal.org_id],
                record_count=len(releases),
                pupil_refs=[ref],
                details={"scope": "all" if scope is None else "own_organisation"},
            ),
        )
    if reasons:
        raise Forbidden(reasons)
    log.info("subject_access_answered", releases=len(releases), audit_index=index)
    return SubjectAccessAnswer(releases=releases, audit_index=index)


# --- key rotation ---------------------------------------------------------------------------------


def rotate_signing_key(sessions: sessionmaker[Session], data_dir: Path) -> KeyRotated:
    """Replace the log's signing key: the rotation is itself an event, vouched for by both keys.

    Order: the new key is written beside the old; the rotation is appended to the log; the old key
    signs a head that includes the rotation event; the new key becomes current (the old private
    key is destroyed, its public key stays published) and signs a head of the same size.
    """
    keys = signing_keys(data_dir)
    try:
        old_id, _ = keys.current
    except SigningKeyMissing:
        raise NoSigningKey() from None
    new_id, _ = prepare_next_key(data_dir)
    try:
        with transaction(sessions) as db:
            index = audit.record(
                db,
                audit.new_event(
                    None,
                    "keys.rotated",
                    decision="allow",
                    details={"key": "audit-signing", "key_id": new_id, "previous_key_id": old_id},
                ),
            )
    except BaseException:
        (data_dir / "audit-keys" / f"{new_id}.pem").unlink(missing_ok=True)
        raise
    last_old = sign_head(sessions, keys)
    promote_key(data_dir, new_id)
    first_new = sign_head(sessions, keys, force=True)
    log.info("audit_signing_key_rotated", key_id=new_id, previous_key_id=old_id, audit_index=index)
    return KeyRotated(
        key_id=new_id,
        previous_key_id=old_id,
        audit_index=index,
        heads=[PublishedHead.of(last_old), PublishedHead.of(first_new)],
    )


# --- export ---------------------------------------------------------------------------------------

_EXPORT_README = """Audit log export: verify it without trusting the gateway's operator.

events.jsonl     line i (0-based) is exactly the bytes of entry i: its RFC 8785 canonical JSON
tree-heads.jsonl every signed tree head, by tree size (docs/design.md "tree head")
keys.json        the log's Ed25519 public keys as a JWK Set (compare with GET /v1/audit/keys)
manifest.json    sizes and SHA-256 of the files above

Leaf hash = SHA-256(0x00 || line), node hash = SHA-256(0x01 || left || right) (RFC 9162 section
2.1.1). A head's signature is Ed25519 over the UTF-8 of "{tree_size}\\n{root_hash}\\n{timestamp}\\n"
by the key its key_id names. `gateway audit verify --export DIR [--keys JWKS]` checks all of it:
every leaf re-hashed, the tree rebuilt, every head's signature and root, and the consistency of each
head with the next.
"""


def export(sessions: sessionmaker[Session], data_dir: Path, out: Path, batch: int = 10_000) -> Exported:
    """Write the log, its heads and public keys to ``out`` for offline verification by a DPO."""
    keys = signing_keys(data_dir)
    latest = sign_head(sessions, keys)  # so the export ends with a head covering all of it
    out.mkdir(parents=True, exist_ok=True)
    size = latest.tree_size
    digests: dict[str, str] = {}
    with transaction(sessions) as db:
        heads = [head_to_json(_head_of(h)) for h in audit_repo.heads(db, max_size=size)]
        events_hash = hashlib.sha256()
        with (out / "events.jsonl").open("wb") as fh:
            for start in range(0, size, batch):
                for row in audit_repo.event_rows(db, start, min(size, start + batch)):
                    line = bytes(row.entry) + b"\n"
                    events_hash.update(line)
                    fh.write(line)
        digests["events.jsonl"] = events_hash.hexdigest()
    heads_text = "".join(json.dumps(h, sort_keys=True) + "\n" for h in heads)
    keys_text = json.dumps(keys.jwks(), indent=2, sort_keys=True) + "\n"
    for name, text in (
        ("tree-heads.jsonl", heads_text),
        ("keys.json", keys_text),
        ("README.txt", _EXPORT_README),
    ):
        (out / name).write_text(text)
        digests[name] = hashlib.sha256(text.encode()).hexdigest()
    manifest = {
        "format": EXPORT_FORMAT,
        "tree_size": size,
        "heads": len(heads),
        "exported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "latest_head": head_to_json(latest),
        "sha256": digests,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("audit_exported", tree_size=size, heads=len(heads))
    return Exported(
        directory=str(out), tree_size=size, heads=len(heads), latest_head=PublishedHead.of(latest)
    )
