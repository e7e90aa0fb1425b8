"""The web console over HTTP (no browser): sign-in, cookies, CSRF, refusals, and each page's content.

The browser tests in tests/e2e drive the same pages through Chromium; these run on every backend.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from gateway.cli import main
from gateway.db.models import AuditEvent, ConsentRecord, Release
from policies.ropa import ropa_csv
from tests.api.test_releases import JUSTIFICATION
from tests.conftest import Gateway
from tests.e2e.seed import CAMDEN_PRIMARY, WINDOW_FROM, WINDOW_TO, World, seed
from tests.factories import upn
from tests.integration.test_audit_log import as_attacker

UPN_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][0-9]{11}[0-9A-Za-z](?![A-Za-z0-9])")
A_UPN = upn(serial=999)

DPO = ("operator", "operator", "dpo")
LA_DPO = ("la", "211", "dpo")
OFFICER = ("school", str(CAMDEN_PRIMARY), "attendance_officer")
OTHER_OFFICER = ("school", "100003", "attendance_officer")
STATISTICIAN = ("dfe", "dfe", "statistician")
CASE_OFFICER = ("la", "202", "case_officer")
SUBMITTER = ("school", str(CAMDEN_PRIMARY), "feed_submitter")


class Links(HTMLParser):
    """Every address a page links to or submits to, and every GET form's field names."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.get_form_fields: list[str] = []
        self._in_get_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("href", "src", "action", "formaction"):
            if a.get(name):
                self.urls.append(str(a[name]))
        if tag == "form":
            self._in_get_form = (a.get("method") or "get").lower() == "get"
        if tag in ("input", "select", "textarea") and self._in_get_form and a.get("name"):
            self.get_form_fields.append(str(a["name"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_get_form = False


def links(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(gw: Gateway, who: tuple[str, ...], client: TestClient | None = None) -> str:
    """Sign in through the form; returns the CSRF token of the new session."""
    client = client or gw.client
    client.cookies.clear()
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    r = client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(form.text), "token": gw.token(*who)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    home = client.get("/console/")
    assert home.status_code == 200
    return csrf_of(home.text)


def audit_size(gw: Gateway) -> int:
    with gw.runtime.sessions() as db:
        return int(db.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def last_event(gw: Gateway) -> AuditEvent:
    with gw.runtime.sessions() as db:
        return db.execute(select(AuditEvent).order_by(AuditEvent.idx.desc()).limit(1)).scalar_one()


@pytest.fixture
def world(loaded: Gateway, tmp_path: Path) -> tuple[Gateway, World]:
    return loaded, seed(loaded, tmp_path)


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- signed out, sign-in, cookies ----------------------------------------------------------------

PAGES = [
    "/console/",
    "/console/audit",
    "/console/audit/events/0",
    "/console/audit/integrity",
    "/console/releases/overdue",
    "/console/subject-access",
    "/console/ropa",
    "/console/ropa.csv",
    "/console/purposes",
    "/console/school",
    "/console/school/consents",
    "/console/statistics",
    "/console/la/ask",
    "/console/la/ask/la-targeting-support",
    "/console/la/releases",
    "/console/la/releases/rel_0",
]
POSTS = [
    "/console/audit/integrity",
    "/console/subject-access",
    "/console/school/consents",
    "/console/school/consents/start",
    "/console/statistics",
    "/console/statistics.csv",
    "/console/la/ask/la-targeting-support",
    "/console/la/ask/la-targeting-support.csv",
    "/console/la/releases/rel_0/deletion",
]


@pytest.mark.parametrize("path", PAGES)
def test_a_signed_out_visitor_is_sent_to_sign_in_and_sees_nothing(gw: Gateway, path: str) -> None:
    r = gw.client.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/sign-in?next={path}"
    assert r.text == ""


@pytest.mark.parametrize("path", POSTS)
def test_a_signed_out_post_is_refused(gw: Gateway, path: str) -> None:
    before = audit_size(gw)
    r = gw.client.post(path, data={"upn": A_UPN, "csrf_token": "x"}, follow_redirects=False)
    assert r.status_code == 401
    assert "Sign in" in r.text and A_UPN not in r.text
    assert audit_size(gw) == before


def test_signing_in_sets_an_httponly_samesite_strict_cookie_that_is_not_secure_on_local_http(
    gw: Gateway,
) -> None:
    form = gw.client.get("/console/sign-in")
    presession = form.headers["set-cookie"]
    assert "HttpOnly" in presession and "SameSite=strict" in presession and "Secure" not in presession
    r = gw.client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(form.text), "token": gw.token(*DPO), "next": "/console/audit"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/audit"
    session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("gw_console_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/console" in session
    assert "Secure" not in session


@pytest.mark.parametrize(
    "base_url", ["https://gateway.example", "http://gateway.example", "http://10.0.0.5:8000"]
)
def test_the_cookies_are_secure_anywhere_but_plain_http_to_this_machine(gw: Gateway, base_url: str) -> None:
    client = TestClient(gw.client.app, base_url=base_url)
    form = client.get("/console/sign-in")
    assert "Secure" in form.headers["set-cookie"]
    r = client.post(
        "/console/sign-in",
        data={"csrf_token": csrf_of(form.text), "token": gw.token(*DPO)},
        headers={"Cookie": f"gw_console_presession={client.cookies.get('gw_console_presession')}"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("gw_console_session="))
    assert "Secure" in session and "HttpOnly" in session and "SameSite=strict" in session


def test_a_token_the_identity_provider_did_not_sign_is_refused_at_sign_in(gw: Gateway) -> None:
    form = gw.client.get("/console/sign-in")
    forged = gw.token(*DPO)[:-4] + "AAAA"
    r = gw.client.post(
        "/console/sign-in", data={"csrf_token": csrf_of(form.text), "token": forged}, follow_redirects=False
    )
    assert r.status_code == 401
    assert "There is a problem" in r.text and "The token was not accepted" in r.text
    assert not any(c.startswith("gw_console_session=") for c in r.headers.get_list("set-cookie"))
    empty = gw.client.post("/console/sign-in", data={"csrf_token": csrf_of(form.text), "token": " "})
    assert empty.status_code == 422 and "Enter your token" in empty.text


def test_sign_in_without_its_csrf_token_is_refused(gw: Gateway) -> None:
    gw.client.get("/console/sign-in")
    r = gw.client.post("/console/sign-in", data={"token": gw.token(*DPO)}, follow_redirects=False)
    assert r.status_code == 403
    assert not any(c.startswith("gw_console_session=") for c in r.headers.get_list("set-cookie"))
    gw.client.cookies.clear()
    stray = gw.client.post(
        "/console/sign-in", data={"token": gw.token(*DPO), "csrf_token": "x"}, follow_redirects=False
    )
    assert stray.status_code == 403


def test_an_expired_session_sends_the_user_back_to_sign_in(gw: Gateway) -> None:
    expired = gw.token(*DPO, ttl=dt.timedelta(minutes=-5))
    gw.client.cookies.set("gw_console_session", expired, path="/console")
    r = gw.client.get("/console/audit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("&ended=1")
    assert any(c.startswith('gw_console_session=""') for c in r.headers.get_list("set-cookie"))
    assert "Your session has ended" in gw.client.get(r.headers["location"]).text


def test_sign_out_needs_the_sessions_csrf_token_and_then_ends_the_session(gw: Gateway) -> None:
    csrf = sign_in(gw, DPO)
    assert gw.client.post("/console/sign-out", data={}, follow_redirects=False).status_code == 403
    assert gw.client.get("/console/audit", follow_redirects=False).status_code == 200
    r = gw.client.post("/console/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in?signed_out=1"
    assert gw.client.get("/console/audit", follow_redirects=False).status_code == 303


def test_the_next_address_after_sign_in_never_leaves_the_console(gw: Gateway) -> None:
    for target in (
        "https://evil.example/",
        "//evil.example/console/",
        "/v1/releases",
        "/console/../v1/purposes",
    ):
        gw.client.cookies.clear()
        form = gw.client.get("/console/sign-in")
        r = gw.client.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(form.text), "token": gw.token(*DPO), "next": target},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/console/"


# --- CSRF and roles ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", POSTS + ["/console/sign-out"])
def test_every_form_post_without_the_csrf_token_is_403_and_changes_nothing(gw: Gateway, path: str) -> None:
    sign_in(gw, OFFICER if "school" in path else STATISTICIAN if "statistics" in path
            else CASE_OFFICER if "/la/" in path else DPO)
    before = audit_size(gw)
    body = {"upn": A_UPN, "purpose": "mentoring-referral", "decision": "granted"}
    r = gw.client.post(path, data=body, follow_redirects=False)
    assert r.status_code == 403
    assert "This form has expired or was not sent from this site" in r.text
    assert audit_size(gw) == before
    assert gw.client.get("/console/", follow_redirects=False).status_code == 200  # still signed in


def test_a_csrf_token_from_another_session_is_refused(gw: Gateway) -> None:
    other = sign_in(gw, DPO)
    sign_in(gw, DPO)  # a new token, so a new session
    r = gw.client.post("/console/subject-access", data={"upn": A_UPN, "csrf_token": other})
    assert r.status_code == 403


def test_a_post_the_browser_marks_cross_site_is_refused_even_with_the_token(gw: Gateway) -> None:
    csrf = sign_in(gw, DPO)
    r = gw.client.post(
        "/console/subject-access",
        data={"upn": A_UPN, "csrf_token": csrf},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 403
    same_site = {"Sec-Fetch-Site": "same-origin"}
    assert (
        gw.client.post(
            "/console/subject-access", data={"upn": A_UPN, "csrf_token": csrf}, headers=same_site
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("who", "path", "reason"),
    [
        (OFFICER, "/console/audit", "wrong_role"),
        (OFFICER, "/console/audit/integrity", "wrong_role"),
        (OFFICER, "/console/releases/overdue", "wrong_role"),
        (OFFICER, "/console/ropa", "wrong_role"),
        (STATISTICIAN, "/console/audit/events/0", "wrong_role"),
        (STATISTICIAN, "/console/school", "wrong_organisation"),
        (DPO, "/console/school", "wrong_organisation"),
        (DPO, "/console/statistics", "wrong_role"),
        (SUBMITTER, "/console/school", "wrong_role"),
        (SUBMITTER, "/console/school/consents", "wrong_role"),
        (CASE_OFFICER, "/console/subject-access", "wrong_role"),
        (CASE_OFFICER, "/console/ropa.csv", "wrong_role"),
    ],
)
def test_a_wrong_role_is_refused_with_the_reason(
    gw: Gateway, who: tuple[str, ...], path: str, reason: str
) -> None:
    sign_in(gw, who)
    r = gw.client.get(path, follow_redirects=False)
    assert r.status_code == 403
    assert "You do not have permission" in r.text
    assert any(reason in li for li in re.findall(r"<li>(.*?)</li>", r.text))
    assert not UPN_SHAPE.search(r.text)


def test_the_home_page_offers_each_role_its_own_sections(gw: Gateway) -> None:
    sign_in(gw, DPO)
    dpo = gw.client.get("/console/").text
    assert "Audit trail" in dpo and "Subject access" in dpo and 'href="/console/school"' not in dpo
    sign_in(gw, OFFICER)
    school = gw.client.get("/console/").text
    assert 'href="/console/school"' in school and 'href="/console/audit"' not in school
    sign_in(gw, CASE_OFFICER)
    la = gw.client.get("/console/").text
    assert 'href="/console/la/ask"' in la and 'href="/console/la/releases"' in la
    assert "There is nothing in the console for your roles" not in la
    sign_in(gw, SUBMITTER)
    assert "There is nothing in the console for your roles" in gw.client.get("/console/").text


# --- the DPO console -----------------------------------------------------------------------------


def test_the_audit_trail_filters_by_decision_and_action_and_records_the_view(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    sign_in(gw, DPO)
    r = gw.client.get("/console/audit", params={"decision": "deny", "action": "release.decided"})
    assert r.status_code == 200
    rows = re.findall(r'href="/console/audit/events/(\d+)"', r.text)
    assert len(rows) == 1 and "Denied" in r.text and "Allowed" not in r.text.split("<tbody")[1]
    event = last_event(gw)
    assert event.action == "audit.events_viewed"
    assert b'"decision":"deny"' in event.entry  # the filters are recorded, exactly as through the API
    by_purpose = gw.client.get("/console/audit", params={"purpose": "la-targeting-support"}).text
    assert len(re.findall(r'href="/console/audit/events/(\d+)"', by_purpose)) == 1
    bad = gw.client.get("/console/audit", params={"from": "2025-13-01", "decision": "maybe"})
    assert (
        bad.status_code == 400
        and "From must be a real date" in bad.text
        and "Choose allowed, denied" in bad.text
    )


def test_the_audit_trail_pages_with_a_cursor(world: tuple[Gateway, World]) -> None:
    gw, _ = world
    for _ in range(40):  # each view of the pupils is an event: the log now holds more than a page
        assert (
            gw.client.get(f"/v1/schools/{CAMDEN_PRIMARY}/pupils", headers=gw.auth(*OFFICER)).status_code
            == 200
        )
    sign_in(gw, DPO)
    size = audit_size(gw)
    first = gw.client.get("/console/audit?order=oldest").text
    shown = [int(i) for i in re.findall(r'href="/console/audit/events/(\d+)"', first)]
    assert len(shown) == 50 and shown == sorted(shown)
    nxt = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', first)
    assert nxt, "a log of more than 50 events has a next page"
    second = gw.client.get("/console/audit" + html.unescape(nxt.group(1))).text
    more = [int(i) for i in re.findall(r'href="/console/audit/events/(\d+)"', second)]
    assert more and min(more) > max(shown) and more == sorted(more)
    assert "First page" in second and 'data-testid="latest"' in second
    assert re.search(r'data-testid="total">([\d,]+)<', first).group(1) == f"{size:,}"  # type: ignore[union-attr]


def test_the_audit_trail_shows_the_newest_first_with_the_total_and_a_link_to_the_latest(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    for _ in range(60):
        gw.client.get(f"/v1/schools/{CAMDEN_PRIMARY}/pupils", headers=gw.auth(*OFFICER))
    sign_in(gw, DPO)
    size = audit_size(gw)
    first = gw.client.get("/console/audit").text
    shown = [int(i) for i in re.findall(r'href="/console/audit/events/(\d+)"', first)]
    assert shown == list(range(size - 1, size - 51, -1))  # the 50 newest, newest first
    assert re.search(r'data-testid="total">([\d,]+)<', first).group(1) == f"{size:,}"  # type: ignore[union-attr]
    assert 'data-testid="latest"' not in first and 'href="?order=oldest" data-testid="order"' in first
    nxt = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', first)
    assert nxt
    second = gw.client.get("/console/audit" + html.unescape(nxt.group(1))).text
    more = [int(i) for i in re.findall(r'href="/console/audit/events/(\d+)"', second)]
    assert more == list(range(size - 51, max(size - 101, -1), -1))
    latest = re.search(r'href="([^"]+)" data-testid="latest"', second)
    assert latest and latest.group(1) == "/console/audit"
    denied = gw.client.get("/console/audit", params={"decision": "deny"}).text
    assert re.search(r'data-testid="total">1<', denied) and "1 event matches" in page_text(denied)


def test_the_audit_trail_takes_gov_uk_date_inputs_and_names_a_missing_part(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    sign_in(gw, DPO)
    today = dt.datetime.now(dt.UTC).date()
    r = gw.client.get("/console/audit", params={
        "from-day": today.day, "from-month": today.month, "from-year": today.year, "decision": "deny",
    })
    assert r.status_code == 200 and 'name="from-day"' in r.text and f'value="{today.year}"' in r.text
    assert len(re.findall(r'href="/console/audit/events/(\d+)"', r.text)) == 1
    past = gw.client.get("/console/audit", params={"to-day": 1, "to-month": 1, "to-year": 2020})
    assert "No events match these filters" in past.text
    missing = gw.client.get("/console/audit", params={"from-day": "3", "from-month": "10"})
    assert missing.status_code == 400 and "From must include a year" in missing.text
    unreal = gw.client.get(
        "/console/audit", params={"from-day": "31", "from-month": "2", "from-year": "2025"}
    )
    assert unreal.status_code == 400 and "From must be a real date, for example 3 10 2025" in unreal.text
    assert 'type="date"' not in r.text


def test_an_event_page_shows_the_event_and_proves_it_is_in_the_signed_log(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    with gw.runtime.sessions() as db:
        index = db.execute(
            select(AuditEvent.idx).where(AuditEvent.release_id == w.targeting_release)
        ).scalar_one()
    sign_in(gw, DPO)
    r = gw.client.get(f"/console/audit/events/{index}")
    assert r.status_code == 200
    text = page_text(r.text)
    assert "release.decided" in text and "la-targeting-support" in text and "la 202" in text
    assert "This entry is in the signed log" in text
    assert f'href="/console/releases/{w.targeting_release}"' in r.text
    assert gw.client.get("/console/audit/events/999999").status_code == 404
    assert gw.client.get("/console/audit/events/abc").status_code == 404


def test_a_local_authority_dpo_sees_only_events_about_its_organisation(world: tuple[Gateway, World]) -> None:
    gw, w = world
    with gw.runtime.sessions() as db:
        camden = db.execute(
            select(AuditEvent.idx).where(AuditEvent.release_id == w.targeting_release)
        ).scalar_one()
    sign_in(gw, LA_DPO)
    assert gw.client.get(f"/console/audit/events/{camden}").status_code == 404
    trail = gw.client.get("/console/audit").text
    assert "Events about organisation 211" in page_text(trail)
    assert f'href="/console/audit/events/{camden}"' not in trail


def test_the_integrity_page_shows_the_signed_head_and_verifies_the_log(world: tuple[Gateway, World]) -> None:
    gw, _ = world
    csrf = sign_in(gw, DPO)
    page = gw.client.get("/console/audit/integrity")
    assert page.status_code == 200 and "Latest signed tree head" in page.text and "Valid" in page.text
    r = gw.client.post("/console/audit/integrity", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert 'data-ok="true"' in r.text and "The audit log holds" in r.text
    assert last_event(gw).action == "audit.verified"


def test_the_verify_button_says_plainly_when_the_log_does_not_hold(world: tuple[Gateway, World]) -> None:
    gw, w = world
    with gw.runtime.sessions() as db:
        target = db.execute(
            select(AuditEvent).where(AuditEvent.release_id == w.targeting_release)
        ).scalar_one()
    altered = bytes(target.entry).replace(b'"record_count":3', b'"record_count":2')
    assert altered != bytes(target.entry)
    with as_attacker(gw.settings.database_url) as engine, engine.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.idx == target.idx).values(entry=altered))
    csrf = sign_in(gw, DPO)
    r = gw.client.post("/console/audit/integrity", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert 'data-ok="false"' in r.text and "The audit log does not hold" in r.text
    assert f"The first entry found bad is number {target.idx}" in r.text


def test_releases_overdue_for_deletion_are_listed(world: tuple[Gateway, World]) -> None:
    gw, w = world
    sign_in(gw, DPO)
    r = gw.client.get("/console/releases/overdue")
    assert r.status_code == 200
    assert w.overdue_release in r.text and w.targeting_release not in r.text
    assert "1 overdue release" in r.text
    detail = gw.client.get(f"/console/releases/{w.overdue_release}")
    assert detail.status_code == 200 and "Overdue" in detail.text and "la-severe-absence" in detail.text
    sign_in(gw, LA_DPO)
    assert w.overdue_release not in gw.client.get("/console/releases/overdue").text


def test_subject_access_takes_the_upn_in_the_body_and_lists_the_releases(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, DPO)
    r = gw.client.post("/console/subject-access", data={"upn": w.upns[3], "csrf_token": csrf})
    assert r.status_code == 200
    assert str(r.url).endswith("/console/subject-access") and w.upns[3] not in str(r.url)
    assert "2 releases included this pupil" in r.text
    assert w.targeting_release in r.text and w.overdue_release in r.text
    assert w.upns[3] not in r.text  # not even echoed back
    event = last_event(gw)
    assert event.action == "audit.subject_access" and w.upns[3].encode() not in bytes(event.entry)
    none = gw.client.post("/console/subject-access", data={"upn": w.upns[2], "csrf_token": csrf})
    assert "No release included this pupil" in none.text


def test_subject_access_with_a_malformed_upn_is_an_error_that_does_not_repeat_it(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, DPO)
    wrong = ("B" if w.upns[3][0] != "B" else "C") + w.upns[3][1:]
    before = audit_size(gw)
    r = gw.client.post("/console/subject-access", data={"upn": wrong, "csrf_token": csrf})
    assert r.status_code == 422
    assert "Enter a UPN in the correct format" in r.text and 'href="#upn"' in r.text
    assert wrong not in r.text and audit_size(gw) == before
    assert (
        "Enter the pupil"
        in gw.client.post("/console/subject-access", data={"upn": "", "csrf_token": csrf}).text
    )


def test_the_pupils_school_can_ask_for_subject_access_and_another_school_cannot(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, OFFICER)
    assert (
        "2 releases included this pupil"
        in gw.client.post("/console/subject-access", data={"upn": w.upns[4], "csrf_token": csrf}).text
    )
    csrf = sign_in(gw, OTHER_OFFICER)
    r = gw.client.post("/console/subject-access", data={"upn": w.upns[4], "csrf_token": csrf})
    assert r.status_code == 403 and "not_your_pupil" in r.text


def test_the_purposes_and_the_record_of_processing_come_from_the_live_catalogue(gw: Gateway) -> None:
    sign_in(gw, DPO)
    purposes = gw.client.get("/console/purposes")
    catalogue = gw.runtime.catalogue
    assert all(p.title in purposes.text for p in catalogue.purposes)
    ropa = gw.client.get("/console/ropa")
    assert catalogue.content_hash in ropa.text and "Records held by the gateway" in ropa.text
    csv = gw.client.get("/console/ropa.csv")
    assert csv.text == ropa_csv(catalogue)
    assert csv.headers["content-disposition"].startswith("attachment;")
    md = gw.client.get("/console/ropa.md")
    assert md.text.startswith("# Record of processing activities")
    sign_in(gw, STATISTICIAN)
    assert gw.client.get("/console/purposes").status_code == 200


# --- the school view -----------------------------------------------------------------------------


def test_the_school_sees_running_totals_and_its_persistent_and_severe_lists(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    sign_in(gw, OFFICER)
    window = {"from": WINDOW_FROM, "to": WINDOW_TO, "sort": "attendance"}

    def listed(**params: str) -> str:
        page = gw.client.get("/console/school", params={**window, **params})
        assert page.status_code == 200
        return page.text.split('data-testid="pupils"')[1].split("</table>")[0]

    severe, persistent = listed(absence="severe"), listed(absence="persistent")
    r = gw.client.get("/console/school", params={"from": WINDOW_FROM, "to": WINDOW_TO})
    everyone = r.text.split('data-testid="pupils"')[1].split("</table>")[0]
    names = re.compile(r'<th scope="row" class="govuk-table__header">(Surname\d),')
    assert names.findall(severe) == ["Surname4", "Surname3"]  # lowest attendance first
    assert names.findall(persistent) == ["Surname4", "Surname3", "Surname1"]
    assert names.findall(everyone) == ["Surname1", "Surname2", "Surname3", "Surname4"]
    assert w.upns[51] not in r.text  # Tower Hamlets' pupil
    assert "90.0%" in everyone and "95.0%" in everyone
    event = last_event(gw)
    assert event.action == "pupils.viewed" and event.actor_org_id == str(CAMDEN_PRIMARY)
    assert gw.client.get("/console/school", params={"from": "someday"}).status_code == 400


def test_recording_consent_gives_a_receipt_and_the_same_audit_event_as_the_api(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, OFFICER)
    start = gw.client.post("/console/school/consents/start", data={"upn": w.upns[3], "csrf_token": csrf})
    assert start.status_code == 200 and f'value="{w.upns[3]}"' in start.text
    r = gw.client.post(
        "/console/school/consents",
        data={
            "upn": w.upns[3],
            "purpose": "la-targeting-support",
            "decision": "objected",
            "evidence": "Letter of 5 October",
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 200, r.text
    assert "Decision recorded" in r.text and "Objection" in r.text
    receipt = re.search(r"cr_[0-9a-f]{32}", r.text)
    assert receipt
    event = last_event(gw)
    assert event.action == "consent.recorded" and event.purpose == "la-targeting-support"
    assert w.upns[3].encode() not in bytes(event.entry)
    with gw.runtime.sessions() as db:
        stored = db.execute(
            select(ConsentRecord).where(ConsentRecord.receipt_id == receipt.group(0))
        ).scalar_one()
    assert stored.decision == "objected" and stored.recorded_by_urn == CAMDEN_PRIMARY
    listed = gw.client.get("/console/school/consents").text
    assert receipt.group(0) in listed and "Objected" in listed


CONSENT_PROBLEMS = [
    ({"upn": "", "purpose": "mentoring-referral", "decision": "granted"}, "upn", "Enter the pupil", 422),
    ({"purpose": "mentoring-referral", "decision": "granted"}, "upn", "Enter the pupil", 422),
    ({"upn": "A123", "purpose": "mentoring-referral", "decision": "granted"}, "upn", "correct format", 422),
    (
        {"upn": "@51", "purpose": "mentoring-referral", "decision": "granted"},
        "upn",
        "not on your school",
        403,
    ),
    (
        {"upn": "@2", "purpose": "dfe-statistics", "decision": "objected"},
        "purpose",
        "Choose the purpose",
        422,
    ),
    (
        {"upn": "@2", "purpose": "mentoring-referral", "decision": "maybe"},
        "decision",
        "Choose what the parent",
        422,
    ),
    (
        {"upn": "@2", "purpose": "la-targeting-support", "decision": "granted"},
        "decision",
        "does not take",
        422,
    ),
    (
        {"upn": "@2", "purpose": "mentoring-referral", "decision": "granted", "evidence": "x" * 2001},
        "evidence",
        "2,000",
        422,
    ),
    (
        {"upn": "@2", "purpose": "mentoring-referral", "decision": "granted", "evidence": "Form\x00 signed"},
        "evidence",
        "control characters",
        422,
    ),
]


def test_a_consent_form_with_a_problem_says_which_field_and_records_nothing(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, OFFICER)
    with gw.runtime.sessions() as db:
        before = db.execute(select(func.count()).select_from(ConsentRecord)).scalar_one()
    for body, field, message, status in CONSENT_PROBLEMS:
        if body.get("upn", "").startswith("@"):
            body = {**body, "upn": w.upns[int(body["upn"][1:])]}
        r = gw.client.post("/console/school/consents", data={**body, "csrf_token": csrf})
        assert r.status_code == status, (body, r.status_code)
        assert "There is a problem" in r.text and f'href="#{field}"' in r.text and message in r.text, body
        assert "<title>Error: " in r.text
    with gw.runtime.sessions() as db:
        assert db.execute(select(func.count()).select_from(ConsentRecord)).scalar_one() == before


# --- every page: no UPN in an address, headers, static files, logs --------------------------------


def test_no_page_puts_a_upn_in_an_address(world: tuple[Gateway, World]) -> None:
    gw, w = world
    seen: list[str] = []
    get_fields: list[str] = []

    def visit(html: str) -> None:
        found = links(html)
        seen.extend(found.urls)
        get_fields.extend(found.get_form_fields)

    for who, paths in (
        (
            DPO,
            [
                "/console/",
                "/console/audit",
                "/console/audit/integrity",
                "/console/releases/overdue",
                "/console/subject-access",
                "/console/ropa",
                "/console/purposes",
                f"/console/releases/{w.overdue_release}",
            ],
        ),
        (
            OFFICER,
            ["/console/", f"/console/school?from={WINDOW_FROM}&to={WINDOW_TO}", "/console/school/consents"],
        ),
        (
            CASE_OFFICER,
            ["/console/", "/console/la/ask", "/console/la/ask/la-severe-absence", "/console/la/releases",
             f"/console/la/releases/{w.targeting_release}"],
        ),
    ):
        csrf = sign_in(gw, who)
        for path in paths:
            r = gw.client.get(path)
            assert r.status_code == 200, path
            visit(r.text)
        if who == DPO:
            for i in range(0, audit_size(gw), 7):
                visit(gw.client.get(f"/console/audit/events/{i}").text)
            visit(gw.client.post("/console/subject-access", data={"upn": w.upns[3], "csrf_token": csrf}).text)
        elif who == CASE_OFFICER:
            made = gw.client.post("/console/la/ask/la-severe-absence", data=ask_form(csrf))
            assert made.status_code == 201 and w.upns[3] in made.text  # in the page, never in an address
            visit(made.text)
        else:
            visit(
                gw.client.post(
                    "/console/school/consents/start", data={"upn": w.upns[2], "csrf_token": csrf}
                ).text
            )
    assert seen
    offenders = [u for u in seen if UPN_SHAPE.search(u) or any(upn in u for upn in w.upns.values())]
    assert offenders == []
    assert "upn" not in get_fields


def test_console_pages_carry_security_headers_and_are_not_cached(gw: Gateway) -> None:
    r = gw.client.get("/console/sign-in")
    policy = r.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy and "unsafe" not in policy
    # Every script is a file of this origin: none inline (JSON data blocks are not run).
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
    assert scripts and all('src="/console/static/' in attrs and not body.strip() for attrs, body in scripts)
    init = re.search(r'<script type="module" src="(/console/static/init\.js\?v=[0-9a-f]+)"', r.text)
    assert init
    module = gw.client.get(init.group(1))
    assert module.headers["content-type"].startswith("text/javascript") and "initAll()" in module.text
    imported = re.search(r"from '\./(vendor/govuk-frontend-5\.14\.0/govuk-frontend\.min\.js)'", module.text)
    assert imported and gw.client.get("/console/static/" + imported.group(1)).status_code == 200
    assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    css_href = re.search(r'href="(/console/static/console\.css\?v=[0-9a-f]+)"', r.text)
    assert css_href
    css = gw.client.get(css_href.group(1))
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "immutable" in css.headers["cache-control"]
    assert gw.client.get("/console/static/..%2Fweb.py").status_code == 404
    assert gw.client.get("/console/static/missing.js").status_code == 404


def test_no_identifier_reaches_the_logs_through_the_console(
    world: tuple[Gateway, World], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, w = world
    capsys.readouterr()
    csrf = sign_in(gw, OFFICER)
    gw.client.get("/console/school", params={"from": WINDOW_FROM, "to": WINDOW_TO})
    gw.client.post(
        "/console/school/consents",
        data={"upn": w.upns[2], "purpose": "mentoring-referral", "decision": "granted", "csrf_token": csrf},
    )
    gw.client.post(
        "/console/school/consents",
        data={"upn": w.upns[51], "purpose": "mentoring-referral", "decision": "granted", "csrf_token": csrf},
    )
    gw.client.post("/console/subject-access", data={"upn": w.upns[1], "csrf_token": csrf})
    csrf = sign_in(gw, DPO)
    gw.client.post("/console/subject-access", data={"upn": w.upns[3], "csrf_token": csrf})
    gw.client.post("/console/subject-access", data={"upn": "Z" + w.upns[3][1:], "csrf_token": csrf})
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert "console_signed_in" in log and "request" in log
    for needle in [*w.upns.values(), "Surname1", "Surname2", "Forename3", "2015-03-14"]:
        assert needle not in log


# --- the DfE dashboard ---------------------------------------------------------------------------

QUESTION = {"measure": "enrolments", "by": "phase", "from": "2025-10-06", "to": "2025-10-17"}


def test_the_statistician_sees_a_chart_with_intervals_the_table_and_the_budget(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    csrf = sign_in(gw, STATISTICIAN)
    page = gw.client.get("/console/statistics")
    assert page.status_code == 200 and 'data-testid="budget"' in page.text and "Show statistics" in page.text
    r = gw.client.post("/console/statistics", data={**QUESTION, "csrf_token": csrf})
    assert r.status_code == 200, r.text
    assert "Enrolments by phase" in r.text and "This answer spent" in r.text
    svg = r.text.split('data-testid="chart"')[1].split("</svg>")[0]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count("<g>") == 3 and "95% interval" in svg
    table = r.text.split('data-testid="stats-table"')[1].split("</table>")[0]
    assert re.findall(r'<th scope="row" class="govuk-table__header">(\w+)</th>', table) == [
        "Primary",
        "Secondary",
        "Special",
    ]
    with gw.runtime.sessions() as db:
        events = db.execute(select(AuditEvent).order_by(AuditEvent.idx.desc()).limit(2)).scalars().all()
    # The answer, then the budget the page shows beside it (every view of the budget is recorded).
    assert [e.action for e in events] == ["budget.viewed", "stats.released"]
    assert events[1].purpose == "dfe-statistics"
    spent = re.search(r'data-testid="budget-spent">(.*?)<br>', r.text)
    assert spent and spent.group(1) != "ε 0.000"
    again = gw.client.post("/console/statistics", data={**QUESTION, "csrf_token": csrf})
    assert "Asked before" in again.text
    assert re.search(r'data-testid="budget-spent">(.*?)<br>', again.text).group(1) == spent.group(1)  # type: ignore[union-attr]


def test_the_statistician_downloads_the_answer_as_csv_without_spending_again(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    csrf = sign_in(gw, STATISTICIAN)
    shown = gw.client.post("/console/statistics", data={**QUESTION, "csrf_token": csrf})
    release_id = re.search(r"st_[0-9a-f]{32}", shown.text).group(0)  # type: ignore[union-attr]
    r = gw.client.post("/console/statistics.csv", data={**QUESTION, "csrf_token": csrf})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert (
        r.headers["content-disposition"]
        == 'attachment; filename="enrolments-2025-10-06-2025-10-17-by-phase.csv"'
    )
    rows = r.text.splitlines()
    assert (
        rows[0]
        == "release_id,measure,period_start,period_end,phase,value,lower95,upper95,unit,reliability,mechanism"
    )
    assert [row.split(",")[4] for row in rows[1:]] == ["primary", "secondary", "special"]
    assert all(row.startswith(release_id + ",enrolments,2025-10-06,2025-10-17,") for row in rows[1:])
    with gw.runtime.sessions() as db:
        spends = db.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "budget.spent")
        ).scalar_one()
    assert spends == 1


def test_a_question_with_a_problem_is_named_on_its_field(world: tuple[Gateway, World]) -> None:
    gw, _ = world
    csrf = sign_in(gw, STATISTICIAN)
    bad = gw.client.post(
        "/console/statistics",
        data={"measure": "happiness", "by": "shoe_size", "from": "soon", "csrf_token": csrf},
    )
    assert bad.status_code == 422
    # A date's problem links to the part to correct (GOV.UK's date input): all three, for "soon".
    for target in ("measure", "by", "from-day"):
        assert f'href="#{target}"' in bad.text
    future = gw.client.post("/console/statistics", data={**QUESTION, "to": "2099-01-01", "csrf_token": csrf})
    assert (
        future.status_code == 422
        and 'href="#to"' in future.text
        and "must not end after today" in future.text
    )


def test_only_dfe_statisticians_use_the_dashboard(gw: Gateway) -> None:
    csrf = sign_in(gw, ("la", "202", "statistician"))
    r = gw.client.get("/console/statistics")
    assert r.status_code == 403 and "wrong_organisation" in r.text
    assert gw.client.post("/console/statistics", data={**QUESTION, "csrf_token": csrf}).status_code == 403
    sign_in(gw, DPO)
    assert gw.client.get("/console/statistics").status_code == 403


# --- the local authority's case officer ------------------------------------------------------------

OTHER_CASE_OFFICER = ("la", "211", "case_officer")


def ask_form(csrf: str, **overrides: object) -> dict[str, object]:
    """The ask form for the seeded window (6 to 17 October 2025), acknowledged."""
    body: dict[str, object] = {
        "csrf_token": csrf,
        "from-day": "6", "from-month": "10", "from-year": "2025",
        "to-day": "17", "to-month": "10", "to-year": "2025",
        "justification": "Autumn term targeting support meeting with each school",
        "acknowledged": "yes",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_the_case_officers_home_names_the_la_from_the_register_and_lists_its_schools_and_releases(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    sign_in(gw, CASE_OFFICER)
    r = gw.client.get("/console/")
    assert r.status_code == 200
    assert "There is nothing in the console" not in r.text
    name = re.search(r'data-testid="la-name">([^<]+)<', r.text)
    assert name and name.group(1) == "Camden"
    schools = r.text.split('data-testid="schools"')[1].split("</table>")[0]
    assert "100001" in schools and "100003" not in schools  # Tower Hamlets' school is not Camden's
    releases = r.text.split('data-testid="releases"')[1].split("</table>")[0]
    assert w.targeting_release in releases and w.overdue_release in releases
    assert 'href="/console/la/ask"' in r.text


def test_the_ask_page_shows_each_la_purpose_with_what_why_basis_retention_and_acknowledgement(
    gw: Gateway,
) -> None:
    sign_in(gw, CASE_OFFICER)
    r = gw.client.get("/console/la/ask")
    assert r.status_code == 200
    la_purposes = [p for p in gw.runtime.catalogue.purposes if p.requester.org_type == "la"]
    assert la_purposes
    text = html.unescape(r.text)
    for p in la_purposes:
        assert f'href="/console/la/ask/{p.id}"' in r.text
        assert p.acknowledgement in text and p.retention.describe() in text
        assert p.lawful_basis.article in text and p.description in text
    assert 'href="/console/la/ask/transition-y6-y7"' not in r.text
    form = gw.client.get("/console/la/ask/la-targeting-support")
    assert form.status_code == 200 and 'name="acknowledged"' in form.text
    assert gw.client.get("/console/la/ask/dfe-statistics").status_code == 404
    assert gw.client.get("/console/la/ask/no-such-purpose").status_code == 404


def test_asking_in_the_console_makes_the_release_through_the_same_service_and_audit_as_the_api(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, CASE_OFFICER)
    before = audit_size(gw)
    r = gw.client.post("/console/la/ask/la-severe-absence", data=ask_form(csrf, schools=str(CAMDEN_PRIMARY)))
    assert r.status_code == 201, r.text
    release_id = re.search(r'data-testid="release-id">(rel_[0-9a-f]{32})<', r.text)
    assert release_id
    event = last_event(gw)
    assert audit_size(gw) == before + 1
    assert event.action == "release.decided" and event.decision == "allow"
    assert event.release_id == release_id.group(1) and event.actor_org_id == "202"
    assert b'"record_count":2' in bytes(event.entry) and b'"schools":[100001]' in bytes(event.entry)
    text = page_text(r.text)
    assert "Severe absence casework (la-severe-absence)" in text
    assert "Autumn term targeting support meeting with each school" in text  # the justification
    assert "6 October 2025 to 17 October 2025" in text
    assert "for lack of consent: 0; for a parent's objection: 0" in html.unescape(text)
    records = r.text.split('data-testid="records"')[1].split("</table>")[0]
    assert w.upns[3] in records and w.upns[4] in records and w.upns[1] not in records
    assert 'data-field="upn"' in records and 'data-value="0.4"' in records  # pupil 4 attended 40%
    assert "release.js" in r.text and "script-src 'self'" in r.headers["content-security-policy"]
    assert w.upns[3] not in str(r.url)


def test_the_console_refuses_a_request_without_the_acknowledgement_and_decides_nothing(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    csrf = sign_in(gw, CASE_OFFICER)
    before = audit_size(gw)
    r = gw.client.post("/console/la/ask/la-targeting-support", data=ask_form(csrf, acknowledged=None))
    assert r.status_code == 422
    assert 'href="#acknowledged-yes"' in r.text and "Tick the box to accept" in r.text
    assert "Autumn term targeting support" in r.text  # what was typed is kept
    bad_date = gw.client.post(
        "/console/la/ask/la-targeting-support", data=ask_form(csrf, **{"from-month": "13"})
    )
    # The error summary links to the part to correct, the month (GOV.UK's date input pattern).
    assert bad_date.status_code == 422 and 'href="#from-month"' in bad_date.text and "real date" in bad_date.text
    part = gw.client.post("/console/la/ask/la-targeting-support", data=ask_form(csrf, **{"to-year": ""}))
    assert part.status_code == 422 and "must include a year" in part.text
    school = gw.client.post("/console/la/ask/la-targeting-support", data=ask_form(csrf, schools="abc"))
    assert school.status_code == 422 and 'href="#schools"' in school.text
    long = gw.client.post(
        "/console/la/ask/la-targeting-support", data=ask_form(csrf, justification="x" * 2001)
    )
    assert long.status_code == 422 and "2,000 characters" in long.text
    assert audit_size(gw) == before


def test_a_denied_console_request_shows_the_reasons_and_is_audited_as_a_denial(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    csrf = sign_in(gw, CASE_OFFICER)
    r = gw.client.post(
        "/console/la/ask/la-severe-absence",
        data=ask_form(csrf, schools="100003", justification="too short"),
    )
    assert r.status_code == 403
    assert 'href="#schools"' in r.text and "other_la_school" in r.text
    assert 'href="#justification"' in r.text and "justification_too_short" in r.text
    event = last_event(gw)
    assert event.action == "release.decided" and event.decision == "deny"
    assert event.release_id is None


def test_the_release_page_shows_the_metadata_and_says_the_records_are_not_kept(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    sign_in(gw, CASE_OFFICER)
    before = audit_size(gw)
    r = gw.client.get(f"/console/la/releases/{w.targeting_release}")
    assert r.status_code == 200
    text = page_text(html.unescape(r.text))
    assert "Targeting support meetings (la-targeting-support)" in text
    assert JUSTIFICATION in text and "3" in text.split("Records")[1][:10]
    assert "The gateway keeps no copy of the records" in text
    assert 'data-testid="records"' not in r.text  # metadata only, as GET /v1/releases/{id}
    # Recorded as the API's read of a release is: allowed, naming the release and no records.
    viewed = last_event(gw)
    assert audit_size(gw) == before + 1 and viewed.action == "release.viewed" and viewed.decision == "allow"
    assert viewed.release_id == w.targeting_release and b'"record_count":0' in bytes(viewed.entry)
    overdue = gw.client.get(f"/console/la/releases/{w.overdue_release}")
    assert "Overdue for deletion" in overdue.text and 'data-testid="overdue-warning"' in overdue.text


def test_the_releases_list_shows_each_stage_and_highlights_overdue_releases(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    with gw.runtime.sessions() as db, db.begin():
        db.execute(
            update(Release)
            .where(Release.id == w.targeting_release)
            .values(expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=10))
        )
    sign_in(gw, CASE_OFFICER)
    r = gw.client.get("/console/la/releases")
    assert r.status_code == 200
    stages = dict(re.findall(r'data-release="(rel_[0-9a-f]+)" data-stage="(\w+)"', r.text))
    assert stages == {w.targeting_release: "expiring", w.overdue_release: "expired"}
    overdue_row = re.search(rf'<tr class="govuk-table__row app-row--overdue" data-release="{w.overdue_release}"', r.text)
    assert overdue_row and "Overdue for deletion" in r.text and "3 days overdue" in r.text
    assert "Expiring soon" in r.text and ("10 days left" in r.text or "9 days left" in r.text)


def test_attesting_deletion_in_the_console_goes_through_the_service_and_is_audited(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, CASE_OFFICER)
    path = f"/console/la/releases/{w.overdue_release}/deletion"
    assert gw.client.post(path, data={}, follow_redirects=False).status_code == 403  # no CSRF token
    r = gw.client.post(path, data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/la/releases/{w.overdue_release}?attested=1"
    event = last_event(gw)
    assert event.action == "release.deleted" and event.release_id == w.overdue_release
    assert b'"overdue":true' in bytes(event.entry)
    page = gw.client.get(r.headers["location"])
    assert "Deletion attested" in page.text and "Deleted" in page.text
    api = gw.client.get(f"/v1/releases/{w.overdue_release}", headers=gw.auth(*CASE_OFFICER)).json()
    assert api["status"] == "deleted"
    again = gw.client.post(path, data={"csrf_token": csrf})
    assert again.status_code == 409
    listed = gw.client.get("/console/la/releases").text
    assert re.search(rf'data-release="{w.overdue_release}" data-stage="deleted"', listed)


def test_another_la_cannot_see_or_attest_a_release_and_a_school_officer_is_refused_la_pages(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, OTHER_CASE_OFFICER)
    # Another LA's release is refused as the API refuses it (403 not_recipient), and each refusal recorded.
    before = audit_size(gw)
    seen = gw.client.get(f"/console/la/releases/{w.targeting_release}")
    assert seen.status_code == 403 and "not_recipient" in seen.text and audit_size(gw) == before + 1
    r = gw.client.post(f"/console/la/releases/{w.targeting_release}/deletion", data={"csrf_token": csrf})
    assert r.status_code == 403 and "not_recipient" in r.text and audit_size(gw) == before + 2
    home = gw.client.get("/console/")
    assert "Tower Hamlets" in home.text and w.targeting_release not in home.text
    assert w.targeting_release not in gw.client.get("/console/la/releases").text
    csrf = sign_in(gw, OFFICER)
    before = audit_size(gw)
    for path in ("/console/la/ask", "/console/la/ask/la-targeting-support", "/console/la/releases",
                 f"/console/la/releases/{w.targeting_release}"):
        refused = gw.client.get(path)
        assert refused.status_code == 403, path
        assert "wrong_organisation" in refused.text and "wrong_role" in refused.text
        assert last_event(gw).action == "access.denied" and last_event(gw).decision == "deny"
    assert audit_size(gw) == before + 4  # each refusal recorded
    # A complete request from anyone else reaches the decision point, whose refusal is recorded.
    posted = gw.client.post("/console/la/ask/la-targeting-support", data=ask_form(csrf))
    assert posted.status_code == 403 and "wrong_org_type" in posted.text
    assert audit_size(gw) == before + 5
    denied = last_event(gw)
    assert denied.action == "release.decided" and denied.decision == "deny"
    assert denied.actor_org_id == str(CAMDEN_PRIMARY)
    incomplete = gw.client.post(
        "/console/la/ask/la-targeting-support", data=ask_form(csrf, acknowledged=None)
    )
    # Incomplete, nothing is decided but who may ask: that refusal is recorded.
    assert incomplete.status_code == 403 and audit_size(gw) == before + 6
    assert last_event(gw).action == "access.denied"
    school_purpose = gw.client.post("/console/la/ask/transition-y6-y7", data=ask_form(csrf))
    assert school_purpose.status_code == 404


def test_policy_explain_gives_the_same_decision_and_reasons_before_the_console_is_asked(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    explained = CliRunner().invoke(main, [
        "policy", "explain", "--org-type", "la", "--org-id", "202", "--role", "case_officer",
        "--purpose", "la-severe-absence", "--school", "100003", "--school-la", "100003=211",
        "--from", "2025-10-06", "--to", "2025-10-17", "--justification", "too short",
    ])
    assert explained.exit_code == 1 and explained.output.startswith("decision: deny")
    reasons = [line[4:] for line in explained.output.splitlines() if line.startswith("  - ")]
    csrf = sign_in(gw, CASE_OFFICER)
    r = gw.client.post(
        "/console/la/ask/la-severe-absence",
        data=ask_form(csrf, schools="100003", justification="too short"),
    )
    assert r.status_code == 403
    event_reasons = orjson.loads(bytes(last_event(gw).entry))["reasons"]
    assert sorted(event_reasons) == sorted(reasons)
    shown = html.unescape(page_text(r.text))
    for reason in reasons:
        code, _, text = reason.partition(":")
        assert f"{text.strip().capitalize()} ({code})" in shown
    allowed = CliRunner().invoke(main, [
        "policy", "explain", "--org-type", "la", "--org-id", "202", "--role", "case_officer",
        "--purpose", "la-severe-absence", "--from", "2025-10-06", "--to", "2025-10-17",
    ])
    purpose = next(p for p in gw.runtime.catalogue.purposes if p.id == "la-severe-absence")
    assert allowed.exit_code == 0 and purpose.acknowledgement in allowed.output
    form = html.unescape(gw.client.get("/console/la/ask/la-severe-absence").text)
    assert f'data-testid="acknowledgement">{purpose.acknowledgement}<' in form


def test_the_site_root_leads_to_the_console(gw: Gateway) -> None:
    r = gw.client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/console/"
    assert gw.client.get("/").url.path == "/console/sign-in"


@pytest.mark.parametrize("path", ["/console/no-such-page", "/console/la/nothing/here", "/nothing", "/v2/x"])
def test_an_unknown_address_gets_the_consoles_own_404_page(gw: Gateway, path: str) -> None:
    r = gw.client.get(path)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text and 'href="/console/"' in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_the_apis_unknown_addresses_and_wrong_methods_stay_json(gw: Gateway) -> None:
    r = gw.client.get("/v1/no-such-thing")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    wrong = gw.client.delete("/v1/purposes", headers=gw.auth(*DPO))
    assert wrong.status_code == 405 and wrong.headers["content-type"] == "application/json"


def test_a_signed_in_user_keeps_the_navigation_on_the_404_page(gw: Gateway) -> None:
    sign_in(gw, DPO)
    r = gw.client.get("/console/no-such-page")
    assert r.status_code == 404 and 'href="/console/audit"' in r.text and "Sign out" in r.text


def test_the_api_docs_need_no_internet(gw: Gateway) -> None:
    r = gw.client.get("/docs")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    assert "cdn." not in r.text and "https://" not in r.text.split("<body>")[0]
    assets = re.findall(r'(?:href|src)="(/console/static/vendor/swagger-ui-dist-[^"]+)"', r.text)
    assert len(assets) == 3
    for asset in assets:
        served = gw.client.get(asset)
        assert served.status_code == 200 and "immutable" in served.headers["cache-control"]
    assert gw.client.get("/openapi.json").status_code == 200


def test_the_event_page_shows_the_justification_and_details_as_readable_rows(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    with gw.runtime.sessions() as db:
        index = db.execute(
            select(AuditEvent.idx).where(AuditEvent.release_id == w.targeting_release)
        ).scalar_one()
    sign_in(gw, DPO)
    r = gw.client.get(f"/console/audit/events/{index}")
    assert r.status_code == 200
    justification = re.search(r'data-testid="justification">([^<]+)<', r.text)
    assert justification and html.unescape(justification.group(1)) == JUSTIFICATION
    details = page_text(r.text.split("<h2 class=\"govuk-heading-m\">Details</h2>")[1])
    assert "from 1 September 2025" in details and "to 31 October 2025" in details  # dates as dates
    assert "<li>pupil_ref</li><li>school_urn</li>" in r.text  # lists as lists
    assert '"pupil_ref"' not in r.text  # no JSON left
    release = gw.client.get(f"/console/releases/{w.targeting_release}")
    assert f'data-testid="justification">{JUSTIFICATION}<' in html.unescape(release.text)


def test_an_event_that_is_not_a_decision_has_no_decision_tag(world: tuple[Gateway, World]) -> None:
    gw, _ = world
    sign_in(gw, DPO)
    trail = gw.client.get("/console/audit", params={"action": "feed.accepted"})
    assert trail.status_code == 200 and "feed.accepted" in trail.text
    assert ">None<" not in trail.text and "not a decision" in trail.text


def test_the_inclusion_proof_downloads_as_json_that_verifies_offline(world: tuple[Gateway, World]) -> None:
    from audit.merkle import leaf_hash, verify_inclusion

    gw, w = world
    with gw.runtime.sessions() as db:
        index = db.execute(
            select(AuditEvent.idx).where(AuditEvent.release_id == w.targeting_release)
        ).scalar_one()
    sign_in(gw, DPO)
    page = gw.client.get(f"/console/audit/events/{index}")
    assert f'href="/console/audit/events/{index}/proof.json"' in page.text
    r = gw.client.get(f"/console/audit/events/{index}/proof.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    disposition = f'attachment; filename="audit-event-{index}-inclusion-proof.json"'
    assert r.headers["content-disposition"] == disposition
    proof = r.json()
    leaf = leaf_hash(proof["entry_canonical_json"].encode())
    assert leaf.hex() == proof["leaf_hash"] and proof["entry"]["release_id"] == w.targeting_release
    head = proof["tree_head"]
    assert verify_inclusion(
        leaf, index, head["tree_size"], [bytes.fromhex(p) for p in proof["inclusion_proof"]["audit_path"]],
        bytes.fromhex(head["root_hash"]),
    )
    assert gw.client.get("/console/audit/events/999999/proof.json").status_code == 404
    sign_in(gw, OFFICER)
    assert gw.client.get(f"/console/audit/events/{index}/proof.json").status_code == 403


def test_the_filtered_trail_downloads_as_csv_and_the_download_is_recorded(
    world: tuple[Gateway, World],
) -> None:
    gw, _ = world
    sign_in(gw, DPO)
    trail = gw.client.get("/console/audit", params={"decision": "deny", "action": "release.decided"})
    assert 'href="/console/audit.csv?decision=deny&amp;action=release.decided"' in trail.text
    r = gw.client.get("/console/audit.csv", params={"decision": "deny", "action": "release.decided"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:4] == ["index", "occurred_at", "action", "actor_org_type"]
    assert len(rows) == 2 and rows[1][2] == "release.decided" and rows[1][7] == "deny"
    assert "other_la_school" in rows[1][8]
    event = last_event(gw)
    assert event.action == "audit.events_viewed" and b'"decision":"deny"' in bytes(event.entry)
    bad = gw.client.get("/console/audit.csv", params={"from": "2025-13-01"})
    assert bad.status_code == 422
    sign_in(gw, OFFICER)
    assert gw.client.get("/console/audit.csv").status_code == 403


def test_asking_for_the_csv_makes_one_release_whose_file_holds_its_records(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    csrf = sign_in(gw, CASE_OFFICER)
    form = gw.client.get("/console/la/ask/la-severe-absence").text
    assert 'formaction="/console/la/ask/la-severe-absence.csv"' in form
    before = audit_size(gw)
    r = gw.client.post("/console/la/ask/la-severe-absence.csv", data=ask_form(csrf))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    event = last_event(gw)
    assert audit_size(gw) == before + 1 and event.action == "release.decided" and event.decision == "allow"
    disposition = r.headers["content-disposition"]
    name = f"la-severe-absence-2025-10-06-2025-10-17-{event.release_id}.csv"
    assert disposition == f'attachment; filename="{name}"'
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["upn", "forename", "surname"] and rows[0][-1] == "attendance_rate"
    assert sorted(row[0] for row in rows[1:]) == sorted([w.upns[3], w.upns[4]])
    assert {row[-1] for row in rows[1:]} == {"0.5", "0.4"}
    refused = gw.client.post("/console/la/ask/la-severe-absence.csv", data=ask_form(csrf, acknowledged=None))
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    assert "content-disposition" not in refused.headers and audit_size(gw) == before + 1
