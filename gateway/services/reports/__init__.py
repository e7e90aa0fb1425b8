"""The schools' attendance reports: a school's report, a trust's and an LA's overview of their schools,
and DfE's list of every school's ABIE. Each view is a decision of the access policy, audited before any
figure leaves; a refusal is audited too.

A report puts the school's own measures (exact, from its own roster) beside its similar schools' and
England's (post-processing of the fortnight's noisy snapshot, with intervals). Viewing spends nothing;
the first view of a fortnight builds the snapshot if the command line has not (one spend).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from anonymisation import benchmarks
from gateway.auth import Principal
from gateway.db.repositories import reports as report_repo
from gateway.db.repositories import schools as school_repo
from gateway.db.repositories.reports import School
from gateway.db.session import transaction
from gateway.errors import NotFound
from gateway.runtime import Runtime
from gateway.services import access, audit
from gateway.services.common import LONDON
from gateway.services.reports.snapshots import (
    BudgetRulesFor,
    Snapshot,
    ensure,
    roster_cohorts,
    stored,
    week_index,
)
from policies import abie as abie_core
from policies.access import ABIE_LIST, LA_SCHOOLS, REPORT_VIEW, TRUST_SCHOOLS, Target
from policies.comparison import Interval, verdict
from policies.report_policy import SchoolReportsPolicy
from policies.school_rates import RATES
from schemas.calendar import academic_year_of

#: How many similar schools a report names with their overall absence.
HEADLINE = ("overall_absence_rate", "persistent_absence_rate", "severe_absence_rate")


def today() -> dt.date:
    """The day in England: a report shows the fortnight it falls in."""
    return dt.datetime.now(LONDON).date()


def _policy(runtime: Runtime) -> SchoolReportsPolicy:
    policy = runtime.catalogue.school_reports
    if policy is None:
        raise NotFound("the catalogue has no [school_reports] rules: no report is made")
    return policy


def _snapshot(
    runtime: Runtime, rules: BudgetRulesFor, principal: Principal, as_of: dt.date | None
) -> Snapshot:
    """The fortnight's snapshot: today's is built if missing; an earlier day's must exist (the rosters
    hold today's totals, so a past fortnight cannot be remade)."""
    day = today()
    if as_of is None or as_of >= day:
        snapshot, _ = ensure(runtime.sessions, rules, _policy(runtime), day, principal)
        return snapshot
    found = stored(runtime.sessions, academic_year_of(as_of), as_of)
    if found is None:
        raise NotFound(f"field 'to': no report snapshot was made on or before {as_of.isoformat()}")
    return found


def _interval(e: benchmarks.Estimate | None) -> dict[str, float] | None:
    return None if e is None else {"value": e.value, "lower": e.lower, "upper": e.upper}


_ATTENDANCE: dict[str, dict[int, float]] = {}


def _overall_attendance(snapshot: Snapshot) -> dict[int, float]:
    """Each school's attendance (100 minus overall absence) in the snapshot's year to date, noisy;
    computed once per snapshot (a snapshot never changes)."""
    found = _ATTENDANCE.get(snapshot.spend_id)
    if found is not None:
        return found
    out = {}
    for position, urn in enumerate(snapshot.data.urns):
        e = benchmarks.estimate(
            snapshot.data, [position], "year_to_date", "all", "all", "overall_absence_rate"
        )
        if e is not None:
            out[urn] = round(100 - e.value, 2)
    _ATTENDANCE[snapshot.spend_id] = out
    return out


def _england_positions(snapshot: Snapshot) -> list[int]:
    return list(range(len(snapshot.data.urns)))


def abie_of(
    runtime: Runtime,
    snapshot: Snapshot,
    prior: Snapshot | None,
    urn: int,
    names: dict[int, str] | None = None,
) -> dict[str, Any]:
    """The school's ABIE for the snapshot's year, from its and its similar schools' attendance in the
    last snapshot of the year before (noisy: the same figure whoever looks)."""
    base: dict[str, Any] = {"academic_year": snapshot.academic_year, "prior_year": snapshot.academic_year - 1}
    if prior is None:
        return base | {"available": False, "reason": "no snapshot of the prior year to measure from"}
    by_urn = _overall_attendance(prior)
    result = abie_core.expectation(
        by_urn.get(urn), snapshot.similar.get(urn, ()), by_urn, _policy(runtime).abie
    )
    if result is None:
        return base | {"available": False, "reason": "the school or its similar schools have no prior year"}
    names = names or {}
    return base | {
        "available": True,
        "prior_attendance": result.prior_attendance,
        "benchmark": result.benchmark,
        "expectation_pp": result.expectation_pp,
        "target": result.target,
        "learn_from": [
            {"urn": e.urn, "name": names.get(e.urn), "attendance": e.attendance} for e in result.learn_from
        ],
    }


@dataclass(frozen=True)
class Report:
    body: dict[str, Any]
    audit_index: int


def _facts(db: Session, urn: int) -> School:
    school = school_repo.get_school(db, urn)
    if school is None:
        raise NotFound(f"school {urn} is not in the register of schools")
    return school


def school_report(
    runtime: Runtime, rules: BudgetRulesFor, principal: Principal, urn: int, as_of: dt.date | None
) -> Report:
    sessions = runtime.sessions
    access.authorise(sessions, principal, REPORT_VIEW, Target(urn=urn), purpose=_purpose(principal))
    with transaction(sessions) as db:
        school = _facts(db, urn)
        target = Target(urn=urn, trust=school.trust_uid or "", la=school.la_code)
    decision = access.decide(principal, REPORT_VIEW, target)
    if not decision.allow:
        access.refuse(sessions, principal, decision, target, purpose=_purpose(principal))
    snapshot = _snapshot(runtime, rules, principal, as_of)
    prior = stored(sessions, snapshot.academic_year - 1)
    with transaction(sessions) as db:
        roster = report_repo.roster(db, urn, snapshot.academic_year)
        similar = list(snapshot.similar.get(urn, ()))
        names = report_repo.schools_named(db, similar)
        body = _report_body(runtime, snapshot, prior, school, roster, similar, names)
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "report.viewed",
                purpose=_purpose(principal),
                decision="allow",
                reasons=list(decision.reasons),
                subject_org_ids=[str(urn)],
                record_count=len(body["measures"]),
                details={
                    "action": REPORT_VIEW,
                    "urn": urn,
                    "academic_year": snapshot.academic_year,
                    "fortnight_start": snapshot.fortnight_start.isoformat(),
                    "spend_id": snapshot.spend_id,
                },
            ),
        )
    return Report(body, index)


def _purpose(principal: Principal) -> str:
    return {"trust": "trust-attendance-overview", "la": "la-attendance-overview"}.get(
        principal.org_type, "school-attendance-report"
    )


def _report_body(
    runtime: Runtime,
    snapshot: Snapshot,
    prior: Snapshot | None,
    school: School,
    roster: Any,
    similar: list[int],
    names: dict[int, str],
) -> dict[str, Any]:
    group_positions = snapshot.positions(similar)
    england = _england_positions(snapshot)
    week_indexes = [week_index(snapshot.academic_year, w) for w in snapshot.weeks]
    measures, strengths, focus = [], [], []
    for window in benchmarks.WINDOWS:
        own = [] if roster is None else roster_cohorts(roster, window, week_indexes, None)
        for cohort in own:
            for rate in RATES:
                value = getattr(cohort, rate)
                group = benchmarks.estimate(
                    snapshot.data, group_positions, window, cohort.dimension, cohort.group, rate
                )
                nation = benchmarks.estimate(
                    snapshot.data, england, window, cohort.dimension, cohort.group, rate
                )
                row = {
                    "window": window,
                    "dimension": cohort.dimension,
                    "group": cohort.group,
                    "measure": rate,
                    "school": None if value is None else round(value, 2),
                    "similar_schools": _interval(group),
                    "england": _interval(nation),
                }
                measures.append(row)
                said = verdict(value, None if group is None else Interval(*group))
                if said == "strength":
                    strengths.append(row)
                elif said == "focus":
                    focus.append(row)
    attendance = _overall_attendance(snapshot)
    return {
        "urn": school.urn,
        "name": school.name,
        "academic_year": snapshot.academic_year,
        "fortnight_start": snapshot.fortnight_start.isoformat(),
        "snapshot_day": snapshot.day.isoformat(),
        "last_four_weeks": [w.isoformat() for w in snapshot.weeks],
        "similar_schools": [
            {
                "urn": u,
                "name": names.get(u),
                "overall_absence": None if u not in attendance else round(100 - attendance[u], 2),
            }
            for u in similar
        ],
        "measures": measures,
        "strengths": strengths,
        "focus": focus,
        "abie": abie_of(runtime, snapshot, prior, school.urn, names),
    }


def _headlines(
    runtime: Runtime, schools: list[School], snapshot: Snapshot, prior: Snapshot | None, db: Session
) -> list[dict[str, Any]]:
    out = []
    for school in schools:
        roster = report_repo.roster(db, school.urn, snapshot.academic_year)
        overall = (
            next((c for c in roster_cohorts(roster, "year_to_date", (), None) if c.dimension == "all"), None)
            if roster is not None
            else None
        )
        abie = abie_of(runtime, snapshot, prior, school.urn)
        out.append(
            {
                "urn": school.urn,
                "name": school.name,
                "phase": school.phase,
                "status": school.status,
                **{
                    rate: (
                        None
                        if overall is None or getattr(overall, rate) is None
                        else round(getattr(overall, rate), 2)
                    )
                    for rate in HEADLINE
                },
                "abie": {k: abie.get(k) for k in ("available", "expectation_pp", "target")},
            }
        )
    return out


def overview(
    runtime: Runtime,
    rules: BudgetRulesFor,
    principal: Principal,
    kind: str,
    org_id: str,
    as_of: dt.date | None,
) -> Report:
    """A trust's (kind "trust") or an LA's ("la") schools with their headline rates and ABIE."""
    sessions = runtime.sessions
    action, target = (
        (TRUST_SCHOOLS, Target(trust=org_id)) if kind == "trust" else (LA_SCHOOLS, Target(la=org_id))
    )
    purpose = "trust-attendance-overview" if kind == "trust" else "la-attendance-overview"
    decision = access.authorise(sessions, principal, action, target, purpose=purpose, details={kind: org_id})
    snapshot = _snapshot(runtime, rules, principal, as_of)
    prior = stored(sessions, snapshot.academic_year - 1)
    with transaction(sessions) as db:
        schools = (
            report_repo.schools_of_trust(db, org_id)
            if kind == "trust"
            else school_repo.la_schools(db, org_id)
        )
        rows = _headlines(runtime, schools, snapshot, prior, db)
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "report.viewed",
                purpose=purpose,
                decision="allow",
                reasons=list(decision.reasons),
                subject_org_ids=[str(s.urn) for s in schools][:500],
                record_count=len(rows),
                details={
                    "action": action,
                    kind: org_id,
                    "academic_year": snapshot.academic_year,
                    "fortnight_start": snapshot.fortnight_start.isoformat(),
                },
            ),
        )
    body = {
        kind: org_id,
        "academic_year": snapshot.academic_year,
        "fortnight_start": snapshot.fortnight_start.isoformat(),
        "schools": rows,
    }
    if kind == "trust":
        body["name"] = trust_name(schools)
    return Report(body, index)


def trust_name(schools: list[School]) -> str | None:
    """The trust's name as the register gives it with its schools: GIAS repeats it on each school's
    row, so a rename reaches schools as their rows are re-imported; the open schools' most common name
    wins (ties by name), and None when the register names no school of the trust."""
    named = [s for s in schools if s.trust_name]
    names = sorted(str(s.trust_name) for s in named if s.status == "Open") or sorted(
        str(s.trust_name) for s in named
    )
    return max(names, key=names.count) if names else None


def abie_list(
    runtime: Runtime, rules: BudgetRulesFor, principal: Principal, academic_year: int | None
) -> Report:
    """Every school's ABIE and similar schools, from the latest snapshot of the year (default: now)."""
    sessions = runtime.sessions
    decision = access.authorise(sessions, principal, ABIE_LIST, purpose="abie-national")
    if academic_year is None or academic_year == academic_year_of(today()):
        snapshot = _snapshot(runtime, rules, principal, None)
    else:
        found = stored(sessions, academic_year)
        if found is None:
            raise NotFound(f"field 'academic_year': no report snapshot of {academic_year}")
        snapshot = found
    prior = stored(sessions, snapshot.academic_year - 1)
    with transaction(sessions) as db:
        names = report_repo.schools_named(db, list(snapshot.data.urns))
        rows = [
            {
                "urn": u,
                "name": names.get(u),
                "similar_schools": list(snapshot.similar.get(u, ())),
                "abie": abie_of(runtime, snapshot, prior, u),
            }
            for u in snapshot.data.urns
        ]
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "report.viewed",
                purpose="abie-national",
                decision="allow",
                reasons=list(decision.reasons),
                record_count=len(rows),
                details={
                    "action": ABIE_LIST,
                    "academic_year": snapshot.academic_year,
                    "fortnight_start": snapshot.fortnight_start.isoformat(),
                },
            ),
        )
    return Report(
        {
            "academic_year": snapshot.academic_year,
            "fortnight_start": snapshot.fortnight_start.isoformat(),
            "schools": rows,
        },
        index,
    )
