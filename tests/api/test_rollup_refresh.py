"""The rollup's refresh beyond what a register reaches (both backends): a pupil whose last enrolment of
the year went, a pupil asked about who has none, a refresh that changes nothing; and, on PostgreSQL,
that the refresh holds the locks of the pupils' rows until commit, new pupils' as well as known ones'."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gateway.db.repositories import rollup
from tests.api.test_stats_rollup import MONDAY, YEAR, assert_rollup_exact, put
from tests.conftest import BACKENDS, Gateway
from tests.factories import pupil


def _pupil_ids(gw: Gateway, urn: int) -> list[str]:
    with gw.runtime.sessions() as db:
        rows = db.execute(text("SELECT pupil_id FROM enrolments WHERE urn = :u"), {"u": urn})
        return sorted(rows.scalars())


def test_a_pupil_whose_enrolments_are_gone_leaves_the_rollup_and_its_cell(loaded: Gateway) -> None:
    gw = loaded
    for d in range(3):
        rows = [pupil(n, pm="N" if n == 2 else "/") for n in range(1, 6)]
        put(gw, 100001, MONDAY + dt.timedelta(days=d), rows)
    ids = _pupil_ids(gw, 100001)
    gone = ids[:2]
    with gw.runtime.sessions() as db, db.begin():
        cells_before = rollup.cells(db, YEAR)
        for table in ("enrolment_code_totals", "enrolments"):
            delete = text(f"DELETE FROM {table} WHERE pupil_id IN :p")  # noqa: S608 (our table names)
            db.execute(delete.bindparams(bindparam("p", expanding=True)), {"p": gone})
        # Asked about every pupil of the school, one who was never enrolled, twice over: only the two go.
        assert rollup.refresh(db, YEAR, [*ids, *ids, "f" * 64]) == 0
        rows = rollup.pupil_rows(db, YEAR)
        assert set(gone).isdisjoint(rows) and set(ids[2:]) <= set(rows) and "f" * 64 not in rows
        pupils = sum(c[0] for c in rollup.cells(db, YEAR).values())
        assert pupils == sum(c[0] for c in cells_before.values()) - 2
    assert_rollup_exact(gw, MONDAY + dt.timedelta(days=2))


def test_a_refresh_with_nothing_new_changes_no_row(loaded: Gateway) -> None:
    gw = loaded
    put(gw, 100001, MONDAY, [pupil(n) for n in range(1, 4)])
    ids = _pupil_ids(gw, 100001)
    with gw.runtime.sessions() as db, db.begin():
        before = (rollup.pupil_rows(db, YEAR), rollup.cells(db, YEAR))
        assert rollup.refresh(db, YEAR, ids) == 0
        assert (rollup.pupil_rows(db, YEAR), rollup.cells(db, YEAR)) == before
        db.execute(text("UPDATE enrolments SET sessions_possible = sessions_possible + 2 "
                        "WHERE pupil_id = :p"), {"p": ids[0]})
        assert rollup.refresh(db, YEAR, ids) == 1
    assert_rollup_exact(gw, MONDAY)


# Row locks: PostgreSQL only (SQLite has one writer at a time), which CI always has
# (GATEWAY_TEST_POSTGRES_URL); without it the parameter set is empty.
@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_on_postgresql_the_refresh_locks_known_and_new_pupils_rows_until_commit(loaded: Gateway) -> None:
    """Known pupils' rows are locked (another transaction cannot lock them), a new pupil's row is
    inserted uncommitted (another transaction inserting it waits); both are free after the end."""
    gw = loaded
    put(gw, 100001, MONDAY, [pupil(n) for n in range(1, 4)])
    known = _pupil_ids(gw, 100001)[0]
    new = "e" * 64
    lock_known = text("SELECT pupil_id FROM pupil_years WHERE academic_year = :y AND pupil_id = :p "
                      "FOR UPDATE NOWAIT")
    insert_new = text("INSERT INTO pupil_years (academic_year, pupil_id, attributes, possible, authorised, "
                      "unauthorised, last_date, clean) VALUES (:y, :p, 0, 0, 0, 0, :d, false) "
                      "ON CONFLICT DO NOTHING")
    with gw.runtime.engine.connect() as holder, gw.runtime.engine.connect() as other:
        db = Session(bind=holder)
        rollup.refresh(db, YEAR, [known, new])
        for statement, pid in ((lock_known, known), (insert_new, new)):
            with pytest.raises(OperationalError, match="lock"), other.begin():
                other.execute(text("SET LOCAL lock_timeout = '200ms'"))
                other.execute(statement, {"y": YEAR, "p": pid, "d": MONDAY})
        db.rollback()
        with other.begin():
            assert other.execute(lock_known, {"y": YEAR, "p": known}).scalar_one() == known
            other.execute(insert_new, {"y": YEAR, "p": new, "d": MONDAY})
            other.rollback()
