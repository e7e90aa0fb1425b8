"""The consent and objection registry, enforced at the decision point."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from gateway.db.models import AuditEvent, ConsentRecord
from tests.api.test_releases import JUSTIFICATION, WINDOW, fortnight, marks
from tests.conftest import Gateway
from tests.factories import pupil


@pytest.fixture
def school(loaded: Gateway) -> Gateway:
    # Four persistently absent pupils at Camden Primary (4 of 20 sessions missed each), one at Tower Hamlets.
    fortnight(loaded, 100001, {1: marks(4), 2: marks(4), 3: marks(4), 4: marks(4)})
    fortnight(loaded, 100003, {51: marks(4)}, est="2002", la="211")
    return loaded


def officer(gw: Gateway, urn: int = 100001) -> dict[str, str]:
    return gw.auth("school", urn, "attendance_officer")


def consent(gw: Gateway, serial: int, decision: str, purpose: str = "mentoring-referral", urn: int = 100001, **kw):
    body = {"upn": pupil(serial, **kw)["upn"], "purpose": purpose, "decision": decision, "evidence": "Signed form, 3 Oct 2025"}
    return gw.client.post(f"/v1/schools/{urn}/consents", json=body, headers=officer(gw, urn))


def mentoring(gw: Gateway) -> dict:
    r = gw.client.post("/v1/releases", json={"purpose": "mentoring-referral", "acknowledged": True, "justification": JUSTIFICATION, **WINDOW},
                       headers=gw.auth("la", "202", "case_officer"))
    assert r.status_code == 201, r.text
    return r.json()


def targeting(gw: Gateway) -> dict:
    r = gw.client.post("/v1/releases", json={"purpose": "la-targeting-support", "acknowledged": True, "justification": JUSTIFICATION, **WINDOW},
                       headers=gw.auth("la", "202", "case_officer"))
    assert r.status_code == 201, r.text
    return r.json()


def test_grant_two_then_the_release_has_two_and_a_withdrawal_leaves_one(school: Gateway) -> None:
    first = consent(school, 1, "granted")
    assert first.status_code == 201, first.text
    assert consent(school, 2, "granted").status_code == 201
    assert mentoring(school)["record_count"] == 2
    assert consent(school, 2, "withdrawn").status_code == 201
    after = mentoring(school)
    assert after["record_count"] == 1
    with school.runtime.sessions() as db:
        event = db.execute(select(AuditEvent).where(AuditEvent.release_id == after["release_id"])).scalar_one()
    assert b'"withheld_consent":3' in event.entry  # pupils 2, 3 and 4 lack a current consent: counted, never named


def test_the_receipt_follows_the_kantara_model_and_never_echoes_the_upn(school: Gateway) -> None:
    r = consent(school, 1, "granted")
    receipt = r.json()
    for key in ("receipt_id", "version", "jurisdiction", "consent_timestamp", "controller", "purpose", "data_categories",
                "recipients", "retention", "decision", "recorded_by", "how_to_withdraw"):
        assert key in receipt, key
    assert receipt["purpose"]["id"] == "mentoring-referral" and receipt["purpose"]["lawful_basis"]
    assert receipt["recorded_by"] == {"org_type": "school", "urn": 100001}
    assert pupil(1)["upn"] not in r.text
    with school.runtime.sessions() as db:
        stored = db.execute(select(ConsentRecord)).scalar_one()
    assert pupil(1)["upn"] not in repr(stored.__dict__) and b"Signed form" not in (stored.evidence or b"")


def test_the_stored_evidence_opens_under_the_pupils_data_key_for_the_year(school: Gateway) -> None:
    from anonymisation.keys import decrypt_evidence, unwrap_data_key
    from gateway.db.repositories import identities as identity_repo

    assert consent(school, 1, "granted").status_code == 201
    keys = school.runtime.keys
    with school.runtime.sessions() as db:
        stored = db.execute(select(ConsentRecord)).scalar_one()
        wrapped, key_id = identity_repo.wrapped_keys(db, stored.academic_year, [stored.pupil_id])[stored.pupil_id]
    data_key = unwrap_data_key(wrapped, keys.kek(key_id), stored.pupil_id, stored.academic_year)
    assert stored.evidence is not None
    opened = decrypt_evidence(stored.evidence, data_key, stored.pupil_id, stored.academic_year)
    assert opened == "Signed form, 3 Oct 2025"


def test_an_objection_excludes_the_pupil_from_a_public_task_release(school: Gateway) -> None:
    assert targeting(school)["record_count"] == 4
    assert consent(school, 3, "objected", purpose="la-targeting-support").status_code == 201
    after = targeting(school)
    assert after["record_count"] == 3
    with school.runtime.sessions() as db:
        event = db.execute(select(AuditEvent).where(AuditEvent.release_id == after["release_id"])).scalar_one()
    assert b'"withheld_objection":1' in event.entry
    assert consent(school, 3, "withdrawn", purpose="la-targeting-support").status_code == 201
    assert targeting(school)["record_count"] == 4


def test_another_schools_pupil_is_refused(school: Gateway) -> None:
    r = consent(school, 51, "granted", est="2002", la="211")
    assert r.status_code == 403
    assert "not_on_roll" in r.json()["detail"]["reasons"][0]
    other = school.client.post("/v1/schools/100003/consents", json={"upn": pupil(1)["upn"], "purpose": "mentoring-referral",
                                                                    "decision": "granted"}, headers=officer(school))
    assert other.status_code == 403


def test_an_unknown_purpose_is_refused(school: Gateway) -> None:
    r = consent(school, 1, "granted", purpose="marketing")
    assert r.status_code == 422 and r.json()["detail"]["errors"][0]["field"] == "purpose"


def test_a_purpose_without_a_consent_rule_is_refused(school: Gateway) -> None:
    assert consent(school, 1, "objected", purpose="dfe-statistics").status_code == 422


def test_a_decision_the_purposes_rule_does_not_take_is_refused(school: Gateway) -> None:
    assert consent(school, 1, "granted", purpose="la-targeting-support").status_code == 422
    assert consent(school, 1, "maybe").status_code == 422


def test_the_school_lists_current_states_and_the_full_history(school: Gateway) -> None:
    consent(school, 1, "granted")
    consent(school, 1, "withdrawn")
    consent(school, 2, "granted")
    listed = school.client.get("/v1/schools/100001/consents?purpose=mentoring-referral", headers=officer(school)).json()
    assert sorted((c["surname"], c["decision"]) for c in listed["consents"]) == [("Surname1", "withdrawn"), ("Surname2", "granted")]
    history = school.client.post("/v1/schools/100001/consents/history", json={"upn": pupil(1)["upn"]}, headers=officer(school))
    assert [h["decision"] for h in history.json()["history"]] == ["granted", "withdrawn"]
    dpo = school.client.post("/v1/consents/history", json={"upn": pupil(1)["upn"]}, headers=school.auth("operator", "operator", "dpo"))
    assert [h["decision"] for h in dpo.json()["history"]] == ["granted", "withdrawn"]
    assert school.client.post("/v1/consents/history", json={"upn": pupil(1)["upn"]}, headers=school.auth("la", "202", "case_officer")).status_code == 403
    assert school.client.post("/v1/schools/100003/consents/history", json={"upn": pupil(1)["upn"]}, headers=officer(school, 100003)).status_code == 403


def test_a_withdrawal_committed_before_a_release_starts_is_always_honoured(school: Gateway) -> None:
    for serial in (1, 2, 3, 4):
        assert consent(school, serial, "granted").status_code == 201
    withdrawn_at: list[float] = []
    results: list[tuple[float, dict]] = []

    def withdraw() -> None:
        time.sleep(0.05)
        assert consent(school, 2, "withdrawn").status_code == 201
        withdrawn_at.append(time.monotonic())

    def ask() -> None:
        for _ in range(6):
            started = time.monotonic()
            results.append((started, mentoring(school)))

    threads = [threading.Thread(target=withdraw)] + [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refs_by_release = [(started, {r["pupil_ref"] for r in body["records"]}) for started, body in results]
    after = [refs for started, refs in refs_by_release if started > withdrawn_at[0]]
    before_counts = {len(refs) for started, refs in refs_by_release if started <= withdrawn_at[0]}
    assert after, "some releases must start after the withdrawal"
    assert all(len(refs) == 3 for refs in after)
    assert before_counts <= {3, 4}


def test_a_consent_event_names_the_pupil_under_the_key_of_the_enrolments_year_not_the_permanent_key(
    school: Gateway,
) -> None:
    """Destroying the year's key at retention must leave nothing that ties a UPN to its consent events."""
    import json

    from anonymisation.pseudonyms import audit_pseudonym, pupil_id

    receipt = consent(school, 1, "granted")
    assert receipt.status_code == 201, receipt.text
    keys = school.runtime.keys
    pid = pupil_id(pupil(1)["upn"], keys.pupil_id_key)
    with school.runtime.sessions() as db:
        entry = db.execute(select(AuditEvent.entry).where(AuditEvent.action == "consent.recorded")).scalar_one()
    refs = json.loads(bytes(entry))["pupil_refs"]
    assert refs == [audit_pseudonym(pid, keys.audit_key_for_year(2025))] == [receipt.json()["subject"]["audit_pseudonym"]]
    assert audit_pseudonym(pid, keys.audit_key) not in refs
