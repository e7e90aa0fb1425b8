"""Helpers for the spec tests: small tables of schools, pupils and register marks in, released rows out.

A register table has one row per pupil, school and week (or run of weeks), with the AM and PM marks
of each weekday separated by a space:

    | pupil | school | weeks                    | Mon | Tue | Wed | Thu | Fri |
    | amy   | 100001 | 2025-09-08               | / \\ | / \\ | I I | / \\ | / \\ |
    | amy   | 100001 | 2025-09-15 to 2025-10-13 | / \\ | / \\ | / \\ | / \\ | / \\ |

"2025-09-15 to 2025-10-13" repeats the row for every week whose Monday is in that range. An empty day
cell means the pupil has no mark that day. Each school day's marks are stored as one register, by
the feed service's own store step, which keeps the running totals the release queries read.

`World.ask` asks the decision point, then runs the release service's own gathering steps
(gateway.services.releases.gather: the scoped queries and their pre-filters, the consent registry,
the criterion, the consent rule) against a small SQLite database holding the world's registers,
stored as the feed service stores them, and its consents; then it applies the obligations.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime as dt
import functools
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from anonymisation.pseudonyms import pupil_id, pupil_ref
from anonymisation.transforms import apply_obligations
from gateway.auth import Principal
from gateway.bootstrap import initialise
from gateway.db.repositories import consents as consent_repo
from gateway.db.session import reading
from gateway.db.base import utcnow
from gateway.db.migrate import upgrade
from gateway.db.session import transaction
from gateway.keys.store import Keys
from gateway.runtime import build_runtime
from gateway.services import feeds, releases
from gateway.services.schools import import_gias
from gateway.settings import Settings
from policies.decide import decide
from policies.loader import load_catalogue
from policies.model import Catalogue, Decision, ReleaseRequest, Requester, RequestFacts
from schemas.calendar import academic_year_of
from schemas.feeds import FeedRowData, ParsedFeed
from schemas.records import Identity, Mark
from tests.factories import write_gias

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

        named = None if upns is None else {pupil_id(upn, KEY) for upn in upns}
        by_id = {p.pupil_id: p for p in self.pupils.values()}
        with self.database(obligations.purpose, obligations.academic_year) as (sessions, keys):
            with reading(sessions) as db:
                selected, _, _, identities = releases.gather(db, keys, obligations, named)
        # Rows in the order of the pupils table, so that expected rows read in the same order.
        order = list(self.pupils)
        selected.sort(key=lambda row: (order.index(by_id[row.pupil_id].name), row.school_urn or 0))
        rows = apply_obligations(
            obligations,
            selected,
            identity_of=identities.__getitem__,
            pupil_ref=functools.partial(pupil_ref, key=KEY),
        )
        return Outcome(decision, rows)

    @contextlib.contextmanager
    def database(self, purpose: str, academic_year: int) -> Iterator[tuple[sessionmaker[Session], Keys]]:
        """A fresh migrated database with the world's schools, registers and consents, and keys whose
        pseudonym keys are the spec tests' KEY (so that `Pupil.pupil_id` and `World.ref` name the
        pupils as the gateway does)."""
        store = _store()
        folder = Path(tempfile.mkdtemp(dir=store))
        shutil.copyfile(store / "template.db", folder / "gateway.db")
        runtime = build_runtime(
            Settings(database_url=f"sqlite:///{folder / 'gateway.db'}", data_dir=store / "data", env="dev")
        )
        try:
            keys = dataclasses.replace(runtime.keys, pupil_id_key=KEY, pupil_ref_key=KEY)
            self._store_world(runtime.sessions, keys, purpose, academic_year)
            yield runtime.sessions, keys
        finally:
            runtime.engine.dispose()
            shutil.rmtree(folder, ignore_errors=True)

    def _store_world(
        self, sessions: sessionmaker[Session], keys: Keys, purpose: str, academic_year: int
    ) -> None:
        schools = [
            (s.urn, s.la_code, f"LA {s.la_code}", f"{n + 2001:04d}", f"School {s.urn}", "Community school",
             "Open", s.phase)
            for n, s in enumerate(self.schools.values())
        ]
        import_gias(sessions, write_gias(Path(tempfile.mkdtemp(dir=_store())) / "gias.csv", schools))
        by_id = {p.pupil_id: p for p in self.pupils.values()}
        registers: dict[tuple[int, dt.date], dict[str, dict[str, str]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        for mark in self.marks:
            registers[(mark.school_urn, mark.date)][mark.pupil_id][mark.session] = mark.code
        # Stored as the feed service stores a register that passed its checks (the spec tables' UPNs
        # are made up, so their check letters are not asked about).
        for (urn, day), marks_of in sorted(registers.items()):
            rows = [_feed_row(by_id[pid], codes) for pid, codes in marks_of.items()]
            register = feeds._prepare(rows, keys)
            submitter = Principal(
                sub=f"mis-{urn}", org_type="school", org_id=str(urn), roles=("feed_submitter",)
            )
            feeds._store(sessions, keys, submitter, urn, day, b"", "application/json", ParsedFeed(rows),
                         register, academic_year_of(day))
        decisions = [("granted", name) for name in sorted(self.consented)]
        decisions += [("objected", name) for name in sorted(self.objected)]  # later: it outweighs a consent
        urn = next(iter(self.schools))
        with transaction(sessions) as db:
            for seq, (decision, name) in enumerate(decisions, start=1):
                consent_repo.insert_consent(db, {
                    "receipt_id": f"cr_{seq}", "seq": seq, "pupil_id": self.pupils[name].pupil_id,
                    "academic_year": academic_year, "purpose": purpose, "decision": decision,
                    "recorded_by_urn": urn, "recorded_by_sub": "spec", "evidence": None,
                    "recorded_at": utcnow(), "audit_index": seq,
                })


@functools.cache
def _store() -> Path:
    """A folder for the whole test run: a data directory with keys, and a migrated database to copy."""
    folder = Path(tempfile.mkdtemp(prefix="spec-world-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    initialise(Settings(data_dir=folder / "data", database_url=f"sqlite:///{folder / 'init.db'}"))
    upgrade(f"sqlite:///{folder / 'template.db'}")
    return folder


def _feed_row(pupil: Pupil, codes: dict[str, str]) -> FeedRowData:
    return FeedRowData(
        upn=pupil.upn, forename=pupil.forename, surname=pupil.surname, date_of_birth=pupil.born,
        year_group=pupil.year_group, sen_status=pupil.sen_status,  # type: ignore[typeddict-item]
        fsm_eligible=pupil.fsm_eligible, am=codes["AM"], pm=codes["PM"],
    )


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
