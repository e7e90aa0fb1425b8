"""The audit log over HTTP: signed heads, proofs an independent verifier accepts, the DPO's event
view, subject access, public keys, and failing closed when the log cannot record."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import sqlite3
from typing import Any

import psycopg
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from proofbundle import verify_consistency as independent_verify_consistency
from proofbundle import verify_inclusion as independent_verify_inclusion
from sqlalchemy import func, select, text

from anonymisation.pseudonyms import audit_pseudonym, pupil_id
from gateway.db.models import AuditEvent, AuditTreeHead, Mark, Register, Release
from gateway.db.session import transaction
from gateway.services import audit
from tests.conftest import Gateway
from tests.factories import feed_json, pupil, upn

DAY = dt.date(2025, 10, 6)
PUPIL_A = upn(serial=1)  # on roll at 100001 (Camden) once `submit` has run
PUPIL_B = upn(serial=2)


def operator_dpo(gw: Gateway) -> dict[str, str]:
    return gw.auth("operator", "operator", "dpo")


def submit(
    gw: Gateway, urn: int = 100001, day: dt.date = DAY, serials: tuple[int, ...] = (1, 2)
) -> dict[str, Any]:
    response = gw.client.put(
        f"/v1/schools/{urn}/attendance/{day.isoformat()}",
        content=feed_json([pupil(s) for s in serials]),
        headers={"Content-Type": "application/json", **gw.auth("school", urn, "feed_submitter")},
    )
    assert response.status_code == 201, response.text
    return response.json()


def release(
    gw: Gateway,
    upns: list[str],
    *,
    recipient: tuple[str, str] = ("la", "202"),
    purpose: str = "la-severe-absence",
    fields: tuple[str, ...] = ("upn", "forename", "surname", "school_urn"),
    decision: str = "allow",
    subject_org_ids: tuple[str, ...] = ("202", "100001"),
) -> int:
    """A release decision as the releases service records it: pupils by their audit pseudonyms of
    the year of the data released (2025/26), only."""
    keys = gw.runtime.keys
    refs = (
        [audit_pseudonym(pupil_id(u, keys.pupil_id_key), keys.audit_key_for_year(2025)) for u in upns]
        if decision == "allow"
        else []
    )
    event = audit.new_event(
        None,
        "release.decided",
        purpose=purpose,
        decision=decision,
        reasons=[] if decision == "allow" else ["no_consent"],
        subject_org_ids=list(subject_org_ids),
        record_count=len(refs),
        release_id=f"rel-{len(upns)}-{recipient[1]}-{purpose}",
        details={"fields": list(fields), "expires_at": "2027-10-06T00:00:00Z"},
        pupil_refs=refs,
        actor={"org_type": recipient[0], "org_id": recipient[1], "sub": "officer-9"},
    )
    with transaction(gw.runtime.sessions) as db:
        return audit.record(db, event)


def head(gw: Gateway) -> dict[str, Any]:
    response = gw.client.get("/v1/audit/tree-head", headers=operator_dpo(gw))
    assert response.status_code == 200, response.text
    return response.json()


def all_events(gw: Gateway, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
    query = {"limit": 1000, **{k: v for k, v in params.items() if v is not None}}
    response = gw.client.get("/v1/audit/events", params=query, headers=headers or operator_dpo(gw))
    assert response.status_code == 200, response.text
    return response.json()["events"]


def count(gw: Gateway, model: type) -> int:
    with gw.runtime.sessions() as db:
        return int(db.execute(select(func.count()).select_from(model)).scalar_one())


# --- tree heads and keys --------------------------------------------------------------------------


def test_a_dpo_gets_a_signed_head_that_verifies_with_the_published_key(loaded: Gateway) -> None:
    submit(loaded)
    body = head(loaded)
    assert set(body) == {"tree_size", "root_hash", "timestamp", "key_id", "algorithm", "signature"}
    assert body["tree_size"] == count(loaded, AuditEvent) and body["algorithm"] == "Ed25519"
    assert dt.datetime.strptime(body["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    keys = loaded.client.get("/v1/audit/keys")  # no token: the keys are public
    assert keys.status_code == 200
    jwk = next(k for k in keys.json()["keys"] if k["kid"] == body["key_id"])
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    public_key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="))
    signed = f"{body['tree_size']}\n{body['root_hash']}\n{body['timestamp']}\n".encode()
    public_key.verify(base64.b64decode(body["signature"]), signed)  # raises if it does not verify


def test_a_head_is_signed_on_demand_only_when_the_log_grew_and_every_head_is_kept(loaded: Gateway) -> None:
    submit(loaded)
    first = head(loaded)
    assert head(loaded) == first
    submit(loaded, day=DAY + dt.timedelta(days=1))
    second = head(loaded)
    assert second["tree_size"] == first["tree_size"] + 1
    assert count(loaded, AuditTreeHead) == 2


def test_an_empty_log_has_a_signed_head_of_size_zero(gw: Gateway) -> None:
    body = head(gw)
    assert (body["tree_size"], body["root_hash"]) == (0, hashlib.sha256(b"").hexdigest())


@pytest.mark.parametrize(
    "path",
    [
        "/v1/audit/tree-head",
        "/v1/audit/events",
        "/v1/audit/proofs/inclusion?index=0&tree_size=1",
        "/v1/audit/proofs/consistency?first=1&second=1",
    ],
)
def test_the_audit_trail_is_for_dpos_only(loaded: Gateway, path: str) -> None:
    submit(loaded)
    assert loaded.client.get(path).status_code == 401
    for headers in (
        loaded.auth("school", 100001, "attendance_officer"),
        loaded.auth("la", "202", "case_officer"),
        loaded.auth("dfe", "dfe", "statistician"),
    ):
        response = loaded.client.get(path, headers=headers)
        assert response.status_code == 403
        assert response.json()["detail"]["decision"] == "deny"


# --- proofs, checked by an independent RFC 9162 verifier -------------------------------------------


def test_every_inclusion_proof_from_the_api_verifies_in_proofbundle(loaded: Gateway) -> None:
    receipt = submit(loaded)
    submit(loaded, urn=100003, serials=(5,))
    release(loaded, [PUPIL_A, PUPIL_B])
    release(loaded, [PUPIL_A], decision="deny")
    events = all_events(loaded)
    signed = head(loaded)
    root, size = bytes.fromhex(signed["root_hash"]), signed["tree_size"]
    assert size == len(events) + 1  # and the listing itself, recorded after it was read
    assert events[receipt["audit_index"]]["event"]["action"] == "feed.accepted"
    for item in events:
        entry = rfc8785.dumps(item["event"])  # the leaf's entry, re-derived without the gateway's code
        response = loaded.client.get(
            "/v1/audit/proofs/inclusion",
            params={"index": item["index"], "tree_size": size},
            headers=operator_dpo(loaded),
        )
        assert response.status_code == 200, response.text
        proof = response.json()
        assert set(proof) == {"index", "tree_size", "leaf_hash", "audit_path"}
        assert proof["leaf_hash"] == item["leaf_hash"] == hashlib.sha256(b"\x00" + entry).hexdigest()
        path = [bytes.fromhex(p) for p in proof["audit_path"]]
        assert independent_verify_inclusion(entry, item["index"], size, path, root), item["index"]
        assert not independent_verify_inclusion(entry + b" ", item["index"], size, path, root)


def test_consistency_proofs_between_heads_from_the_api_verify_in_proofbundle(loaded: Gateway) -> None:
    heads = []
    for n in range(5):
        submit(loaded, day=DAY + dt.timedelta(days=n))
        release(loaded, [PUPIL_A], recipient=("la", "202"))
        heads.append(head(loaded))
    for older in heads:
        for newer in heads:
            if older["tree_size"] > newer["tree_size"]:
                continue
            response = loaded.client.get(
                "/v1/audit/proofs/consistency",
                params={"first": older["tree_size"], "second": newer["tree_size"]},
                headers=operator_dpo(loaded),
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert set(body) == {"first", "second", "proof"}
            proof = [bytes.fromhex(p) for p in body["proof"]]
            assert independent_verify_consistency(
                older["tree_size"],
                newer["tree_size"],
                proof,
                bytes.fromhex(older["root_hash"]),
                bytes.fromhex(newer["root_hash"]),
            )


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/audit/proofs/inclusion?index=3&tree_size=3", "index"),
        ("/v1/audit/proofs/inclusion?index=0&tree_size=99", "tree_size"),
        ("/v1/audit/proofs/inclusion?index=-1&tree_size=2", "index"),
        ("/v1/audit/proofs/inclusion?index=0&tree_size=0", "tree_size"),
        ("/v1/audit/proofs/inclusion?index=zero&tree_size=2", "index"),
        ("/v1/audit/proofs/consistency?first=3&second=2", "first"),
        ("/v1/audit/proofs/consistency?first=0&second=2", "first"),
        ("/v1/audit/proofs/consistency?first=1&second=99", "second"),
        ("/v1/audit/proofs/consistency?first=1&second=99999999999999999999", "second"),
    ],
)
def test_a_proof_outside_the_log_is_refused_with_422_naming_the_field(
    loaded: Gateway, path: str, field: str
) -> None:
    for n in range(3):
        release(loaded, [PUPIL_A], purpose=f"p{n}")
    response = loaded.client.get(path, headers=operator_dpo(loaded))
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]["errors"][0]["field"]


# --- the DPO's view of events ---------------------------------------------------------------------


def test_an_operator_dpo_pages_through_the_whole_log_with_a_cursor(loaded: Gateway) -> None:
    for n in range(4):
        submit(loaded, day=DAY + dt.timedelta(days=n))
    release(loaded, [PUPIL_A])
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = loaded.client.get("/v1/audit/events", params=params, headers=operator_dpo(loaded)).json()
        seen += [e["index"] for e in body["events"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # Pages cover the log as it was at the first page, although each page is itself recorded.
    # (Event 0 is the `loaded` fixture's import of the register of schools.)
    assert seen == list(range(6)) and pages == 3
    viewed = all_events(loaded, action="audit.events_viewed")
    assert [e["event"]["record_count"] for e in viewed] == [2, 2, 2]
    assert {e["event"]["actor"]["org_id"] for e in viewed} == {"operator"}


def test_events_filter_by_action_decision_purpose_organisation_and_time(loaded: Gateway) -> None:
    submit(loaded)
    submit(loaded, urn=100003, serials=(5,))
    release(loaded, [PUPIL_A], purpose="la-severe-absence")
    release(loaded, [PUPIL_A], purpose="la-penalty-notice", decision="deny")
    release(
        loaded,
        [PUPIL_B],
        purpose="mentoring-referral",
        recipient=("la", "211"),
        subject_org_ids=("211", "100003"),
    )

    def actions(**params: Any) -> list[tuple[str, str | None]]:
        return [(e["event"]["action"], e["event"]["purpose"]) for e in all_events(loaded, **params)]

    assert actions(action="schools.imported") == [("schools.imported", None)]
    assert actions(action="feed.accepted") == [("feed.accepted", None), ("feed.accepted", None)]
    assert actions(decision="deny") == [("release.decided", "la-penalty-notice")]
    assert actions(purpose="mentoring-referral") == [("release.decided", "mentoring-referral")]
    assert [e["index"] for e in all_events(loaded, org_id="211", action="release.decided")] == [5]
    today = dt.datetime.now(dt.UTC).date()
    assert (
        len(
            all_events(
                loaded, **{"from": today.isoformat(), "to": today.isoformat()}, action="release.decided"
            )
        )
        == 3
    )
    assert all_events(loaded, **{"to": (today - dt.timedelta(days=1)).isoformat()}) == []
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert all_events(loaded, **{"from": later}) == []
    bad = loaded.client.get("/v1/audit/events", params={"from": "yesterday"}, headers=operator_dpo(loaded))
    assert bad.status_code == 422 and bad.json()["detail"]["errors"][0]["field"] == "from"
    assert (
        loaded.client.get(
            "/v1/audit/events", params={"cursor": "bm9wZQ"}, headers=operator_dpo(loaded)
        ).status_code
        == 422
    )
    assert (
        loaded.client.get(
            "/v1/audit/events", params={"decision": "maybe"}, headers=operator_dpo(loaded)
        ).status_code
        == 422
    )


def test_an_organisations_dpo_sees_only_the_events_about_its_organisation(loaded: Gateway) -> None:
    submit(loaded)  # about 100001 and LA 202
    submit(loaded, urn=100003, serials=(5,))  # about 100003 and LA 211
    release(loaded, [PUPIL_A])  # LA 202 about 100001

    def indices(org_type: str, own_id: str, **params: Any) -> list[int]:
        return [e["index"] for e in all_events(loaded, loaded.auth(org_type, own_id, "dpo"), **params)]

    # Event 0, the import of the register of schools, is the operator's alone.
    assert indices("la", "202")[:2] == [1, 3]
    assert indices("la", "211")[:1] == [2]
    assert indices("school", "100001")[:2] == [1, 3]
    assert indices("school", "100003")[:1] == [2]
    assert indices("la", "211", org_id="202") == []
    assert indices("operator", "operator")[:4] == [0, 1, 2, 3]


# --- subject access -------------------------------------------------------------------------------


def subject_access(gw: Gateway, headers: dict[str, str], who: str = PUPIL_A):
    return gw.client.post("/v1/audit/subject-access", json={"upn": who}, headers=headers)


def test_a_dpo_learns_every_release_that_included_a_pupil(loaded: Gateway) -> None:
    submit(loaded)
    first = release(loaded, [PUPIL_A, PUPIL_B], purpose="la-severe-absence")
    release(loaded, [PUPIL_B], purpose="la-targeting-support")
    release(loaded, [PUPIL_A], purpose="la-penalty-notice", decision="deny")
    third = release(
        loaded,
        [PUPIL_A],
        purpose="transition-y6-y7",
        recipient=("school", "100002"),
        fields=("upn", "attendance_band", "persistent_absence"),
        subject_org_ids=("100002", "100001"),
    )
    response = subject_access(loaded, operator_dpo(loaded))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["audit_index"] for r in body["releases"]] == [first, third]
    assert body["releases"][1] == {
        "audit_index": third,
        "release_id": "rel-1-100002-transition-y6-y7",
        "when": body["releases"][1]["when"],
        "recipient": {"org_type": "school", "org_id": "100002"},
        "purpose": "transition-y6-y7",
        "fields": ["upn", "attendance_band", "persistent_absence"],
        "expires_at": "2027-10-06T00:00:00Z",
    }
    assert body["releases"][0]["fields"] == ["upn", "forename", "surname", "school_urn"]
    # The question is itself on the log, by pseudonym; the UPN appears nowhere in the log.
    asked = all_events(loaded, action="audit.subject_access")
    assert len(asked) == 1 and asked[0]["index"] == body["audit_index"]
    with loaded.runtime.sessions() as db:
        entries = b"".join(bytes(e) for (e,) in db.execute(select(AuditEvent.entry)))
    assert PUPIL_A.encode() not in entries and PUPIL_B.encode() not in entries


def test_an_organisations_dpo_sees_only_releases_about_its_organisation(loaded: Gateway) -> None:
    submit(loaded)
    release(loaded, [PUPIL_A], purpose="la-severe-absence")
    mine = release(
        loaded, [PUPIL_A], purpose="mentoring-referral", recipient=("la", "211"), subject_org_ids=("211",)
    )
    body = subject_access(loaded, loaded.auth("la", "211", "dpo")).json()
    assert [r["audit_index"] for r in body["releases"]] == [mine]


def test_the_pupils_own_school_officer_sees_every_release_and_another_school_is_refused(
    loaded: Gateway,
) -> None:
    submit(loaded)
    releases = [
        release(loaded, [PUPIL_A]),
        release(loaded, [PUPIL_A], recipient=("la", "211"), subject_org_ids=("211",)),
    ]
    own = subject_access(loaded, loaded.auth("school", 100001, "attendance_officer"))
    assert own.status_code == 200
    assert [r["audit_index"] for r in own.json()["releases"]] == releases
    other = subject_access(loaded, loaded.auth("school", 100003, "attendance_officer"))
    assert other.status_code == 403
    assert other.json()["detail"]["reasons"][0].startswith("not_your_pupil")
    refused = all_events(loaded, action="audit.subject_access", decision="deny")
    assert len(refused) == 1 and refused[0]["event"]["actor"]["org_id"] == "100003"
    assert subject_access(loaded, loaded.auth("la", "202", "case_officer")).status_code == 403
    assert subject_access(loaded, loaded.auth("school", 100001, "feed_submitter")).status_code == 403


def test_subject_access_refuses_a_bad_upn_without_repeating_it(loaded: Gateway) -> None:
    bad = "A12345678901B"
    response = subject_access(loaded, operator_dpo(loaded), who=bad)
    assert response.status_code == 422
    assert bad not in response.text
    extra = loaded.client.post(
        "/v1/audit/subject-access", json={"upn": PUPIL_A, "name": "x"}, headers=operator_dpo(loaded)
    )
    assert extra.status_code == 422 and PUPIL_A not in extra.text


# --- failing closed -------------------------------------------------------------------------------


def inject_append_fault(gw: Gateway) -> None:
    """Make every append fail inside the database, as a full disk or a lost replica would."""
    with transaction(gw.runtime.sessions) as db:
        if gw.backend == "postgresql":
            db.execute(
                text(
                    "CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'injected fault: no space left'; END $$"
                )
            )
            db.execute(
                text(
                    "CREATE TRIGGER audit_nodes_fault BEFORE INSERT ON audit_nodes "
                    "FOR EACH ROW EXECUTE FUNCTION inject_fault()"
                )
            )
        else:
            db.execute(
                text(
                    "CREATE TRIGGER audit_nodes_fault BEFORE INSERT ON audit_nodes "
                    "BEGIN SELECT RAISE(ABORT, 'injected fault: no space left'); END"
                )
            )


def test_when_the_pupil_set_of_a_release_cannot_be_written_the_release_is_a_503_and_nothing_is_stored(
    loaded: Gateway,
) -> None:
    """The pupils a release names go into the audit log's pupil set by the driver's bulk write (COPY
    on PostgreSQL), before the append lock: a failure there fails the append like any other."""
    absent = loaded.client.put(
        f"/v1/schools/100001/attendance/{DAY.isoformat()}",
        content=feed_json([pupil(1, am="N", pm="N"), pupil(2)]),
        headers={"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")},
    )
    assert absent.status_code == 201, absent.text
    ask = {"purpose": "la-targeting-support", "to": DAY.isoformat(),
           "acknowledged": True, "justification": "Targeting support meeting for the autumn term"}
    officer = loaded.auth("la", "202", "case_officer")
    assert loaded.client.post("/v1/releases", json=ask, headers=officer).json()["record_count"] == 1
    before = (count(loaded, AuditEvent), count(loaded, Release))
    with transaction(loaded.runtime.sessions) as db:
        if db.get_bind().dialect.name == "postgresql":
            db.execute(text("CREATE FUNCTION inject_set_fault() RETURNS trigger LANGUAGE plpgsql AS "
                            "$$ BEGIN RAISE EXCEPTION 'injected fault: no space left'; END $$"))
            db.execute(text("CREATE TRIGGER audit_pupil_sets_fault BEFORE INSERT ON audit_pupil_sets "
                            "FOR EACH ROW EXECUTE FUNCTION inject_set_fault()"))
        else:
            db.execute(text("CREATE TRIGGER audit_pupil_sets_fault BEFORE INSERT ON audit_pupil_sets "
                            "BEGIN SELECT RAISE(ABORT, 'injected fault: no space left'); END"))
    response = loaded.client.post("/v1/releases", json=ask, headers=officer)
    assert response.status_code == 503
    assert "records" not in response.json() and "pr_" not in response.text
    assert (count(loaded, AuditEvent), count(loaded, Release)) == before


@pytest.mark.parametrize("error", [psycopg.OperationalError, sqlite3.OperationalError])
def test_a_database_failure_in_a_bulk_write_is_a_503_and_nothing_is_stored(
    loaded: Gateway, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    """Bulk writes (COPY, executemany) go to the driver directly: its errors are a 503 as SQLAlchemy's are."""
    from gateway.db.repositories import releases as release_repository

    submit(loaded, serials=(1,))
    before = (count(loaded, AuditEvent), count(loaded, Release))

    def lost(*args: object, **kwargs: object) -> None:
        raise error("server closed the connection unexpectedly")

    monkeypatch.setattr(release_repository, "insert_release", lost)
    ask = {"purpose": "la-targeting-support", "to": DAY.isoformat(), "acknowledged": True, "justification": "Targeting support meeting"}
    response = loaded.client.post("/v1/releases", json=ask, headers=loaded.auth("la", "202", "case_officer"))
    assert response.status_code == 503 and "records" not in response.json()
    assert (count(loaded, AuditEvent), count(loaded, Release)) == before


def test_when_the_audit_append_fails_requests_get_503_and_no_data_leaves_or_is_stored(
    loaded: Gateway,
) -> None:
    submit(loaded)
    release(loaded, [PUPIL_A])
    before = (count(loaded, AuditEvent), count(loaded, Register), count(loaded, Mark))
    inject_append_fault(loaded)
    pupils = loaded.client.get(
        "/v1/schools/100001/pupils", headers=loaded.auth("school", 100001, "attendance_officer")
    )
    assert pupils.status_code == 503
    assert "Forename1" not in pupils.text and PUPIL_A not in pupils.text and "pupils" not in pupils.json()
    feed = loaded.client.put(
        f"/v1/schools/100001/attendance/{(DAY + dt.timedelta(days=1)).isoformat()}",
        content=feed_json([pupil(1, am="N", pm="N")]),
        headers={"Content-Type": "application/json", **loaded.auth("school", 100001, "feed_submitter")},
    )
    assert feed.status_code == 503
    asked = subject_access(loaded, operator_dpo(loaded))
    assert asked.status_code == 503 and "releases" not in asked.json()
    listed = loaded.client.get("/v1/audit/events", headers=operator_dpo(loaded))
    assert listed.status_code == 503 and "events" not in listed.json()
    assert (count(loaded, AuditEvent), count(loaded, Register), count(loaded, Mark)) == before
