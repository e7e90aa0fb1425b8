"""A register's or a release's commit is confirmed on disk before the answer goes out
(``gateway.db.session.transaction``, ``locks_before_flush``): when that confirmation fails, the client
gets a 503, never a receipt or a record (the release's case: tests/api/test_releases.py), and a
register sent again is answered from what was stored, without storing it twice."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gateway.db import session as db_session
from gateway.db.models import Feed, Mark
from tests.api.test_feeds import count, put
from tests.conftest import BACKENDS, Gateway
from tests.factories import feed_json, pupil

# PostgreSQL only (SQLite commits in process); CI always has it (GATEWAY_TEST_POSTGRES_URL).
POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]
ON_POSTGRESQL = pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)


@ON_POSTGRESQL
def test_a_register_whose_flush_fails_gets_a_503_and_the_same_register_again_is_a_no_op(
    loaded: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = loaded
    body = feed_json([pupil(1), pupil(2, am="I", pm="I")])
    # The connection is lost between the two commits: the first is in, the second cannot confirm it.
    monkeypatch.setattr(db_session, "_FLUSH", text("SELECT pg_terminate_backend(pg_backend_pid())"))
    lost = put(gw, body)
    assert lost.status_code == 503, lost.text
    assert "audit_index" not in lost.text  # no receipt
    monkeypatch.undo()
    again = put(gw, body)
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 1
    assert count(gw, Feed) == 1 and count(gw, Mark) == 2

