"""Answering a statistics question (``GET /v1/stats``, ``POST /v1/stats/releases``): the stored answer
again, or the noise planned, the budget reserved, the exact cells noised, published and stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from anonymisation import cell_keysets, school_calendar
from anonymisation import dp as adp
from gateway.auth import Principal
from gateway.db.base import utcnow
from gateway.db.repositories import budget as budget_repo
from gateway.db.repositories import statistics as srepo
from gateway.db.session import transaction
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.services import audit
from gateway.services.common import OPEN_STATUSES
from gateway.services.stats.ledger import PLANNING, BudgetRules, budget_policy, budget_summary, year_rules
from gateway.services.stats.publication import bundle_csv, table_body
from gateway.services.stats.questions import (
    BUNDLE_NAME,
    BUNDLE_TAKEN,
    DFE_SHARE,
    MAX_BUNDLE_TABLES,
    TREND_BUNDLE_PREFIX,
    Question,
    Table,
    Window,
    authorise_question,
    check_window_applies,
    invalid,
    parse_table,
    record_denial,
    record_served,
    released_event,
    resolve_window,
    school_weeks,
    serve_stored,
    sessions_possible_bound,
    today,
)
from gateway.services.stats.reservations import over_budget, reserve
from gateway.services.stats.results import Answer
from gateway.settings import Settings
from schemas.calendar import academic_year_bounds, academic_year_label
from schemas.codes import codes_by_class

log = structlog.get_logger("gateway.stats")


def get_statistics(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    measure: str,
    by: Sequence[str],
    from_: dt.date | None,
    to: dt.date | None,
) -> Answer:
    """One noisy table (``GET /v1/stats``): rows with values and 95% intervals, noise and budget."""
    table = parse_table(measure, by)
    window = resolve_window(from_, to, today())
    check_window_applies(table, window)
    r = year_rules(sessions, settings, window.academic_year)
    question = Question("query", DFE_SHARE, window, (table,), r.mechanism)
    body = _answer(sessions, settings, principal, question, r)
    return body


def create_bundle(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    name: str,
    tables: Sequence[tuple[str, Sequence[str]]],
    from_: dt.date | None,
    to: dt.date | None,
) -> Answer:
    """A named release bundle (``POST /v1/stats/releases``): several tables, one reservation, one
    CSV in DfE's open-data layout. Posting the same bundle again returns it, spending nothing."""
    if not BUNDLE_NAME.fullmatch(name):
        raise invalid("name", "a bundle name is 1 to 80 lower-case letters, digits and hyphens")
    if name.startswith(TREND_BUNDLE_PREFIX):
        raise invalid("name", f"names beginning {TREND_BUNDLE_PREFIX!r} are kept for the fortnightly trend "
                      "(POST /v1/stats/trend)")
    if not 1 <= len(tables) <= MAX_BUNDLE_TABLES:
        raise invalid("tables", f"a bundle has 1 to {MAX_BUNDLE_TABLES} tables")
    parsed = tuple(parse_table(m, b, f"tables.{i}.") for i, (m, b) in enumerate(tables))
    if len(set(parsed)) != len(parsed):
        raise invalid("tables", "a table is listed twice")
    window = resolve_window(from_, to, today())
    for i, table in enumerate(parsed):
        check_window_applies(table, window, f"tables.{i}.")
    r = year_rules(sessions, settings, window.academic_year)
    question = Question("bundle", DFE_SHARE, window, parsed, r.mechanism, bundle=name)
    return _answer(sessions, settings, principal, question, r)


def get_bundle(
    sessions: sessionmaker[Session], settings: Settings, principal: Principal, name: str
) -> Answer:
    """A bundle already released to this consumer, again (audited, free)."""
    authorise_question(sessions, principal, {"bundle": name})
    with transaction(sessions) as db:
        stored = budget_repo.get_bundle(db, DFE_SHARE, name)
        if stored is None:
            raise NotFound("no bundle of that name was released to your organisation")
        body = json.loads(stored.answer)
        index = record_served(db, principal, body, stored.spend_id, cached=True)
    return _finish(sessions, settings, body, cached=True, index=index)


def get_bundle_csv(sessions: sessionmaker[Session], principal: Principal, name: str) -> str:
    authorise_question(sessions, principal, {"bundle": name})
    with transaction(sessions) as db:
        stored = budget_repo.get_bundle(db, DFE_SHARE, name)
        if stored is None or stored.csv is None:
            raise NotFound("no bundle of that name was released to your organisation")
        record_served(db, principal, json.loads(stored.answer), stored.spend_id, cached=True)
        return stored.csv


def _allotments(question: Question, r: BudgetRules) -> list[int]:
    """Units each table may spend: a query its slots; a bundle the sum of its tables' slots, split
    across them by need (``adp.allocate_by_need``: LA cells get far more than national ones)."""
    if len(question.tables) == 1:
        return [question.slots * r.slot_units]
    return adp.allocate_by_need(
        question.slots * r.slot_units,
        [(t.slots, len(cell_keysets.keys_for(t.by))) for t in question.tables],
    )


def _measurement_hash(question: Question, table: Table, statistic: str) -> str:
    """Identifies one noisy vector: the same statistic over the same window, grouping, key set and
    mechanism, for the same consumer, is the same published measurement whatever measure asked."""
    key = {
        "consumer": question.consumer,
        "from": question.window.start.isoformat(),
        "to": question.window.end.isoformat(),
        "by": list(table.by),
        "statistic": statistic,
        "sensitivity": adp.statistic(statistic, question.window.sessions_possible).sensitivity,
        "keyset_version": cell_keysets.KEYSET_VERSION,
        "mechanism": question.mechanism,
    } | ({"weekly": True} if table.weekly else {})
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def answer(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    question: Question,
    r: BudgetRules,
) -> Answer:
    """Answer a question built by another use case of the package (the trend's fortnights): the
    stored answer again, or the noise planned, the budget reserved and the cells released."""
    return _answer(sessions, settings, principal, question, r)


def _answer(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    question: Question,
    r: BudgetRules,
) -> Answer:
    authorise_question(sessions, principal, question.canonical())
    qhash = question.hash
    hashes = [
        {s: _measurement_hash(question, t, s) for s in adp.measure(t.measure).statistics}
        for t in question.tables
    ]
    with transaction(sessions) as db:
        stored = budget_repo.measurements(db, sorted({h for table in hashes for h in table.values()}))
    # 1. Plan the noise (pure: OpenDP privacy maps). Each table gets its slots, and is charged what
    #    OpenDP says the vectors it draws spend, rounded up to units. A denominator published before
    #    for this window and grouping (or drawn by an earlier table of this bundle) is reused.
    available = {h: m.scale for h, m in stored.items()}
    allotments = _allotments(question, r)
    plans = []
    try:
        with PLANNING:
            for table, table_hashes, allotment in zip(question.tables, hashes, allotments, strict=True):
                plan = adp.plan_measure(
                    table.measure,
                    question.window.sessions_possible,
                    allotment,
                    mechanism=r.mechanism,
                    published={s: available[h] for s, h in table_hashes.items() if h in available},
                )
                plans.append(plan)
                for name in plan.drawn:
                    available.setdefault(table_hashes[name], plan[name].scale)
    except adp.BudgetTooSmall:
        reasons = ["budget_too_small: the configured yearly budget cannot give each statistic one unit"]
        with transaction(sessions) as db:
            record_denial(db, principal, reasons, question.canonical())
        raise Forbidden(reasons) from None
    cost = sum(p.units_spent for p in plans)
    # 2. Already answered? Serve it. Over the cap? Refuse before touching pupil data.
    denial = None
    with transaction(sessions) as db:
        served = serve_stored(db, principal, qhash)
        if served is None and question.bundle is not None:
            if budget_repo.get_bundle(db, question.consumer, question.bundle) is not None:
                raise Conflict(BUNDLE_TAKEN)
        if served is None and budget_repo.latest_spend_for(db, qhash) is None:
            denial = over_budget(db, principal, question, r.cap_units, r.share, cost)
    if served is not None:
        return _finish(sessions, settings, served[0], cached=True, index=served[1])
    if denial is not None:
        raise denial
    # The exact cells of the vectors to draw, in SQL where the data is; secret, discarded once noised.
    with transaction(sessions) as db:
        exact = _exact_tables(db, question.window, question.tables, plans)

    # 3. Reserve (audited, committed) before any noise; wait if the same question is in flight.
    spend_id = reserve(sessions, principal, question, plans, cost, r)
    if isinstance(spend_id, tuple):
        return _finish(sessions, settings, spend_id[0], cached=True, index=spend_id[1])

    # 4. Noise, post-process, store and release.
    now = utcnow()
    tables = []
    fresh: dict[str, list[int]] = {}
    kept: list[dict[str, Any]] = []
    register = _register_schools(sessions, settings, question.tables)
    for table, plan, cells, table_hashes in zip(question.tables, plans, exact, hashes, strict=True):
        drawn = adp.release_noisy(plan, {s: [c[s] for c in cells] for s in plan.drawn})
        noisy = dict(drawn)
        for name in plan.names:
            h = table_hashes[name]
            if name in drawn:
                if h not in fresh and h not in stored:
                    fresh[h] = drawn[name]
                    kept.append(_kept_measurement(h, spend_id, question, table, plan[name], drawn[name], now))
            else:
                noisy[name] = fresh[h] if h in fresh else json.loads(stored[h].noisy)
        keys = [{k: v for k, v in c.items() if k not in adp.STATISTIC_NAMES} for c in cells]
        withheld = _withheld(register, settings, table, keys)
        rows = adp.publish_table(table.measure, keys, noisy, plan, withheld=withheld)
        tables.append(table_body(table, plan, rows))
    del exact
    body: dict[str, Any] = {
        "release_id": spend_id,
        "kind": question.kind,
        "consumer": question.consumer,
        "from": question.window.start.isoformat(),
        "to": question.window.end.isoformat(),
        "academic_year": question.window.academic_year,
        "academic_year_label": academic_year_label(question.window.academic_year),
        "sessions_possible_bound": question.window.sessions_possible,
        "sessions_possible_source": "two sessions per school day of "
        + school_calendar.source(question.window.start, question.window.end),
        "keyset_version": cell_keysets.KEYSET_VERSION,
        "mechanism": adp.MECHANISM_LABELS[r.mechanism],
        "released_at": now.isoformat(),
        "release_rho": adp.units_to_rho(cost),
        "release_units": cost,
        "release_epsilon": adp.zcdp_to_epsilon(adp.units_to_rho(cost), r.delta),
    }
    if question.kind == "query":
        body |= tables[0]
    else:
        body |= {"bundle": question.bundle, "tables": tables}
    csv_text = bundle_csv(question, tables) if question.kind == "bundle" else None
    try:
        with transaction(sessions) as db:
            index = audit.record(db, released_event(principal, body, spend_id, cached=False))
            budget_repo.insert_answer(
                db,
                {
                    "question_hash": qhash,
                    "spend_id": spend_id,
                    "academic_year": question.window.academic_year,
                    "consumer": question.consumer,
                    "kind": question.kind,
                    "bundle": question.bundle,
                    "answer": json.dumps(body),
                    "csv": csv_text,
                    "created_at": now,
                    "audit_index": index,
                },
            )
            budget_repo.insert_measurements(db, kept)
            budget_repo.mark_released(db, spend_id, now)
    except IntegrityError:
        raise Conflict(
            "a bundle of that name was released meanwhile with other tables; this reservation stays spent"
        ) from None
    log.info("stats_released", kind=question.kind, tables=len(tables), units=cost, audit_index=index)
    return _finish(sessions, settings, body, cached=False, index=index, spent=cost)


def _kept_measurement(
    key_hash: str,
    spend_id: str,
    question: Question,
    table: Table,
    planned: adp.PlannedStatistic,
    values: list[int],
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "key_hash": key_hash,
        "spend_id": spend_id,
        "academic_year": question.window.academic_year,
        "consumer": question.consumer,
        "statistic": planned.name,
        "key": json.dumps(
            {
                "from": question.window.start.isoformat(),
                "to": question.window.end.isoformat(),
                "by": list(table.by),
            }
            | ({"weekly": True} if table.weekly else {})
        ),
        "sensitivity": planned.statistic.sensitivity,
        "scale": planned.scale,
        "units": planned.units,
        "noisy": json.dumps(values),
        "created_at": now,
    }


def _register_schools(
    sessions: sessionmaker[Session], settings: Settings, tables: Sequence[Table]
) -> dict[tuple[str, str], int]:
    """Open schools per (LA, phase) in the public register, read once per answer, and only when a
    table is split by LA and the single-school convention is on."""
    if settings.stats_min_schools_per_la_cell <= 0 or not any("la" in t.by for t in tables):
        return {}
    with transaction(sessions) as db:
        return srepo.register_schools(db, sorted(OPEN_STATUSES))


def _withheld(
    register: Mapping[tuple[str, str], int],
    settings: Settings,
    table: Table,
    keys: Sequence[Mapping[str, Any]],
) -> list[str | None] | None:
    """DfE's single-school convention for LA-level cells (``c``; ``z`` where the register has no
    school), judged from the public register of schools only: post-processing, free of budget."""
    minimum = settings.stats_min_schools_per_la_cell
    if "la" not in table.by or minimum <= 0:
        return None
    by_la: dict[str, int] = {}
    for (la, _), n in register.items():
        by_la[la] = by_la.get(la, 0) + n
    out = []
    for key in keys:
        if "phase" in table.by:
            schools = register.get((key["la_code"], key["phase"]), 0)
        else:
            schools = by_la.get(key["la_code"], 0)
        out.append(adp.withheld_for_schools(schools, minimum))
    return out


def _exact_tables(
    db: Session, window: Window, tables: Sequence[Table], plans: Sequence[adp.NoisePlan]
) -> list[list[dict[str, Any]]]:
    """Each table's exact cells. A bundle collapses the pupils once, grouped by the union of its
    tables' dimensions, and sums that into each table (``repositories.statistics.marginalise``).
    Weekly tables do that once per school week of the window, each week's cells keyed by its Monday
    and clamped to that week's ``S_t`` (so that a pupil's weeks sum to at most the window's)."""
    out: list[list[dict[str, Any]]] = [[] for _ in tables]
    for weekly in (False, True):
        chosen = [i for i, t in enumerate(tables) if t.weekly == weekly]
        if not chosen:
            continue
        parts: list[tuple[dict[str, Any], Window]] = [({}, window)]
        if weekly:
            parts = [
                ({"week": monday.isoformat()},
                 Window(start, end, window.academic_year, sessions_possible_bound(start, end)))
                for monday, start, end in school_weeks(window)
            ]
        for key, part in parts:
            cells = _exact_union(db, part, [tables[i] for i in chosen], [plans[i] for i in chosen],
                                 year_to_date_allowed=not weekly)
            for i, table_cells in zip(chosen, cells, strict=True):
                out[i] += [key | c for c in table_cells]
    return out


def _exact_union(
    db: Session,
    window: Window,
    tables: Sequence[Table],
    plans: Sequence[adp.NoisePlan],
    *,
    year_to_date_allowed: bool,
) -> list[list[dict[str, Any]]]:
    if len(tables) == 1:
        return [_exact(db, window, tables[0].by, plans[0].drawn, year_to_date_allowed)]
    union = cell_keysets.canonical_by(sorted({d for t in tables for d in t.by}))
    statistics = tuple(dict.fromkeys(s for p in plans for s in p.drawn))
    fine = _exact(db, window, union, statistics, year_to_date_allowed)
    return [srepo.marginalise(fine, t.by, p.drawn) for t, p in zip(tables, plans, strict=True)]


def _exact(
    db: Session,
    window: Window,
    by: Sequence[str],
    statistics: Sequence[str],
    year_to_date_allowed: bool = True,
) -> list[dict[str, Any]]:
    year_start = academic_year_bounds(window.academic_year)[0]
    year_to_date = False
    if window.start == year_start and year_to_date_allowed:
        latest = srepo.latest_feed_date(db, window.academic_year)
        year_to_date = latest is None or latest <= window.end
    return srepo.exact_cells(
        db,
        window.academic_year,
        by,
        window.sessions_possible,
        statistics,
        window=None if year_to_date else (window.start, window.end),
        codes=None if year_to_date else codes_by_class(),
    )


def _finish(
    sessions: sessionmaker[Session],
    settings: Settings,
    body: dict[str, Any],
    *,
    cached: bool,
    index: int,
    spent: int = 0,
) -> Answer:
    """The stored body plus what belongs to this request: cached or not, what it spent, the budget now."""
    year, consumer = body["academic_year"], body["consumer"]
    if consumer.startswith("dfe:"):
        # An answer stored before the budget was shared names the organisation; its spend is now
        # DfE's share's.
        consumer = DFE_SHARE
    r = year_rules(sessions, settings, year, consumer)
    with transaction(sessions) as db:
        spent_by = budget_repo.spent_by_consumer(db, year)
    summary = budget_summary(year, r, spent_by.get(consumer, 0), spent_by, budget_policy(settings))
    rho = adp.units_to_rho(spent)
    return Answer(
        release=body,
        cached=cached,
        audit_index=index,
        rho_spent=rho,
        epsilon_spent=adp.zcdp_to_epsilon(rho, r.delta),
        delta=r.delta,
        budget=summary,
    )
