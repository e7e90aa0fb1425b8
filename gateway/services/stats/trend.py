"""The trend (``GET`` and ``POST /v1/stats/trend``, the DfE console's trend view): national and
regional overall and unauthorised absence rates by school week over the academic year to date, each
point with its 95% interval.

It is made of the year's fortnightly releases, the slots the budget is planned in (26 releases a
year, ``stats_releases_per_year``). Each fortnight is one named bundle, ``trend-<year>-f<NN>``, of
four weekly tables (each rate nationally and by LA, split by school week): eight slots, one
release's worth, of which the second rate's denominator (possible sessions, the same vector) is
reused and not paid again. Regions are sums of their LAs' published cells, free. A fortnight is
released once, when it is over; every later look at the trend reads the stored bundles and spends
nothing. Which fortnights exist, and which are due, depends on the calendar only, never on the data.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anonymisation import dp as adp
from gateway.auth import Principal
from gateway.db.repositories import budget as budget_repo
from gateway.db.session import transaction
from gateway.services import audit
from gateway.services.stats.answers import answer
from gateway.services.stats.ledger import year_rules
from gateway.services.stats.questions import (
    DFE_SHARE,
    PURPOSE,
    TREND_BUNDLE_PREFIX,
    Question,
    Table,
    authorise_question,
    invalid,
    resolve_window,
    sessions_possible_bound,
    today,
)
from gateway.services.stats.results import Trend
from gateway.settings import Settings
from schemas.calendar import academic_year_bounds, academic_year_label, academic_year_of

#: The rates the trend follows, in the order it shows them.
TREND_MEASURES: tuple[str, ...] = ("overall_absence_rate", "unauthorised_absence_rate")
#: Each fortnight's bundle: every rate nationally and by LA (regions are sums of the LA cells).
TREND_TABLES: tuple[Table, ...] = tuple(
    Table(m, by, weekly=True) for m in TREND_MEASURES for by in ((), ("la",))
)
NATIONAL = ("E92000001", "England")
#: How many academic years before this one a trend may still be released for (the dashboard's years).
YEARS_BACK = 2


@dataclass(frozen=True)
class Fortnight:
    academic_year: int
    number: int
    start: dt.date
    end: dt.date

    @property
    def name(self) -> str:
        return f"{TREND_BUNDLE_PREFIX}{self.academic_year}-f{self.number:02d}"


def fortnights(year: int) -> list[Fortnight]:
    """The year's fortnights with a school day, numbered from the one holding 1 August (fortnights
    start on Mondays; the first and last are cut to the academic year)."""
    first, last = academic_year_bounds(year)
    monday = first - dt.timedelta(days=first.weekday())
    out, number = [], 1
    while monday <= last:
        start, end = max(monday, first), min(monday + dt.timedelta(days=13), last)
        if sessions_possible_bound(start, end) >= 1:
            out.append(Fortnight(year, number, start, end))
        monday += dt.timedelta(days=14)
        number += 1
    return out


def _year(year: int | None) -> int:
    return year if year is not None else academic_year_of(today())


def release_trend(
    sessions: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    year: int | None,
    to: dt.date | None,
) -> Trend:
    """Release every fortnight of the year that is over by ``to`` (default today) and not released
    yet, one bundle each, then the trend. A fortnight released before is served again, free."""
    year_ = _year(year)
    now = today()
    authorise_question(sessions, principal, {"trend": year_})
    current = academic_year_of(now)
    if not current - YEARS_BACK <= year_ <= current:
        raise invalid(
            "academic_year",
            f"the trend releases fortnights of this academic year and the {YEARS_BACK} before it only",
        )
    if to is not None and to > now:
        raise invalid("to", "the trend releases fortnights that are over: `to` must not be after today")
    until = to or now
    r = year_rules(sessions, settings, year_)
    spent = 0
    for fortnight in fortnights(year_):
        if fortnight.end > until:
            break
        window = resolve_window(fortnight.start, fortnight.end, now)
        question = Question("bundle", DFE_SHARE, window, TREND_TABLES, r.mechanism, bundle=fortnight.name)
        released = answer(sessions, settings, principal, question, r)
        if not released.cached:
            spent += released.release["release_units"]
    return _trend(sessions, principal, year_, now, spent)


def get_trend(
    sessions: sessionmaker[Session], settings: Settings, principal: Principal, year: int | None
) -> Trend:
    """The trend as released so far (audited, free): the fortnights released, and those due."""
    del settings
    year_ = _year(year)
    authorise_question(sessions, principal, {"trend": year_})
    return _trend(sessions, principal, year_, today(), 0)


def _trend(
    sessions: sessionmaker[Session], principal: Principal, year: int, now: dt.date, spent: int
) -> Trend:
    all_fortnights = fortnights(year)
    released: list[tuple[Fortnight, dict[str, Any]]] = []
    with transaction(sessions) as db:
        for fortnight in all_fortnights:
            stored = budget_repo.get_bundle(db, DFE_SHARE, fortnight.name)
            if stored is not None:
                released.append((fortnight, json.loads(stored.answer)))
        points = [p for f, body in released for p in _points(f, body)]
        index = audit.record(
            db,
            audit.new_event(
                principal,
                "stats.trend_viewed",
                purpose=PURPOSE,
                decision="allow",
                record_count=len(points),
                details={
                    "academic_year": year,
                    "releases": [body["release_id"] for _, body in released],
                    "spent_units": spent,
                },
            ),
        )
    done = {f.number for f, _ in released}
    current = academic_year_of(now)
    releasable = current - YEARS_BACK <= year <= current
    return Trend(
        academic_year=year,
        academic_year_label=academic_year_label(year),
        measures=TREND_MEASURES,
        fortnights=[_fortnight(f, body) for f, body in released],
        due=[_window(f) for f in all_fortnights if releasable and f.number not in done and f.end <= now],
        points=points,
        spent_units=spent,
        spent_rho=adp.units_to_rho(spent),
        audit_index=index,
    )


def _window(f: Fortnight) -> dict[str, Any]:
    return {"fortnight": f.number, "name": f.name, "from": f.start.isoformat(), "to": f.end.isoformat()}


def _vector_units(body: dict[str, Any]) -> dict[tuple[tuple[str, ...], str], int]:
    """Units each noisy vector of a bundle cost, by (grouping, statistic): a reused vector's cost is
    the one paid where it was drawn."""
    units: dict[tuple[tuple[str, ...], str], int] = {}
    for table in body["tables"]:
        for noise in table["noise"]:
            key = (tuple(table["by"]), noise["statistic"])
            units[key] = max(units.get(key, 0), noise["units"])
    return units


def _fortnight(f: Fortnight, body: dict[str, Any]) -> dict[str, Any]:
    return _window(f) | {
        "release_id": body["release_id"],
        "released_at": body["released_at"],
        "units": body["release_units"],
        "rho": body["release_rho"],
        "vectors": sum(len(t["noise"]) - sum(n["reused"] for n in t["noise"]) for t in body["tables"]),
    }


def _points(f: Fortnight, body: dict[str, Any]) -> list[dict[str, Any]]:
    """One point per week, place and measure: its noisy rate, 95% interval and symbol, and what the
    noisy vectors it is computed from cost (shared with the fortnight's other week, and the
    denominator with the other rate)."""
    units = _vector_units(body)
    out = []
    for table in body["tables"]:
        spec = adp.measure(table["measure"])
        by = tuple(table["by"])
        point_units = units[(by, spec.numerator)] + units[(by, str(spec.denominator))]
        common = {
            "fortnight": f.number,
            "release_id": body["release_id"],
            "measure": table["measure"],
            "units": point_units,
            "rho": adp.units_to_rho(point_units),
        }
        rows = table["rows"] if not by else table.get("regions", [])
        for row in rows:
            if by:
                place = {"geography": "Regional", "code": row["region_code"], "name": row["region_name"]}
            else:
                place = {"geography": "National", "code": NATIONAL[0], "name": NATIONAL[1]}
            out.append(
                {"week": row["week"]}
                | place
                | common
                | {"value": row["value"], "ci95": row["ci95"], "symbol": row["symbol"]}
            )
    return out
