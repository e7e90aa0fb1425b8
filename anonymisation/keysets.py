"""The old name of :mod:`anonymisation.cell_keysets`, kept only while ``gateway/db`` still imports it
by that name; nothing new should import it."""

from anonymisation.cell_keysets import (
    DIMENSION_COLUMNS,
    DIMENSIONS,
    KEYSET_VERSION,
    canonical_by,
    in_scope,
    key_tuples,
    keys_for,
    values_for,
)

__all__ = [
    "DIMENSIONS",
    "DIMENSION_COLUMNS",
    "KEYSET_VERSION",
    "canonical_by",
    "in_scope",
    "key_tuples",
    "keys_for",
    "values_for",
]
