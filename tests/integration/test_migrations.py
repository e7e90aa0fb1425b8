"""One Alembic history that goes up and down on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from gateway.db.base import Base
from gateway.db.migrate import downgrade, upgrade
from gateway.db.session import normalise_url


def _tables(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_the_history_builds_every_model_table_and_downgrades_to_nothing(database_url: str) -> None:
    assert _tables(database_url) >= set(Base.metadata.tables)
    downgrade(database_url, "base")
    assert _tables(database_url) == set()
    upgrade(database_url)
    assert _tables(database_url) >= set(Base.metadata.tables)


def test_the_models_and_the_migrations_agree(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrading_a_database_with_registers_to_0006_builds_the_statistics_rollup(database_url: str) -> None:
    """Migration 0006 fills pupil_years and stats_cells from the enrolments already there, so that
    year-to-date statistics answer the same after the upgrade as before it."""
    import datetime as dt

    from sqlalchemy import text

    from anonymisation import dp as adp
    from gateway.db import rollup_repository as rollup
    from gateway.db import stats_repository as srepo
    from gateway.db.session import make_engine, make_sessionmaker

    downgrade(database_url, "0005")
    engine = create_engine(normalise_url(database_url))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO schools (urn, la_code, la_name, name, phase, type_of_establishment, status, "
                          "updated_at) VALUES (100001, '202', 'Camden', 'A', 'Primary', 'Community school', 'Open', "
                          ":now), (100002, '202', 'Camden', 'B', 'Secondary', 'Academy converter', 'Open', :now)"),
                     {"now": dt.datetime(2025, 10, 1, tzinfo=dt.UTC)})
        for n, (urn, possible, absent) in enumerate([(100001, 20, 2), (100001, 20, 10), (100002, 18, 0), (100002, 70, 1)]):
            conn.execute(text(
                "INSERT INTO enrolments (pupil_id, urn, academic_year, la_code, year_group, sen_status, fsm_eligible, "
                "first_date, last_date, sessions_possible, sessions_present, sessions_aea, sessions_authorised, "
                "sessions_unauthorised, sessions_not_counted) VALUES (:pid, :urn, 2025, '202', '5', 'N', false, "
                ":first, :last, :possible, :present, 0, :absent, 0, 0)"),
                {"pid": f"{n % 3:064d}", "urn": urn, "first": dt.date(2025, 9, 1), "last": dt.date(2025, 9, 26),
                 "possible": possible, "present": possible - absent, "absent": absent})
    engine.dispose()
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as db:
            assert len(rollup.pupil_rows(db, 2025)) == 3
            # Pupil 0 is at both schools (20 + 70 possible sessions, more than the 2 per weekday
            # since 1 August allow by 26 September): clamped when asked, not summed ahead.
            assert sum(1 for *_, clean in rollup.pupil_rows(db, 2025).values() if not clean) == 1
            s_t = adp.sessions_possible_bound(dt.date(2025, 8, 1), dt.date(2025, 9, 30))
            for by in ([], ["la", "phase"]):
                assert srepo.exact_cells(db, 2025, by, s_t, adp.STATISTIC_NAMES) == srepo.exact_cells(
                    db, 2025, by, s_t, adp.STATISTIC_NAMES, rollup=False)
    finally:
        engine.dispose()
