"""Cell key sets: the public, versioned list of cells a statistics release may have.

Differential privacy only protects a grouped release if the set of groups is fixed before the data is
looked at. A group key taken from the data (a mistyped LA code, a one-pupil year group) would reveal
that somebody has it. So every release is a LEFT JOIN *from* these key sets, empty cells are released
(noised) like any other, and rows whose attributes fall outside them are out of scope
(docs/differential-privacy.md section 4, and pitfall 15).

The key sets are data (``data/keysets-v1.json``) and carry a version, because LA reorganisations
happen (Cumbria became Cumberland 942 and Westmorland and Furness 943 in 2023). A release records the
version it used, so a later reorganisation never silently changes an earlier table.

Choices, with their sources:

* Local authorities: the 153 LAs in DfE's 2025/26 daily attendance data (docs/domain.md section 5), including
  City of London (201) and Isles of Scilly (420), which DfE itself suppresses as single-school LAs.
  They stay in the key set: under differential privacy a small cell is noisy, not secret.
* Phases: state-funded primary, secondary and special schools, the scope of DfE's headline figures
  (docs/domain.md section 2.2). PRU/AP, nursery and independent schools are out of scope.
* Year groups: Reception and Years 1 to 11. DfE's headline population is pupils of compulsory school
  age (5 to 15 on 31 August), which is Years 1 to 11; Reception is kept because the daily feed carries
  it (docs/domain.md section 4.2) and its pupils reach compulsory school age during the year. A table meant
  to match DfE's headline figures exactly should group by year group and leave out ``R``. Nursery and
  sixth-form year groups are out of scope.
* SEN status: ``N`` no SEN, ``K`` SEN support, ``E`` EHC plan (the feed's codes, docs/design.md).
* FSM: eligible or not, ``False`` before ``True``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

#: The key-set version every release made with this module records.
KEYSET_VERSION = "v1"

_KEYSET_FILE = f"keysets-{KEYSET_VERSION}.json"

#: The grouping dimensions a statistics request may name (the ``by`` of ``GET /v1/stats``), in the
#: canonical order cells are listed in.
DIMENSIONS: tuple[str, ...] = ("la", "phase", "year_group", "sen_status", "fsm")

#: The pupil-row column each dimension groups on; these are also the keys of every cell dict.
DIMENSION_COLUMNS: Mapping[str, str] = {
    "la": "la_code",
    "phase": "phase",
    "year_group": "year_group",
    "sen_status": "sen_status",
    "fsm": "fsm",
}

KeyValue = str | bool


class UnknownDimension(ValueError):
    """A grouping dimension that has no public key set, or one named twice."""


@dataclass(frozen=True)
class LocalAuthority:
    """One LA as DfE publishes it: the three-digit code is the one the gateway groups on."""

    old_la_code: str
    new_la_code: str
    la_name: str
    region_name: str


def parse_keyset_document(text: str) -> dict[str, Any]:
    """Parse a key-set file, refusing one whose version is not the one this code was written for."""
    document: dict[str, Any] = json.loads(text)
    if document.get("version") != KEYSET_VERSION:
        raise ValueError(f"key-set file declares version {document.get('version')!r}, not {KEYSET_VERSION!r}")
    return document


@cache
def _document() -> dict[str, Any]:
    """Read the key-set file once; it ships inside the package, so this never touches settings."""
    text = resources.files("anonymisation").joinpath("data", _KEYSET_FILE).read_text(encoding="utf-8")
    return parse_keyset_document(text)


@cache
def local_authorities() -> tuple[LocalAuthority, ...]:
    """The public LA list, ordered by three-digit code."""
    return tuple(LocalAuthority(**la) for la in _document()["local_authorities"])


@cache
def values_for(dimension: str) -> tuple[KeyValue, ...]:
    """The public values of one dimension, in their published order."""
    if dimension == "la":
        return tuple(la.old_la_code for la in local_authorities())
    if dimension not in DIMENSIONS:
        raise UnknownDimension(f"no public key set for {dimension!r}; expected one of {DIMENSIONS}")
    return tuple(_document()["dimensions"][dimension])


def canonical_by(by: Sequence[str]) -> tuple[str, ...]:
    """Put the dimensions of a request in canonical order, refusing unknown or repeated ones.

    ``by=phase,la`` and ``by=la,phase`` ask the same question; one order means one cell order and one
    cache key, so the same question gets the same noisy answer.
    """
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise UnknownDimension(f"no public key set for {unknown}; expected some of {DIMENSIONS}")
    if len(set(by)) != len(by):
        raise UnknownDimension("a dimension is named more than once")
    return tuple(d for d in DIMENSIONS if d in by)


def keys_for(by: Sequence[str]) -> list[dict[str, KeyValue]]:
    """Every cell of a grouping: the full cross product of the public key sets, in a stable order.

    Cells are keyed by pupil-row column (``la_code``, ``phase``, ...). Dimensions vary in canonical
    order with the last one fastest, and values in their key-set order, whatever order ``by`` lists
    them in. No grouping (``by=[]``) is one national cell, ``{}``.
    """
    dims = canonical_by(by)
    columns = [DIMENSION_COLUMNS[d] for d in dims]
    return [dict(zip(columns, combo, strict=True)) for combo in key_tuples(dims)]


@cache
def key_tuples(dims: tuple[str, ...]) -> tuple[tuple[KeyValue, ...], ...]:
    """The cells of canonically ordered dimensions as value tuples, in :func:`keys_for` order."""
    if dims != canonical_by(dims):
        raise UnknownDimension("dimensions must be in canonical order; use canonical_by")
    return tuple(itertools.product(*map(values_for, dims)))


def in_scope(row: Mapping[str, Any]) -> bool:
    """Whether a pupil row's attributes all lie in the public key sets.

    The scope test uses every dimension, not only the requested ones, so that a table by LA and a
    table by year group describe the same population.
    """
    return all(row[DIMENSION_COLUMNS[d]] in _value_sets()[d] for d in DIMENSIONS)


@cache
def _value_sets() -> dict[str, frozenset[KeyValue]]:
    return {d: frozenset(values_for(d)) for d in DIMENSIONS}
