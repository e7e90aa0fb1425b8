"""Every route refuses the wrong role and the wrong organisation, and every refusal is in the audit log.

The test walks the application's routes, so that a route added without a case here fails it: each
route is asked by a valid token of someone who may not use it (another school, another LA, the wrong
role), and must answer 403 with the decision's reasons and leave exactly one new audit event, a
denial naming the actor and the reasons, with no personal data in it. Routes anyone may use (health,
the log's public keys, the purpose catalogue, the console's sign-in and home pages) are listed
apart, each with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.db.models import AuditEvent, Register
from gateway.main import create_app
from gateway.runtime import build_runtime
from gateway.settings import Settings
from tests.api.test_console import sign_in
from tests.api.test_releases import JUSTIFICATION, WINDOW
from tests.conftest import Gateway
from tests.e2e.seed import CAMDEN_PRIMARY, TOWER_HAMLETS_PRIMARY, World, seed
from tests.factories import feed_json, pupil

#: Who may use these without any role: docs/design.md's "anyone" and "any authenticated user" routes, and
#: the console's own machinery (sign-in, static files, the home page listing what the viewer may do).
OPEN_TO_ALL = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v1/audit/keys"),
    ("GET", "/v1/purposes"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/"),  # a redirect to the console
    ("GET", "/console"),
    ("GET", "/console/static/{name:path}"),
    ("GET", "/console/sign-in"),
    ("POST", "/console/sign-in"),
    ("POST", "/console/sign-out"),
    ("GET", "/console/"),
    ("GET", "/console/purposes"),
}

Who = tuple[str, str, str]
OTHER_SCHOOL_OFFICER: Who = ("school", str(TOWER_HAMLETS_PRIMARY), "attendance_officer")
OWN_SCHOOL_OFFICER: Who = ("school", str(CAMDEN_PRIMARY), "attendance_officer")
OTHER_SCHOOL_SUBMITTER: Who = ("school", str(TOWER_HAMLETS_PRIMARY), "feed_submitter")
CASE_OFFICER: Who = ("la", "202", "case_officer")
OTHER_LA: Who = ("la", "211", "case_officer")
LA_DPO: Who = ("la", "211", "dpo")
LA_STATISTICIAN: Who = ("la", "202", "statistician")
DFE_STATISTICIAN: Who = ("dfe", "dfe", "statistician")
TRUST_OFFICER: Who = ("trust", "4021", "trust_officer")
OWN_SCHOOL_SUBMITTER: Who = ("school", str(CAMDEN_PRIMARY), "feed_submitter")
SCHOOL = f"/v1/schools/{CAMDEN_PRIMARY}"
REGISTER = f"{SCHOOL}/attendance/2025-10-06"
CLOSED_SCHOOL = 100004  # "Closed" in the test register of schools (tests/factories.py)


@dataclass(frozen=True)
class Case:
    """One refused request: who asks, and what (the address may name the seeded world's releases)."""

    who: Who
    reason: str  # the code the refusal must give
    path: str | Callable[[World], str] = ""
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    form: dict[str, str] | None = None  # a console form (the CSRF token is added)

    def address(self, world: World, template: str) -> str:
        if callable(self.path):
            return self.path(world)
        return self.path or template


def _upn(serial: int) -> Callable[[World], str]:
    return lambda world: world.upns[serial]


def _release(world: World) -> str:
    return f"/v1/releases/{world.targeting_release}"


CASES: dict[tuple[str, str], list[Case]] = {
    ("PUT", "/v1/schools/{urn}/attendance/{date}"): [
        Case(OTHER_SCHOOL_SUBMITTER, "wrong_organisation", REGISTER, json={"pupils": []}),
        Case(OWN_SCHOOL_OFFICER, "wrong_role", REGISTER, json={"pupils": []}),
    ],
    ("GET", "/v1/schools/{urn}/pupils"): [
        Case(OTHER_SCHOOL_OFFICER, "wrong_organisation", f"{SCHOOL}/pupils"),
        Case(("school", str(CAMDEN_PRIMARY), "feed_submitter"), "wrong_role", f"{SCHOOL}/pupils"),
    ],
    ("GET", "/v1/schools/{urn}/report"): [
        Case(OTHER_SCHOOL_OFFICER, "wrong_organisation", f"{SCHOOL}/report"),
        Case(OWN_SCHOOL_SUBMITTER, "wrong_role", f"{SCHOOL}/report"),
        Case(OTHER_LA, "wrong_organisation", f"{SCHOOL}/report"),  # refused once its LA is read
        Case(TRUST_OFFICER, "wrong_organisation", f"{SCHOOL}/report"),  # a school in no trust
        Case(DFE_STATISTICIAN, "wrong_organisation", f"{SCHOOL}/report"),
    ],
    ("GET", "/v1/trusts/{uid}/schools"): [
        Case(TRUST_OFFICER, "wrong_organisation", "/v1/trusts/5000/schools"),
        Case(CASE_OFFICER, "wrong_organisation", "/v1/trusts/4021/schools"),
    ],
    ("GET", "/v1/las/{la}/schools"): [
        Case(OTHER_LA, "wrong_organisation", "/v1/las/202/schools"),
        Case(TRUST_OFFICER, "wrong_organisation", "/v1/las/202/schools"),
    ],
    ("GET", "/v1/abie"): [Case(CASE_OFFICER, "wrong_organisation")],
    ("GET", "/v1/schools/{urn}/pupils-at-risk"): [
        Case(OTHER_SCHOOL_OFFICER, "wrong_organisation", f"{SCHOOL}/pupils-at-risk"),
        Case(("school", str(CAMDEN_PRIMARY), "feed_submitter"), "wrong_role", f"{SCHOOL}/pupils-at-risk"),
        Case(CASE_OFFICER, "wrong_organisation", f"{SCHOOL}/pupils-at-risk"),
        Case(("trust", "4001", "attendance_officer"), "wrong_organisation", f"{SCHOOL}/pupils-at-risk"),
        Case(DFE_STATISTICIAN, "wrong_organisation", f"{SCHOOL}/pupils-at-risk"),
    ],
    ("GET", "/v1/audit/tree-head"): [Case(CASE_OFFICER, "wrong_role")],
    ("GET", "/v1/audit/proofs/inclusion"): [
        Case(OWN_SCHOOL_OFFICER, "wrong_role", params={"index": 0, "tree_size": 1})
    ],
    ("GET", "/v1/audit/proofs/consistency"): [
        Case(CASE_OFFICER, "wrong_role", params={"first": 1, "second": 2})
    ],
    ("GET", "/v1/audit/events"): [Case(OWN_SCHOOL_OFFICER, "wrong_role")],
    ("POST", "/v1/audit/subject-access"): [
        Case(CASE_OFFICER, "wrong_role", json={"upn": 1}),
        Case(OTHER_SCHOOL_OFFICER, "not_your_pupil", json={"upn": 1}),
    ],
    ("POST", "/v1/releases"): [
        Case(
            OWN_SCHOOL_OFFICER,
            "wrong_org_type",
            json={"purpose": "la-severe-absence", "acknowledged": True, "justification": JUSTIFICATION,
                  **WINDOW},
        )
    ],
    ("GET", "/v1/releases/{release_id}"): [Case(OTHER_LA, "not_recipient", _release)],
    ("POST", "/v1/releases/{release_id}/deletion"): [
        Case(OTHER_LA, "not_recipient", lambda w: _release(w) + "/deletion"),
        Case(LA_DPO, "not_recipient", lambda w: _release(w) + "/deletion"),
    ],
    ("GET", "/v1/releases"): [Case(CASE_OFFICER, "wrong_role", params={"status": "overdue"})],
    ("GET", "/v1/schools/{urn}/pupil-refs/{pupil_ref}"): [
        Case(OTHER_SCHOOL_OFFICER, "wrong_organisation", f"{SCHOOL}/pupil-refs/pr_anything")
    ],
    ("POST", "/v1/schools/{urn}/consents"): [
        Case(OTHER_SCHOOL_OFFICER, "wrong_organisation", f"{SCHOOL}/consents",
             json={"upn": 1, "purpose": "mentoring-referral", "decision": "granted"}),
        Case(OWN_SCHOOL_OFFICER, "not_on_roll", f"{SCHOOL}/consents",
             json={"upn": 51, "purpose": "mentoring-referral", "decision": "granted"}),
    ],
    ("GET", "/v1/schools/{urn}/consents"): [
        Case(OTHER_SCHOOL_OFFICER, "wrong_organisation", f"{SCHOOL}/consents")
    ],
    ("POST", "/v1/schools/{urn}/consents/history"): [
        Case(OTHER_SCHOOL_OFFICER, "wrong_organisation", f"{SCHOOL}/consents/history", json={"upn": 1}),
        Case(OWN_SCHOOL_OFFICER, "not_on_roll", f"{SCHOOL}/consents/history", json={"upn": 51}),
    ],
    ("POST", "/v1/consents/history"): [Case(LA_DPO, "wrong_role", json={"upn": 1})],
    ("GET", "/v1/stats"): [
        Case(LA_STATISTICIAN, "wrong_organisation", params={"measure": "enrolments"}),
        Case(("dfe", "dfe", "dpo"), "wrong_role", params={"measure": "enrolments"}),
    ],
    ("GET", "/v1/stats/budget"): [
        Case(OWN_SCHOOL_OFFICER, "wrong_role"),
        Case(DFE_STATISTICIAN, "wrong_organisation", params={"consumer": "school-benchmarks"}),
        Case(LA_DPO, "wrong_organisation", params={"consumer": "dfe-statistics"}),
        Case(LA_DPO, "wrong_organisation"),
    ],
    ("POST", "/v1/stats/releases"): [
        Case(LA_STATISTICIAN, "wrong_organisation",
             json={"name": "autumn", "tables": [{"measure": "enrolments"}]})
    ],
    ("GET", "/v1/stats/releases/{name}"): [
        Case(LA_STATISTICIAN, "wrong_organisation", "/v1/stats/releases/autumn")
    ],
    ("GET", "/v1/stats/releases/{name}/csv"): [
        Case(LA_STATISTICIAN, "wrong_organisation", "/v1/stats/releases/autumn/csv")
    ],
    ("GET", "/v1/stats/trend"): [
        Case(LA_STATISTICIAN, "wrong_organisation", params={"year": "2025"}),
        Case(("dfe", "dfe", "dpo"), "wrong_role"),
    ],
    ("POST", "/v1/stats/trend"): [
        Case(OWN_SCHOOL_OFFICER, "wrong_organisation", json={"academic_year": 2025})
    ],
    # The console: the same rules, asked by a signed-in viewer; a refusal is an HTML page.
    ("GET", "/console/audit"): [Case(OWN_SCHOOL_OFFICER, "wrong_role")],
    ("GET", "/console/audit/events/{index}"): [
        Case(OWN_SCHOOL_OFFICER, "wrong_role", "/console/audit/events/0")
    ],
    ("GET", "/console/audit/integrity"): [Case(CASE_OFFICER, "wrong_role")],
    ("POST", "/console/audit/integrity"): [Case(CASE_OFFICER, "wrong_role", form={})],
    ("GET", "/console/releases/overdue"): [Case(CASE_OFFICER, "wrong_role")],
    ("GET", "/console/releases/{release_id}"): [
        Case(OTHER_LA, "not_recipient", lambda w: f"/console/releases/{w.targeting_release}")
    ],
    ("GET", "/console/subject-access"): [Case(CASE_OFFICER, "wrong_role")],
    ("POST", "/console/subject-access"): [
        Case(CASE_OFFICER, "wrong_role", form={"upn": "1"}),
        Case(OTHER_SCHOOL_OFFICER, "not_your_pupil", form={"upn": "1"}),
    ],
    ("GET", "/console/ropa"): [Case(OWN_SCHOOL_OFFICER, "wrong_role")],
    ("GET", "/console/ropa.csv"): [Case(OWN_SCHOOL_OFFICER, "wrong_role")],
    ("GET", "/console/ropa.md"): [Case(CASE_OFFICER, "wrong_role")],
    ("GET", "/console/school"): [Case(CASE_OFFICER, "wrong_organisation")],
    ("GET", "/console/school/consents"): [Case(CASE_OFFICER, "wrong_organisation")],
    ("GET", "/console/school.csv"): [Case(CASE_OFFICER, "wrong_organisation")],
    ("GET", "/console/school/report"): [
        Case(CASE_OFFICER, "wrong_organisation"),
        Case(OTHER_LA, "wrong_organisation", params={"urn": CAMDEN_PRIMARY}),  # refused once its LA is read
    ],
    ("GET", "/console/school/at-risk"): [Case(CASE_OFFICER, "wrong_organisation")],
    # The reports' overviews: another kind of organisation is asked about none of its own.
    ("GET", "/console/trust"): [Case(CASE_OFFICER, "wrong_organisation")],
    ("GET", "/console/la/schools"): [Case(TRUST_OFFICER, "wrong_organisation")],
    ("GET", "/console/abie"): [Case(CASE_OFFICER, "wrong_organisation")],
    ("POST", "/console/school/search"): [Case(CASE_OFFICER, "wrong_organisation", form={"q": "Smith"})],
    ("GET", "/console/school/consents/receipts/{receipt_id}"): [
        Case(CASE_OFFICER, "wrong_organisation", f"/console/school/consents/receipts/cr_{'0' * 32}")
    ],
    ("GET", "/console/school/consents/receipts/{receipt_id}/print"): [
        Case(CASE_OFFICER, "wrong_organisation", f"/console/school/consents/receipts/cr_{'0' * 32}/print")
    ],
    ("POST", "/console/school/consents/start"): [Case(CASE_OFFICER, "wrong_organisation", form={"upn": "1"})],
    ("POST", "/console/school/consents"): [
        Case(CASE_OFFICER, "wrong_organisation", form={"upn": "1", "purpose": "mentoring-referral",
                                                        "decision": "granted"}),
        Case(OWN_SCHOOL_OFFICER, "not_on_roll", form={"upn": "51", "purpose": "mentoring-referral",
                                                       "decision": "granted"}),
    ],
    ("GET", "/console/statistics"): [Case(OWN_SCHOOL_OFFICER, "wrong_organisation")],
    ("POST", "/console/statistics"): [
        Case(LA_STATISTICIAN, "wrong_organisation", form={"measure": "enrolments"})
    ],
    ("GET", "/console/statistics/trend"): [Case(LA_STATISTICIAN, "wrong_organisation")],
    ("POST", "/console/statistics/trend"): [Case(("dfe", "dfe", "dpo"), "wrong_role", form={"year": "2025"})],
    ("POST", "/console/statistics.csv"): [
        Case(("dfe", "dfe", "dpo"), "wrong_role", form={"measure": "enrolments"})
    ],
    ("GET", "/console/audit.csv"): [Case(OWN_SCHOOL_OFFICER, "wrong_role")],
    ("GET", "/console/audit/events/{index}/proof.json"): [
        Case(CASE_OFFICER, "wrong_role", "/console/audit/events/0/proof.json")
    ],
    # The LA case officer's pages.
    ("GET", "/console/la/ask"): [Case(OWN_SCHOOL_OFFICER, "wrong_organisation")],
    ("GET", "/console/la/ask/{purpose_id}"): [
        Case(LA_DPO, "wrong_role", "/console/la/ask/la-targeting-support")
    ],
    ("POST", "/console/la/ask/{purpose_id}"): [
        Case(OWN_SCHOOL_OFFICER, "wrong_organisation", "/console/la/ask/la-targeting-support", form={})
    ],
    ("POST", "/console/la/ask/{purpose_id}.csv"): [
        Case(LA_DPO, "wrong_role", "/console/la/ask/la-targeting-support.csv", form={})
    ],
    ("GET", "/console/la/releases"): [Case(OWN_SCHOOL_OFFICER, "wrong_organisation")],
    ("GET", "/console/la/releases/{release_id}"): [
        Case(OTHER_LA, "not_recipient", lambda w: f"/console/la/releases/{w.targeting_release}")
    ],
    ("POST", "/console/la/releases/{release_id}/deletion"): [
        Case(OTHER_LA, "not_recipient", lambda w: f"/console/la/releases/{w.targeting_release}/deletion",
             form={})
    ],
}


def app_routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through routers included in routers (FastAPI includes them
    lazily: an included router answers its own candidates)."""
    for route in routes:
        nested = getattr(route, "effective_candidates", None)
        if nested is not None:
            yield from app_routes(nested())
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield method, route.path


def _events_after(gw: Gateway, index: int) -> list[AuditEvent]:
    with gw.runtime.sessions() as db:
        query = select(AuditEvent).where(AuditEvent.idx > index).order_by(AuditEvent.idx)
        return list(db.execute(query).scalars())


def _last_index(gw: Gateway) -> int:
    with gw.runtime.sessions() as db:
        last = db.execute(select(AuditEvent.idx).order_by(AuditEvent.idx.desc()).limit(1)).scalar()
    return -1 if last is None else int(last)


def _with_upns(value: Any, world: World) -> Any:
    """A case names pupils by serial (1: Camden's, 51: Tower Hamlets'); the request carries the UPN."""
    if isinstance(value, dict):
        return {k: (world.upns[int(v)] if k == "upn" else v) for k, v in value.items()}
    return value


def _ask(gw: Gateway, world: World, method: str, template: str, case: Case) -> Any:
    address = case.address(world, template)
    if address.startswith("/console"):
        csrf = sign_in(gw, case.who)
        if method == "GET":
            return gw.client.get(address, params=case.params, follow_redirects=False)
        form = {**_with_upns(case.form or {}, world), "csrf_token": csrf}
        return gw.client.post(address, data=form, follow_redirects=False)
    gw.client.cookies.clear()
    headers = gw.auth(*case.who)
    body = _with_upns(case.json, world)
    return gw.client.request(method, address, params=case.params, json=body, headers=headers)


@pytest.fixture
def world(loaded: Gateway, tmp_path: Path) -> tuple[Gateway, World]:
    return loaded, seed(loaded, tmp_path)


def test_every_route_has_a_refusal_case_or_is_open_to_all(gw: Gateway) -> None:
    routes = set(app_routes(gw.client.app.routes))  # type: ignore[attr-defined]
    assert routes - OPEN_TO_ALL - set(CASES) == set(), "a route without a refusal case: add one to CASES"
    assert set(CASES) - routes == set() and OPEN_TO_ALL <= routes


def _problem(gw: Gateway, w: World, method: str, template: str, case: Case) -> str | None:
    """What is wrong with the refusal of `case`, or None."""
    before = _last_index(gw)
    response = _ask(gw, w, method, template, case)
    if response.status_code != 403:
        return f"answered {response.status_code}, not 403"
    events = _events_after(gw, before)
    denials = [e for e in events if e.decision == "deny"]
    if len(denials) != 1:
        return f"{len(denials)} denials recorded, not 1: {[(e.action, e.decision) for e in events]}"
    # Anything else is the console's page around the refusal showing what the viewer may see (the
    # school's consent form lists its consents: a view, recorded as such).
    if not all(e.action.endswith(".viewed") for e in events if e not in denials):
        return f"other events: {[e.action for e in events]}"
    entry = bytes(denials[0].entry).decode()
    event = json.loads(entry)
    if (event["actor"]["org_type"], event["actor"]["org_id"]) != case.who[:2]:
        return f"the event names another actor: {event['actor']}"
    if not any(r.startswith(case.reason + ":") for r in event["reasons"]) or event["record_count"] != 0:
        return f"the event's reasons are {event['reasons']}, record count {event['record_count']}"
    expected = {"detail": {"decision": "deny", "reasons": event["reasons"]}}
    if not template.startswith("/console") and response.json() != expected:
        return f"the body is {response.json()}, not the recorded reasons"
    # No personal data in the refusal: never a UPN, even when the request carried one.
    if any(upn in entry for upn in w.upns.values()):
        return "a UPN is in the event"
    return None


def test_every_refusal_is_a_403_with_reasons_and_exactly_one_audited_denial(
    world: tuple[Gateway, World],
) -> None:
    gw, w = world
    problems = {
        f"{method} {template} as {'/'.join(case.who)}": problem
        for (method, template), cases in CASES.items()
        for case in cases
        if (problem := _problem(gw, w, method, template, case)) is not None
    }
    assert problems == {}


def test_a_closed_school_submitting_a_register_is_refused_and_the_refusal_recorded(loaded: Gateway) -> None:
    # The school's status is a fact read inside the register's transaction: the refusal is written after
    # that transaction has rolled back, and nothing of the register is kept.
    before = _last_index(loaded)
    r = loaded.client.put(f"/v1/schools/{CLOSED_SCHOOL}/attendance/2025-10-06", content=feed_json([pupil(1)]),
                          headers={"Content-Type": "application/json",
                                   **loaded.auth("school", CLOSED_SCHOOL, "feed_submitter")})
    assert r.status_code == 403 and r.json()["detail"]["reasons"][0].startswith("school_not_open:")
    events = _events_after(loaded, before)
    assert [(e.action, e.decision) for e in events] == [("access.denied", "deny")]
    details = json.loads(bytes(events[0].entry))["details"]
    assert details == {"action": "register.submit", "urn": CLOSED_SCHOOL}
    with loaded.runtime.sessions() as db:
        assert db.execute(select(Register)).first() is None


def test_a_budget_too_small_to_noise_anything_is_a_recorded_refusal(settings: Settings) -> None:
    tiny = settings.model_copy(update={"stats_epsilon_per_year": 1e-6})
    runtime = build_runtime(tiny)
    with TestClient(create_app(tiny, runtime=runtime), raise_server_exceptions=False) as client:
        gw = Gateway(settings=tiny, runtime=runtime, client=client)
        before = _last_index(gw)
        question = {"measure": "enrolments", "from": "2025-10-06", "to": "2025-10-17"}
        r = client.get("/v1/stats", params=question, headers=gw.auth(*DFE_STATISTICIAN))
        assert r.status_code == 403 and r.json()["detail"]["reasons"][0].startswith("budget_too_small:")
        events = _events_after(gw, before)
        assert [(e.action, e.decision) for e in events] == [("stats.denied", "deny")]
    runtime.engine.dispose()


def test_a_bad_token_is_a_401_logged_without_the_token_and_not_audited(
    gw: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    token = gw.token("school", str(CAMDEN_PRIMARY), "attendance_officer")
    forged = token[: token.rindex(".") + 1] + "A" * 86  # someone else's signature
    before = _last_index(gw)
    r = gw.client.get(f"{SCHOOL}/pupils", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert _events_after(gw, before) == []  # an unauthenticated client cannot fill the audit log
    captured = capsys.readouterr()
    log = captured.out + captured.err
    assert "unauthenticated" in log and r.json()["detail"] in log
    assert forged.split(".")[1] not in log and forged.split(".")[2] not in log
