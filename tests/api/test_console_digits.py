"""A character that str.isdigit() calls a digit but int() refuses ("²", superscript two) in a console
field is named as a problem on the page, never a 500."""

from __future__ import annotations

from tests.api.test_console import ask_form, sign_in
from tests.conftest import Gateway

SQUARED = "²"


def test_a_superscript_digit_in_a_page_number_a_date_or_a_school_is_not_an_error(loaded: Gateway) -> None:
    sign_in(loaded, ("school", "100001", "attendance_officer"))
    pupils = loaded.client.get("/console/school", params={"page": SQUARED})
    assert pupils.status_code < 500 and "Page must be a whole number" in pupils.text
    at_risk = loaded.client.get("/console/school/at-risk",
                                params={"to-day": SQUARED, "to-month": "10", "to-year": "2025"})
    assert at_risk.status_code == 400 and "To must be a real date" in at_risk.text

    sign_in(loaded, ("operator", "operator", "dpo"))
    audit = loaded.client.get("/console/audit", params={"from-day": SQUARED, "from-month": "10",
                                                        "from-year": "2025"})
    assert audit.status_code == 400 and "From must be a real date" in audit.text

    csrf = sign_in(loaded, ("la", "202", "case_officer"))
    asked = loaded.client.post("/console/la/ask/la-targeting-support", data=ask_form(csrf, schools=SQUARED))
    assert asked.status_code < 500 and "Choose schools from the list" in asked.text
