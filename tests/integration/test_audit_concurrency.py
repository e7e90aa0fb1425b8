"""Two gateway processes appending to one database make one consistent log; heads keep coming."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from gateway.keys.signing import signing_keys
from gateway.db.session import make_engine, make_sessionmaker, transaction
from gateway.services import audit
from gateway.services.audit.trail import head_signer, sign_head
from gateway.services.audit.verify import verify_database
from tests.integration.test_audit_log import an_event, append

APPENDS_PER_PROCESS = 100


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _append_as_a_gateway(
    url: str, data_dir: str, worker: int, start: object, ready: object = None, *, release: bool = False
) -> None:
    """One gateway process: its own engine and connections; it also signs heads as it goes. It sets
    itself up (engine, a first connection, keys) before it says it is ``ready`` and waits for
    ``start``, so that both processes begin appending together, however slow a busy machine is to
    spawn one of them; the parent ``release``s the start once both are set up."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    keys = signing_keys(Path(data_dir))
    with engine.connect():
        pass
    if ready is not None:
        ready.set()  # type: ignore[attr-defined]
    if release:
        start.set()  # type: ignore[attr-defined]
    start.wait(60)  # type: ignore[attr-defined]
    for n in range(APPENDS_PER_PROCESS):
        with transaction(sessions) as db:
            audit.record(
                db, an_event(n, actor={"org_type": "la", "org_id": f"20{worker}", "sub": f"worker-{worker}"})
            )
        if n % 20 == 0:
            sign_head(sessions, keys)
    engine.dispose()


def _other_process(url: str, data_dir: str, worker: int, start: object, ready: object) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    _append_as_a_gateway(url, data_dir, worker, start, ready)


def test_two_processes_appending_at_once_make_one_log_that_verifies(
    database_url: str, data_dir: Path
) -> None:
    context = multiprocessing.get_context("spawn")
    start, ready = context.Event(), context.Event()
    other = context.Process(target=_other_process, args=(database_url, str(data_dir), 2, start, ready))
    other.start()
    assert ready.wait(60)
    # This process is the first gateway; it starts both once it is set up too.
    _append_as_a_gateway(database_url, str(data_dir), 1, start, release=True)
    other.join(120)
    assert other.exitcode == 0
    report = verify_database(database_url, signing_keys(data_dir).public_keys())
    assert report.ok, report.problems
    assert report.tree_size == report.events_checked == 2 * APPENDS_PER_PROCESS
    assert report.heads_checked >= 2
    engine = make_engine(database_url)
    with engine.connect() as conn:
        order = [row for (row,) in conn.execute(text("SELECT actor_org_id FROM audit_events ORDER BY idx"))]
    engine.dispose()
    assert order.count("201") == order.count("202") == APPENDS_PER_PROCESS
    # On PostgreSQL the appends really did interleave (waiters queue on the lock): the lock, not luck,
    # kept the indices apart. SQLite's busy handler sleeps in growing steps, so one process can take
    # all its turns while the other sleeps: there the log's integrity above is what is checked.
    switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
    assert switches > 1 if database_url.startswith("postgresql") else switches >= 1


def test_the_background_signer_signs_a_head_whenever_the_log_has_grown(
    sessions: sessionmaker[Session], data_dir: Path
) -> None:
    from gateway.db.repositories import audit as audit_repo

    def head_sizes() -> list[int]:
        with sessions() as db:
            return [h.tree_size for h in audit_repo.heads(db)]

    async def eventually(expected: list[int]) -> list[int]:
        """Poll rather than sleep a fixed time: on a busy machine a tick can come late."""
        deadline = time.monotonic() + 20
        while head_sizes() != expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return head_sizes()

    async def scenario() -> list[list[int]]:
        seen = []
        async with head_signer(sessions, data_dir, interval=0.05):
            append(sessions, 3)
            seen.append(await eventually([3]))
            await asyncio.sleep(0.3)  # several ticks with nothing new: no new head
            seen.append(head_sizes())
            append(sessions, 2, start=3)
            seen.append(await eventually([3, 5]))
        return seen

    assert asyncio.run(scenario()) == [[3], [3], [3, 5]]
    assert sign_head(sessions, signing_keys(data_dir)).tree_size == 5
