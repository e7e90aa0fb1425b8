"""Strict JSON and plain text (pure): what every body the gateway accepts must be.

JSON (RFC 8259) lets a parser keep the last of two members with the same name, or the first, or
refuse: a register that says `"am": "/", "am": "X"` would mean whatever the parser chose, and an
audit event would record a request other than the one the sender meant. So a name used twice in an
object is refused, naming where. So is an unpaired surrogate escape (`"\\ud800"`, RFC 8259 section
8.2): Python's decoder lets it through into a string that no UTF-8 encoder, database or response
can hold.

Text fields hold no control characters. Every C0 control (NUL to U+001F), DEL and the C1 controls
(U+0080 to U+009F) are refused: none has a meaning in a name, a code, an identifier or a sentence,
NUL truncates strings in C libraries, and C1 characters in a name are almost always text decoded with
the wrong code page. A one-line field (a name, a UPN, a code, a purpose) also refuses tab and every
line break, the Unicode line and paragraph separators included; free text (a justification, the
evidence for a consent, typed into a text area) keeps tab, LF and CR. Messages name the rule, never
the value: it may be personal data.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

#: A location in a document: member names and array indexes from the top.
Path = tuple[str | int, ...]

DUPLICATE_MESSAGE = "this name is used twice in one object: send each field once"
SURROGATE_MESSAGE = "not valid Unicode text (an unpaired surrogate escape)"
LINE_MESSAGE = "must not contain control characters (NUL, tab, line breaks and the like)"
TEXT_MESSAGE = "must not contain control characters other than tab and line breaks"

#: Control characters (Unicode category Cc: C0, DEL, C1), the line and paragraph separators, surrogates.
_NOT_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
#: The same, less tab, LF and CR, and the separators (free text may run over lines).
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: Where an escape could spell a surrogate; a body without one cannot hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class JsonRefused(ValueError):
    """Well-formed JSON that the gateway refuses: each problem is (where, message)."""

    def __init__(self, problems: list[tuple[Path, str]]):
        super().__init__(f"{len(problems)} problem(s) in the JSON document")
        self.problems = problems


class _Twice(dict[str, Any]):
    """An object in which some name was used twice (the names, in the order first repeated)."""

    __slots__ = ("names",)

    names: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Twice(obj)
    seen: set[str] = set()
    marked.names = []
    for name, _ in pairs:
        if name in seen and name not in marked.names:
            marked.names.append(name)
        seen.add(name)
    return marked


def _lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _problems(doc: Any, surrogates: bool) -> list[tuple[Path, str]]:
    """Every duplicated name (and, with `surrogates`, every string holding a lone surrogate) in
    document order; iterative, so that a document as deep as the decoder allows cannot overflow."""
    problems: list[tuple[Path, str]] = []
    stack: list[tuple[Path, Any]] = [((), doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            if type(value) is _Twice:
                problems += [((*path, name), DUPLICATE_MESSAGE) for name in value.names]
            for name in reversed(value):
                if surrogates and _lone_surrogate(name):
                    problems.append(((*path, name.encode("utf-8", "replace").decode()), SURROGATE_MESSAGE))
                stack.append(((*path, name), value[name]))
        elif isinstance(value, list):
            stack += [((*path, n), item) for n, item in reversed(list(enumerate(value)))]
        elif surrogates and isinstance(value, str) and _lone_surrogate(value):
            problems.append((path, SURROGATE_MESSAGE))
    return problems


def loads(body: bytes | str) -> Any:
    """The document, as `json.loads` gives it; `json.JSONDecodeError` when it is not JSON, and
    JsonRefused listing every duplicated name and unpaired surrogate when it is JSON the gateway refuses.

    The standard library's decoder, with a hook on every object that only compares two lengths
    when no name repeats; the document is walked only when a hook or a cheap scan of the bytes for
    surrogate escapes says there is something to find."""
    twice: list[bool] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = _object(pairs)
        if type(obj) is _Twice:
            twice.append(True)
        return obj

    doc = json.loads(body, object_pairs_hook=hook)
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    surrogates = _SURROGATE_ESCAPE.search(raw) is not None
    if twice or surrogates:
        problems = _problems(doc, surrogates)
        if problems:
            raise JsonRefused(problems)
    return doc


def control_character_in(value: str, *, free_text: bool = False) -> bool:
    """Whether a text field's value holds a character its kind of field refuses (module docstring)."""
    return (_NOT_IN_TEXT if free_text else _NOT_IN_A_LINE).search(value) is not None


def _line(value: str) -> str:
    if _NOT_IN_A_LINE.search(value) is not None:
        raise PydanticCustomError("control_character", LINE_MESSAGE)
    return value


def _text(value: str) -> str:
    if _NOT_IN_TEXT.search(value) is not None:
        raise PydanticCustomError("control_character", TEXT_MESSAGE)
    return value


#: The same rules as ECMA-262 patterns, for the OpenAPI document (surrogates cannot be spelt there).
LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"

#: A one-line text field (identifier, code, name, purpose): no control character, no line break.
Line = Annotated[str, AfterValidator(_line), Field(json_schema_extra={"pattern": LINE_PATTERN})]
#: Free text that may run over lines (a justification, evidence): tab, LF and CR only.
Text = Annotated[str, AfterValidator(_text), Field(json_schema_extra={"pattern": TEXT_PATTERN})]
