"""The purpose catalogue and the decision point's inputs and outputs, as validated models.

Every model forbids unknown keys: a misspelt key in the catalogue would otherwise be ignored, and an
ignored restriction is a release nobody approved.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from policies.fields import CRITERION_DESCRIPTIONS, FIELDS, Criterion, FieldSpec, Transform
from policies.report_policy import SchoolReportsPolicy

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
OrgType = Literal["school", "la", "trust", "dfe", "operator"]
Role = Literal["feed_submitter", "attendance_officer", "case_officer", "trust_officer", "dpo", "statistician"]

_T = TypeVar("_T")
_PURPOSE_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _non_empty(value: tuple[_T, ...], message: str) -> tuple[_T, ...]:
    """Checked after the items, so that one bad item is not also reported as an empty list."""
    if not value:
        raise ValueError(message)
    return value


# --- the catalogue ---------------------------------------------------------------------------------


class LawfulBasisKind(StrEnum):
    """The lawful bases of UK GDPR Article 6(1)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


ARTICLE_6: dict[LawfulBasisKind, str] = {
    LawfulBasisKind.CONSENT: "UK GDPR Article 6(1)(a) consent",
    LawfulBasisKind.CONTRACT: "UK GDPR Article 6(1)(b) contract",
    LawfulBasisKind.LEGAL_OBLIGATION: "UK GDPR Article 6(1)(c) legal obligation",
    LawfulBasisKind.VITAL_INTERESTS: "UK GDPR Article 6(1)(d) vital interests",
    LawfulBasisKind.PUBLIC_TASK: "UK GDPR Article 6(1)(e) public task",
    LawfulBasisKind.LEGITIMATE_INTERESTS: "UK GDPR Article 6(1)(f) legitimate interests",
}

#: The data subject's right to object applies to processing on these bases only (UK GDPR Art 21(1)).
OBJECTION_APPLIES = frozenset({LawfulBasisKind.PUBLIC_TASK, LawfulBasisKind.LEGITIMATE_INTERESTS})


class LawfulBasis(_Strict):
    basis: LawfulBasisKind
    legal_references: tuple[Text, ...]
    special_category_condition: Text | None = None  # UK GDPR Art 9(2) condition, where one is needed

    @field_validator("legal_references")
    @classmethod
    def _some_reference(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _non_empty(value, "a lawful basis names at least one legal reference")

    @property
    def article(self) -> str:
        return ARTICLE_6[self.basis]

    @property
    def allows_objection(self) -> bool:
        return self.basis in OBJECTION_APPLIES


class WhoMayAsk(_Strict):
    org_type: OrgType
    roles: tuple[Role, ...]
    # GIAS "PhaseOfEducation (name)" values a requesting school must have; empty means any phase.
    school_phases: tuple[Text, ...] = ()

    @field_validator("roles")
    @classmethod
    def _some_role(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _non_empty(value, "at least one role may ask")

    @model_validator(mode="after")
    def _phases_only_for_schools(self) -> WhoMayAsk:
        if self.school_phases and self.org_type != "school":
            raise ValueError("field 'school_phases' applies only when org_type is 'school'")
        return self


class ScopeRule(StrEnum):
    REQUESTER_LA = "requester_la"  # schools in the requesting LA (named schools narrow it)
    NAMED_PUPILS = "named_pupils"  # the pupils the requester names by UPN, wherever they were
    NONE = "none"  # no pupil-level scope: nothing is released
    OWN_SCHOOL = "own_school"  # the requesting school's own pupils, shown in the gateway, not released


class FieldRule(_Strict):
    """One data item of a purpose and what the release does to it."""

    field: str
    transform: Transform

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in FIELDS:
            raise ValueError(f"unknown field '{value}' (known fields: {', '.join(FIELDS)})")
        return value

    @model_validator(mode="after")
    def _permitted_transform(self) -> FieldRule:
        if not self.spec.permits(self.transform):
            permitted = ", ".join(t.value for t in Transform if self.spec.permits(t))
            raise ValueError(
                f"transform '{self.transform}' is not permitted for field '{self.field}' "
                f"(permitted: {permitted})"
            )
        return self

    @property
    def spec(self) -> FieldSpec:
        return FIELDS[self.field]

    @property
    def output(self) -> str | None:
        """The name the item is released under; None when it is dropped."""
        return self.spec.output_name(self.transform)


class RetentionRule(StrEnum):
    YEARS = "years"
    UNTIL_31_DECEMBER_OF_YEAR_7 = "until_31_december_of_year_7"
    NOT_APPLICABLE = "not_applicable"
    # Shown to the requester in the gateway (a report, the at-risk list), never handed over as records.
    VIEW_ONLY = "view_only"


class Retention(_Strict):
    rule: RetentionRule
    years: int | None = Field(default=None, gt=0)
    justification: Text

    @model_validator(mode="after")
    def _years_with_rule(self) -> Retention:
        if (self.rule is RetentionRule.YEARS) != (self.years is not None):
            raise ValueError("field 'years' is required with rule 'years' and allowed with no other rule")
        return self

    def describe(self) -> str:
        if self.rule is RetentionRule.YEARS:
            return f"{self.years} year{'s' if self.years != 1 else ''} from the release"
        if self.rule is RetentionRule.UNTIL_31_DECEMBER_OF_YEAR_7:
            return "until 31 December of the pupil's Year 7"
        if self.rule is RetentionRule.VIEW_ONLY:
            return "view only: shown in the gateway, nothing kept or sent as records"
        return "not applicable: no pupil-level release"


class ConsentRule(StrEnum):
    NONE = "none"  # neither consent nor objection changes who is released
    OPT_IN = "opt_in"  # only pupils whose parent granted consent for this purpose
    OBJECTION_HONOURED = "objection_honoured"  # every pupil in scope except those with an objection


class Purpose(_Strict):
    id: str
    title: Text
    description: Text
    lawful_basis: LawfulBasis
    requester: WhoMayAsk
    scope: ScopeRule
    criterion: Criterion
    fields: tuple[FieldRule, ...] = ()
    retention: Retention
    consent: ConsentRule
    acknowledgement: Text

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _PURPOSE_ID.match(value):
            raise ValueError(
                "field 'id' must be lower-case words joined by hyphens, e.g. 'la-severe-absence'"
            )
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Purpose:
        """Rules that tie the parts of a purpose together, each named after the law or design it follows."""
        outputs = [rule.output for rule in self.fields if rule.output is not None]
        names = [rule.field for rule in self.fields]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"field 'fields' lists {', '.join(duplicated)} more than once")

        # The at-risk list is the one pupil-level view: its own school only, never released. Reports
        # (aggregates only) are views too, checked below with the statistics-only purposes.
        if self.view_only != (self.scope is ScopeRule.OWN_SCHOOL) or (
            self.view_only and self.retention.rule is not RetentionRule.VIEW_ONLY
        ):
            raise ValueError(
                "field 'criterion': 'at_risk' goes with scope 'own_school' and retention 'view_only', "
                "and scope 'own_school' with it only"
            )
        shown_only = sorted(rule.field for rule in self.fields if rule.output and rule.spec.view_only)
        if shown_only and not self.view_only:
            raise ValueError(f"field 'fields': {', '.join(shown_only)} is shown by a view-only purpose only")
        if self.view_only and self.requester.org_type != "school":
            raise ValueError("field 'scope': 'own_school' needs a requester of org_type 'school'")

        if self.statistics_only:
            # Aggregates go through the statistics route with its own privacy budget; a purpose that
            # is statistics only must not be able to release a record by any other route.
            if self.fields or self.scope is not ScopeRule.NONE:
                raise ValueError(
                    "a purpose with criterion 'aggregates_only' has no 'fields' and scope 'none'"
                )
            if self.retention.rule not in (RetentionRule.NOT_APPLICABLE, RetentionRule.VIEW_ONLY):
                raise ValueError(
                    "field 'retention': a purpose that releases nothing has rule 'not_applicable' "
                    "or 'view_only'"
                )
        else:
            if not outputs:
                raise ValueError("field 'fields': a purpose that releases records must release some field")
            if self.scope is ScopeRule.NONE:
                raise ValueError("field 'scope': a purpose that releases records needs a scope")
            if self.retention.rule is RetentionRule.NOT_APPLICABLE or (
                self.retention.rule is RetentionRule.VIEW_ONLY and not self.view_only
            ):
                raise ValueError(
                    "field 'retention': a purpose that releases records needs a retention period"
                )

        if self.scope is ScopeRule.REQUESTER_LA and self.requester.org_type != "la":
            raise ValueError("field 'scope': 'requester_la' needs a requester of org_type 'la'")
        if (self.criterion is Criterion.YEAR_6_SUMMARY) != (self.scope is ScopeRule.NAMED_PUPILS):
            raise ValueError(
                "field 'criterion': 'year_6_summary' goes with scope 'named_pupils', and only it"
            )
        if (
            self.retention.rule is RetentionRule.UNTIL_31_DECEMBER_OF_YEAR_7
            and self.criterion is not Criterion.YEAR_6_SUMMARY
        ):
            raise ValueError("field 'retention': 'until_31_december_of_year_7' is for Year 6 summaries only")
        if "unauthorised_sessions" in outputs and self.criterion is not Criterion.PENALTY_NOTICE_THRESHOLD:
            raise ValueError(
                "field 'unauthorised_sessions' exists only for criterion 'penalty_notice_threshold'"
            )

        basis = self.lawful_basis
        # Consent must be the basis of an opt-in purpose and of nothing else (UK GDPR Art 6(1)(a), 7).
        if (basis.basis is LawfulBasisKind.CONSENT) != (self.consent is ConsentRule.OPT_IN):
            raise ValueError("field 'consent': 'opt_in' goes with lawful basis 'consent', and only it")
        # A release on public task or legitimate interests honours the right to object (Art 21(1)).
        if (
            basis.allows_objection
            and not self.statistics_only
            and self.consent is not ConsentRule.OBJECTION_HONOURED
        ):
            raise ValueError(
                f"field 'consent': lawful basis '{basis.basis}' gives a right to object "
                "(UK GDPR Art 21(1)), so consent must be 'objection_honoured'"
            )
        if self.consent is ConsentRule.OBJECTION_HONOURED and not basis.allows_objection:
            raise ValueError(f"field 'consent': lawful basis '{basis.basis}' gives no right to object")
        # Special category data needs an Article 9 condition on top of the Article 6 basis.
        special = sorted(rule.field for rule in self.fields if rule.output and rule.spec.special_category)
        if special and basis.special_category_condition is None:
            raise ValueError(
                "field 'lawful_basis.special_category_condition' is required to release "
                f"{', '.join(special)} "
                "(UK GDPR Art 9(2))"
            )
        return self

    @property
    def statistics_only(self) -> bool:
        return self.criterion is Criterion.AGGREGATES_ONLY

    @property
    def view_only(self) -> bool:
        """Shown to the requester by its own route, never released (`policies.decide` refuses)."""
        return self.criterion is Criterion.AT_RISK

    @property
    def output_fields(self) -> tuple[str, ...]:
        return tuple(rule.output for rule in self.fields if rule.output is not None)

    @property
    def criterion_description(self) -> str:
        if self.statistics_only and self.retention.rule is RetentionRule.VIEW_ONLY:
            return "no pupil-level records: reports from the fortnightly benchmark snapshot, viewed in place"
        return CRITERION_DESCRIPTIONS[self.criterion]


class RetentionScheduleItem(_Strict):
    """How long a record the gateway itself keeps (not a release) is held."""

    id: str
    record: Text
    period: Text
    years: int = Field(gt=0)
    counted_from: Literal["end_of_academic_year", "withdrawal_or_supersession"]
    source: Text


class CatalogueHeader(_Strict):
    version: Text
    title: Text
    # A requester must say why, in at least a short sentence: the audit trail needs it to show that
    # each release was necessary (UK GDPR Art 5(2) accountability).
    justification_min_chars: int = Field(ge=1)
    data_subjects: Text
    security_measures: Text
    international_transfers: Text


class BudgetShare(_Strict):
    """One statistics consumer's share of the academic year's privacy budget."""

    consumer: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=40)]
    share: float = Field(gt=0, le=1)
    #: Organisation types whose requests draw on this share.
    org_types: tuple[OrgType, ...]
    reason: Text

    @field_validator("org_types")
    @classmethod
    def _some_org_type(cls, value: tuple[OrgType, ...]) -> tuple[OrgType, ...]:
        return _non_empty(value, "a share names the organisation types that draw on it")


class PrivacyBudget(_Strict):
    """The yearly privacy budget: one cap bounds everything released about a year, whoever asks.

    ``ceiling_epsilon_per_year`` is the hard ceiling of the (epsilon, delta) equivalent of the cap:
    no setting and no DPO approval can raise a year's cap above it. The shares, fractions of the cap,
    add up to at most one, so together the consumers cannot spend more than the cap."""

    ceiling_epsilon_per_year: float = Field(gt=0)
    ceiling_source: Text
    shares: tuple[BudgetShare, ...]

    @model_validator(mode="after")
    def _shares_fit(self) -> PrivacyBudget:
        _non_empty(self.shares, "field 'shares': the budget has at least one share")
        names = [s.consumer for s in self.shares]
        if len(set(names)) != len(names):
            raise ValueError("field 'shares': a consumer is listed twice")
        types = [t for s in self.shares for t in s.org_types]
        if len(set(types)) != len(types):
            raise ValueError("field 'shares': an organisation type draws on two shares")
        if sum(s.share for s in self.shares) > 1 + 1e-12:
            raise ValueError("field 'shares': the shares add up to more than the whole cap")
        return self

    def share(self, consumer: str) -> BudgetShare | None:
        return next((s for s in self.shares if s.consumer == consumer), None)

    def share_for(self, org_type: str) -> BudgetShare | None:
        return next((s for s in self.shares if org_type in s.org_types), None)


class CatalogueDocument(_Strict):
    """The catalogue file as written."""

    catalogue: CatalogueHeader
    retention_schedule: tuple[RetentionScheduleItem, ...]
    purposes: tuple[Purpose, ...]
    #: The statistics' yearly privacy budget; without it no statistic is released.
    privacy_budget: PrivacyBudget | None = None
    #: The rules of the schools' attendance reports; without them no report is made.
    school_reports: SchoolReportsPolicy | None = None

    @model_validator(mode="after")
    def _complete_and_unique(self) -> CatalogueDocument:
        _non_empty(self.purposes, "field 'purposes': a catalogue lists at least one purpose")
        _non_empty(
            self.retention_schedule, "field 'retention_schedule': a catalogue lists at least one record"
        )
        for kind, ids in (
            ("purpose", [p.id for p in self.purposes]),
            ("retention schedule item", [r.id for r in self.retention_schedule]),
        ):
            duplicated = sorted({i for i in ids if ids.count(i) > 1})
            if duplicated:
                raise ValueError(f"duplicate {kind} id '{duplicated[0]}'")
        return self


class Catalogue(CatalogueDocument):
    """The loaded catalogue: the file's content plus what identifies this exact version of it."""

    content_hash: str  # sha256 hex of the file's bytes
    source: str  # the file name, for messages

    @property
    def version(self) -> str:
        return self.catalogue.version

    def purpose(self, purpose_id: str) -> Purpose | None:
        return next((p for p in self.purposes if p.id == purpose_id), None)


# --- the decision point's inputs and outputs ----------------------------------------------------


class Requester(_Strict):
    """Who is asking, from the verified token's claims."""

    org_type: OrgType
    org_id: Text
    roles: tuple[str, ...] = ()


class ReleaseRequest(_Strict):
    """What is asked for, as the client sent it."""

    purpose: str
    schools: tuple[int, ...] | None = None
    upns: tuple[str, ...] | None = Field(default=None, repr=False)  # kept out of logs and tracebacks
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    justification: str | None = None


class RequestFacts(_Strict):
    """What the shell looked up for the decision without touching pupil data."""

    school_la_codes: dict[int, str | None] = {}  # LA code of each named school; None when unknown
    requester_la_code: str | None = None  # the LA of a requesting school (no current purpose uses it)
    requester_phase: str | None = None  # GIAS phase of a requesting school


class Recipient(_Strict):
    org_type: OrgType
    org_id: str

    @property
    def key(self) -> str:
        """The recipient as pseudonyms are scoped to it, e.g. 'la:202'."""
        return f"{self.org_type}:{self.org_id}"


class Window(_Strict):
    """The marks the release may be computed from, both days included."""

    from_date: dt.date
    to_date: dt.date


class Scope(_Strict):
    """The rows the query may read. The shell puts this in its WHERE clause; `select` checks it again."""

    la_code: str | None  # only schools in this LA
    school_urns: tuple[int, ...] | None  # only these schools
    named_pupils: bool  # only the pupils named in the request

    def admits(self, *, la_code: str, school_urn: int) -> bool:
        if self.la_code is not None and la_code != self.la_code:
            return False
        return self.school_urns is None or school_urn in self.school_urns


class Obligations(_Strict):
    """What an allowed release must do: read only this, select by this, release only this."""

    purpose: str
    recipient: Recipient
    scope: Scope
    window: Window
    academic_year: int  # the year pupil_ref is scoped to
    criterion: Criterion
    fields: tuple[FieldRule, ...]
    consent: ConsentRule
    expires_at: dt.datetime
    acknowledgement: str

    @property
    def output_fields(self) -> tuple[str, ...]:
        return tuple(rule.output for rule in self.fields if rule.output is not None)


class Decision(_Strict):
    allow: bool
    purpose: str
    reasons: tuple[str, ...]  # "code: text"; never personal data
    obligations: Obligations | None
    policy_version: str
    policy_hash: str

    @model_validator(mode="after")
    def _obligations_iff_allowed(self) -> Decision:
        if self.allow != (self.obligations is not None):
            raise ValueError("an allowed decision has obligations and a denial has none")
        return self

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(reason.split(":", 1)[0] for reason in self.reasons)
