"""Similar schools: each school's nearest schools of the same phase by a weighted distance (pure).

The distance between two schools of a phase is

    sqrt( sum over measured characteristics  w * (z_a - z_b)^2
        + sum over categorical characteristics w * [a and b differ] )

where z is the characteristic standardised over the phase's schools (mean 0, standard deviation 1;
size on a log scale, because a school of 2,000 pupils is not ten times as different from one of 200
as one of 200 is from one of 20) and the weights w are the catalogue's. An unknown measured value
counts as the phase's mean; an unknown category is a category of its own. Ties are broken by URN, so
the same register of schools always gives the same groups.

The weighted sum is a plain squared Euclidean distance once each measured column is scaled by
sqrt(w) and each category is one-hot coded and scaled by sqrt(w / 2), which is what lets numpy
compare a phase of 17,000 schools in blocks of matrix products.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from policies.report_policy import CATEGORICAL_CHARACTERISTICS, NUMERIC_CHARACTERISTICS, SimilarSchoolsRule

#: Rows compared at once: a block is BLOCK x (schools in the phase) distances.
BLOCK = 512


class SchoolCharacteristics(NamedTuple):
    urn: int
    phase: str
    type_group: str | None
    religious_character: str | None
    admissions_policy: str | None
    region: str | None
    #: Pupils on roll.
    size: int | None
    #: Shares of the pupils on roll this year, from the school's own registers (0 to 1).
    fsm_share: float | None
    sen_support_share: float | None
    ehc_plan_share: float | None


class Neighbour(NamedTuple):
    urn: int
    distance: float


def similar_schools(
    schools: Iterable[SchoolCharacteristics], rule: SimilarSchoolsRule
) -> dict[int, tuple[Neighbour, ...]]:
    """Each school's ``rule.group_size`` nearest schools of its phase, nearest first."""
    by_phase: dict[str, list[SchoolCharacteristics]] = defaultdict(list)
    for school in schools:
        by_phase[school.phase].append(school)
    groups: dict[int, tuple[Neighbour, ...]] = {}
    for members in by_phase.values():
        members.sort(key=lambda s: s.urn)
        groups.update(_nearest(members, rule))
    return groups


def embed(schools: Sequence[SchoolCharacteristics], rule: SimilarSchoolsRule) -> np.ndarray:
    """The schools as rows whose squared Euclidean distances are the weighted distances."""
    columns: list[np.ndarray] = []
    for name in NUMERIC_CHARACTERISTICS:
        weight = rule.weight(name)
        if weight > 0:
            columns.append(_standardised([_measure(s, name) for s in schools]) * math.sqrt(weight))
    for name in CATEGORICAL_CHARACTERISTICS:
        weight = rule.weight(name)
        if weight > 0:
            values = [getattr(s, name) or "" for s in schools]
            for category in sorted(set(values)):
                columns.append(np.array([v == category for v in values], dtype=float) * math.sqrt(weight / 2))
    if not columns:
        return np.zeros((len(schools), 1))
    return np.column_stack(columns)


def _measure(school: SchoolCharacteristics, name: str) -> float | None:
    value = getattr(school, name)
    if value is None:
        return None
    if name == "size":
        return math.log(value) if value > 0 else None
    return float(value)


def _standardised(values: list[float | None]) -> np.ndarray:
    known = np.array([v for v in values if v is not None], dtype=float)
    mean = float(known.mean()) if known.size else 0.0
    sd = float(known.std()) if known.size else 0.0
    column = np.array([mean if v is None else v for v in values], dtype=float) - mean
    return column / sd if sd > 0 else np.zeros(len(values))


def _nearest(
    members: list[SchoolCharacteristics], rule: SimilarSchoolsRule
) -> dict[int, tuple[Neighbour, ...]]:
    count = len(members)
    k = min(rule.group_size, count - 1)
    urns = np.array([s.urn for s in members], dtype=np.int64)
    if k <= 0:
        return {int(u): () for u in urns}
    points = embed(members, rule)
    norms = np.einsum("ij,ij->i", points, points)
    groups: dict[int, tuple[Neighbour, ...]] = {}
    for start in range(0, count, BLOCK):
        stop = min(start + BLOCK, count)
        squared = norms[start:stop, None] + norms[None, :] - 2.0 * (points[start:stop] @ points.T)
        np.maximum(squared, 0.0, out=squared)
        # Rounding makes schools at the same distance tie exactly, so that the URN decides.
        squared = np.round(squared, 9)
        rows = np.arange(stop - start)
        squared[rows, rows + start] = np.inf
        # Everything at or within the k-th distance, then ordered by (distance, URN).
        kth = np.partition(squared, k - 1, axis=1)[:, k - 1]
        for row in rows:
            candidates = np.flatnonzero(squared[row] <= kth[row])
            order = np.lexsort((urns[candidates], squared[row, candidates]))[:k]
            chosen = candidates[order]
            groups[int(urns[start + row])] = tuple(
                Neighbour(int(urns[c]), round(math.sqrt(float(squared[row, c])), 6)) for c in chosen
            )
    return groups
