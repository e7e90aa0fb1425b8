"""The fortnightly benchmark snapshot behind the schools' reports: built once per fortnight (by
`gateway reports snapshot`, or by the first view of a fortnight), spent once on the school-benchmarks
share of the year's privacy budget, and read by every report of that fortnight for nothing.

Building takes the lock of the year's ledger row, the lock every spend of the year queues on, and
looks for the fortnight's snapshot again under it: of two first views arriving together, the second
waits for the first and finds its snapshot, so the fortnight is paid for once.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog
from sqlalchemy.orm import Session, sessionmaker

from anonymisation import benchmarks, school_calendar
from anonymisation import dp as adp
from gateway.auth import Principal
from gateway.db.base import utcnow
from gateway.db.repositories import budget as budget_repo
from gateway.db.repositories import reports as report_repo
from gateway.db.repositories.reports import School, StoredSnapshot
from gateway.db.session import transaction
from gateway.errors import Forbidden
from gateway.services import audit
from gateway.services.common import OPEN_STATUSES
from policies.report_policy import SchoolReportsPolicy
from policies.school_rates import Cohort, cohorts
from policies.similarity import SchoolCharacteristics, similar_schools
from schemas import rosters as core
from schemas.calendar import academic_year_bounds, academic_year_label, academic_year_of

log = structlog.get_logger("gateway.reports")

CONSUMER = "school-benchmarks"
PURPOSE = "school-attendance-report"
#: A year's snapshots: one a fortnight, 26 in a year of 52 weeks; each gets an equal part of the share.
FORTNIGHTS_PER_YEAR = 26
#: The command line's actor in the audit log.
CLI_ACTOR = {"org_type": "operator", "org_id": "operator", "sub": "gateway reports snapshot"}


@dataclass(frozen=True)
class Snapshot:
    academic_year: int
    fortnight_start: dt.date
    day: dt.date
    spend_id: str
    data: benchmarks.Snapshot
    #: urn -> its similar schools' URNs, nearest first.
    similar: dict[int, tuple[int, ...]]
    #: The Mondays of the last four school weeks.
    weeks: tuple[dt.date, ...]
    year_to_date_sessions: int

    def positions(self, urns: Sequence[int]) -> list[int]:
        index = self.data.positions_by_urn()
        return [index[u] for u in urns if u in index]


def fortnight_of(day: dt.date) -> tuple[int, dt.date]:
    """The academic year of ``day`` and the Monday its fortnight starts on (counted from the week of
    1 September)."""
    year = academic_year_of(day)
    start, _ = academic_year_bounds(year)
    monday = start - dt.timedelta(days=start.weekday())
    return year, monday + dt.timedelta(days=14 * ((day - monday).days // 14))


def week_index(year: int, monday: dt.date) -> int:
    start, _ = academic_year_bounds(year)
    return (monday - (start - dt.timedelta(days=start.weekday()))).days // 7


def last_school_weeks(year: int, day: dt.date, count: int = 4) -> list[dt.date]:
    """The Mondays of the last ``count`` weeks before ``day``'s week with school days in the public
    calendar (never from the data, so choosing them leaks nothing)."""
    start, _ = academic_year_bounds(year)
    monday = day - dt.timedelta(days=day.weekday())
    weeks: list[dt.date] = []
    while len(weeks) < count:
        monday -= dt.timedelta(days=7)
        if monday + dt.timedelta(days=4) < start:
            break
        if school_calendar.school_days(max(monday, start), monday + dt.timedelta(days=4)) > 0:
            weeks.append(monday)
    return sorted(weeks)


def _decode(value: bytes) -> str:
    return value.decode().strip("\x00")


def window_columns(
    roster: core.Roster, window: str, week_indexes: Sequence[int], bound: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(possible, authorised, unauthorised) per pupil slot of the window, each clamped to ``[0, bound]``."""
    if window == "year_to_date":
        possible = roster.totals[:, core.CLASSES.index("possible")].astype(np.int64)
        authorised = roster.totals[:, core.CLASSES.index("authorised")].astype(np.int64)
        unauthorised = roster.totals[:, core.CLASSES.index("unauthorised")].astype(np.int64)
    else:
        picked = (
            roster.weeks[:, list(week_indexes), :].astype(np.int64).sum(axis=1)
            if week_indexes
            else np.zeros((len(roster), len(core.WEEK_COUNTERS)), np.int64)
        )
        possible = picked[:, core.WEEK_COUNTERS.index("possible")]
        authorised = picked[:, core.WEEK_COUNTERS.index("authorised")]
        unauthorised = picked[:, core.WEEK_COUNTERS.index("unauthorised")]
    if bound is not None:
        possible, authorised, unauthorised = (
            np.clip(a, 0, bound) for a in (possible, authorised, unauthorised)
        )
    return possible, authorised, unauthorised


def roster_cohorts(
    roster: core.Roster,
    window: str,
    week_indexes: Sequence[int],
    bound: int | None,
    keep: np.ndarray | None = None,
) -> list[Cohort]:
    """A school's cohorts in a window, of the slots in ``keep`` (default: all)."""
    possible, authorised, unauthorised = window_columns(roster, window, week_indexes, bound)
    attrs = roster.attributes
    if keep is not None:
        possible, authorised, unauthorised, attrs = (
            possible[keep],
            authorised[keep],
            unauthorised[keep],
            attrs[keep],
        )
    return cohorts(
        [_decode(v) for v in attrs["year_group"]],
        [_decode(v) for v in attrs["sen_status"]],
        [bool(v) for v in attrs["fsm_eligible"]],
        possible.tolist(),
        authorised.tolist(),
        unauthorised.tolist(),
    )


def _characteristics(school: School, roster: core.Roster | None) -> SchoolCharacteristics:
    shares: list[float | None] = [None, None, None]
    if roster is not None and len(roster):
        sen = roster.attributes["sen_status"]
        shares = [
            float(np.mean(roster.attributes["fsm_eligible"])),
            float(np.mean(sen == b"K")),
            float(np.mean(sen == b"E")),
        ]
    size = (
        school.number_of_pupils if school.number_of_pupils is not None else (len(roster) if roster else None)
    )
    return SchoolCharacteristics(
        urn=school.urn,
        phase=school.phase,
        type_group=school.type_group,
        religious_character=school.religious_character,
        admissions_policy=school.admissions_policy,
        region=school.region,
        size=size,
        fsm_share=shares[0],
        sen_support_share=shares[1],
        ehc_plan_share=shares[2],
    )


def _one_enrolment_each(rosters: dict[int, core.Roster]) -> dict[int, np.ndarray]:
    """Which slots of each roster count in the snapshot: a pupil enrolled at several schools counts at
    the one with most possible sessions (then the lowest URN), so that the cells partition the pupils."""
    best: dict[str, tuple[int, int]] = {}
    for urn in sorted(rosters):
        roster = rosters[urn]
        possible = roster.totals[:, core.CLASSES.index("possible")]
        for pid, p in zip(roster.pupil_ids, possible.tolist(), strict=True):
            held = best.get(pid)
            if held is None or p > held[1]:
                best[pid] = (urn, p)
    return {
        urn: np.array([best[pid][0] == urn for pid in r.pupil_ids], dtype=bool) for urn, r in rosters.items()
    }


def _pack(body: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6)


_CACHE: dict[tuple[str, int, dt.date], Snapshot] = {}
_CACHE_LOCK = threading.Lock()


def _unpack(row: StoredSnapshot) -> Snapshot:
    body = json.loads(zlib.decompress(row.body))
    return Snapshot(
        academic_year=row.academic_year,
        fortnight_start=row.fortnight_start,
        day=dt.date.fromisoformat(body["day"]),
        spend_id=row.spend_id,
        data=benchmarks.Snapshot(tuple(body["urns"]), body["noisy"], body["noise_sd"]),
        similar={int(k): tuple(v) for k, v in body["similar"].items()},
        weeks=tuple(dt.date.fromisoformat(w) for w in body["weeks"]),
        year_to_date_sessions=int(body["year_to_date_sessions"]),
    )


def _cached(sessions: sessionmaker[Session], row: StoredSnapshot) -> Snapshot:
    key = (str(sessions.kw["bind"].url), row.academic_year, row.fortnight_start)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
    if found is None:
        found = _unpack(row)
        with _CACHE_LOCK:
            _CACHE[key] = found
    return found


def stored(
    sessions: sessionmaker[Session], academic_year: int, on_or_before: dt.date | None = None
) -> Snapshot | None:
    """The latest snapshot of a year (at or before a fortnight), without building one."""
    with transaction(sessions) as db:
        row = report_repo.latest_snapshot(db, academic_year, on_or_before)
        return None if row is None else _cached(sessions, row)


#: The year's budget rules of a consumer: ``rules(ledger_cap)`` (gateway.services.stats.ledger.rules with
#: the settings and the school-benchmarks share bound, passed in by the caller: one service does not
#: import another).
BudgetRulesFor = Callable[[int | None], Any]


def ensure(
    sessions: sessionmaker[Session],
    rules: BudgetRulesFor,
    policy: SchoolReportsPolicy,
    day: dt.date,
    principal: Principal | None = None,
) -> tuple[Snapshot, bool]:
    """The snapshot of ``day``'s fortnight, built (and spent for) if there is none; and whether it was
    built now."""
    year, start = fortnight_of(day)
    with transaction(sessions) as db:
        row = report_repo.get_snapshot(db, year, start)
        if row is not None:
            return _cached(sessions, row), False
    configured = rules(None)
    with transaction(sessions) as db:
        now = utcnow()
        budget_repo.ensure_ledger(
            db,
            {
                "academic_year": year,
                "cap_units": configured.configured_units,
                "epsilon": adp.zcdp_to_epsilon(
                    adp.units_to_rho(configured.configured_units), configured.delta
                ),
                "delta": configured.delta,
                "fixed_by": "settings",
                "created_at": now,
                "updated_at": now,
            },
        )
        ledger = budget_repo.lock_ledger(db, year)
        row = report_repo.get_snapshot(db, year, start)
        if row is not None:  # built by a concurrent first view while this one waited for the lock
            return _cached(sessions, row), False
        r = rules(ledger.cap_units)
        built = _build(db, r, policy, year, start, day, principal)
    if isinstance(built, list):
        # Recorded in a transaction of its own, once the ledger's lock is given up, then refused.
        with transaction(sessions) as db:
            audit.record(
                db,
                audit.new_event(
                    principal,
                    "stats.denied",
                    purpose=PURPOSE,
                    decision="deny",
                    reasons=built,
                    actor=None if principal is not None else CLI_ACTOR,
                    record_count=0,
                    details={"action": "report.snapshot", "academic_year": year, "consumer": CONSUMER},
                ),
            )
        raise Forbidden(built)
    return _cached(sessions, built), True


def _build(
    db: Session,
    r: Any,
    policy: SchoolReportsPolicy,
    year: int,
    start: dt.date,
    day: dt.date,
    principal: Principal | None,
) -> StoredSnapshot | list[str]:
    """The snapshot, stored; or the reasons it cannot be paid for."""
    year_start, _ = academic_year_bounds(year)
    bound = max(1, adp.sessions_possible_bound(year_start, day))
    allotment = r.share_units // FORTNIGHTS_PER_YEAR
    plan = benchmarks.plan(bound, allotment)
    cost = plan.units_spent
    spent, year_spent = budget_repo.spent_units(db, year, CONSUMER), budget_repo.spent_units(db, year)
    if spent + cost > r.share_units or year_spent + cost > r.cap_units:
        return [
            f"budget_exhausted: the {academic_year_label(year)} school-benchmarks share has "
            f"{max(r.share_units - spent, 0)} units of rho left and a snapshot needs {cost}; no report "
            "can be made this fortnight"
        ]
    schools = report_repo.schools_with_status(db, sorted(OPEN_STATUSES))
    urns = [s.urn for s in schools]
    with_roster = report_repo.roster_urns(db, year)
    rosters = {
        u: ro for u in urns if u in with_roster and (ro := report_repo.roster(db, u, year)) is not None
    }
    keep = _one_enrolment_each(rosters)
    weeks = last_school_weeks(year, day)
    week_indexes = [week_index(year, w) for w in weeks]
    exact_cohorts = {
        "year_to_date": {
            u: roster_cohorts(ro, "year_to_date", (), bound, keep[u]) for u, ro in rosters.items()
        },
        "last_four_weeks": {
            u: roster_cohorts(ro, "last_four_weeks", week_indexes, benchmarks.FOUR_WEEKS_SESSIONS, keep[u])
            for u, ro in rosters.items()
        },
    }
    groups = similar_schools(
        [_characteristics(s, rosters.get(s.urn)) for s in schools], policy.similar_schools
    )
    spend_id = "st_" + uuid.uuid4().hex
    question = {
        "kind": "report-snapshot",
        "academic_year": year,
        "fortnight_start": start.isoformat(),
        "day": day.isoformat(),
        "schools": len(urns),
        "year_to_date_sessions": bound,
    }
    described = plan.describe()
    index = audit.record(
        db,
        audit.new_event(
            principal,
            "budget.spent",
            purpose=PURPOSE,
            decision="allow",
            release_id=spend_id,
            actor=None if principal is not None else CLI_ACTOR,
            details={
                "academic_year": year,
                "consumer": CONSUMER,
                "requester": principal.recipient if principal is not None else "operator:operator",
                "units": cost,
                "rho": adp.units_to_rho(cost),
                "spent_before": spent,
                "share_cap_units": r.share_units,
                "cap_units": r.cap_units,
                "question": question,
                "noise": [
                    {
                        "statistic": s["statistic"],
                        "sensitivity": s["sensitivity"],
                        "scale": s["scale"],
                        "units": s["units"],
                    }
                    for s in described
                ],
            },
        ),
    )
    budget_repo.insert_spend(
        db,
        {
            "id": spend_id,
            "academic_year": year,
            "consumer": CONSUMER,
            "requester": principal.recipient if principal is not None else "operator:operator",
            "units": cost,
            "status": "reserved",
            "kind": "snapshot",
            "question_hash": f"report-snapshot:{year}:{start.isoformat()}",
            "question": json.dumps(question),
            "measurement": json.dumps(described),
            "requested_by": principal.sub if principal else CLI_ACTOR["sub"],
            "created_at": utcnow(),
            "released_at": None,
            "audit_index": index,
        },
    )
    noisy = benchmarks.noise(plan, benchmarks.exact_vectors(urns, exact_cohorts))
    body = {
        "day": day.isoformat(),
        "urns": urns,
        "noisy": noisy,
        "noise_sd": {s.name: s.noise_sd for s in plan.planned},
        "similar": {str(u): [n.urn for n in groups.get(u, ())] for u in urns},
        "weeks": [w.isoformat() for w in weeks],
        "year_to_date_sessions": bound,
    }
    values = {
        "academic_year": year,
        "fortnight_start": start,
        "spend_id": spend_id,
        "schools": len(urns),
        "body": _pack(body),
        "created_at": utcnow(),
    }
    budget_repo.mark_released(db, spend_id, utcnow())
    report_repo.insert_snapshot(db, values)
    log.info("report_snapshot_built", academic_year=year, schools=len(urns), units=cost)
    return StoredSnapshot(**values)
