"""The rollup's fast path on PostgreSQL (``rollup_repository._fast_pg_sql``): a first register moves the
pupil-years of the pupils whose only enrolment is at its school by the register's own deltas, and
leaves every other pupil (new this year, on two schools' rolls, or changed by another transaction
since the statement's snapshot) to the recomputation from the enrolments. After each step the rollup
must equal a rebuild (``assert_rollup_exact``), ``sole_urn`` included."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gateway.db import rollup_repository as rollup
from tests.api.test_stats_rollup import MONDAY, YEAR, assert_rollup_exact, put
from tests.conftest import BACKENDS, Gateway
from tests.factories import pupil

# PostgreSQL only: SQLite always recomputes. CI always has PostgreSQL (GATEWAY_TEST_POSTGRES_URL).
ON_POSTGRESQL = pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)


def _recomputed(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The pupil ids each recomputation was asked for, from now on."""
    calls: list[list[str]] = []
    original = rollup._run

    def spy(db: Session, sql: str, params: Any, *, many: bool = False) -> Any:
        if sql is rollup._LOCK_PG:
            calls.append(params["pupil_ids"].split(","))
        return original(db, sql, params, many=many)

    monkeypatch.setattr(rollup, "_run", spy)
    return calls


def _sole_urns(gw: Gateway) -> dict[str, int | None]:
    with gw.runtime.sessions() as db:
        return dict(db.execute(text("SELECT pupil_id, sole_urn FROM pupil_years WHERE academic_year = :y"),
                               {"y": YEAR}).all())


@ON_POSTGRESQL
def test_a_register_of_known_pupils_moves_their_rows_without_recomputing_them(
    loaded: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = loaded
    put(gw, 100001, MONDAY, [pupil(1), pupil(2, am="I", pm="O")])
    assert set(_sole_urns(gw).values()) == {100001}
    calls = _recomputed(monkeypatch)
    # Day 2: both known (fast); pupil 2 changes year group and FSM; pupil 3 is new (recomputed).
    put(gw, 100001, MONDAY + dt.timedelta(days=1), [pupil(1, pm="G"), pupil(2, year_group="6", fsm_eligible=True), pupil(3)])
    assert len(calls) == 1 and len(calls[0]) == 1
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=1))
    # An older day's first register (a missed Friday sent late) moves the totals, not the attributes.
    put(gw, 100001, MONDAY - dt.timedelta(days=3), [pupil(1), pupil(2, year_group="5", am="N"), pupil(3, am="U")])
    assert len(calls) == 1
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=1))
    # A day of sessions that are not possible moves only the last date, and with it the public bound.
    put(gw, 100001, MONDAY + dt.timedelta(days=2), [pupil(1, am="#", pm="#"), pupil(2, am="#", pm="#"), pupil(3, am="#", pm="#")])
    assert len(calls) == 1
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=2))
    # A correction recomputes its pupils.
    put(gw, 100001, MONDAY + dt.timedelta(days=1), [pupil(1), pupil(2), pupil(3)])
    assert len(calls) == 2 and len(calls[1]) == 3
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=2))


@ON_POSTGRESQL
def test_a_pupil_on_two_schools_rolls_is_recomputed_by_both_schools_registers(
    loaded: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = loaded
    twice = pupil(5)
    put(gw, 100001, MONDAY, [twice, pupil(6)])
    calls = _recomputed(monkeypatch)
    put(gw, 100002, MONDAY, [{**twice, "year_group": "7"}])  # a new enrolment: recomputed
    sole = _sole_urns(gw)
    assert sorted(sole.values(), key=str) == [100001, None]
    for day in (MONDAY + dt.timedelta(days=1), MONDAY + dt.timedelta(days=2)):
        put(gw, 100001, day, [twice, pupil(6)])
        put(gw, 100002, day, [{**twice, "year_group": "7", "am": "/", "pm": "/"}])
    # Pupil 5 went to the recomputation every time; pupil 6, only at school 100001, never.
    assert [len(c) for c in calls] == [1, 1, 1, 1, 1]
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=2))


@ON_POSTGRESQL
def test_a_row_another_transaction_changed_meanwhile_is_recomputed_not_overwritten(loaded: Gateway) -> None:
    """School 100002's register takes a pupil of school 100001 (a new enrolment, recomputed: the row
    locked, moved and no longer sole) and has not committed when 100001's next register reaches the
    same row. That register's fast path read the row before the change, waits for the lock, finds a
    new version and leaves the pupil to the recomputation, which sees both enrolments."""
    gw = loaded
    put(gw, 100001, MONDAY, [pupil(1), pupil(2)])
    with gw.runtime.sessions() as db:
        pid = db.execute(text("SELECT pupil_id FROM pupil_years ORDER BY pupil_id LIMIT 1")).scalar_one()
    with gw.runtime.engine.connect() as held, gw.runtime.engine.connect() as watch:
        other = Session(bind=held)
        other.execute(text(
            "INSERT INTO enrolments (pupil_id, urn, academic_year, la_code, year_group, sen_status, fsm_eligible, "
            "first_date, last_date, sessions_possible, sessions_present, sessions_aea, sessions_authorised, "
            "sessions_unauthorised, sessions_not_counted) VALUES (:p, 100002, :y, '202', '7', 'N', false, :d, :d, "
            "2, 1, 0, 1, 0, 0)"), {"p": pid, "y": YEAR, "d": MONDAY + dt.timedelta(days=1)})
        rollup.refresh(other, YEAR, [pid])  # locks the row and rewrites it, uncommitted
        sent = threading.Thread(target=put, args=(gw, 100001, MONDAY + dt.timedelta(days=1), [pupil(1), pupil(2)]))
        sent.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the register waits for the row
            waiting = watch.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                         "AND datname = current_database()")).scalar_one()
            watch.rollback()  # a new transaction, and so a new view of pg_stat_activity, each time
            if waiting:
                break
            time.sleep(0.05)
        other.commit()
        sent.join(30)
        assert waiting and not sent.is_alive()
    assert _sole_urns(gw)[pid] is None
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=1))
