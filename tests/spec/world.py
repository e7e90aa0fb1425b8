"""Helpers for the spec tests: small tables of schools, pupils and register marks in, released rows out.

A register table has one row per pupil, school and week (or run of weeks), with the AM and PM marks
of each weekday separated by a space:

    | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
    | amy   | 100001 | 2025-09-08               | / \\ | / \\ | I I | / \\ | / \\ |
    | amy   | 100001 | 2025-09-15 to 2025-10-13 | / \\ | / \\ | / \\ | / \\ | / \\ |

"2025-09-15 to 2025-10-13" repeats the row for every week whose Monday is in that range. An empty day
cell means the pupil has no mark that day. Totals are computed from the marks with the statistical
class of each code (schemas/codes.py classify), as the gateway totals them at ingest.

`World.ask` plays the shell's part: it asks the decision point, reads only what the decision's scope
and window allow (as the query would), selects, and applies the obligations.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass, field

from anonymisation.pseudonyms import pupil_id, pupil_ref
from anonymisation.transforms import apply_obligations
from policies.decide import decide
from policies.loader import load_catalogue
from policies.model import Catalogue, Decision, ReleaseRequest, Requester, RequestFacts
from policies.select import select
from schemas.calendar import academic_year_of
from schemas.codes import StatClass, classify
from schemas.records import EnrolmentTotals, Identity, Mark

KEY = b"spec-tests-only-pseudonym-key-32b"
CATALOGUE: Catalogue = load_catalogue()
JUSTIFICATION = "Preparing this term's meetings with the schools in our area"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")

LA_202 = Requester(org_type="la", org_id="202", roles=("case_officer",))
LA_203 = Requester(org_type="la", org_id="203", roles=("case_officer",))


def table(text: str) -> list[dict[str, str]]:
    """Rows of a '|'-separated table; the first row names the columns."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip().startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, *rows = [row for row in cells if not all(set(cell) <= {"-", ":"} for cell in row)]
    return [dict(zip(header, row, strict=True)) for row in rows]


@dataclass(frozen=True)
class School:
    urn: int
    la_code: str
    phase: str


@dataclass(frozen=True)
class Pupil:
    name: str
    upn: str
    forename: str
    surname: str
    born: dt.date
    year_group: str
    sen_status: str
    fsm_eligible: bool

    @property
    def pupil_id(self) -> str:
        return pupil_id(self.upn, KEY)

    @property
    def identity(self) -> Identity:
        return Identity(upn=self.upn, forename=self.forename, surname=self.surname, date_of_birth=self.born)


@dataclass
class Outcome:
    decision: Decision
    rows: list[dict[str, object]] | None  # None when denied

    @property
    def denied_because(self) -> tuple[str, ...]:
        return () if self.decision.allow else self.decision.reason_codes


@dataclass
class World:
    schools: dict[int, School]
    pupils: dict[str, Pupil]
    marks: list[Mark]
    consented: set[str] = field(default_factory=set)  # pupils whose parent granted consent
    objected: set[str] = field(default_factory=set)  # pupils whose parent objected

    def ref(self, name: str, recipient: str, academic_year: int) -> str:
        return pupil_ref(self.pupils[name].pupil_id, recipient, academic_year, KEY)

    def ask(
        self,
        requester: Requester,
        purpose: str,
        *,
        now: dt.datetime,
        schools: tuple[int, ...] | None = None,
        pupils: tuple[str, ...] | None = None,
        from_date: dt.date | None = None,
        to_date: dt.date | None = None,
        justification: str | None = JUSTIFICATION,
    ) -> Outcome:
        upns = (
            None if pupils is None else tuple(self.pupils[p].upn if p in self.pupils else p for p in pupils)
        )
        request = ReleaseRequest(
            purpose=purpose,
            schools=schools,
            upns=upns,
            from_date=from_date,
            to_date=to_date,
            justification=justification,
        )
        own = self.schools.get(int(requester.org_id)) if requester.org_type == "school" else None
        facts = RequestFacts(
            school_la_codes={
                urn: self.schools[urn].la_code if urn in self.schools else None for urn in schools or ()
            },
            requester_la_code=own.la_code if own else None,
            requester_phase=own.phase if own else None,
        )
        decision = decide(CATALOGUE, requester, request, facts, now=now)
        if decision.obligations is None:
            return Outcome(decision, None)
        obligations = decision.obligations

        # The shell's query: marks in the window at schools in scope, totalled per enrolment and year.
        window = obligations.window
        marks = [
            m
            for m in self.marks
            if window.from_date <= m.date <= window.to_date
            and obligations.scope.admits(la_code=self.schools[m.school_urn].la_code, school_urn=m.school_urn)
        ]
        named = None if upns is None else {pupil_id(upn, KEY) for upn in upns}
        if named is not None:
            marks = [m for m in marks if m.pupil_id in named]
        by_id = {p.pupil_id: p for p in self.pupils.values()}
        selected = select(
            obligations,
            self.totals(marks),
            marks,
            named_pupil_ids=named,
            consented={self.pupils[name].pupil_id for name in self.consented},
            objected={self.pupils[name].pupil_id for name in self.objected},
        )
        # Rows in the order of the pupils table, so that expected rows read in the same order.
        order = list(self.pupils)
        selected.sort(key=lambda row: (order.index(by_id[row.pupil_id].name), row.school_urn or 0))
        rows = apply_obligations(
            obligations,
            selected,
            identity_of=lambda pid: by_id[pid].identity,
            pupil_ref=functools.partial(pupil_ref, key=KEY),
        )
        return Outcome(decision, rows)

    def totals(self, marks: list[Mark]) -> list[EnrolmentTotals]:
        counts: dict[tuple[str, int, int], dict[StatClass, int]] = defaultdict(lambda: defaultdict(int))
        for mark in marks:
            counts[(mark.pupil_id, mark.school_urn, academic_year_of(mark.date))][
                classify(mark.code, mark.date)
            ] += 1
        by_id = {p.pupil_id: p for p in self.pupils.values()}
        result = []
        for (pid, urn, year), n in counts.items():
            pupil = by_id[pid]
            result.append(
                EnrolmentTotals(
                    pupil_id=pid,
                    school_urn=urn,
                    la_code=self.schools[urn].la_code,
                    academic_year=year,
                    year_group=pupil.year_group,
                    sen_status=pupil.sen_status,
                    fsm_eligible=pupil.fsm_eligible,
                    sessions_possible=sum(v for c, v in n.items() if c is not StatClass.NOT_COUNTED),
                    sessions_present=n[StatClass.PRESENT],
                    sessions_aea=n[StatClass.AEA],
                    sessions_authorised=n[StatClass.AUTHORISED],
                    sessions_unauthorised=n[StatClass.UNAUTHORISED],
                )
            )
        return result


def world(schools: str, pupils: str, register: str) -> World:
    """A world built from three tables (see the module docstring)."""
    school_rows = {
        int(row["urn"]): School(urn=int(row["urn"]), la_code=row["la"], phase=row["phase"])
        for row in table(schools)
    }
    pupil_rows = {
        row["pupil"]: Pupil(
            name=row["pupil"],
            upn=row["upn"],
            forename=row["forename"],
            surname=row["surname"],
            born=dt.date.fromisoformat(row["born"]),
            year_group=row["year"],
            sen_status=row["sen"],
            fsm_eligible={"yes": True, "no": False}[row["fsm"]],
        )
        for row in table(pupils)
    }
    marks = []
    for row in table(register):
        pupil = pupil_rows[row["pupil"]]
        first, _, last = row["weeks"].partition(" to ")
        monday = dt.date.fromisoformat(first)
        until = dt.date.fromisoformat(last or first)
        if monday.weekday() != 0 or until.weekday() != 0:
            raise ValueError(f"weeks must start on a Monday: {row['weeks']}")
        while monday <= until:
            for offset, day in enumerate(WEEKDAYS):
                codes = row[day].split()
                if not codes:
                    continue
                am, pm = codes
                date = monday + dt.timedelta(days=offset)
                for session, code in (("AM", am), ("PM", pm)):
                    marks.append(Mark(pupil.pupil_id, int(row["school"]), date, session, code))  # type: ignore[arg-type]
            monday += dt.timedelta(weeks=1)
    return World(schools=school_rows, pupils=pupil_rows, marks=marks)


def session(date: str, when: str, code: str) -> dict[str, object]:
    """One entry of a released `unauthorised_sessions` list."""
    return {"date": dt.date.fromisoformat(date), "session": when, "code": code}


def at(moment: str) -> dt.datetime:
    """A UTC moment from 'YYYY-MM-DD HH:MM'."""
    return dt.datetime.fromisoformat(moment).replace(tzinfo=dt.UTC)
