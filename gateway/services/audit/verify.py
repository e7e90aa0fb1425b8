"""`gateway audit verify`: check the whole log from its entries up, trusting no stored hash.

What is checked, in one pass over the log in index order:

- every entry is re-hashed (RFC 9162 leaf hash of its bytes) and must be a well-formed event in
  RFC 8785 canonical form; the stored leaf hash, and the columns and index rows the gateway
  filters on (action, decision, organisations, pupil pseudonyms ...), must agree with the entry,
  or a DPO's queries could be steered by editing them;
- the tree is rebuilt from those leaf hashes alone, and every stored complete-subtree node (from
  which proofs are served) must equal the rebuilt one;
- every stored tree head must carry a valid Ed25519 signature by a known key, and its root must be
  the rebuilt tree's root at its size;
- each head must be consistent with the next: an RFC 9162 consistency proof is built from the
  rebuilt tree and checked against the two *signed* roots;
- the log has no gaps, and no event lies beyond the size the log records.

The same checks run on an export (`gateway audit export`), without the database-only ones, so that a
DPO can verify offline. Memory stays O(log n): the rebuild keeps one node per level (the right edge
of the tree) plus the few nodes the next consistency proof needs.

``first_bad_index`` is the lowest entry found bad. When an attacker rewrote entries together with
every stored hash, only the signed heads disagree; the change is then known to lie at or after the
size of the last head that still matches, and that size is reported.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from audit.canonical import NotCanonicalisable, canonical_bytes
from audit.events import ACTION_SHAPE, ACTOR_FIELDS, EVENT_FIELDS, event_from_dict
from audit.heads import TreeHead, format_timestamp, head_from_json, verify_tree_head
from audit.merkle import (
    EMPTY_ROOT,
    MissingNode,
    consistency_proof,
    leaf_hash,
    new_nodes_on_append,
    node_hash,
    nodes_for_consistency,
    verify_consistency,
)
from gateway.db.repositories import audit as audit_repo
from gateway.db.session import read_snapshot
from gateway.keys.signing import jwks_public_keys

__all__ = ["StoredEvent", "VerifyReport", "verify_database", "verify_export", "verify_log"]

#: Problems listed in full in a report; the count covers them all.
MAX_LISTED_PROBLEMS = 100
BATCH = 10_000


class StoredEvent(NamedTuple):
    """One entry as stored, with whatever else the store derived from it (None: not available).

    A named tuple, not a dataclass: ten million of them are made, and sent to worker processes.
    """

    idx: int
    entry: bytes
    leaf_hash: bytes | None = None
    columns: Mapping[str, Any] | None = None
    org_ids: frozenset[str] | None = None
    pupil_refs: frozenset[str] | None = None


@dataclass
class VerifyReport:
    ok: bool = True
    tree_size: int = 0
    events_checked: int = 0
    nodes_checked: int = 0
    heads_checked: int = 0
    first_bad_index: int | None = None
    first_bad_head: int | None = None
    problem_count: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    # Lower bound on the first bad index from head roots alone (see the module docstring).
    _unvouched_from: int | None = None

    def add(self, kind: str, message: str, *, index: int | None = None, tree_size: int | None = None) -> None:
        self.ok = False
        self.problem_count += 1
        if kind in ("event", "node", "log") and index is not None:
            self.first_bad_index = index if self.first_bad_index is None else min(self.first_bad_index, index)
        if kind == "head" and tree_size is not None:
            self.first_bad_head = (
                tree_size if self.first_bad_head is None else min(self.first_bad_head, tree_size)
            )
            if index is not None:
                self._unvouched_from = (
                    index if self._unvouched_from is None else min(self._unvouched_from, index)
                )
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            problem: dict[str, Any] = {"kind": kind, "index": index, "message": message}
            if tree_size is not None:
                problem["tree_size"] = tree_size
            self.problems.append(problem)

    def finish(self, started: float) -> VerifyReport:
        if self.first_bad_index is None and self._unvouched_from is not None:
            self.first_bad_index = self._unvouched_from
        self.seconds = round(time.perf_counter() - started, 3)
        return self

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "events_checked": self.events_checked,
            "nodes_checked": self.nodes_checked,
            "heads_checked": self.heads_checked,
            "first_bad_index": self.first_bad_index,
            "first_bad_head": self.first_bad_head,
            "problem_count": self.problem_count,
            "problems": self.problems,
            "seconds": self.seconds,
            "events_per_second": round(self.events_checked / self.seconds) if self.seconds else None,
        }


def _columns_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The audit_events columns the gateway derives from an entry (see services.audit._append)."""
    return {
        "action": event["action"],
        "actor_org_type": event["actor"]["org_type"],
        "actor_org_id": event["actor"]["org_id"],
        "purpose": event["purpose"],
        "decision": event["decision"],
        "release_id": event["release_id"],
        # The exact spelling was checked by event_from_dict; this only reads it.
        "occurred_at": dt.datetime.fromisoformat(event["occurred_at"]),
    }


def _lookup(nodes: dict[tuple[int, int], bytes]) -> Callable[[int, int], bytes]:
    return lambda level, index: nodes[(level, index)]


class _Rebuild:
    """The right edge of the rebuilt tree: for each level, the last complete node made there."""

    def __init__(self) -> None:
        self.edge: dict[int, tuple[int, bytes]] = {}

    def get(self, level: int, index: int) -> bytes:
        held = self.edge.get(level)
        if held is None or held[0] != index:
            raise MissingNode(level, index)
        return held[1]

    def root(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        parts = [
            self.get(level, (size >> level) - 1)
            for level in range(size.bit_length() - 1, -1, -1)
            if size >> level & 1
        ]
        value = parts.pop()
        for left in reversed(parts):
            value = node_hash(left, value)
        return value


def verify_log(
    size: int,
    batches: Iterable[tuple[list[StoredEvent], Mapping[tuple[int, int], bytes] | None]],
    heads: list[TreeHead],
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    events_beyond: int | None = None,
    workers: int = 1,
) -> VerifyReport:
    """Check a log of ``size`` entries delivered in index-ordered ``batches``.

    Each batch is (events, stored nodes made by appending them, or None when the source keeps no
    nodes). ``heads`` are every stored head of size <= ``size``, sorted by size. With ``workers``
    above one, entries are examined in that many processes; the tree is rebuilt here, in order.
    """
    started = time.perf_counter()
    report = VerifyReport(tree_size=size)
    tree = _Rebuild()
    heads = sorted(heads, key=lambda h: (h.tree_size, h.timestamp, h.key_id))
    next_head = 0
    # Nodes of the consistency proof from heads[p] to heads[p + 1], gathered as the rebuild passes them.
    wanted: set[tuple[int, int]] = set()
    captured: dict[tuple[int, int], bytes] = {}
    last_matching_size = 0

    def check_heads_at(count: int) -> None:
        nonlocal next_head, wanted, captured, last_matching_size
        while next_head < len(heads) and heads[next_head].tree_size == count:
            p, head = next_head, heads[next_head]
            report.heads_checked += 1
            when = format_timestamp(head.timestamp)
            if not verify_tree_head(head, public_keys):
                known = head.key_id in public_keys
                report.add(
                    "head",
                    f"the head of size {count} signed at {when} by key {head.key_id} "
                    + (
                        "has a signature that does not verify"
                        if known
                        else "names a key the log never published"
                    ),
                    tree_size=count,
                )
            if head.root_hash != tree.root(count):
                report.add(
                    "head",
                    f"the signed root of size {count} ({when}) is not the root of the stored log: "
                    f"an entry at or after index {last_matching_size} was changed, removed or reordered",
                    index=last_matching_size,
                    tree_size=count,
                )
            else:
                last_matching_size = count
            if p > 0:
                previous = heads[p - 1]
                if previous.tree_size == count:
                    consistent = previous.root_hash == head.root_hash
                elif previous.tree_size == 0:
                    consistent = previous.root_hash == EMPTY_ROOT
                else:
                    try:
                        proof = consistency_proof(previous.tree_size, count, _lookup(captured))
                    except KeyError:  # pragma: no cover - every node is gathered on the way (see below)
                        proof = []
                    consistent = verify_consistency(
                        previous.tree_size, count, previous.root_hash, head.root_hash, proof
                    )
                if not consistent:
                    report.add(
                        "head",
                        f"the head of size {count} is not consistent with the head of size "
                        f"{previous.tree_size} before it",
                        tree_size=count,
                    )
            # Set up the next pair: the nodes below `count` are all on the rebuild's right edge now
            # (RFC 9162 proofs use the old tree's complete subtrees), the others are made later.
            wanted, captured = set(), {}
            if p + 1 < len(heads) and 0 < count < heads[p + 1].tree_size:
                for level, index in nodes_for_consistency(count, heads[p + 1].tree_size):
                    if (index + 1) << level <= count:
                        captured[(level, index)] = tree.get(level, index)
                    else:
                        wanted.add((level, index))
            next_head += 1

    check_heads_at(0)
    expected = 0
    broken = False
    for events, examined, stored_nodes in _examined(batches, workers):
        for ev, (leaf, problems) in zip(events, examined, strict=True):
            if ev.idx != expected:
                report.add(
                    "log", f"event {expected} is missing (the next stored event is {ev.idx})", index=expected
                )
                broken = True
                break
            for message in problems:
                report.add("event", message, index=ev.idx)
            for level, index, value in new_nodes_on_append(expected, leaf, tree.get):
                tree.edge[level] = (index, value)
                if (level, index) in wanted:
                    captured[(level, index)] = value
                if stored_nodes is not None:
                    report.nodes_checked += 1
                    if stored_nodes.get((level, index)) != value:
                        state = "missing" if (level, index) not in stored_nodes else "different"
                        report.add(
                            "node",
                            f"the stored Merkle node at level {level}, index {index} is {state} "
                            "from the tree rebuilt from the entries",
                            index=expected,
                        )
            expected += 1
            report.events_checked += 1
            check_heads_at(expected)
        if broken:
            break
    if not broken and expected < size:
        report.add("log", f"event {expected} is missing (the log records {size} entries)", index=expected)
    if events_beyond is not None:
        report.add(
            "log", f"event {events_beyond} lies beyond the log's recorded size {size}", index=events_beyond
        )
    for head in heads[next_head:]:
        report.add(
            "head",
            f"the head of size {head.tree_size} covers entries the log does not hold (checked {expected})",
            index=min(expected, last_matching_size),
            tree_size=head.tree_size,
        )
    return report.finish(started)


class _NeedsFullCheck(Exception):
    """The entry holds a float or a large integer: only the RFC 8785 implementation can judge it."""


def _refuse(text: str) -> Any:
    raise _NeedsFullCheck()


def _i_json_int(text: str) -> int:
    value = int(text)
    if abs(value) > 2**53 - 1:
        raise _NeedsFullCheck()
    return value


def _is_canonical(entry: bytes, data: Any, fast: bool) -> bool:
    """Whether ``entry`` is the RFC 8785 form of ``data``.

    For ASCII-only entries made of strings, safe integers, booleans and nulls, RFC 8785 and the C
    JSON encoder with sorted keys and no spaces write exactly the same bytes (same escapes, with
    lowercase hex; keys sorted by code point, which equals UTF-16 order for ASCII), and the encoder
    is far faster than the pure-Python `rfc8785`. Anything else goes to `rfc8785`.
    The identifier guard of `audit.events.event_bytes` is not re-run: it kept identifiers out when
    the event was written, and re-running it says nothing about whether the log was changed.
    """
    if fast and entry.isascii():
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == entry
    try:
        return canonical_bytes(data) == entry
    except NotCanonicalisable:
        return False


_OCCURRED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def _has_event_shape(data: Any) -> bool:
    """The rules of `audit.events.AuditEvent` (fields, actor, action, time, decision, counts, lists),
    checked without building one: an event that passes is one `event_from_dict` accepts, at a
    fraction of the cost, which matters ten million times over."""
    if type(data) is not dict or data.keys() != EVENT_FIELDS:
        return False
    actor, count = data["actor"], data["record_count"]
    return (
        type(actor) is dict
        and actor.keys() == ACTOR_FIELDS
        and all(type(v) is str for v in actor.values())
        and type(data["action"]) is str
        and ACTION_SHAPE.fullmatch(data["action"]) is not None
        and type(data["occurred_at"]) is str
        and _OCCURRED_AT.fullmatch(data["occurred_at"]) is not None
        and data["decision"] in (None, "allow", "deny")
        and (count is None or (type(count) is int and count >= 0))
        and all(data[name] is None or type(data[name]) is str for name in ("purpose", "release_id"))
        and all(
            type(data[name]) is list and all(type(v) is str for v in data[name])
            for name in ("reasons", "subject_org_ids", "pupil_refs")
        )
        and type(data["details"]) is dict
    )


def _examine(ev: StoredEvent) -> tuple[bytes, list[str]]:
    """Re-hash one entry and compare everything stored beside it: (recomputed leaf hash, problems).

    Pure, so that worker processes can run it on batches while the tree is rebuilt in order.
    """
    leaf = leaf_hash(ev.entry)
    problems = []
    if ev.leaf_hash is not None and ev.leaf_hash != leaf:
        problems.append(f"event {ev.idx}: the stored leaf hash is not the hash of the stored entry")
    malformed = f"event {ev.idx}: the entry is not a well-formed event in canonical form"
    try:
        data = json.loads(ev.entry, parse_float=_refuse, parse_constant=_refuse, parse_int=_i_json_int)
        fast = _has_event_shape(data)
    except _NeedsFullCheck:
        data, fast = None, False
    except ValueError:
        return leaf, [*problems, malformed]
    try:
        if not fast:  # floats, huge integers, odd shapes: the core's own parser and RFC 8785 decide
            data = json.loads(ev.entry)
            event_from_dict(data)
        if not _is_canonical(ev.entry, data, fast):
            raise ValueError("not canonical")
        columns = _columns_of(data)
    except (ValueError, TypeError, KeyError, AttributeError):  # json, event and canonical errors
        return leaf, [*problems, malformed]
    if ev.columns is not None:
        changed = sorted(name for name, value in columns.items() if ev.columns.get(name) != value)
        if changed:
            problems.append(f"event {ev.idx}: stored columns {', '.join(changed)} disagree with the entry")
    if ev.org_ids is not None and ev.org_ids != {data["actor"]["org_id"], *data["subject_org_ids"]}:
        problems.append(f"event {ev.idx}: the organisations indexed for it disagree with the entry")
    if ev.pupil_refs is not None and ev.pupil_refs != frozenset(data["pupil_refs"]):
        problems.append(f"event {ev.idx}: the pupils indexed for it disagree with the entry")
    return leaf, problems


def _examine_batch(events: list[StoredEvent]) -> list[tuple[bytes, list[str]]]:
    return [_examine(ev) for ev in events]


def _examined(
    batches: Iterable[tuple[list[StoredEvent], Mapping[tuple[int, int], bytes] | None]], workers: int
) -> Iterator[
    tuple[list[StoredEvent], list[tuple[bytes, list[str]]], Mapping[tuple[int, int], bytes] | None]
]:
    """The batches with each entry examined, in order; by ``workers`` processes when more than one.

    At most two batches per worker are in flight, so memory stays bounded on any size of log.
    """
    if workers <= 1:
        for events, nodes in batches:
            yield events, _examine_batch(events), nodes
        return
    # spawn, not fork: a verify may run inside a threaded server, where forking is unsafe.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[tuple[list[StoredEvent], Future[list[tuple[bytes, list[str]]]], Any]] = deque()
        for events, nodes in batches:
            pending.append((events, pool.submit(_examine_batch, events), nodes))
            if len(pending) >= 2 * workers:
                done_events, future, done_nodes = pending.popleft()
                yield done_events, future.result(), done_nodes
        while pending:
            done_events, future, done_nodes = pending.popleft()
            yield done_events, future.result(), done_nodes


# --- sources --------------------------------------------------------------------------------------


def _node_ranges(start: int, end: int) -> list[tuple[int, int, int]]:
    """(level, first, last) of the nodes made by appending leaves ``start .. end - 1``.

    Node (l, j) is completed by leaf (j + 1) * 2**l - 1, so j runs from ceil((start + 1) / 2**l) - 1
    to floor(end / 2**l) - 1.
    """
    ranges = []
    for level in range(end.bit_length()):
        low, high = ((start + (1 << level)) >> level) - 1, (end >> level) - 1
        if low <= high:
            ranges.append((level, low, high))
    return ranges


_COLUMNS = ("action", "actor_org_type", "actor_org_id", "purpose", "decision", "release_id", "occurred_at")


def _utc(value: Any) -> Any:
    """A stored time as an aware UTC datetime (SQLite hands back the text SQLAlchemy wrote)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) and value.tzinfo else value


def _database_batches(
    db: Session, size: int, batch: int
) -> Iterator[tuple[list[StoredEvent], dict[tuple[int, int], bytes]]]:
    for start in range(0, size, batch):
        end = min(size, start + batch)
        orgs: dict[int, set[str]] = {}
        for idx, org_id in audit_repo.event_org_rows(db, start, end):
            orgs.setdefault(idx, set()).add(org_id)
        refs: dict[int, set[str]] = {}
        for idx, pupil_ref in audit_repo.event_pupil_ref_rows(db, start, end):
            refs.setdefault(idx, set()).add(pupil_ref)
        events = [
            StoredEvent(
                idx,
                bytes(entry),
                bytes(leaf),
                dict(zip(_COLUMNS, (*derived, _utc(occurred_at)), strict=True)),
                frozenset(orgs.get(idx, ())),
                frozenset(refs.get(idx, ())),
            )
            for idx, entry, leaf, *derived, occurred_at in audit_repo.event_rows(db, start, end)
        ]
        nodes = {
            (level, idx): bytes(value)
            for level, idx, value in audit_repo.node_rows(db, _node_ranges(start, end))
        }
        yield events, nodes


def _heads_from_rows(rows: Iterable[Any]) -> list[TreeHead]:
    return [
        TreeHead(
            tree_size=int(r.tree_size),
            root_hash=bytes(r.root_hash),
            timestamp=r.signed_at,
            key_id=r.key_id,
            algorithm=r.algorithm,
            signature=bytes(r.signature),
        )
        for r in rows
    ]


def verify_database(
    database_url: str, public_keys: Mapping[str, Ed25519PublicKey], batch: int = BATCH, workers: int = 1
) -> VerifyReport:
    """Verify the log in a database, in one read-only snapshot (appends may go on meanwhile)."""
    with read_snapshot(database_url) as db:
        size = audit_repo.read_audit_size(db)
        heads = _heads_from_rows(audit_repo.heads(db))
        beyond = audit_repo.events_beyond(db, size)
        batches = _database_batches(db, size, batch)
        return verify_log(size, batches, heads, public_keys, events_beyond=beyond, workers=workers)


class ExportInvalid(Exception):
    """An export directory is missing a file or holds one that cannot be read."""


def verify_export(
    folder: Path, keys_file: Path | None = None, batch: int = BATCH, workers: int = 1
) -> VerifyReport:
    """Verify an export offline. Keys come from ``keys_file`` (a JWKS the DPO obtained separately,
    e.g. from ``GET /v1/audit/keys``) or else from the export itself."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        size = int(manifest["tree_size"])
        jwks = json.loads((keys_file or folder / "keys.json").read_text())
        heads = [
            head_from_json(json.loads(line))
            for line in (folder / "tree-heads.jsonl").read_text().splitlines()
            if line
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportInvalid(f"not a readable audit export ({type(exc).__name__})") from None
    events_path = folder / "events.jsonl"
    if not events_path.exists():
        raise ExportInvalid("not a readable audit export (events.jsonl is missing)")

    def batches() -> Iterator[tuple[list[StoredEvent], None]]:
        with events_path.open("rb") as fh:
            chunk: list[StoredEvent] = []
            for idx, line in enumerate(fh):
                chunk.append(StoredEvent(idx=idx, entry=line.rstrip(b"\n")))
                if len(chunk) == batch:
                    yield chunk, None
                    chunk = []
            if chunk:
                yield chunk, None

    beyond = None
    with events_path.open("rb") as fh:
        lines = sum(1 for _ in fh)
    if lines > size:
        beyond = size
    heads_in_range = [h for h in heads if h.tree_size <= size]
    report = verify_log(
        size,
        _limited(batches(), size),
        heads_in_range,
        jwks_public_keys(jwks),
        events_beyond=beyond,
        workers=workers,
    )
    for head in heads:
        if head.tree_size > size:
            report.add(
                "head",
                f"the head of size {head.tree_size} is beyond the export's size {size}",
                tree_size=head.tree_size,
            )
    return report


def _limited(
    batches: Iterator[tuple[list[StoredEvent], None]], size: int
) -> Iterator[tuple[list[StoredEvent], None]]:
    for events, nodes in batches:
        kept = [ev for ev in events if ev.idx < size]
        if kept:
            yield kept, nodes
        if len(kept) < len(events):
            return
