"""A small world for the console's tests, made through the same API the gateway's clients use.

Camden Primary (100001, LA 202) sends ten days of registers (6 to 17 October 2025) for four pupils:
pupil 1 misses 2 of 20 sessions (10%: persistent absence), pupil 2 misses 1 (5%), pupil 3 misses 10
(50%: severe), pupil 4 misses 12, unauthorised (60%: severe). Tower Hamlets Primary (100003, LA 211)
has one pupil. Camden's case officer takes a targeting-support release (pupils 1, 3, 4) and a
severe-absence release (pupils 3, 4), which is then made overdue; one request is denied; the school
records a parent's consent for pupil 1.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update

from gateway.db.models import Release
from gateway.services.schools import import_gias
from tests.api.test_releases import JUSTIFICATION, WINDOW, fortnight, marks
from tests.conftest import Gateway
from tests.factories import pupil, write_gias

CAMDEN_PRIMARY = 100001
TOWER_HAMLETS_PRIMARY = 100003
WINDOW_FROM, WINDOW_TO = WINDOW["from"], WINDOW["to"]


@dataclass(frozen=True)
class World:
    targeting_release: str
    overdue_release: str
    upns: dict[int, str]


def upn_of(serial: int, **kw: str) -> str:
    return str(pupil(serial, **kw)["upn"])


def seed(gw: Gateway, folder: Path) -> World:
    import_gias(gw.runtime.sessions, write_gias(folder / "gias.csv"))
    fortnight(gw, CAMDEN_PRIMARY, {1: marks(2), 2: marks(1), 3: marks(10), 4: marks(12, "G")})
    fortnight(gw, TOWER_HAMLETS_PRIMARY, {51: marks(8)}, est="2002", la="211")
    officer = gw.auth("la", "202", "case_officer")
    targeting = gw.client.post(
        "/v1/releases",
        json={
            "purpose": "la-targeting-support", "acknowledged": True, "justification": JUSTIFICATION, **WINDOW
        },
        headers=officer,
    )
    assert targeting.status_code == 201, targeting.text
    severe = gw.client.post(
        "/v1/releases",
        json={"purpose": "la-severe-absence", "acknowledged": True, "justification": JUSTIFICATION, **WINDOW},
        headers=officer,
    )
    assert severe.status_code == 201, severe.text
    denied = gw.client.post(
        "/v1/releases",
        json={
            "purpose": "la-severe-absence",
            "schools": [TOWER_HAMLETS_PRIMARY],
            "acknowledged": True, "justification": JUSTIFICATION,
            **WINDOW,
        },
        headers=officer,
    )
    assert denied.status_code == 403, denied.text
    consent = gw.client.post(
        f"/v1/schools/{CAMDEN_PRIMARY}/consents",
        json={
            "upn": upn_of(1),
            "purpose": "mentoring-referral",
            "decision": "granted",
            "evidence": "Signed form, 3 October 2025",
        },
        headers=gw.auth("school", CAMDEN_PRIMARY, "attendance_officer"),
    )
    assert consent.status_code == 201, consent.text
    overdue_id = severe.json()["release_id"]
    # Time passes: the severe-absence release expired three days ago and its deletion was never attested.
    with gw.runtime.sessions() as db, db.begin():
        db.execute(
            update(Release)
            .where(Release.id == overdue_id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
        )
    return World(
        targeting_release=targeting.json()["release_id"],
        overdue_release=overdue_id,
        upns={serial: upn_of(serial) for serial in (1, 2, 3, 4)} | {51: upn_of(51, est="2002", la="211")},
    )
