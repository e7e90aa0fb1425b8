"""Small factories with explicit values: valid UPNs, feed rows, GIAS files, schools."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from schemas.upn import upn_from_body

from schemas.feeds import FEED_FIELDS

GIAS_HEADER = [
    "URN", "LA (code)", "LA (name)", "EstablishmentNumber", "EstablishmentName", "TypeOfEstablishment (name)",
    "EstablishmentTypeGroup (name)", "EstablishmentStatus (name)", "ReasonEstablishmentOpened (name)", "OpenDate",
    "PhaseOfEducation (name)", "StatutoryLowAge", "StatutoryHighAge", "Boarders (name)", "Gender (name)", "Postcode",
]

#: Schools used across API tests: two LAs (202 Camden, 211 Tower Hamlets), one closed school.
SCHOOLS = [
    (100001, "202", "Camden", "2001", "Camden Primary School", "Community school", "Open", "Primary"),
    (100002, "202", "Camden", "4001", "Camden Secondary School", "Academy converter", "Open", "Secondary"),
    (100003, "211", "Tower Hamlets", "2002", "Tower Hamlets Primary School", "Community school", "Open", "Primary"),
    (100004, "211", "Tower Hamlets", "2003", "Old Closed School", "Community school", "Closed", "Primary"),
]


def upn(la: str = "202", est: str = "2001", year: str = "15", serial: int = 1) -> str:
    body = f"{la}{est}{year}{serial:03d}"
    return upn_from_body(body)


def pupil(serial: int, *, am: str = "/", pm: str = "\\", la: str = "202", est: str = "2001", **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "upn": upn(la, est, "15", serial),
        "forename": f"Forename{serial}",
        "surname": f"Surname{serial}",
        "date_of_birth": "2015-03-14",
        "year_group": "5",
        "sen_status": "N",
        "fsm_eligible": False,
        "am": am,
        "pm": pm,
    }
    row.update(over)
    return row


def feed_json(rows: Iterable[dict[str, Any]]) -> bytes:
    return json.dumps({"pupils": list(rows)}).encode()


def feed_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FEED_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in row.items()})
    return out.getvalue().encode()


def write_gias(path: Path, schools: Iterable[tuple[Any, ...]] = SCHOOLS) -> Path:
    with path.open("w", encoding="cp1252", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL)
        writer.writerow(GIAS_HEADER)
        for urn, la, la_name, est, name, typ, status, phase in schools:
            writer.writerow([urn, la, la_name, est, name, typ, "Local authority maintained schools", status, "Not applicable",
                             "01-09-1990", phase, "4", "11", "No boarders", "Mixed", "NW1 1AA"])
    return path


def school_day(offset: int = 0) -> dt.date:
    """A recent weekday in the past, `offset` school days before the latest one."""
    day = dt.date.today() - dt.timedelta(days=1)
    count = 0
    while True:
        if day.weekday() < 5:
            if count == offset:
                return day
            count += 1
        day -= dt.timedelta(days=1)
