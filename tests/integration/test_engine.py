"""The gateway's PostgreSQL connections: what they set up for every statement."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import text

from gateway.db.session import make_engine, transaction
from gateway.runtime import build_runtime
from gateway.settings import Settings
from tests.conftest import BACKENDS

# JIT is a PostgreSQL setting; CI always has PostgreSQL (without it the parameter set is empty).
POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
def test_the_gateway_never_jit_compiles_its_statements(settings: Settings) -> None:
    # The server's default is on: an estimate past jit_above_cost spent 70 ms compiling a register's
    # rollup refresh that ran in 10.
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as db:
            assert db.execute(text("SHOW jit")).scalar_one() == "off"
    finally:
        runtime.engine.dispose()


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
def test_options_in_the_database_url_are_kept_beside_jit_off(database_url: str) -> None:
    separator = "&" if "?" in database_url else "?"
    engine = make_engine(f"{database_url}{separator}options={quote('-c statement_timeout=12345')}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "12345ms"
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
def test_a_transaction_that_gives_up_its_locks_before_the_flush_is_durable_when_it_returns(
    settings: Settings,
) -> None:
    """``transaction(locks_before_flush=True)`` commits asynchronously (its locks go at once), then
    returns only after a second commit has flushed the WAL past the first: when the block is left,
    everything written so far is on disk."""
    runtime = build_runtime(settings)
    try:
        with runtime.engine.begin() as conn:
            conn.execute(text("CREATE TABLE flush_probe (n integer)"))
        for rows in (1, 5000):
            with transaction(runtime.sessions, locks_before_flush=True) as db:
                assert db.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
                db.execute(text("INSERT INTO flush_probe SELECT generate_series(1, :n)"), {"n": rows})
                written = db.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar_one()
            with runtime.sessions() as db:
                assert db.execute(text("SELECT pg_current_wal_flush_lsn() >= CAST(:w AS pg_lsn)"),
                                  {"w": str(written)}).scalar_one()
    finally:
        runtime.engine.dispose()
