"""The school pupils page over HTTP: paging, sorting, filters, a posted search and the CSV export.

A search term and a UPN never appear in an address: the search is posted, and its results' own
controls post it again."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from gateway.db.models import AuditEvent, School
from tests.api.test_console import OFFICER, audit_size, last_event, links, sign_in
from tests.conftest import Gateway
from tests.e2e.seed import CAMDEN_PRIMARY, WINDOW_FROM, WINDOW_TO, World, seed

NAMES = re.compile(r'<th scope="row" class="govuk-table__header">(Surname\d),')
WINDOW = {"from": WINDOW_FROM, "to": WINDOW_TO}


@pytest.fixture
def world(loaded: Gateway, tmp_path: Path) -> tuple[Gateway, World]:
    return loaded, seed(loaded, tmp_path)


def table(html: str) -> str:
    return html.split('data-testid="pupils"')[1].split("</table>")[0]


def school_name(gw: Gateway) -> str:
    with gw.runtime.sessions() as db:
        return db.execute(select(School.name).where(School.urn == CAMDEN_PRIMARY)).scalar_one()


def test_the_pupils_page_names_the_school_and_sorts_by_any_column_both_ways(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    sign_in(gw, OFFICER)
    r = gw.client.get("/console/school", params=WINDOW)
    assert r.status_code == 200
    assert school_name(gw) in r.text.split("<h1")[0] + r.text.split("</h1>")[0]
    assert NAMES.findall(table(r.text)) == ["Surname1", "Surname2", "Surname3", "Surname4"]
    by_rate = gw.client.get("/console/school", params={**WINDOW, "sort": "attendance", "dir": "asc"})
    assert NAMES.findall(table(by_rate.text)) == ["Surname4", "Surname3", "Surname1", "Surname2"]
    assert 'aria-sort="ascending"' in by_rate.text
    desc = gw.client.get("/console/school", params={**WINDOW, "sort": "name", "dir": "desc"})
    assert NAMES.findall(table(desc.text)) == ["Surname4", "Surname3", "Surname2", "Surname1"]
    for column in ("upn", "year", "possible", "authorised", "unauthorised", "absence"):
        for direction in ("asc", "desc"):
            page = gw.client.get("/console/school", params={**WINDOW, "sort": column, "dir": direction})
            assert page.status_code == 200 and len(NAMES.findall(table(page.text))) == 4
    # Each header links to its column's sort, the current one to the other direction.
    name_link = re.search(r'href="([^"]+)" data-sort="name"', r.text)
    assert name_link and "dir=desc" in name_link.group(1)
    assert re.search(r'href="[^"]*sort=attendance[^"]*" data-sort="attendance"', r.text)


def test_the_filters_narrow_the_list_and_bad_values_are_named(world: tuple[Gateway, World]) -> None:
    gw, _ = world
    sign_in(gw, OFFICER)
    severe = gw.client.get("/console/school", params={**WINDOW, "absence": "severe", "sort": "attendance"})
    assert NAMES.findall(table(severe.text)) == ["Surname4", "Surname3"]
    persistent = gw.client.get("/console/school", params={**WINDOW, "absence": "persistent",
                                                          "sort": "attendance"})
    assert NAMES.findall(table(persistent.text)) == ["Surname4", "Surname3", "Surname1"]
    assert 'data-testid="count-severe">2<' in severe.text
    for params, field in (({"sort": "dob"}, "Sort by one of"), ({"dir": "up"}, "asc or desc"),
                          ({"page": "0"}, "Page must be"), ({"absence": "some"}, "Choose all pupils"),
                          ({"page": "x" * 30}, "Page must be")):
        bad = gw.client.get("/console/school", params={**WINDOW, **params})
        assert bad.status_code == 400 and field in bad.text


def test_a_page_shows_fifty_pupils_and_pages_past_the_end_show_the_last(
    world: tuple[Gateway, World], monkeypatch: object
) -> None:
    from gateway.console import pupil_view

    gw, _ = world
    sign_in(gw, OFFICER)
    monkeypatch.setattr(pupil_view, "PER_PAGE", 3)  # type: ignore[attr-defined]
    first = gw.client.get("/console/school", params=WINDOW)
    assert NAMES.findall(table(first.text)) == ["Surname1", "Surname2", "Surname3"]
    assert "Showing 1 to 3 of 4 pupils" in first.text and 'rel="next"' in first.text
    second = gw.client.get("/console/school", params={**WINDOW, "page": "2"})
    assert NAMES.findall(table(second.text)) == ["Surname4"] and "Showing 4 to 4 of 4" in second.text
    beyond = gw.client.get("/console/school", params={**WINDOW, "page": "99"})
    assert NAMES.findall(table(beyond.text)) == ["Surname4"]
    assert pupil_view.page_numbers(7, 20) == [1, None, 6, 7, 8, None, 20]


def test_a_search_by_name_or_upn_is_posted_and_no_address_carries_it(world: tuple[Gateway, World]) -> None:
    gw, w = world
    csrf = sign_in(gw, OFFICER)
    for term in ("surname3", "Forename3 Surname3", w.upns[3], w.upns[3][-6:].lower()):
        r = gw.client.post("/console/school/search", data={**WINDOW, "q": term, "csrf_token": csrf})
        assert r.status_code == 200, term
        assert NAMES.findall(table(r.text)) == ["Surname3"], term
        addresses = links(r.text).urls
        assert not [a for a in addresses if term.lower() in a.lower() or any(u in a for u in w.upns.values())]
        assert "q" not in links(r.text).get_form_fields
    # Sorting and paging the results post the term again.
    r = gw.client.post("/console/school/search", data={**WINDOW, "q": "Surname", "order": "attendance:desc",
                                                       "csrf_token": csrf})
    assert NAMES.findall(table(r.text)) == ["Surname2", "Surname1", "Surname3", "Surname4"]
    assert 'form="results-controls" name="order" value="attendance:asc"' in r.text
    assert w.upns[51] not in gw.client.post(
        "/console/school/search", data={"q": w.upns[51], "csrf_token": csrf}
    ).text.split('data-testid="pupils"')[1]
    empty = gw.client.post("/console/school/search", data={"q": " ", "csrf_token": csrf})
    assert empty.status_code == 400 and "Enter a name or UPN" in empty.text
    long = gw.client.post("/console/school/search", data={"q": "x" * 61, "csrf_token": csrf})
    assert long.status_code == 400 and "60 characters or fewer" in long.text
    assert gw.client.post("/console/school/search", data={"q": "Surname3"}).status_code == 403
    event = last_event(gw)
    assert event.action == "pupils.viewed" and b"Surname" not in event.entry


def test_the_csv_export_is_the_schools_own_list_audited_as_the_api_view(world: tuple[Gateway, World]) -> None:
    gw, w = world
    sign_in(gw, OFFICER)
    before = audit_size(gw)
    r = gw.client.get("/console/school.csv", params={**WINDOW, "absence": "persistent", "sort": "attendance"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    disposition = r.headers["content-disposition"]
    assert "attachment" in disposition and w.upns[1] not in disposition
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["surname"] for row in rows] == ["Surname4", "Surname3", "Surname1"]
    assert rows[0]["upn"] == w.upns[4] and w.upns[51] not in r.text
    assert audit_size(gw) == before + 1
    event = last_event(gw)
    assert event.action == "pupils.viewed" and orjson.loads(event.entry)["record_count"] == 4
    page = gw.client.get("/console/school", params={**WINDOW, "absence": "persistent"}).text
    assert "/console/school.csv?from=" in page and "absence=persistent" in page
    assert gw.client.get("/console/school.csv", params={"sort": "nope"}).status_code == 422
    sign_in(gw, ("dfe", "dfe", "statistician"))
    assert gw.client.get("/console/school.csv").status_code == 403


# --- consent -------------------------------------------------------------------------------------


def test_the_consent_form_shows_the_pupils_name_from_the_roll_in_plain_english(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, OFFICER)
    form = gw.client.get("/console/school/consents").text
    assert "Takes:" not in form and "opt_in" not in form.split("<main")[1].replace('value="opt_in"', "")
    assert "A pupil is included only if a parent has given consent" in form
    before = audit_size(gw)
    found = gw.client.post("/console/school/consents/start", data={"upn": w.upns[3], "csrf_token": csrf})
    assert found.status_code == 200
    name = found.text.split('data-testid="pupil-name"')[1].split("</div>")[0]
    assert "Forename3 Surname3" in name
    # The name's look-up and the form's list of current decisions: two views, each audited.
    assert audit_size(gw) == before + 2
    with gw.runtime.sessions() as db:
        lookup = db.execute(select(AuditEvent).where(AuditEvent.idx == before)).scalar_one()
    assert lookup.action == "pupils.viewed" and w.upns[3].encode() not in lookup.entry
    other = gw.client.post("/console/school/consents/start", data={"upn": w.upns[51], "csrf_token": csrf})
    assert other.status_code == 404 and "not on your school" in other.text and "Surname51" not in other.text
    bad = gw.client.post("/console/school/consents/start", data={"upn": "A12", "csrf_token": csrf})
    assert bad.status_code == 422 and 'id="upn-error"' in bad.text
    empty = gw.client.post("/console/school/consents/start", data={"upn": "", "csrf_token": csrf})
    assert empty.status_code == 422 and "Enter the pupil" in empty.text


def test_receipt_ids_link_to_a_receipt_page_and_a_printable_one(world: tuple[Gateway, World]) -> None:
    gw, w = world
    csrf = sign_in(gw, OFFICER)
    made = gw.client.post("/console/school/consents", data={
        "upn": w.upns[2], "purpose": "mentoring-referral", "decision": "granted", "csrf_token": csrf})
    assert made.status_code == 200
    receipt_id = re.search(r"cr_[0-9a-f]{32}", made.text).group(0)  # type: ignore[union-attr]
    assert f"/console/school/consents/receipts/{receipt_id}/print" in made.text
    listed = gw.client.get("/console/school/consents").text
    assert f'href="/console/school/consents/receipts/{receipt_id}"' in listed
    page = gw.client.get(f"/console/school/consents/receipts/{receipt_id}")
    assert page.status_code == 200 and "Consent granted" in page.text and receipt_id in page.text
    assert last_event(gw).action == "consents.viewed"
    printable = gw.client.get(f"/console/school/consents/receipts/{receipt_id}/print")
    assert printable.status_code == 200 and 'data-testid="printable-receipt"' in printable.text
    assert "Sign out" not in printable.text and "Consent granted" in printable.text
    assert gw.client.get("/console/school/consents/receipts/cr_" + "0" * 32).status_code == 404
    assert gw.client.get("/console/school/consents/receipts/nonsense").status_code in (404, 422)
    sign_in(gw, ("school", "100003", "attendance_officer"))
    assert gw.client.get(f"/console/school/consents/receipts/{receipt_id}").status_code == 404
