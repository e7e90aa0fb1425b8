"""The strict JSON decoder and the text field types (schemas.json_strict)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas.json_strict import (
    DUPLICATE_MESSAGE,
    LINE_PATTERN,
    SURROGATE_MESSAGE,
    TEXT_PATTERN,
    JsonRefused,
    Line,
    Text,
    control_character_in,
    loads,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(st.characters(blacklist_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_values)
def test_a_document_without_repeated_names_decodes_as_the_standard_library_decodes_it(doc: object) -> None:
    body = json.dumps(doc).encode()
    assert loads(body) == json.loads(body)
    assert loads(body.decode()) == json.loads(body)


def problems(body: bytes | str) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(JsonRefused) as caught:
        loads(body)
    return caught.value.problems


def test_a_name_used_twice_is_refused_wherever_it_is_and_each_is_named_once() -> None:
    assert problems(b'{"a": 1, "a": 1}') == [(("a",), DUPLICATE_MESSAGE)]
    assert problems(b'{"x": [{"b": 1}, {"a": 1, "b": 2, "a": 3, "a": 4, "b": 5}]}') == [
        (("x", 1, "a"), DUPLICATE_MESSAGE), (("x", 1, "b"), DUPLICATE_MESSAGE)]
    assert problems(b'[{"a": {"c": 1, "c": 2}}, {"d": 1, "d": 1}]') == [
        ((0, "a", "c"), DUPLICATE_MESSAGE), ((1, "d"), DUPLICATE_MESSAGE)]


def test_names_that_differ_only_in_escapes_are_the_same_name() -> None:
    assert problems(b'{"am": "/", "\\u0061m": "X"}') == [(("am",), DUPLICATE_MESSAGE)]


def test_an_unpaired_surrogate_is_refused_a_pair_is_not() -> None:
    assert problems(b'{"a": ["x", "\\ud800"]}') == [(("a", 1), SURROGATE_MESSAGE)]
    assert problems(b'{"\\udfff": 1}')[0][1] == SURROGATE_MESSAGE
    assert loads(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_what_is_not_json_is_a_decode_error_as_for_the_standard_library() -> None:
    for body in (b"", b"{", b'{"a": 1,}', b'{"a": "\x00"}', b"\xff"):
        with pytest.raises(ValueError) as caught:
            loads(body)
        assert not isinstance(caught.value, JsonRefused)


def test_a_deep_document_is_walked_without_recursion() -> None:
    body = b'{"a": 1, "a": ' + b"[" * 900 + b"1" + b"]" * 900 + b"}"
    assert problems(body) == [(("a",), DUPLICATE_MESSAGE)]


class Sample(BaseModel):
    line: Line | None = None
    text: Text | None = None


@pytest.mark.parametrize("char", ["\x00", "\x01", "\t", "\n", "\r", "\x1f", "\x7f", "\x80", "\x85", "\x9f",
                                  "\u2028", "\u2029", "\ud800"])
def test_a_line_refuses_every_control_character_and_line_break(char: str) -> None:
    assert control_character_in(f"a{char}b")
    with pytest.raises(ValidationError) as caught:
        Sample(line=f"Ann{char}")
    assert caught.value.errors()[0]["type"] == "control_character"
    assert "Ann" not in caught.value.errors(include_input=False)[0]["msg"]


@pytest.mark.parametrize("char", ["\x00", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\ud800"])
def test_free_text_refuses_control_characters_other_than_tab_and_line_breaks(char: str) -> None:
    assert control_character_in(f"a{char}b", free_text=True)
    with pytest.raises(ValidationError):
        Sample(text=f"why{char}")


def test_free_text_keeps_tab_and_line_breaks_and_both_keep_ordinary_text() -> None:
    assert Sample(text="Line one\r\n\tline two\u2028").text == "Line one\r\n\tline two\u2028"
    for value in ("O'Neil-Zoë", "Nguyễn", "李", "Ana María", "A202200115001", "\u00a0", "\u200d"):
        assert Sample(line=value, text=value).line == value


def test_the_patterns_in_the_openapi_document_say_what_the_validators_do() -> None:
    for char in map(chr, range(0x3000)):
        value = f"a{char}b"
        assert (re.fullmatch(LINE_PATTERN, value) is None) == control_character_in(value), hex(ord(char))
        assert (re.fullmatch(TEXT_PATTERN, value) is None) == control_character_in(value, free_text=True)
