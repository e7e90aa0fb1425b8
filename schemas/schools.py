"""Reading a Get Information About Schools (GIAS) establishment CSV (pure).

GIAS exports are latin-1 (Windows-1252 in practice), every field quoted, about 130 columns. We keep
only what the gateway needs: URN, LA code and name, establishment number, name, phase, type, status,
and for the attendance reports the characteristics that similar schools are matched on (type group,
religious character, admissions policy, region, pupils on roll) and the school's academy trust. Those
are optional: an extract without them still loads, and the reports treat the value as unknown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

GIAS_COLUMNS = {
    "urn": "URN",
    "la_code": "LA (code)",
    "la_name": "LA (name)",
    "establishment_number": "EstablishmentNumber",
    "name": "EstablishmentName",
    "type_of_establishment": "TypeOfEstablishment (name)",
    "phase": "PhaseOfEducation (name)",
    "status": "EstablishmentStatus (name)",
    "type_group": "EstablishmentTypeGroup (name)",
    "religious_character": "ReligiousCharacter (name)",
    "admissions_policy": "AdmissionsPolicy (name)",
    "region": "GOR (name)",
    "number_of_pupils": "NumberOfPupils",
    "trust_uid": "Trusts (code)",
    "trust_name": "Trusts (name)",
}
REQUIRED = ("urn", "la_code", "la_name", "name", "phase", "status")


class GiasInvalid(Exception):
    def __init__(self, row: int | None, field: str | None, message: str):
        where = f"row {row}" if row is not None else "header"
        super().__init__(f"{where}, {field or 'file'}: {message}")
        self.row, self.field, self.message = row, field, message


@dataclass(frozen=True, slots=True)
class SchoolRecord:
    urn: int
    la_code: str
    la_name: str
    establishment_number: str | None
    name: str
    phase: str
    type_of_establishment: str | None
    status: str
    type_group: str | None = None
    religious_character: str | None = None
    admissions_policy: str | None = None
    region: str | None = None
    number_of_pupils: int | None = None
    #: The GIAS UID of the academy trust the school belongs to, and its name.
    trust_uid: str | None = None
    trust_name: str | None = None


def open_gias(raw: IO[bytes]) -> IO[str]:
    # cp1252 is a superset of latin-1 for printable characters and is what GIAS actually writes.
    return io.TextIOWrapper(raw, encoding="cp1252", errors="strict", newline="")


def read_gias(text: IO[str]) -> Iterator[SchoolRecord]:
    reader = csv.DictReader(text)
    header = reader.fieldnames or []
    missing = [GIAS_COLUMNS[k] for k in REQUIRED if GIAS_COLUMNS[k] not in header]
    if missing:
        raise GiasInvalid(None, ", ".join(missing), "missing column(s)")
    try:
        for number, raw in enumerate(reader, start=1):
            yield _record(number, raw)
    except csv.Error as exc:
        raise GiasInvalid(reader.line_num, None, f"malformed CSV ({exc})") from None
    except UnicodeDecodeError:
        raise GiasInvalid(reader.line_num, None, "not latin-1/cp1252 text") from None


def _record(number: int, raw: dict[str, str | None]) -> SchoolRecord:
    def get(key: str) -> str:
        return (raw.get(GIAS_COLUMNS[key]) or "").strip()

    urn_text = get("urn")
    if not urn_text.isdigit() or not 100000 <= int(urn_text) <= 999999:
        raise GiasInvalid(number, "URN", "not a six-digit URN")
    la_code = get("la_code")
    if not (la_code.isdigit() and len(la_code) == 3):
        raise GiasInvalid(number, "LA (code)", "not a three-digit LA code")
    for key in ("la_name", "name", "phase", "status"):
        if not get(key):
            raise GiasInvalid(number, GIAS_COLUMNS[key], "empty")
    est = get("establishment_number")
    if est and not (est.isdigit() and len(est) <= 4):
        raise GiasInvalid(number, "EstablishmentNumber", "not a four-digit establishment number")
    pupils = get("number_of_pupils")
    if pupils and not (pupils.isdigit() and int(pupils) <= 20000):
        raise GiasInvalid(number, "NumberOfPupils", "not a number of pupils")
    trust_uid = get("trust_uid")
    if trust_uid and not (trust_uid.isdigit() and len(trust_uid) <= 10):
        raise GiasInvalid(number, "Trusts (code)", "not a trust UID")
    return SchoolRecord(
        urn=int(urn_text),
        la_code=la_code,
        la_name=get("la_name")[:120],
        establishment_number=est.zfill(4) if est else None,
        name=get("name")[:200],
        phase=get("phase")[:40],
        type_of_establishment=get("type_of_establishment")[:120] or None,
        status=get("status")[:60],
        type_group=_optional(get("type_group"), 60),
        religious_character=_optional(get("religious_character"), 80),
        admissions_policy=_optional(get("admissions_policy"), 60),
        region=_optional(get("region"), 60),
        number_of_pupils=int(pupils) if pupils else None,
        trust_uid=trust_uid or None,
        trust_name=_optional(get("trust_name"), 200) if trust_uid else None,
    )


#: What GIAS writes where a characteristic does not apply or is not recorded.
_NOT_RECORDED = {"", "Not applicable", "Not recorded", "Unknown", "Does not apply"}


def _optional(value: str, limit: int) -> str | None:
    return None if value in _NOT_RECORDED else value[:limit]
