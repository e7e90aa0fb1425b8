"""The catalogue's rules for the schools' attendance reports, as validated models.

Similar schools, the attendance baseline improvement expectation (ABIE) and the pupils-at-risk rule
are policy, not code: each number is in the catalogue with the reason for it, so that a DPO or a
school can read why a school was compared with these schools or a pupil was flagged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from policies.thresholds import PERSISTENT_ABSENCE_PERCENT

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

#: Characteristics measured on a scale: standardised within the phase before they are compared.
NUMERIC_CHARACTERISTICS = ("fsm_share", "sen_support_share", "ehc_plan_share", "size")
#: Characteristics that either match or not.
CATEGORICAL_CHARACTERISTICS = ("type_group", "religious_character", "admissions_policy", "region")
Characteristic = Literal[
    "fsm_share", "sen_support_share", "ehc_plan_share", "size",
    "type_group", "religious_character", "admissions_policy", "region",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimilarityWeight(_Strict):
    characteristic: Characteristic
    weight: float = Field(ge=0, le=100)
    reason: Text


class SimilarSchoolsRule(_Strict):
    """A school's similar schools: its ``group_size`` nearest schools of the same phase."""

    group_size: int = Field(ge=1, le=100)
    weights: tuple[SimilarityWeight, ...]
    method: Text

    @model_validator(mode="after")
    def _each_characteristic_once(self) -> SimilarSchoolsRule:
        names = [w.characteristic for w in self.weights]
        if not names:
            raise ValueError("field 'weights': name at least one characteristic")
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"field 'weights': characteristic '{duplicated[0]}' is weighted twice")
        if not any(w.weight > 0 for w in self.weights):
            raise ValueError("field 'weights': at least one weight must be above zero")
        return self

    def weight(self, characteristic: str) -> float:
        return next((w.weight for w in self.weights if w.characteristic == characteristic), 0.0)


class AbieRule(_Strict):
    """The minimum improvement expected of a school next year, in percentage points of attendance.

    The school is expected to close ``share_of_gap`` of the gap between its prior-year attendance and
    the ``benchmark_quantile`` of its similar schools' prior-year attendance, at least ``floor_pp``
    and at most ``cap_pp``."""

    share_of_gap: float = Field(gt=0, le=1)
    benchmark_quantile: float = Field(ge=0.5, lt=1)
    floor_pp: float = Field(ge=0, le=10)
    cap_pp: float = Field(gt=0, le=20)
    learn_from: int = Field(ge=1, le=20)
    reason: Text

    @model_validator(mode="after")
    def _floor_below_cap(self) -> AbieRule:
        if self.floor_pp > self.cap_pp:
            raise ValueError("field 'floor_pp': the floor is above the cap")
        return self


class AtRiskRule(_Strict):
    """Pupils not yet persistently absent whose own record points that way."""

    recent_weeks: int = Field(ge=1, le=12)
    #: A recent fall: recent attendance below this ...
    recent_attendance_below: float = Field(gt=0, le=1)
    #: ... and at least this many percentage points below the pupil's attendance before.
    recent_drop_pp: float = Field(gt=0, le=100)
    #: Close to the line: absence so far at least this share of possible sessions.
    near_threshold: float = Field(gt=0, lt=1)
    #: A pupil needs this many possible sessions so far before any reason counts.
    min_possible_sessions: int = Field(ge=1)
    reason: Text

    @model_validator(mode="after")
    def _near_below_line(self) -> AtRiskRule:
        if self.near_threshold >= PERSISTENT_ABSENCE_PERCENT / 100:
            raise ValueError("field 'near_threshold': must be below the persistent-absence line (10%)")
        return self


class SchoolReportsPolicy(_Strict):
    similar_schools: SimilarSchoolsRule
    abie: AbieRule
    at_risk: AtRiskRule
