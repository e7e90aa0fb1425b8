"""The gateway's PostgreSQL connections: what they set up for every statement."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gateway.runtime import build_runtime
from gateway.settings import Settings
from tests.conftest import BACKENDS


# JIT is a PostgreSQL setting; CI always has PostgreSQL (without it the parameter set is empty).
@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_the_gateway_never_jit_compiles_its_statements(settings: Settings) -> None:
    # The server's default is on: an estimate past jit_above_cost spent 70 ms compiling a register's
    # rollup refresh that ran in 10.
    runtime = build_runtime(settings)
    try:
        with runtime.sessions() as db:
            assert db.execute(text("SHOW jit")).scalar_one() == "off"
    finally:
        runtime.engine.dispose()
