"""The school pupils table's view of a list: filters, a name or UPN search, sorting and paging.

Pure functions over `pupils.PupilTotals`: the service gathers and audits the whole list once, and the
page shows one page of it. The search term is read only from a posted form (never from the address),
so the controls of a search's results post it again rather than link to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.services.pupils import PupilTotals

PER_PAGE = 50
MAX_SEARCH_CHARS = 60


def _absence_rank(p: PupilTotals) -> int:
    return 2 if p.severe_absence else 1 if p.persistent_absence else 0


def _rate(p: PupilTotals) -> float:
    # No possible session (no rate) sorts after every rate, ascending.
    return 2.0 if p.attendance_rate is None else p.attendance_rate


def _year(p: PupilTotals) -> tuple[int, str]:
    # Reception (R) and nursery before Year 1, then years in number order, not text order.
    return (int(p.year_group), "") if p.year_group.isdigit() else (-1, p.year_group)


#: Column id -> (heading, sort key). A tie sorts by name, so that a page is stable.
COLUMNS: dict[str, tuple[str, Callable[[PupilTotals], Any]]] = {
    "name": ("Pupil", lambda p: (p.surname.casefold(), p.forename.casefold())),
    "upn": ("UPN", lambda p: p.upn),
    "year": ("Year", _year),
    "possible": ("Possible sessions", lambda p: p.sessions_possible),
    "authorised": ("Authorised absence", lambda p: p.sessions_authorised_absence),
    "unauthorised": ("Unauthorised absence", lambda p: p.sessions_unauthorised_absence),
    "attendance": ("Attendance", _rate),
    "absence": ("Absence", _absence_rank),
}
NUMERIC = {"possible", "authorised", "unauthorised", "attendance"}
ABSENCE_FILTERS = {
    "": "All pupils",
    "persistent": "Persistently absent (10% or more)",
    "severe": "Severely absent (50% or more)",
}


@dataclass(frozen=True)
class Query:
    """What the officer asked to see. Everything but `search` may appear in an address."""

    sort: str = "name"
    direction: str = "asc"
    page: int = 1
    year: str = ""
    absence: str = ""
    search: str = ""

    def link_params(self, **changes: Any) -> dict[str, str]:
        """The address parameters of this view with some changed (never the search term)."""
        values = {"sort": self.sort, "dir": self.direction, "page": str(self.page), "year": self.year,
                  "absence": self.absence}
        values.update({("dir" if k == "direction" else k): str(v) for k, v in changes.items()})
        defaults = {"sort": "name", "dir": "asc", "page": "1", "year": "", "absence": ""}
        return {k: v for k, v in values.items() if v != defaults[k]}


def read_query(params: Mapping[str, str], errors: dict[str, str], *, search: str = "") -> Query:
    """The view asked for, from an address's parameters or a posted form; a bad value is named."""
    sort = params.get("sort", "") or "name"
    direction = params.get("dir", "") or "asc"
    # A sort button of a search's results carries both in one value ("attendance:desc").
    if params.get("order"):
        sort, _, direction = params["order"].partition(":")
    if sort not in COLUMNS:
        errors["sort"] = "Sort by one of the table's columns"
        sort = "name"
    if direction not in ("asc", "desc"):
        errors["dir"] = "Sort order must be asc or desc"
        direction = "asc"
    raw_page = params.get("page", "") or "1"
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and 0 < len(raw_page) < 7 else 0
    if page < 1:
        errors["page"] = "Page must be a whole number from 1"
        page = 1
    absence = params.get("absence", "")
    if absence not in ABSENCE_FILTERS:
        errors["absence"] = "Choose all pupils, persistently absent or severely absent"
        absence = ""
    year = params.get("year", "")[:10]
    term = " ".join(search.split())
    if len(term) > MAX_SEARCH_CHARS:
        errors["q"] = f"The search must be {MAX_SEARCH_CHARS} characters or fewer"
        term = ""
    return Query(sort=sort, direction=direction, page=page, year=year, absence=absence, search=term)


def matches(p: PupilTotals, term: str) -> bool:
    """A pupil whose UPN, forename, surname or "forename surname" contains the term (any case)."""
    t = term.casefold()
    compact = "".join(t.split()).upper()
    return (
        (len(compact) >= 3 and compact in p.upn)
        or t in p.surname.casefold()
        or t in p.forename.casefold()
        or t in f"{p.forename} {p.surname}".casefold()
        or t in f"{p.surname}, {p.forename}".casefold()
    )


@dataclass(frozen=True)
class View:
    rows: list[PupilTotals]  # this page's
    matched: int  # after the filters and the search
    page: int
    pages: int
    first: int  # 1-based position of the page's first row (0 with none)
    last: int
    year_groups: list[str]


def view_of(pupils: list[PupilTotals], q: Query, *, whole: bool = False) -> View:
    """The rows asked for, sorted; one page of them, or all of them if `whole`."""
    chosen = [
        p
        for p in pupils
        if (not q.year or p.year_group == q.year)
        and (q.absence != "persistent" or p.persistent_absence)
        and (q.absence != "severe" or p.severe_absence)
        and (not q.search or matches(p, q.search))
    ]
    by_name = COLUMNS["name"][1]
    chosen.sort(key=by_name)
    if q.sort != "name" or q.direction == "desc":
        chosen.sort(key=COLUMNS[q.sort][1], reverse=q.direction == "desc")
    size = max(1, len(chosen)) if whole else PER_PAGE
    pages = max(1, -(-len(chosen) // size))
    page = min(q.page, pages)
    rows = chosen[(page - 1) * size : page * size]
    first = (page - 1) * size + 1 if rows else 0
    years = sorted({p.year_group for p in pupils}, key=lambda y: (int(y), "") if y.isdigit() else (-1, y))
    return View(rows=rows, matched=len(chosen), page=page, pages=pages, first=first,
                last=first + len(rows) - 1 if rows else 0, year_groups=years)


def page_numbers(page: int, pages: int) -> list[int | None]:
    """GOV.UK pagination's numbers: the first, the last, and the current one with its neighbours;
    None for an ellipsis."""
    shown = sorted({1, pages, page - 1, page, page + 1} & set(range(1, pages + 1)))
    out: list[int | None] = []
    for n in shown:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


CSV_HEADER = [
    "upn", "surname", "forename", "year_group", "sen_status", "fsm_eligible", "sessions_possible",
    "sessions_present", "sessions_approved_educational_activity", "sessions_authorised_absence",
    "sessions_unauthorised_absence", "attendance_rate", "persistent_absence", "severe_absence",
]


def _text(value: str) -> str:
    # A spreadsheet would run a cell that starts like a formula: keep it text (OWASP CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_row(p: PupilTotals) -> list[str]:
    rate = "" if p.attendance_rate is None else f"{p.attendance_rate:.4f}"
    return [
        p.upn, _text(p.surname), _text(p.forename), _text(p.year_group), _text(p.sen_status),
        str(p.fsm_eligible).lower(),
        str(p.sessions_possible), str(p.sessions_present), str(p.sessions_approved_educational_activity),
        str(p.sessions_authorised_absence), str(p.sessions_unauthorised_absence), rate,
        str(p.persistent_absence).lower(), str(p.severe_absence).lower(),
    ]
