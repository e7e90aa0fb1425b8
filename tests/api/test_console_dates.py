"""GOV.UK date inputs over HTTP: the DPO's audit trail filter, the school's window of marks (its page
and its CSV) and the LA's ask form each take a date as day, month and year fields. A valid date is
used; a wrong or missing part is named on its field, with the error summary linking to the part to
correct; nothing a client types gives a 500, and nothing is read for a date that is wrong."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from gateway.console.dates import read_date
from tests.api.test_console import CASE_OFFICER, DPO, OFFICER, ask_form, audit_size, sign_in
from tests.conftest import Gateway
from tests.e2e.seed import World, seed

EXAMPLE = "3 10 2025"


@pytest.fixture
def world(loaded: Gateway, tmp_path: Path) -> tuple[Gateway, World]:
    return loaded, seed(loaded, tmp_path)


def parts(name: str, day: str, month: str, year: str) -> dict[str, str]:
    return {f"{name}-day": day, f"{name}-month": month, f"{name}-year": year}


def summary(page: str) -> list[tuple[str, str]]:
    """The error summary's links: (target id, message)."""
    box = page.split('class="govuk-error-summary"')[1].split("</ul>")[0]
    found = re.findall(r'<a href="#([\w-]+)"[^>]*>\s*(.*?)\s*</a>', box, re.S)
    return [(target, html.unescape(message)) for target, message in found]


#: (what is typed, the message, the part the error summary links to, the parts marked as wrong)
MISTAKES = [
    (("31", "2", "2025"), "From must be a real date, for example 3 10 2025", "from-day", ["day"]),
    (("3", "13", "2025"), "From must be a real date, for example 3 10 2025", "from-month", ["month"]),
    (("3", "", "2025"), "From must include a month", "from-month", ["month"]),
    (("", "", "2025"), "From must include a day and month", "from-day", ["day", "month"]),
    (("3", "10", "25"), "From must have a year of 4 numbers, for example 3 10 2025", "from-year", ["year"]),
    (("x", "10", "2025"), "From must be a real date, for example 3 10 2025", "from-day", ["day"]),
    (("²", "10", "2025"), "From must be a real date, for example 3 10 2025", "from-day", ["day"]),
    (("３", "10", "2025"), "From must be a real date, for example 3 10 2025", "from-day", ["day"]),
    (("3", "10", "2" * 5000), "From must have a year of 4 numbers, for example 3 10 2025", "from-year", ["year"]),
    (("0", "10", "2025"), "From must be a real date, for example 3 10 2025", "from-day", ["day"]),
]


@pytest.mark.parametrize(("typed", "message", "target", "marked"), MISTAKES)
def test_a_date_with_a_wrong_or_missing_part_is_named_with_the_part_to_correct(
    typed: tuple[str, str, str], message: str, target: str, marked: list[str]
) -> None:
    field = read_date(parts("from", *typed), "from", "From", EXAMPLE)
    assert field.value is None and field.error == message
    assert field.target == target and list(field.bad) == marked


def test_a_real_date_is_read_from_its_parts_or_from_the_iso_date_of_a_link() -> None:
    assert read_date(parts("to", " 7 ", "03", "2026"), "to", "To", EXAMPLE).iso == "2026-03-07"
    assert read_date({"to": "2026-03-07"}, "to", "To", EXAMPLE).parts == {"day": "07", "month": "03",
                                                                         "year": "2026"}
    assert read_date(parts("to", "29", "2", "2024"), "to", "To", EXAMPLE).iso == "2024-02-29"
    empty = read_date({}, "to", "To", EXAMPLE)
    assert empty.value is None and empty.error is None
    assert read_date({"to": "someday"}, "to", "To", EXAMPLE).error == (
        "To must be a real date, for example 3 10 2025"
    )


def test_the_audit_trail_takes_a_date_as_three_fields_and_names_a_mistake_on_its_field(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    sign_in(gw, DPO)
    valid = gw.client.get("/console/audit", params={**parts("to", "1", "1", "2020")})
    assert valid.status_code == 200 and "No events match these filters" in valid.text
    for typed, message, target, _marked in MISTAKES:
        before = audit_size(gw)
        r = gw.client.get("/console/audit", params=parts("from", *typed))
        assert r.status_code == 400, typed
        assert summary(r.text) == [(target, message)]
        assert 'id="from-error"' in r.text and 'data-testid="events"' not in r.text
        # Nothing is read, so no view is recorded (a refusal is: tests/api/test_denials_audited.py).
        assert audit_size(gw) == before
    backwards = gw.client.get("/console/audit", params={**parts("from", "2", "10", "2025"),
                                                        **parts("to", "1", "10", "2025")})
    assert backwards.status_code == 400
    assert summary(backwards.text) == [("to-day", "To must be the same as or after From")]
    # The wrong part alone is marked, GOV.UK style, and what was typed is shown again.
    month = gw.client.get("/console/audit", params=parts("from", "3", "13", "2025"))
    assert re.search(r'class="govuk-input govuk-date-input__input govuk-input--width-2 govuk-input--error"'
                     r'\s+id="from-month"', month.text)
    assert re.search(r'id="from-day"[^>]*value="3"', month.text)
    assert not re.search(r'govuk-input--error"\s+id="from-day"', month.text)


def test_the_schools_window_takes_dates_as_three_fields_on_its_page_and_its_csv(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    sign_in(gw, OFFICER)
    window = {**parts("from", "6", "10", "2025"), **parts("to", "17", "10", "2025")}
    page = gw.client.get("/console/school", params=window)
    assert page.status_code == 200 and "Marks from 6 October 2025 to 17 October 2025" in page.text
    # The page's own links carry the window as ISO dates.
    assert "from=2025-10-06&amp;to=2025-10-17" in page.text and 'type="date"' not in page.text
    csv = gw.client.get("/console/school.csv", params=window)
    assert csv.status_code == 200 and "2025-10-06-2025-10-17" in csv.headers["content-disposition"]
    for typed, message, target, _marked in MISTAKES:
        before = audit_size(gw)
        r = gw.client.get("/console/school", params={**window, **parts("from", *typed)})
        assert r.status_code == 400, typed
        assert summary(r.text) == [(target, message)]
        assert audit_size(gw) == before
        assert gw.client.get("/console/school.csv", params=parts("from", *typed)).status_code == 422
    backwards = gw.client.get("/console/school", params={**window, **parts("to", "1", "10", "2025")})
    assert backwards.status_code == 400
    assert summary(backwards.text) == [("to-day", "To must be the same as or after From")]


def test_the_la_ask_form_names_a_wrong_date_and_asks_nothing(world: tuple[Gateway, World]) -> None:
    gw, _ = world
    csrf = sign_in(gw, CASE_OFFICER)
    for typed, message, target, _marked in MISTAKES:
        before = audit_size(gw)
        r = gw.client.post("/console/la/ask/la-targeting-support", data=ask_form(csrf, **parts("to", *typed)))
        assert r.status_code == 422, typed
        expected = message.replace("From", "The end of the window").replace("3 10 2025", "6 10 2025")
        assert summary(r.text) == [(target.replace("from", "to"), expected)]
        assert audit_size(gw) == before  # an incomplete request decides nothing (as the API)
    made = gw.client.post("/console/la/ask/la-targeting-support", data=ask_form(csrf))
    assert made.status_code == 201 and "6 October 2025 to 17 October 2025" in made.text


def test_the_statisticians_window_is_typed_as_day_month_and_year_and_a_wrong_part_spends_nothing(
    world: tuple[Gateway, World],
) -> None:
    """DfE's dashboard asks a question with GOV.UK date inputs: a wrong date is named on its part and
    asks nothing (the budget is as it was); a right one is answered for that window."""
    from tests.api.test_console import STATISTICIAN

    gw, _ = world
    csrf = sign_in(gw, STATISTICIAN)
    api = gw.auth(*STATISTICIAN)
    before = gw.client.get("/v1/stats/budget", headers=api).json()
    bad = gw.client.post("/console/statistics", data={
        "csrf_token": csrf, "measure": "overall_absence_rate", **parts("from", "31", "2", "2025")})
    assert bad.status_code == 422
    assert summary(bad.text) == [("from-day", "From must be a real date, for example 3 10 2025")]
    assert gw.client.get("/v1/stats/budget", headers=api).json() == before
    good = gw.client.post("/console/statistics", data={
        "csrf_token": csrf, "measure": "overall_absence_rate", **parts("from", "6", "10", "2025"),
        **parts("to", "17", "10", "2025")})
    assert good.status_code == 200, good.text[:500]
    assert "2025-10-06 to 2025-10-17" in good.text
