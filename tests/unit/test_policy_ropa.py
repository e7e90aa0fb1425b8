"""The record of processing activities is generated from the live catalogue: every purpose with its
lawful basis, categories of data, recipients and retention, and the catalogue's version and hash."""

from __future__ import annotations

import csv
import io

from policies.loader import load_catalogue
from policies.ropa import ropa_csv, ropa_markdown

CATALOGUE = load_catalogue()


def test_the_markdown_record_names_the_catalogue_version_and_hash():
    text = ropa_markdown(CATALOGUE)

    assert text.startswith("# Record of processing activities (UK GDPR Article 30)\n")
    assert f"version {CATALOGUE.version}" in text
    assert CATALOGUE.content_hash in text


def test_the_markdown_record_has_a_row_and_a_section_for_every_purpose():
    text = ropa_markdown(CATALOGUE)

    for purpose in CATALOGUE.purposes:
        assert f"| {purpose.id}: {purpose.title} | {purpose.lawful_basis.article} |" in text
        assert f"### {purpose.id}: {purpose.title}" in text
        for reference in purpose.lawful_basis.legal_references:
            assert f"  - {reference}" in text


def test_the_markdown_record_states_categories_recipients_and_retention():
    text = ropa_markdown(CATALOGUE)

    assert (
        "| la-targeting-support: Targeting support meetings | UK GDPR Article 6(1)(e) public task | "
        "Local authority (role case_officer), for schools in its own area | "
        "Pseudonymous pupil reference: pupil_ref; School attended: school_urn; "
        "Pupil characteristics: year_group, sen_status (special category), fsm_eligible; "
        "Attendance: sessions_possible, sessions_authorised_absence, sessions_unauthorised_absence, "
        "attendance_rate "
        "| 1 year from the release |"
    ) in text
    assert (
        "School of phase Secondary or All-through (role attendance_officer), for the pupils it names" in text
    )
    assert "until 31 December of the pupil's Year 7" in text
    assert "None at pupil level: aggregates with differential-privacy noise" in text


def test_the_markdown_record_lists_the_retention_of_registers_and_consent_history():
    text = ropa_markdown(CATALOGUE)

    assert "| Six years after the end of the academic year the entry belongs to |" in text
    assert "Limitation Act 1980 s2" in text


def test_the_controller_is_named_when_given_and_described_when_not():
    assert "- **Controller:** Example Council, data.protection@example.gov.uk" in ropa_markdown(
        CATALOGUE, controller="Example Council, data.protection@example.gov.uk"
    )
    assert "- **Controller:** The organisation operating this gateway" in ropa_markdown(CATALOGUE)


def test_the_csv_record_has_one_row_per_purpose_and_per_retained_record():
    rows = list(csv.DictReader(io.StringIO(ropa_csv(CATALOGUE))))

    assert [(r["record_type"], r["id"]) for r in rows] == [("purpose", p.id) for p in CATALOGUE.purposes] + [
        ("retained record", item.id) for item in CATALOGUE.retention_schedule
    ]
    assert {r["catalogue_hash"] for r in rows} == {CATALOGUE.content_hash}
    assert {r["catalogue_version"] for r in rows} == {CATALOGUE.version}


def test_the_csv_record_of_a_purpose_carries_its_lawful_basis_fields_and_retention():
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(ropa_csv(CATALOGUE)))}
    mentoring = rows["mentoring-referral"]

    assert mentoring["lawful_basis"] == "UK GDPR Article 6(1)(a) consent"
    assert mentoring["fields_released"] == (
        "pupil_ref (upn, pseudonymised per recipient and academic year), school_urn (as held), "
        "year_group (as held), attendance_rate (as held)"
    )
    assert mentoring["consent"] == "Opt-in: only pupils whose parent consented to this purpose"
    assert mentoring["retention"] == "1 year from the release"
    assert rows["transition-y6-y7"]["fields_released"] == (
        "upn (as held), attendance_band (attendance_rate, banded), persistent_absence (as held)"
    )
    assert rows["dfe-statistics"]["fields_released"] == "none"
    assert (
        rows["attendance-registers"]["retention"]
        == "Six years after the end of the academic year the entry belongs to"
    )


def test_the_record_shows_the_report_purposes_as_views_of_aggregates():
    text = ropa_markdown(load_catalogue())
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(ropa_csv(load_catalogue())))}

    for purpose_id in ("school-attendance-report", "trust-attendance-overview", "la-attendance-overview"):
        assert purpose_id in text
        assert rows[purpose_id]["retention"] == "view only: shown in the gateway, nothing kept or sent as records"
        assert rows[purpose_id]["selection"].endswith("snapshot, viewed in place")
        categories = rows[purpose_id]["categories_of_personal_data"]
        assert categories.startswith("None at pupil level: the school's own")
    assert "academy trust (role trust_officer)" in rows["trust-attendance-overview"]["recipients"].lower()
