"""A register's rows are one type on both sides of the seam: the feed service builds them, the
register repository stages them by position."""

from __future__ import annotations

from gateway.db.repositories.registers import _REGISTER_COLUMNS
from schemas.records import RegisterRow, make_register_row


def test_a_register_rows_fields_are_the_repositorys_staging_columns_in_order() -> None:
    assert RegisterRow._fields == _REGISTER_COLUMNS


def test_a_register_row_made_fast_is_the_named_tuple_of_its_fields() -> None:
    fields = ("p1", "/", "I", "5", "N", False, 2, 1, 0, 1, 0, 0, "I", 1, None, None)
    row = make_register_row(fields)
    assert type(row) is RegisterRow and row == RegisterRow(*fields) and row.code1 == "I" and row.n2 is None
