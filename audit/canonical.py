"""The one byte form of an audit event: RFC 8785 JSON Canonicalization Scheme (JCS).

Why canonical bytes at all: an audit event's leaf in the Merkle log is the hash of its bytes, and
`audit verify` rebuilds the whole tree by re-serialising the stored events. Any freedom in the
serialisation (key order, whitespace, number spelling, string escapes) would make an honest event
hash differently on a second reading, and the log would look tampered with. RFC 8785 removes every
such freedom and is implemented independently in many languages, so a DPO or an auditor can
re-derive a leaf hash without our code.

Events should carry strings, integers, booleans, nulls, lists and objects only. RFC 8785 does
define a spelling for floats (the ECMAScript shortest round-trip form) and the `rfc8785` package
applies it, so a float is accepted, but a float that came out of arithmetic is a poor thing to
put in a record meant to be re-derived exactly: prefer an int (a count) or a decimal string.
Integers beyond +/-(2**53 - 1), NaN, infinities, non-string keys and any other Python type are
outside I-JSON and are refused.
"""

from collections.abc import Mapping
from typing import Any

import rfc8785

__all__ = ["NotCanonicalisable", "canonical_bytes"]


class NotCanonicalisable(ValueError):
    """The event holds a value that RFC 8785 cannot serialise (see the module docstring).

    The message names only the kind of problem, never the offending value: an audit event can be
    about a pupil, and error messages end up in logs.
    """


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    """Return the RFC 8785 canonical UTF-8 JSON bytes of ``event``.

    Any ``Mapping`` is accepted (and nested mappings too), because callers build events from
    read-only views as well as dicts; they are copied into plain dicts first since `rfc8785`
    serialises ``dict`` only. Tuples serialise as arrays, as they do in `json`.
    """
    try:
        return _canonical(event)
    except rfc8785.CanonicalizationError as exc:
        # `from None`: the original message can quote the value (an out-of-range int, a float).
        raise NotCanonicalisable(
            f"event is not canonicalisable under RFC 8785 ({type(exc).__name__})"
        ) from None


def _canonical(value: Any) -> bytes:
    """RFC 8785 of ``value``, assembled member by member for a mapping, so that a long list of plain
    strings (an event's pupil pseudonyms: ten thousand in a large release) is written in one join
    instead of one call per string. Under RFC 8785 an object is its members in the order of their
    keys' UTF-16 code units, each as the canonical key, a colon and the canonical value, joined by
    commas; and a string of printable ASCII without a quote or a backslash is itself between quotes.
    Anything else goes to `rfc8785` as it is; the result is byte for byte `rfc8785.dumps`
    (tests/unit/test_audit_canonical.py compares them)."""
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            return rfc8785.dumps(_plain(value))  # refused there, as before
        members = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be"))
        return b"{" + b",".join(rfc8785.dumps(key) + b":" + _canonical(item) for key, item in members) + b"}"
    if isinstance(value, list | tuple) and value and all(type(item) is str for item in value):
        joined = "".join(value)
        if joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined:
            return ('["' + '","'.join(value) + '"]').encode("ascii")
    return rfc8785.dumps(_plain(value))


def _plain(value: Any) -> Any:
    """Copy nested mappings into dicts and sequences into lists; leave scalars for rfc8785 to judge."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
