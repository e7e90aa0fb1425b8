"""What the audit log's use cases answer (`trail`, `checks`): frozen dataclasses, which the API reads
through its response models and the console renders. An entry's own JSON body stays a dict: its
RFC 8785 canonical bytes are the Merkle leaf's entry. Those written to the wire or to a file as they
are have ``as_json()``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from audit.heads import TreeHead, head_to_json


@dataclass(frozen=True, slots=True)
class PublishedHead:
    """A signed tree head in its published form (docs/design.md "tree head")."""

    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    algorithm: str
    signature: str

    @classmethod
    def of(cls, head: TreeHead) -> PublishedHead:
        return cls(**head_to_json(head))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Jwks:
    """The log's public keys as an RFC 7517 JWK Set: each key is the JWK object as published."""

    keys: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first: int
    second: int
    proof: list[str]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One entry of the log; ``event`` is the entry's own JSON body, whose canonical bytes are the leaf's."""

    index: int
    leaf_hash: str
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[LoggedEvent]
    next_cursor: str | None
    audit_index: int
    #: Events matching the filters, when asked for (the console's count); None otherwise.
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    org_type: str
    org_id: str


@dataclass(frozen=True, slots=True)
class ReleaseSeen:
    audit_index: int
    release_id: str | None
    when: str
    recipient: Recipient
    purpose: str | None
    fields: list[str]
    expires_at: str | None


@dataclass(frozen=True, slots=True)
class SubjectAccessAnswer:
    releases: list[ReleaseSeen]
    audit_index: int


@dataclass(frozen=True, slots=True)
class KeyRotated:
    key_id: str
    previous_key_id: str
    audit_index: int
    #: The old key's last head and the new key's first, of the same size.
    heads: list[PublishedHead]

    def as_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "previous_key_id": self.previous_key_id,
            "audit_index": self.audit_index,
            "heads": [h.as_json() for h in self.heads],
        }


@dataclass(frozen=True, slots=True)
class Exported:
    directory: str
    tree_size: int
    heads: int
    latest_head: PublishedHead

    def as_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "tree_size": self.tree_size,
            "heads": self.heads,
            "latest_head": self.latest_head.as_json(),
        }
