"""The privacy-budget ledger under concurrency and failure, on SQLite and PostgreSQL: never overspent,
reserved before any noise, never refunded, and one answer per question."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from gateway.auth import Principal
from gateway.db.models import AuditEvent, PrivacySpend, StatsAnswer
from gateway.db.repositories import budget as budget_repo
from gateway.db.session import make_engine, make_sessionmaker
from gateway.errors import Conflict, Forbidden
from gateway.services import stats
from gateway.services.stats import reservations
from gateway.settings import Settings

STATISTICIAN = Principal(sub="statistician-1", org_type="dfe", org_id="dfe", roles=("statistician",))
# Twenty distinct questions with the same public bound S_t: every 14-day window has ten weekdays.
WINDOWS = [
    (dt.date(2025, 9, 1) + dt.timedelta(days=d), dt.date(2025, 9, 14) + dt.timedelta(days=d))
    for d in range(20)
]


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    # Pool big enough for twenty requests at once, as twenty gateway workers would have.
    engine = (
        make_engine(database_url)
        if database_url.startswith("sqlite")
        else make_engine(database_url, pool_size=25)
    )
    yield make_sessionmaker(engine)
    engine.dispose()


def at_the_edge(database_url: str, data_dir: Path, slots: int) -> Settings:
    """A yearly cap of exactly ``slots`` single-statistic questions."""
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        stats_releases_per_year=1,
        stats_statistics_per_release=slots,
    )


def count(sessions: sessionmaker[Session], model: Any, *where: Any) -> int:
    with sessions() as db:
        return int(db.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def run_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at the same moment; collect each result or the exception it raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        try:
            return call()
        except Exception as exc:  # noqa: BLE001  (the test inspects what each request got)
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_twenty_concurrent_distinct_questions_at_the_edge_of_the_cap_never_overspend_it(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    settings = at_the_edge(database_url, data_dir, 10)
    calls = [
        lambda w=w: stats.get_statistics(sessions, settings, STATISTICIAN, "enrolments", ["phase"], *w)
        for w in WINDOWS
    ]
    results = run_at_once(calls)
    released = [r for r in results if isinstance(r, stats.Answer)]
    refused = [r for r in results if isinstance(r, Forbidden)]
    assert len(released) == 10 and len(refused) == 10, [type(r).__name__ for r in results]
    assert all(r.detail["reasons"][0].startswith("budget_exhausted") for r in refused)
    cap = stats.rules(settings).share_units
    with sessions() as db:
        spent = budget_repo.spent_units(db, 2025, "dfe-statistics")
    assert spent == sum(r.release["release_units"] for r in released) <= cap
    assert count(sessions, PrivacySpend) == 10 and count(sessions, StatsAnswer) == 10
    assert count(sessions, AuditEvent, AuditEvent.action == "budget.spent") == 10
    assert count(sessions, AuditEvent, AuditEvent.action == "stats.denied") == 10


def test_the_same_question_asked_at_once_is_paid_and_noised_once(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    settings = at_the_edge(database_url, data_dir, 10)
    results = run_at_once(
        [lambda: stats.get_statistics(sessions, settings, STATISTICIAN, "enrolments", ["la"], *WINDOWS[0])]
        * 4
    )
    assert all(isinstance(r, stats.Answer) for r in results), results
    assert len({r.release["release_id"] for r in results}) == 1
    assert all(r.release["rows"] == results[0].release["rows"] for r in results)
    assert sorted(r.cached for r in results) == [False, True, True, True]
    assert count(sessions, PrivacySpend) == 1


def test_a_reservation_whose_answer_was_never_stored_stays_spent_and_nothing_is_released(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = at_the_edge(database_url, data_dir, 10)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(budget_repo, "insert_answer", crash)
    with pytest.raises(OSError):
        stats.get_statistics(sessions, settings, STATISTICIAN, "enrolments", ["la"], *WINDOWS[0])
    monkeypatch.undo()
    (spend,) = _spends(sessions)
    assert spend.status == "reserved" and count(sessions, StatsAnswer) == 0
    assert count(sessions, AuditEvent, AuditEvent.action == "stats.released") == 0
    # The same question meanwhile waits for the answer in flight, then gives up: no second noise.
    monkeypatch.setattr(reservations, "WAIT_FOR_SAME_QUESTION_SECONDS", 0.3)
    with pytest.raises(Conflict):
        stats.get_statistics(sessions, settings, STATISTICIAN, "enrolments", ["la"], *WINDOWS[0])
    # Once the reservation is taken as abandoned, the question is paid again; the first stays spent.
    monkeypatch.setattr(reservations, "ABANDONED_RESERVATION", dt.timedelta(0))
    body = stats.get_statistics(sessions, settings, STATISTICIAN, "enrolments", ["la"], *WINDOWS[0])
    assert body.cached is False
    first, second = _spends(sessions)
    assert (first.status, second.status) == ("reserved", "released")
    assert body.budget.spent.units == first.units + second.units


def test_two_dfe_org_ids_and_two_statisticians_asking_at_once_share_one_cap(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    """The ledger was once keyed by ``dfe:<org_id>``, so each DfE org id had a full budget. Now
    twenty distinct questions from two org ids and two statisticians, at once, fit one DfE share."""
    settings = at_the_edge(database_url, data_dir, 10)
    # Tokens now name DfE by one org id only; the second is made past that check, as defence in depth:
    # the ledger must not depend on who asks.
    askers = [
        Principal.model_construct(sub=f"statistician-{n % 2}", org_type="dfe", org_id=org, roles=("statistician",))
        for n, org in enumerate(["dfe", "dfe-analysis"] * 10)
    ]
    calls = [
        lambda w=w, p=p: stats.get_statistics(sessions, settings, p, "enrolments", ["phase"], *w)
        for w, p in zip(WINDOWS, askers, strict=True)
    ]
    results = run_at_once(calls)
    released = [r for r in results if isinstance(r, stats.Answer)]
    refused = [r for r in results if isinstance(r, Forbidden)]
    # One share of ten slots for both organisations together: ten answers, not twenty.
    assert len(released) == 10 and len(refused) == 10, [type(r).__name__ for r in results]
    r = stats.rules(settings)
    with sessions() as db:
        spent = budget_repo.spent_units(db, 2025)
        requesters = set(db.execute(select(PrivacySpend.requester)).scalars())
    assert spent == sum(b.release["release_units"] for b in released) <= r.share_units <= r.cap_units
    assert len(requesters) == 2 and {b.release["consumer"] for b in released} == {"dfe-statistics"}


def test_a_higher_setting_after_the_year_was_spent_from_leaves_its_cap_as_fixed(
    sessions: sessionmaker[Session], database_url: str, data_dir: Path
) -> None:
    first = at_the_edge(database_url, data_dir, 10)
    stats.get_statistics(sessions, first, STATISTICIAN, "enrolments", [], *WINDOWS[0])
    higher = first.model_copy(update={"stats_epsilon_per_year": 14.0})
    with capture_logs() as logs:
        body = stats.get_statistics(sessions, higher, STATISTICIAN, "enrolments", [], *WINDOWS[1])
    fixed = stats.rules(first).cap_units
    assert body.budget.ledger["cap"].units == fixed < stats.rules(higher).configured_units
    with sessions() as db:
        assert budget_repo.get_ledger(db, 2025).cap_units == fixed  # type: ignore[union-attr]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["stats_cap_setting_ignored"]
    assert count(sessions, AuditEvent, AuditEvent.action.like("budget.cap%")) == 0


def _spends(sessions: sessionmaker[Session]) -> list[PrivacySpend]:
    with sessions() as db:
        return list(db.execute(select(PrivacySpend).order_by(PrivacySpend.created_at)).scalars())
