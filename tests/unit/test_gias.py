"""Reading a GIAS extract: the columns the reports need are read when present and optional when not."""

from __future__ import annotations

import csv
import io

import pytest

from schemas.schools import GiasInvalid, read_gias

BASE = {"URN": "100001", "LA (code)": "202", "LA (name)": "Camden", "EstablishmentNumber": "2001",
        "EstablishmentName": "Camden Primary School", "TypeOfEstablishment (name)": "Academy converter",
        "PhaseOfEducation (name)": "Primary", "EstablishmentStatus (name)": "Open"}
EXTRA = {"EstablishmentTypeGroup (name)": "Academies", "ReligiousCharacter (name)": "Church of England",
         "AdmissionsPolicy (name)": "Not applicable", "GOR (name)": "London", "NumberOfPupils": "412",
         "Trusts (code)": "4021", "Trusts (name)": "Camden Learning Trust"}


def _read(*rows: dict[str, str]) -> list:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows)
    return list(read_gias(io.StringIO(out.getvalue())))


def test_the_characteristics_and_trust_are_read_and_not_applicable_is_unknown():
    (school,) = _read({**BASE, **EXTRA})
    assert (school.type_group, school.religious_character, school.admissions_policy) == (
        "Academies", "Church of England", None)
    assert (school.region, school.number_of_pupils) == ("London", 412)
    assert (school.trust_uid, school.trust_name) == ("4021", "Camden Learning Trust")


def test_an_extract_without_the_extra_columns_still_loads():
    (school,) = _read(BASE)
    assert school.trust_uid is None and school.number_of_pupils is None and school.region is None


def test_a_school_outside_any_trust_has_no_trust_name():
    (school,) = _read({**BASE, **EXTRA, "Trusts (code)": "", "Trusts (name)": "Not applicable"})
    assert (school.trust_uid, school.trust_name) == (None, None)


@pytest.mark.parametrize(("column", "value", "message"), [
    ("NumberOfPupils", "many", "row 1, NumberOfPupils: not a number of pupils"),
    ("Trusts (code)", "TR-1", "row 1, Trusts (code): not a trust UID"),
])
def test_a_bad_value_names_the_row_and_column(column: str, value: str, message: str):
    with pytest.raises(GiasInvalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        _read({**BASE, **EXTRA, column: value})
