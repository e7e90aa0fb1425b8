"""The purpose catalogue: the shipped file loads as docs/design.md describes it, and a bad file stops
start-up with a message naming the file, the purpose and the field."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from policies.fields import FIELDS, Transform
from policies.loader import DEFAULT_CATALOGUE, CatalogueInvalid, load_catalogue
from policies.model import ConsentRule, LawfulBasisKind, RetentionRule

HEADER = """
[catalogue]
version = "test.1"
title = "Test catalogue"
justification_min_chars = 20
data_subjects = "Pupils"
security_measures = "Some"
international_transfers = "None"

[[retention_schedule]]
id = "attendance-registers"
record = "Registers"
period = "Six years"
years = 6
counted_from = "end_of_academic_year"
source = "SI 2024/208 reg 7"
"""

PURPOSE = """
[[purposes]]
id = "test-purpose"
title = "A test purpose"
description = "Pseudonymous totals for an LA"
scope = "requester_la"
criterion = "persistent_absence"
consent = "objection_honoured"
acknowledgement = "I will behave"
fields = [
  { field = "upn", transform = "pseudonymise" },
  { field = "sessions_possible", transform = "keep" },
]

[purposes.lawful_basis]
basis = "public_task"
legal_references = ["Education Act 1996 s437"]

[purposes.requester]
org_type = "la"
roles = ["case_officer"]

[purposes.retention]
rule = "years"
years = 1
justification = "A year of meetings"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "purposes.toml"
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str) -> str:
    assert old in PURPOSE, old
    return HEADER + PURPOSE.replace(old, new, 1)


def rejection(tmp_path: Path, text: str) -> str:
    with pytest.raises(CatalogueInvalid) as caught:
        load_catalogue(write(tmp_path, text))
    return str(caught.value)


# --- the shipped catalogue -------------------------------------------------------------------------

DESIGN_FIELDS = {
    "la-targeting-support": (
        "pupil_ref",
        "school_urn",
        "year_group",
        "sen_status",
        "fsm_eligible",
        "sessions_possible",
        "sessions_authorised_absence",
        "sessions_unauthorised_absence",
        "attendance_rate",
    ),
    "la-severe-absence": (
        "upn",
        "forename",
        "surname",
        "date_of_birth",
        "school_urn",
        "year_group",
        "sen_status",
        "sessions_possible",
        "sessions_authorised_absence",
        "sessions_unauthorised_absence",
        "attendance_rate",
    ),
    "la-penalty-notice": ("upn", "forename", "surname", "school_urn", "unauthorised_sessions"),
    "transition-y6-y7": ("upn", "attendance_band", "persistent_absence"),
    "mentoring-referral": ("pupil_ref", "school_urn", "year_group", "attendance_rate"),
    "dfe-statistics": (),
    # the attendance reports (issue #17): views of aggregates, no record released
    "school-attendance-report": (),
    "trust-attendance-overview": (),
    "la-attendance-overview": (),
    "abie-national": (),
    "pupils-at-risk": ("upn", "forename", "surname", "year_group", "reasons"),
}


def test_the_shipped_catalogue_loads_with_the_purposes_of_the_design_and_the_reports():
    catalogue = load_catalogue()

    assert [p.id for p in catalogue.purposes] == list(DESIGN_FIELDS)
    assert catalogue.version == "2025.4"
    assert catalogue.source == "purposes.toml"


def test_the_content_hash_is_the_sha256_of_the_file_bytes():
    catalogue = load_catalogue()

    assert catalogue.content_hash == hashlib.sha256(DEFAULT_CATALOGUE.read_bytes()).hexdigest()


def test_any_change_to_the_file_changes_the_hash(tmp_path: Path):
    changed = write(tmp_path, DEFAULT_CATALOGUE.read_text(encoding="utf-8") + "\n# a comment\n")

    assert load_catalogue(changed).content_hash != load_catalogue().content_hash


@pytest.mark.parametrize(("purpose_id", "fields"), DESIGN_FIELDS.items())
def test_each_purpose_releases_exactly_the_fields_of_the_design(purpose_id: str, fields: tuple[str, ...]):
    purpose = load_catalogue().purpose(purpose_id)

    assert purpose is not None
    assert purpose.output_fields == fields


def test_each_purpose_has_the_requester_consent_rule_and_retention_of_the_design():
    catalogue = load_catalogue()
    summary = {
        p.id: (p.requester.org_type, p.requester.roles, p.consent, p.retention.rule, p.retention.years)
        for p in catalogue.purposes
    }

    assert summary == {
        "la-targeting-support": (
            "la",
            ("case_officer",),
            ConsentRule.OBJECTION_HONOURED,
            RetentionRule.YEARS,
            1,
        ),
        "la-severe-absence": (
            "la",
            ("case_officer",),
            ConsentRule.OBJECTION_HONOURED,
            RetentionRule.YEARS,
            2,
        ),
        "la-penalty-notice": (
            "la",
            ("case_officer",),
            ConsentRule.OBJECTION_HONOURED,
            RetentionRule.YEARS,
            2,
        ),
        "transition-y6-y7": (
            "school",
            ("attendance_officer",),
            ConsentRule.OBJECTION_HONOURED,
            RetentionRule.UNTIL_31_DECEMBER_OF_YEAR_7,
            None,
        ),
        "mentoring-referral": ("la", ("case_officer",), ConsentRule.OPT_IN, RetentionRule.YEARS, 1),
        "dfe-statistics": ("dfe", ("statistician",), ConsentRule.NONE, RetentionRule.NOT_APPLICABLE, None),
        # the attendance reports (issue #17)
        "school-attendance-report": (
            "school", ("attendance_officer",), ConsentRule.NONE, RetentionRule.VIEW_ONLY, None
        ),
        "trust-attendance-overview": (
            "trust", ("trust_officer",), ConsentRule.NONE, RetentionRule.VIEW_ONLY, None
        ),
        "la-attendance-overview": ("la", ("case_officer",), ConsentRule.NONE, RetentionRule.VIEW_ONLY, None),
        "abie-national": ("dfe", ("statistician",), ConsentRule.NONE, RetentionRule.VIEW_ONLY, None),
        "pupils-at-risk": ("school", ("attendance_officer",), ConsentRule.NONE, RetentionRule.VIEW_ONLY, None),
    }


def test_a_report_purpose_is_view_only_and_a_record_purpose_cannot_be(tmp_path: Path):
    report = load_catalogue().purpose("school-attendance-report")
    assert report is not None and report.statistics_only
    assert report.retention.describe() == "view only: shown in the gateway, nothing kept or sent as records"
    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    broken = text.replace(
        'rule = "until_31_december_of_year_7"', 'rule = "view_only"', 1
    )
    with pytest.raises(CatalogueInvalid, match="needs a retention period"):
        load_catalogue(write(tmp_path, broken))


def test_every_purpose_has_a_lawful_basis_with_legal_references_and_mentoring_rests_on_consent():
    catalogue = load_catalogue()

    assert all(p.lawful_basis.legal_references for p in catalogue.purposes)
    assert {p.id: p.lawful_basis.basis for p in catalogue.purposes}[
        "mentoring-referral"
    ] is LawfulBasisKind.CONSENT
    assert catalogue.purpose("la-targeting-support").lawful_basis.article == (  # type: ignore[union-attr]
        "UK GDPR Article 6(1)(e) public task"
    )


def test_the_retention_schedule_keeps_registers_six_years_after_the_academic_year():
    schedule = {item.id: item for item in load_catalogue().retention_schedule}

    assert schedule["attendance-registers"].years == 6
    assert schedule["attendance-registers"].counted_from == "end_of_academic_year"
    assert "(SI 2024/208), reg 7" in schedule["attendance-registers"].source
    assert schedule["consent-history"].counted_from == "withdrawal_or_supersession"


def test_an_unknown_purpose_id_is_not_in_the_catalogue():
    assert load_catalogue().purpose("la-everything") is None


def test_a_minimal_valid_file_loads(tmp_path: Path):
    catalogue = load_catalogue(write(tmp_path, HEADER + PURPOSE))

    assert catalogue.version == "test.1"
    assert catalogue.purposes[0].output_fields == ("pupil_ref", "sessions_possible")


# --- bad files ---------------------------------------------------------------------------------------


def test_an_unknown_transform_is_rejected_naming_the_file_purpose_and_field(tmp_path: Path):
    message = rejection(tmp_path, edited('transform = "pseudonymise"', 'transform = "scramble"'))

    assert message.startswith(f"{tmp_path / 'purposes.toml'}: invalid purpose catalogue")
    assert "purposes.toml: purpose 'test-purpose' field 'fields[0].transform'" in message
    assert "'keep', 'pseudonymise', 'band' or 'drop'" in message


def test_an_unknown_field_is_rejected(tmp_path: Path):
    message = rejection(tmp_path, edited('field = "sessions_possible"', 'field = "home_address"'))

    assert "purpose 'test-purpose' field 'fields[1].field': unknown field 'home_address'" in message


def test_a_transform_a_field_does_not_permit_is_rejected(tmp_path: Path):
    message = rejection(
        tmp_path,
        edited(
            '{ field = "sessions_possible", transform = "keep" }', '{ field = "surname", transform = "band" }'
        ),
    )

    assert (
        "field 'fields[1]': transform 'band' is not permitted for field 'surname' (permitted: keep, drop)"
        in message
    )


def test_a_missing_lawful_basis_is_rejected(tmp_path: Path):
    message = rejection(
        tmp_path,
        edited(
            '[purposes.lawful_basis]\nbasis = "public_task"\n'
            'legal_references = ["Education Act 1996 s437"]\n',
            "",
        ),
    )

    assert "purpose 'test-purpose' field 'lawful_basis': Field required" in message


def test_a_lawful_basis_without_a_legal_reference_is_rejected(tmp_path: Path):
    message = rejection(
        tmp_path, edited('legal_references = ["Education Act 1996 s437"]', "legal_references = []")
    )

    assert "purpose 'test-purpose' field 'lawful_basis.legal_references'" in message


def test_duplicate_purpose_ids_are_rejected(tmp_path: Path):
    message = rejection(tmp_path, HEADER + PURPOSE + PURPOSE)

    assert "duplicate purpose id 'test-purpose'" in message


def test_an_unknown_key_is_rejected_rather_than_ignored(tmp_path: Path):
    message = rejection(
        tmp_path, edited('title = "A test purpose"', 'title = "A test purpose"\ncolour = "red"')
    )

    assert "purpose 'test-purpose' field 'colour': Extra inputs are not permitted" in message


def test_an_unknown_key_in_the_header_is_rejected(tmp_path: Path):
    message = rejection(
        tmp_path, HEADER.replace('version = "test.1"', 'version = "test.1"\nowner = "me"') + PURPOSE
    )

    assert "purposes.toml: field 'catalogue.owner': Extra inputs are not permitted" in message


def test_an_unknown_role_is_rejected(tmp_path: Path):
    message = rejection(tmp_path, edited('roles = ["case_officer"]', 'roles = ["head_teacher"]'))

    assert "purpose 'test-purpose' field 'requester.roles[0]'" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            'consent = "objection_honoured"',
            'consent = "none"',
            "lawful basis 'public_task' gives a right to object (UK GDPR Art 21(1))",
            id="public task without honouring objections",
        ),
        pytest.param(
            'consent = "objection_honoured"',
            'consent = "opt_in"',
            "'opt_in' goes with lawful basis 'consent', and only it",
            id="opt-in on a basis other than consent",
        ),
        pytest.param(
            'basis = "public_task"',
            'basis = "legal_obligation"',
            "lawful basis 'legal_obligation' gives no right to object",
            id="objection honoured where the basis gives no right to object",
        ),
        pytest.param(
            'field = "sessions_possible"',
            'field = "sen_status"',
            "field 'lawful_basis.special_category_condition' is required to release sen_status",
            id="special category data without an Article 9 condition",
        ),
        pytest.param(
            '{ field = "sessions_possible", transform = "keep" }',
            '{ field = "upn", transform = "keep" }',
            "field 'fields' lists upn more than once",
            id="a field listed twice",
        ),
        pytest.param(
            '{ field = "sessions_possible", transform = "keep" }',
            '{ field = "unauthorised_sessions", transform = "keep" }',
            "field 'unauthorised_sessions' exists only for criterion 'penalty_notice_threshold'",
            id="session dates for a criterion that does not count them",
        ),
        pytest.param(
            'id = "test-purpose"',
            'id = "Test_Purpose"',
            "must be lower-case words joined by hyphens",
            id="bad id",
        ),
        pytest.param("years = 1\n", "", "field 'years' is required with rule 'years'", id="years missing"),
        pytest.param(
            'rule = "years"\nyears = 1',
            'rule = "not_applicable"',
            "a purpose that releases records needs a retention period",
            id="a release without retention",
        ),
        pytest.param(
            'scope = "requester_la"',
            'scope = "none"',
            "a purpose that releases records needs a scope",
            id="a release without scope",
        ),
        pytest.param(
            'criterion = "persistent_absence"',
            'criterion = "aggregates_only"',
            "a purpose with criterion 'aggregates_only' has no 'fields' and scope 'none'",
            id="statistics only with fields",
        ),
        pytest.param(
            'criterion = "persistent_absence"',
            'criterion = "year_6_summary"',
            "'year_6_summary' goes with scope 'named_pupils', and only it",
            id="year 6 summary without named pupils",
        ),
        pytest.param(
            'rule = "years"\nyears = 1',
            'rule = "until_31_december_of_year_7"',
            "'until_31_december_of_year_7' is for Year 6 summaries only",
            id="year 7 retention for another criterion",
        ),
        pytest.param(
            'org_type = "la"',
            'org_type = "school"',
            "'requester_la' needs a requester of org_type 'la'",
            id="an LA scope for a school",
        ),
        pytest.param(
            'roles = ["case_officer"]',
            'roles = ["case_officer"]\nschool_phases = ["Secondary"]',
            "field 'school_phases' applies only when org_type is 'school'",
            id="phases for an LA",
        ),
        pytest.param(
            '{ field = "upn", transform = "pseudonymise" },\n'
            '  { field = "sessions_possible", transform = "keep" },',
            '{ field = "upn", transform = "drop" },',
            "a purpose that releases records must release some field",
            id="every field dropped",
        ),
    ],
)
def test_a_purpose_whose_parts_contradict_each_other_is_rejected(
    tmp_path: Path, old: str, new: str, expected: str
):
    message = rejection(tmp_path, edited(old, new))

    assert "purpose '" in message or "purposes[0]" in message
    assert expected in message


def test_a_statistics_only_purpose_must_not_keep_a_retention_period(tmp_path: Path):
    statistics = (
        PURPOSE.replace('scope = "requester_la"', 'scope = "none"')
        .replace('criterion = "persistent_absence"', 'criterion = "aggregates_only"')
        .replace(
            'fields = [\n  { field = "upn", transform = "pseudonymise" },\n'
            '  { field = "sessions_possible", transform = "keep" },\n]\n',
            "",
        )
        .replace('consent = "objection_honoured"', 'consent = "none"')
    )

    message = rejection(tmp_path, HEADER + statistics)

    assert "a purpose that releases nothing has rule 'not_applicable'" in message


def test_a_purpose_with_an_unreadable_id_is_named_by_its_position(tmp_path: Path):
    message = rejection(tmp_path, edited('id = "test-purpose"', "id = 7"))

    assert "purposes.toml: purposes[0] field 'id'" in message


def test_duplicate_retention_schedule_ids_are_rejected(tmp_path: Path):
    schedule = HEADER[HEADER.index("[[retention_schedule]]") :]

    message = rejection(tmp_path, HEADER + schedule + PURPOSE)

    assert "duplicate retention schedule item id 'attendance-registers'" in message


def test_a_file_that_is_not_toml_is_rejected(tmp_path: Path):
    message = rejection(tmp_path, "[catalogue\nversion = ")

    assert message.startswith(f"{tmp_path / 'purposes.toml'}: not a valid TOML file")


def test_a_file_that_is_not_utf8_is_rejected(tmp_path: Path):
    path = tmp_path / "purposes.toml"
    path.write_bytes(b'title = "\xff"\n')

    with pytest.raises(CatalogueInvalid, match="not a valid TOML file"):
        load_catalogue(path)


def test_a_missing_file_is_rejected(tmp_path: Path):
    with pytest.raises(CatalogueInvalid, match="cannot read the purpose catalogue"):
        load_catalogue(tmp_path / "nowhere.toml")


def test_an_empty_file_is_rejected_naming_what_is_missing(tmp_path: Path):
    message = rejection(tmp_path, "")

    assert "purposes.toml: field 'catalogue': Field required" in message
    assert "purposes.toml: field 'purposes': Field required" in message


def test_the_vocabulary_lets_every_field_be_dropped_and_only_the_upn_be_pseudonymised():
    assert all(spec.permits(Transform.DROP) for spec in FIELDS.values())
    assert [name for name, spec in FIELDS.items() if spec.permits(Transform.PSEUDONYMISE)] == ["upn"]
    assert [name for name, spec in FIELDS.items() if spec.permits(Transform.BAND)] == ["attendance_rate"]


def test_a_purpose_that_is_not_a_table_is_named_by_its_position(tmp_path: Path):
    message = rejection(tmp_path, 'purposes = ["la-everything"]\n' + HEADER)

    assert "purposes.toml: purposes[0]: Input should be a valid dictionary" in message
