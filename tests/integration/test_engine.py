"""The gateway's PostgreSQL connections: what they set up for every statement."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import text

from gateway.db.session import make_engine
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
