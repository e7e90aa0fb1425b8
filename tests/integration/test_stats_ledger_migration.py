"""Migration 0013 (one national privacy ledger) on SQLite and PostgreSQL: the per-organisation DfE budgets of a year
become one ledger with the smallest of their caps, spends keep their units and their requester, a
bundle name two org ids both used stays unique, and the downgrade puts the budgets back."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import create_engine, text

from gateway.db.migrate import downgrade, upgrade
from gateway.db.session import normalise_url

NOW = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)


def test_two_dfe_budgets_of_a_year_become_one_ledger_and_come_back_on_downgrade(database_url: str) -> None:
    downgrade(database_url, "0012")
    engine = create_engine(normalise_url(database_url))
    with engine.begin() as conn:
        for consumer, cap in (("dfe:dfe", 900), ("dfe:dfe-2", 1000)):
            conn.execute(text(
                "INSERT INTO privacy_budgets (academic_year, consumer, cap_units, epsilon, delta, "
                "created_at, updated_at) VALUES (2025, :c, :cap, 10, 1e-9, :now, :now)"),
                {"c": consumer, "cap": cap, "now": NOW})
        for n, consumer in enumerate(("dfe:dfe", "dfe:dfe-2")):
            conn.execute(text(
                "INSERT INTO privacy_spends (id, academic_year, consumer, units, status, kind, "
                "question_hash, question, measurement, requested_by, created_at, released_at, audit_index) "
                "VALUES "
                "(:id, 2025, :c, 400, 'released', 'bundle', :q, '{}', '[]', 'sub', :at, :at, 0)"),
                {"id": f"st_{n}", "c": consumer, "q": f"{n}" * 64, "at": NOW + dt.timedelta(minutes=n)})
            conn.execute(text(
                "INSERT INTO stats_answers (question_hash, spend_id, academic_year, consumer, kind, bundle, "
                "answer, csv, created_at, audit_index) "
                "VALUES (:q, :id, 2025, :c, 'bundle', 'autumn', '{}', NULL, :at, 0)"),
                {"id": f"st_{n}", "c": consumer, "q": f"{n}" * 64, "at": NOW + dt.timedelta(minutes=n)})
    upgrade(database_url)
    with engine.connect() as conn:
        ledgers = conn.execute(text("SELECT academic_year, cap_units, fixed_by FROM privacy_ledgers")).all()
        assert ledgers == [(2025, 900, "settings")]
        spends = conn.execute(text("SELECT consumer, requester, units FROM privacy_spends ORDER BY id")).all()
        assert spends == [("dfe-statistics", "dfe:dfe", 400), ("dfe-statistics", "dfe:dfe-2", 400)]
        answered = conn.execute(text("SELECT consumer, bundle FROM stats_answers ORDER BY created_at"))
        assert answered.all() == [("dfe-statistics", "autumn"), ("dfe-statistics", "autumn-dfe-2")]
    downgrade(database_url, "0012")
    with engine.connect() as conn:
        budgets = conn.execute(text("SELECT consumer, cap_units FROM privacy_budgets ORDER BY consumer"))
        assert budgets.all() == [("dfe:dfe", 900), ("dfe:dfe-2", 900)]
        assert conn.execute(text("SELECT consumer FROM privacy_spends ORDER BY id")).scalars().all() == [
            "dfe:dfe", "dfe:dfe-2"
        ]
        answers = conn.execute(text("SELECT consumer FROM stats_answers ORDER BY created_at")).scalars()
        assert answers.all() == ["dfe:dfe", "dfe:dfe-2"]
    engine.dispose()
    upgrade(database_url)
