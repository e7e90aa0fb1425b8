"""The vocabulary the purpose catalogue is written in: data items, transforms and selection criteria.

The catalogue may only name what is listed here, so that a typo or a new field cannot slip past
review into a release: a field or transform missing from this module stops start-up. Each item is
implemented in exactly one place (transforms in `anonymisation/transforms.py`, criteria in
`policies/select.py`) and tests check that the two lists agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Transform(StrEnum):
    """The closed set of things a release may do to a data item."""

    KEEP = "keep"  # released as held
    PSEUDONYMISE = "pseudonymise"  # replaced by a pseudonym scoped to the recipient and academic year
    BAND = "band"  # generalised to a band
    DROP = "drop"  # not released: listed only to record that the decision was made


class Category(StrEnum):
    """Categories of personal data, as the record of processing activities (Art 30(1)(c)) names them."""

    IDENTIFIER = "Pupil identifiers"
    PSEUDONYM = "Pseudonymous pupil reference"
    SCHOOL = "School attended"
    CHARACTERISTIC = "Pupil characteristics"
    ATTENDANCE = "Attendance"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A data item a purpose may release, and the name it is released under for each transform."""

    name: str
    description: str
    category: Category
    identifying: bool  # identifies a child directly (UPN, name, date of birth)
    special_category: bool  # may reveal health or disability (UK GDPR Art 9)
    outputs: Mapping[Transform, str]  # released name per permitted transform; DROP is always permitted
    view_only: bool = False  # computed by a view-only purpose's own route, never in a release

    def output_name(self, transform: Transform) -> str | None:
        return None if transform is Transform.DROP else self.outputs[transform]

    def permits(self, transform: Transform) -> bool:
        return transform is Transform.DROP or transform in self.outputs

    def category_when(self, transform: Transform) -> Category:
        """A pseudonymised UPN is a different category of data from the UPN itself."""
        if transform is Transform.PSEUDONYMISE:
            return Category.PSEUDONYM
        return self.category


def _spec(
    name: str,
    description: str,
    category: Category,
    *,
    identifying: bool = False,
    special_category: bool = False,
    outputs: dict[Transform, str] | None = None,
    view_only: bool = False,
) -> FieldSpec:
    return FieldSpec(
        name=name,
        description=description,
        category=category,
        identifying=identifying,
        special_category=special_category,
        outputs=MappingProxyType(outputs if outputs is not None else {Transform.KEEP: name}),
        view_only=view_only,
    )


_ID, _SCHOOL, _CHAR, _ATT = Category.IDENTIFIER, Category.SCHOOL, Category.CHARACTERISTIC, Category.ATTENDANCE

FIELDS: Mapping[str, FieldSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _spec(
                "upn",
                "Unique pupil number",
                _ID,
                identifying=True,
                outputs={Transform.KEEP: "upn", Transform.PSEUDONYMISE: "pupil_ref"},
            ),
            _spec("forename", "Forename", _ID, identifying=True),
            _spec("surname", "Surname", _ID, identifying=True),
            _spec("date_of_birth", "Date of birth", _ID, identifying=True),
            _spec("school_urn", "URN of the school of the enrolment", _SCHOOL),
            _spec("year_group", "National curriculum year group", _CHAR),
            # SEN support or an EHC plan can reveal a disability or health condition, so releasing it
            # needs an Article 9 condition as well as an Article 6 basis.
            _spec(
                "sen_status",
                "Special educational needs provision (N none, K SEN support, E EHC plan)",
                _CHAR,
                special_category=True,
            ),
            _spec("fsm_eligible", "Eligible for free school meals", _CHAR),
            _spec("sessions_possible", "Possible sessions in the window", _ATT),
            _spec("sessions_authorised_absence", "Sessions of authorised absence in the window", _ATT),
            _spec("sessions_unauthorised_absence", "Sessions of unauthorised absence in the window", _ATT),
            _spec(
                "attendance_rate",
                "Sessions attended (present or approved educational activity) over possible sessions",
                _ATT,
                outputs={Transform.KEEP: "attendance_rate", Transform.BAND: "attendance_band"},
            ),
            _spec(
                "persistent_absence",
                "Whether the enrolment missed 10% or more of its possible sessions",
                _ATT,
            ),
            _spec(
                "unauthorised_sessions",
                "Date, session and code of each unauthorised absence counted towards a threshold",
                _ATT,
            ),
            _spec(
                "reasons",
                "Why a pupil is at risk of persistent absence, in plain words (policies.at_risk)",
                _ATT,
                view_only=True,
            ),
        )
    }
)

IDENTIFYING_FIELDS: frozenset[str] = frozenset(name for name, spec in FIELDS.items() if spec.identifying)


class Criterion(StrEnum):
    """The closed set of selection criteria; their definitions and sources are in `policies/select.py`."""

    PERSISTENT_ABSENCE = "persistent_absence"
    SEVERE_ABSENCE = "severe_absence"
    PENALTY_NOTICE_THRESHOLD = "penalty_notice_threshold"
    YEAR_6_SUMMARY = "year_6_summary"
    AGGREGATES_ONLY = "aggregates_only"
    AT_RISK = "at_risk"


CRITERION_DESCRIPTIONS: Mapping[Criterion, str] = MappingProxyType(
    {
        Criterion.PERSISTENT_ABSENCE: (
            "enrolments that missed 10% or more of their own possible sessions in the window"
        ),
        Criterion.SEVERE_ABSENCE: (
            "enrolments that missed 50% or more of their own possible sessions in the window"
        ),
        Criterion.PENALTY_NOTICE_THRESHOLD: (
            "enrolments with 10 or more sessions coded G, N, O or U in the last 10 school weeks ending "
            "with the week of the window's end (a school week has at least one possible session)"
        ),
        Criterion.YEAR_6_SUMMARY: "the Year 6 attendance of the pupils the requester names",
        Criterion.AGGREGATES_ONLY: "no pupil-level records: noisy aggregates through the statistics route",
        Criterion.AT_RISK: (
            "pupils not yet persistently absent whose own record points that way (policies.at_risk, "
            "the catalogue's school_reports.at_risk): shown to their school, never released"
        ),
    }
)
