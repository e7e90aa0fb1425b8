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

    from gateway.db.partitions import include_name

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrading_a_database_with_registers_to_0006_builds_the_statistics_rollup(database_url: str) -> None:
    """Migration 0006 fills pupil_years and stats_cells from the enrolments already there, so that
    year-to-date statistics answer the same after the upgrade as before it."""
    import datetime as dt

    from sqlalchemy import text

    from anonymisation import dp as adp
    from gateway.db.repositories import rollup
    from gateway.db.repositories import statistics as srepo
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


def test_migration_0011_keys_release_pupils_by_reference_and_drops_the_rows_without_one(database_url: str) -> None:
    """Rows of a release that gave no pupil_ref were never read: 0011 drops them and keys the rest by
    reference; the downgrade puts the old keys back over the rows that remain."""
    from sqlalchemy import text

    downgrade(database_url, "0010")
    engine = create_engine(normalise_url(database_url))
    rows = [("rel_a", "p1", "pr_one"), ("rel_a", "p2", "pr_two"), ("rel_b", "p1", None), ("rel_c", "p1", "pr_one")]
    with engine.begin() as conn:
        for release_id, pupil_id, ref in rows:
            conn.execute(text("INSERT INTO release_pupils (release_id, pupil_id, pupil_ref) VALUES (:r, :p, :f)"),
                         {"r": release_id, "p": pupil_id, "f": ref})
    engine.dispose()

    def state() -> tuple[list[tuple], list[str], set[str]]:
        engine = create_engine(normalise_url(database_url))
        try:
            with engine.connect() as conn:
                kept = sorted(tuple(r) for r in conn.execute(text("SELECT release_id, pupil_id, pupil_ref FROM release_pupils")))
            found = inspect(engine)
            key = found.get_pk_constraint("release_pupils")["constrained_columns"]
            return kept, key, {i["name"] for i in found.get_indexes("release_pupils")}
        finally:
            engine.dispose()

    upgrade(database_url)
    kept, key, indexes = state()
    assert kept == [("rel_a", "p1", "pr_one"), ("rel_a", "p2", "pr_two"), ("rel_c", "p1", "pr_one")]
    assert key == ["pupil_ref", "release_id"] and "ix_release_pupils_pupil_ref" not in indexes
    downgrade(database_url, "0010")
    kept_down, key, indexes = state()
    assert kept_down == kept and key == ["release_id", "pupil_id"] and "ix_release_pupils_pupil_ref" in indexes
    upgrade(database_url)
