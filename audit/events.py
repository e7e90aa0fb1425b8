"""Audit events: what the gateway did, for whom, why, and with what outcome.

An event is written for every decision, allowed or denied, before any data leaves (docs/design.md:
"audit first, then data"). Its canonical bytes (`event_bytes`) are the entry of one Merkle leaf,
so an event can never be changed afterwards without breaking every later tree head.

Because the log is append-only and kept for years, it must never hold a pupil's identity: once
written, a UPN or a name could not be erased when the data it refers to is shredded. Events
therefore name pupils only by audit pseudonym (``pupil_refs``), and `event_bytes` refuses any
event in which an identifier slipped through (`assert_no_identifiers`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from stdnum.gb import upn

from audit.canonical import canonical_bytes

__all__ = [
    "ACTIONS",
    "DECISIONS",
    "ACTION_SHAPE",
    "ACTOR_FIELDS",
    "EVENT_FIELDS",
    "IDENTIFIER_KEYS",
    "AuditEvent",
    "IdentifierInAuditEvent",
    "InvalidAuditEvent",
    "assert_no_identifiers",
    "event_bytes",
    "event_from_dict",
    "event_to_dict",
    "format_occurred_at",
]

ACTIONS: Final = frozenset(
    {
        "feed.accepted",
        "feed.corrected",
        "release.decided",
        "release.viewed",
        "releases.listed",
        "access.denied",
        "budget.viewed",
        "consent.recorded",
        "stats.released",
        "budget.spent",
        "retention.shredded",
        "keys.rotated",
    }
)
"""The actions the gateway records today. Documentation for readers of the log, not a closed set:
an event's action is checked for shape only, so adding a use case needs no change here."""

DECISIONS: Final = frozenset({"allow", "deny"})

IDENTIFIER_KEYS: Final = frozenset({"upn", "forename", "surname", "dateofbirth", "name", "dob"})
"""Keys that name direct identifiers of a pupil, compared after lower-casing and dropping
everything but letters and digits, so "date_of_birth", "dateOfBirth" and "Date-Of-Birth" are all
caught. These are the direct identifiers docs/design.md keeps out of the log: UPN, name, date of birth."""

# A UPN is a check letter, 11 digits, and a final digit or letter (a temporary UPN). The shape is
# matched as a token anywhere in a string, case-insensitively: a mistyped UPN with a wrong check
# letter identifies a pupil as well as a valid one, so the shape alone is refused, and
# `stdnum.gb.upn.is_valid` additionally catches valid UPNs written with spaces.
_UPN_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][0-9]{11}[0-9A-Za-z](?![A-Za-z0-9])")
#: An audit pseudonym as `anonymisation.pseudonyms.audit_pseudonym` writes it (the prefix and 26
#: base32 characters); written out here because the audit core does not import the anonymisation one.
_AUDIT_PSEUDONYM = re.compile(r"ap_[a-z2-7]{26}")
_DIGITS_AS_ZERO: Final = str.maketrans(dict.fromkeys("0123456789", "0"))
_ELEVEN_DIGITS: Final = "0" * 11
ACTION_SHAPE = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")
ACTOR_FIELDS: Final = frozenset({"org_type", "org_id", "sub"})
EVENT_FIELDS: Final = frozenset(
    {
        "action",
        "actor",
        "occurred_at",
        "purpose",
        "decision",
        "reasons",
        "subject_org_ids",
        "record_count",
        "release_id",
        "details",
        "pupil_refs",
    }
)


class InvalidAuditEvent(ValueError):
    """An event is not well formed (naive time, unknown decision, bad actor, ...)."""


class IdentifierInAuditEvent(ValueError):
    """An event about to be logged contains a pupil identifier.

    The message names the identifier's key, or the event field the value sits under, never the
    value itself, so that the error cannot leak the identifier into the application log.
    """


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One entry of the audit log.

    ``actor`` is ``{"org_type", "org_id", "sub"}``: who acted, for a DPO's "who saw this".
    ``subject_org_ids`` are the organisations the event is about, so each DPO sees its own.
    ``pupil_refs`` are audit pseudonyms, never UPNs. ``details`` holds any further JSON-safe facts.
    """

    action: str
    actor: Mapping[str, str]
    occurred_at: datetime
    purpose: str | None = None
    decision: str | None = None
    reasons: list[str] = field(default_factory=list)
    subject_org_ids: list[str] = field(default_factory=list)
    record_count: int | None = None
    release_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    pupil_refs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Refuse malformed events at construction, when the caller can still be blamed."""
        if not isinstance(self.action, str) or not ACTION_SHAPE.fullmatch(self.action):
            raise InvalidAuditEvent("action must look like 'noun.verb', e.g. 'release.decided'")
        if not isinstance(self.actor, Mapping) or set(self.actor) != ACTOR_FIELDS:
            raise InvalidAuditEvent("actor must have exactly org_type, org_id and sub")
        if not all(isinstance(value, str) for value in self.actor.values()):
            raise InvalidAuditEvent("actor values must be strings")
        if not isinstance(self.occurred_at, datetime) or self.occurred_at.utcoffset() is None:
            raise InvalidAuditEvent("occurred_at must be a timezone-aware datetime")
        # Stored in UTC so that two events at the same instant serialise identically.
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))
        if self.decision is not None and self.decision not in DECISIONS:
            raise InvalidAuditEvent("decision must be 'allow', 'deny' or None")
        if self.record_count is not None and (type(self.record_count) is not int or self.record_count < 0):
            raise InvalidAuditEvent("record_count must be a non-negative int or None")
        for name in ("purpose", "release_id"):
            if not isinstance(getattr(self, name), str | None):
                raise InvalidAuditEvent(f"{name} must be a string or None")
        for name in ("reasons", "subject_org_ids", "pupil_refs"):
            values = getattr(self, name)
            if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
                raise InvalidAuditEvent(f"{name} must be a list of strings")
        if not isinstance(self.details, Mapping):
            raise InvalidAuditEvent("details must be a mapping")


def format_occurred_at(when: datetime) -> str:
    """RFC 3339 UTC with exactly six fractional digits and "Z", e.g. 2025-01-31T12:00:00.000000Z.

    A fixed width (always microseconds, even when zero) keeps the canonical bytes of an event a
    function of the instant alone.
    """
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_to_dict(event: AuditEvent) -> dict[str, Any]:
    """The JSON form of an event: the object whose canonical bytes are hashed into the log.

    Every field is present, nulls included, so that the hashed form has one shape for all events.
    Containers are copied, so the result can be changed without touching the (frozen) event.
    """
    return {
        "action": event.action,
        "actor": dict(event.actor),
        "occurred_at": format_occurred_at(event.occurred_at),
        "purpose": event.purpose,
        "decision": event.decision,
        "reasons": list(event.reasons),
        "subject_org_ids": list(event.subject_org_ids),
        "record_count": event.record_count,
        "release_id": event.release_id,
        "details": _copy(event.details),
        "pupil_refs": list(event.pupil_refs),
    }


def event_from_dict(data: Mapping[str, Any]) -> AuditEvent:
    """Rebuild an event from `event_to_dict` output, e.g. for ``audit verify`` re-hashing the log."""
    if not isinstance(data, Mapping) or set(data) != EVENT_FIELDS:
        raise InvalidAuditEvent("an event has exactly the fields of event_to_dict")
    occurred_at = data["occurred_at"]
    try:
        when = datetime.strptime(occurred_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise InvalidAuditEvent("occurred_at must look like 2025-01-31T12:00:00.000000Z") from None
    return AuditEvent(**{**data, "occurred_at": when})


def event_bytes(event: AuditEvent) -> bytes:
    """RFC 8785 bytes of the event: the Merkle leaf entry. Refuses events carrying identifiers."""
    data = event_to_dict(event)
    assert_no_identifiers(data)
    return canonical_bytes(data)


def assert_no_identifiers(data: Any) -> None:
    """Raise `IdentifierInAuditEvent` if a key names an identifier or a string looks like a UPN.

    Walks nested mappings and lists, keys included. This is a last line of defence, not the
    design: events are built from pseudonyms in the first place; the guard makes a mistake loud
    instead of permanent. The message names the offending key when it is an identifier's name, and
    otherwise only the top-level field it sits under (when that is one of the event's own fields),
    since any deeper key or value may itself be personal data.
    """
    _scan(data, "the event")


def _scan(value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        top_level = where == "the event"
        for key, item in value.items():
            if isinstance(key, str) and _normalise(key) in IDENTIFIER_KEYS:
                raise IdentifierInAuditEvent(f"identifier field {key!r} in {where}")
            if isinstance(key, str) and _looks_like_upn(key):
                raise IdentifierInAuditEvent(f"UPN-shaped key in {where}")
            inner = f"field {key!r}" if top_level and key in EVENT_FIELDS else where
            _scan(item, inner)
    elif isinstance(value, list | tuple):
        if all(isinstance(item, str) for item in value):
            # A list of strings (an event's pupil_refs: thousands of them) is judged in one pass.
            if _any_looks_like_upn(value):
                raise IdentifierInAuditEvent(f"UPN-shaped value in {where}")
            return
        for item in value:
            _scan(item, where)
    elif isinstance(value, str) and _looks_like_upn(value):
        raise IdentifierInAuditEvent(f"UPN-shaped value in {where}")


def _any_looks_like_upn(texts: list[str] | tuple[str, ...]) -> bool:
    """`any(_looks_like_upn(t) for t in texts)`, at a fraction of the cost for many strings.

    The shape is searched once in the strings joined by newlines: a match is a run of letters and
    digits, so it never spans a newline, and a newline is a non-alphanumeric neighbour just as the
    start or end of a string is; a string matches alone exactly when it matches joined. The search
    runs only if the text has eleven ASCII digits in a row, which every match has.

    `stdnum` is asked only about strings it could accept. An audit pseudonym (`_AUDIT_PSEUDONYM`,
    29 characters from ``a-z``, ``2-7`` and ``_``) never passes: stdnum's cleaning maps no ASCII
    letter, digit or underscore to anything else and deletes only spaces, so the cleaned text is
    29 characters long, never the 13 of a UPN (tests/unit/test_audit_events.py checks the premise).
    """
    joined = "\n".join(texts)
    # The shape needs eleven digits in a row: look for those first, at the speed of `str.find`.
    if _ELEVEN_DIGITS in joined.translate(_DIGITS_AS_ZERO) and _UPN_SHAPE.search(joined):
        return True
    pseudonym = _AUDIT_PSEUDONYM.fullmatch
    return any(len(text) >= 13 and not pseudonym(text) and upn.is_valid(text) for text in texts)


def _normalise(key: str) -> str:
    return "".join(character for character in key.lower() if character.isalnum())


def _looks_like_upn(text: str) -> bool:
    # stdnum's validation of a string shorter than a UPN's 13 characters always fails (its cleaning
    # only removes or replaces characters, and no upper-case expansion yields the digits a UPN
    # needs), so it is skipped for the many short strings of every event.
    return bool(_UPN_SHAPE.search(text)) or (len(text) >= 13 and upn.is_valid(text))


def _copy(value: Any) -> Any:
    """Deep-copy mappings and sequences into plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value
