"""A statistics question: its window, its tables, its hash; and how asking one is authorised and
recorded (the audit events shared by answering and reserving)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session, sessionmaker

from anonymisation import cell_keysets
from anonymisation import dp as adp
from gateway.auth import Principal
from gateway.db.repositories import budget as budget_repo
from gateway.errors import InvalidInput
from gateway.services import access, audit
from gateway.services.common import LONDON
from policies.access import STATS_ASK
from policies.dates import WindowInvalid, year_window
from schemas.calendar import academic_year_bounds

PURPOSE = "dfe-statistics"
ROLE = "statistician"
#: The catalogue share every DfE statistics request draws on.
DFE_SHARE = "dfe-statistics"
#: Most tables in one named bundle.
MAX_BUNDLE_TABLES = 20
BUNDLE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
#: The fortnightly trend's bundles are named ``trend-<year>-f<NN>``; no other bundle may take the names.
TREND_BUNDLE_PREFIX = "trend-"
BUNDLE_TAKEN = "a bundle of that name was already released with other tables or another window"

Kind = Literal["query", "bundle"]

# --------------------------------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    measure: str
    by: tuple[str, ...]
    #: Split by school week too (the trend's declared dimension): one cell per school week of the
    #: window for each of ``by``'s cells. A pupil's sessions across the weeks sum to at most the
    #: window's ``S_t``, so the window's sensitivity still bounds the whole vector.
    weekly: bool = False

    def __post_init__(self) -> None:
        # A count of pupils would move by one in every week a pupil is in: the window's sensitivity
        # bounds session sums only.
        if self.weekly and not set(adp.measure(self.measure).statistics) <= set(adp.SUM_STATISTICS):
            raise ValueError(f"{self.measure} cannot be split by week: it counts pupils")

    def canonical(self) -> dict[str, Any]:
        # ``weekly`` only when set, so that every question asked before it existed keeps its hash.
        return {"measure": self.measure, "by": list(self.by)} | ({"weekly": True} if self.weekly else {})

    @property
    def slots(self) -> int:
        return len(adp.measure(self.measure).statistics)


@dataclass(frozen=True)
class Window:
    start: dt.date
    end: dt.date
    academic_year: int
    sessions_possible: int


@dataclass(frozen=True)
class Question:
    kind: Kind
    consumer: str
    window: Window
    tables: tuple[Table, ...]
    mechanism: str
    bundle: str | None = None

    def canonical(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "consumer": self.consumer,
            "bundle": self.bundle,
            "from": self.window.start.isoformat(),
            "to": self.window.end.isoformat(),
            "tables": [t.canonical() for t in self.tables],
            "keyset_version": cell_keysets.KEYSET_VERSION,
            "mechanism": self.mechanism,
        }

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()

    @property
    def slots(self) -> int:
        return sum(t.slots for t in self.tables)


def invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput([{"row": None, "field": field, "message": message}])


def today() -> dt.date:
    return dt.datetime.now(LONDON).date()


sessions_possible_bound = adp.sessions_possible_bound


def resolve_window(start: dt.date | None, end: dt.date | None, now: dt.date) -> Window:
    """The academic year's window (policies.dates.year_window), which for a statistic ends by today."""
    if end is not None and end > now:
        raise invalid(
            "to",
            "the window must not end after today: an answer is stored and would never see later registers",
        )
    try:
        start_, end_, year, _ = year_window(start, end, now)
    except WindowInvalid as error:
        raise invalid(error.field, error.message) from None
    bound = sessions_possible_bound(start_, end_)
    if bound < 1:
        raise invalid("from", "the window has no school day, so no session could be possible in it")
    return Window(start_, end_, year, bound)


def school_weeks(window: Window) -> list[tuple[dt.date, dt.date, dt.date]]:
    """The school weeks of a window, each as (its Monday, and the part of the window it covers), for
    a weekly table: only weeks with a school day in the published term dates, so that the key set is
    public and fixed before any data is read."""
    monday = window.start - dt.timedelta(days=window.start.weekday())
    weeks = []
    while monday <= window.end:
        start, end = max(monday, window.start), min(monday + dt.timedelta(days=6), window.end)
        if sessions_possible_bound(start, end) >= 1:
            weeks.append((monday, start, end))
        monday += dt.timedelta(days=7)
    return weeks


def check_window_applies(table: Table, window: Window, field: str = "") -> None:
    """Refuse, before any budget is touched, a measure the window is too short for (docs/domain.md 2.3)."""
    year_start = academic_year_bounds(window.academic_year)[0]
    if not adp.window_applies(table.measure, window.start, window.end, year_start):
        raise invalid(
            f"{field}measure",
            f"{table.measure} is published for term or year-to-date windows only, never for a day or a week: "
            f"ask from the start of the academic year, or over at least {adp.MIN_LONG_WINDOW_DAYS} days",
        )


def parse_table(measure: str, by: Sequence[str], field: str = "") -> Table:
    try:
        adp.measure(measure)
    except adp.UnknownMeasure:
        raise invalid(
            f"{field}measure", f"not a measure; expected one of {', '.join(adp.MEASURES)}"
        ) from None
    try:
        dims = cell_keysets.canonical_by([d.strip() for d in by])
    except cell_keysets.UnknownDimension as exc:
        raise invalid(f"{field}by", f"{exc}") from None
    return Table(measure, dims)


# --------------------------------------------------------------------------------------------------
# Asking, refusing and serving, as the audit trail records them
# --------------------------------------------------------------------------------------------------


def authorise_question(
    sessions: sessionmaker[Session], principal: Principal, details: dict[str, Any]
) -> None:
    access.authorise(sessions, principal, STATS_ASK, purpose=PURPOSE, details=details)


def record_denial(db: Session, principal: Principal, reasons: list[str], details: dict[str, Any]) -> None:
    event = audit.new_event(
        principal, "stats.denied", purpose=PURPOSE, decision="deny", reasons=reasons, record_count=0,
        details=details,
    )
    audit.record(db, event)


def serve_stored(db: Session, principal: Principal, qhash: str) -> tuple[dict[str, Any], int] | None:
    stored = budget_repo.get_answer(db, qhash)
    if stored is None:
        return None
    body = json.loads(stored.answer)
    return body, record_served(db, principal, body, stored.spend_id, cached=True)


def released_event(principal: Principal, body: dict[str, Any], spend_id: str, *, cached: bool) -> Any:
    tables = body.get("tables") or [body]
    return audit.new_event(
        principal,
        "stats.released",
        purpose=PURPOSE,
        decision="allow",
        release_id=spend_id,
        record_count=sum(len(t["rows"]) for t in tables),
        details={
            "cached": cached,
            "kind": body["kind"],
            "bundle": body.get("bundle"),
            "from": body["from"],
            "to": body["to"],
            "tables": [{"measure": t["measure"], "by": t["by"]} for t in tables],
            "release_units": body["release_units"],
            "keyset_version": body["keyset_version"],
        },
    )


def record_served(
    db: Session, principal: Principal, body: dict[str, Any], spend_id: str, *, cached: bool
) -> int:
    return audit.record(db, released_event(principal, body, spend_id, cached=cached))
