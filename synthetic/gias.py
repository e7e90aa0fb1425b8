"""The synthetic schools as a GIAS establishment CSV, in GIAS's own layout, for `gateway schools import`."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from synthetic.names import _LATIN1_FORENAMES, _LATIN1_SURNAMES
from synthetic.rolls import roll_size
from synthetic.schools import _GIAS_PHASE, _PLACES, _REGION, _TYPES, SyntheticSchool
from synthetic.seeds import _rng

#: The columns of a GIAS "all establishment data" extract (edubasealldata, layout of 2024-25), in order.
GIAS_COLUMNS: tuple[str, ...] = (
    "URN", "LA (code)", "LA (name)", "EstablishmentNumber", "EstablishmentName",
    "TypeOfEstablishment (code)", "TypeOfEstablishment (name)", "EstablishmentTypeGroup (code)",
    "EstablishmentTypeGroup (name)", "EstablishmentStatus (code)", "EstablishmentStatus (name)",
    "ReasonEstablishmentOpened (code)", "ReasonEstablishmentOpened (name)", "OpenDate",
    "ReasonEstablishmentClosed (code)", "ReasonEstablishmentClosed (name)", "CloseDate",
    "PhaseOfEducation (code)", "PhaseOfEducation (name)", "StatutoryLowAge", "StatutoryHighAge",
    "Boarders (code)", "Boarders (name)", "NurseryProvision (name)", "OfficialSixthForm (code)",
    "OfficialSixthForm (name)", "Gender (code)", "Gender (name)", "ReligiousCharacter (code)",
    "ReligiousCharacter (name)", "ReligiousEthos (name)", "Diocese (code)", "Diocese (name)",
    "AdmissionsPolicy (code)", "AdmissionsPolicy (name)", "SchoolCapacity", "SpecialClasses (code)",
    "SpecialClasses (name)", "CensusDate", "NumberOfPupils", "NumberOfBoys", "NumberOfGirls",
    "PercentageFSM", "TrustSchoolFlag (code)", "TrustSchoolFlag (name)", "Trusts (code)", "Trusts (name)",
    "SchoolSponsorFlag (name)", "SchoolSponsors (name)", "FederationFlag (name)", "Federations (code)",
    "Federations (name)", "UKPRN", "FEHEIdentifier", "FurtherEducationType (name)", "OfstedLastInsp",
    "OfstedSpecialMeasures (code)", "OfstedSpecialMeasures (name)", "LastChangedDate", "Street",
    "Locality", "Address3", "Town", "County (name)", "Postcode", "SchoolWebsite", "TelephoneNum",
    "HeadTitle (name)", "HeadFirstName", "HeadLastName", "HeadPreferredJobTitle",
    "BSOInspectorateName (name)", "InspectorateReport", "DateOfLastInspectionVisit",
    "NextInspectionVisit", "TeenMoth (name)", "TeenMothPlaces", "CCF (name)", "SENPRU (name)",
    "EBD (name)", "PlacesPRU", "FTProv (name)", "EdByOther (name)", "Section41Approved (name)",
    "SEN1 (name)", "SEN2 (name)", "SEN3 (name)", "SEN4 (name)", "SEN5 (name)", "SEN6 (name)",
    "SEN7 (name)", "SEN8 (name)", "SEN9 (name)", "SEN10 (name)", "SEN11 (name)", "SEN12 (name)",
    "SEN13 (name)", "TypeOfResourcedProvision (name)", "ResourcedProvisionOnRoll",
    "ResourcedProvisionCapacity", "SenUnitOnRoll", "SenUnitCapacity", "GOR (code)", "GOR (name)",
    "DistrictAdministrative (code)", "DistrictAdministrative (name)", "AdministrativeWard (code)",
    "AdministrativeWard (name)", "ParliamentaryConstituency (code)", "ParliamentaryConstituency (name)",
    "UrbanRural (code)", "UrbanRural (name)", "GSSLACode (name)", "Easting", "Northing", "MSOA (name)",
    "LSOA (name)", "InspectorateName (name)", "SENStat", "SENNoStat", "BoardingEstablishment (name)",
    "PropsName", "PreviousLA (code)", "PreviousLA (name)", "PreviousEstablishmentNumber",
    "OfstedRating (name)", "Country (name)", "UPRN", "SiteName", "QABName (code)", "QABName (name)",
    "EstablishmentAccredited (code)", "EstablishmentAccredited (name)", "QABReport", "CHNumber",
    "MSOA (code)", "LSOA (code)", "FSM", "AccreditationExpiryDate",
)

#: Columns GIAS writes as bare numbers; every other field is quoted, as in a real extract.
_GIAS_NUMERIC = frozenset(
    {"URN", "StatutoryLowAge", "StatutoryHighAge", "SchoolCapacity", "UKPRN", "Easting", "Northing",
     "SENStat", "SENNoStat"}
)

_RELIGION_CODES = {"Does not apply": "00", "Church of England": "02", "Roman Catholic": "03"}
_URBAN_RURAL = (
    ("A1", "(England/Wales) Urban major conurbation"), ("C1", "(England/Wales) Urban city and town"),
    ("C1", "(England/Wales) Urban city and town"), ("D1", "(England/Wales) Rural town and fringe"),
    ("E1", "(England/Wales) Rural village"),
)
_SEN_TYPES = ("ASD - Autistic Spectrum Disorder", "SLD - Severe Learning Difficulty",
              "MLD - Moderate Learning Difficulty", "SEMH - Social, Emotional and Mental Health",
              "PMLD - Profound and Multiple Learning Difficulty", "SLCN - Speech, language and Communication")


def _gias_date(day: dt.date | None) -> str:
    return "" if day is None else day.strftime("%d-%m-%Y")


def _gias_row(school: SyntheticSchool) -> dict[str, str | int]:
    """One school's GIAS record; columns the gateway does not read are plausible or empty."""
    rng = _rng("gias", school.urn)
    type_code, _, group_code, _, _ = next(
        t for types in _TYPES.values() for t in types if t[1] == school.type_of_establishment)
    phase_code, phase_name = _GIAS_PHASE[school.phase]
    gor_code, _, (easting, northing) = _REGION.get(school.region, _REGION["London"])
    closed = school.status == "Closed"
    academy = school.establishment_type_group in ("Academies", "Free Schools")
    pupils = 0 if closed else roll_size(school, 2024)
    boys = round(pupils * (0.7 if school.phase == "Special" else 0.51))
    religion = school.religious_character
    head_title = rng.choice(("Mrs", "Mr", "Ms", "Miss", "Dr"))
    sixth_form = school.statutory_high_age > 16
    diocese = ""
    if religion != "Does not apply":
        diocese = f"{'CE' if 'England' in religion else 'RC'}{rng.randint(10, 99)}"
    urban_rural = rng.choice(_URBAN_RURAL)
    trust_flag = ("0", "Not applicable")
    if school.trust_uid:
        trust_flag = (("5", "Supported by a multi-academy trust") if school.multi_academy_trust
                      else ("6", "Supported by a single-academy trust"))
    row: dict[str, str | int] = {
        "URN": school.urn,
        "LA (code)": school.la_code,
        "LA (name)": school.la_name,
        "EstablishmentNumber": school.establishment_number,
        "EstablishmentName": school.name,
        "TypeOfEstablishment (code)": type_code,
        "TypeOfEstablishment (name)": school.type_of_establishment,
        "EstablishmentTypeGroup (code)": group_code,
        "EstablishmentTypeGroup (name)": school.establishment_type_group,
        "EstablishmentStatus (code)": "2" if closed else "1",
        "EstablishmentStatus (name)": school.status,
        "ReasonEstablishmentOpened (code)": "10" if academy else "00",
        "ReasonEstablishmentOpened (name)": "Academy Converter" if academy else "Not applicable",
        "OpenDate": _gias_date(school.open_date),
        "ReasonEstablishmentClosed (code)": "10" if closed else "00",
        "ReasonEstablishmentClosed (name)": "Academy Converter" if closed else "Not applicable",
        "CloseDate": _gias_date(school.close_date),
        "PhaseOfEducation (code)": phase_code,
        "PhaseOfEducation (name)": phase_name,
        "StatutoryLowAge": school.statutory_low_age,
        "StatutoryHighAge": school.statutory_high_age,
        "Boarders (code)": "1",
        "Boarders (name)": "No boarders",
        "NurseryProvision (name)": "Has Nursery Classes" if school.statutory_low_age <= 3
        else "No Nursery Classes",
        "OfficialSixthForm (code)": "1" if sixth_form else "2",
        "OfficialSixthForm (name)": "Has a sixth form" if sixth_form else "Does not have a sixth form",
        "Gender (code)": "3",
        "Gender (name)": "Mixed",
        "ReligiousCharacter (code)": _RELIGION_CODES[religion],
        "ReligiousCharacter (name)": religion,
        "ReligiousEthos (name)": religion if religion != "Does not apply" else "Does not apply",
        "Diocese (code)": diocese or "0000",
        "Diocese (name)": "Not applicable" if religion == "Does not apply" else "Diocese of Synthshire",
        "AdmissionsPolicy (code)": "2" if school.phase == "Secondary" else "0",
        "AdmissionsPolicy (name)": "Non-selective" if school.phase == "Secondary" else "Not applicable",
        "SchoolCapacity": max(pupils, round(pupils * rng.uniform(1.0, 1.2))) if pupils else "",
        "SpecialClasses (code)": "1" if school.phase == "Special" else "2",
        "SpecialClasses (name)": "Has Special Classes" if school.phase == "Special" else "No Special Classes",
        "CensusDate": "" if closed else "16-01-2025",
        "NumberOfPupils": "" if closed else str(pupils),
        "NumberOfBoys": "" if closed else str(boys),
        "NumberOfGirls": "" if closed else str(pupils - boys),
        "PercentageFSM": "" if closed else f"{100 * school.fsm_share:.1f}",
        "TrustSchoolFlag (code)": trust_flag[0],
        "TrustSchoolFlag (name)": trust_flag[1],
        "Trusts (code)": school.trust_uid or "",
        "Trusts (name)": school.trust_name or "",
        "SchoolSponsorFlag (name)": "Linked to a sponsor" if "sponsor" in school.type_of_establishment
        else "Not applicable",
        "SchoolSponsors (name)": "",
        "FederationFlag (name)": "Not under a federation",
        "UKPRN": school.ukprn,
        "FurtherEducationType (name)": "Not applicable",
        "OfstedSpecialMeasures (code)": "0",
        "OfstedSpecialMeasures (name)": "Not applicable",
        "LastChangedDate": _gias_date(dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 300))),
        "Street": f"{rng.choice(_PLACES)} {rng.choice(('Road', 'Lane', 'Street', 'Avenue', 'Way'))}",
        "Town": school.la_name.split(",")[0],
        "Postcode": school.postcode,
        "TelephoneNum": f"01632{rng.randint(960000, 960999)}",  # Ofcom's range reserved for fiction
        "HeadTitle (name)": head_title,
        "HeadFirstName": rng.choice(_LATIN1_FORENAMES),
        "HeadLastName": rng.choice(_LATIN1_SURNAMES),
        "HeadPreferredJobTitle": "Headteacher",
        "BSOInspectorateName (name)": "Not applicable",
        "TeenMoth (name)": "Not applicable",
        "CCF (name)": "Not applicable",
        "SENPRU (name)": "Not applicable",
        "EBD (name)": "Not applicable",
        "FTProv (name)": "Not applicable",
        "EdByOther (name)": "Not applicable",
        "Section41Approved (name)": "Not applicable",
        "SEN1 (name)": rng.choice(_SEN_TYPES) if school.phase == "Special" else "",
        "TypeOfResourcedProvision (name)": "Not applicable",
        "GOR (code)": gor_code,
        "GOR (name)": school.region,
        "DistrictAdministrative (code)": school.new_la_code,
        "DistrictAdministrative (name)": school.la_name,
        "UrbanRural (code)": urban_rural[0],
        "UrbanRural (name)": urban_rural[1],
        "GSSLACode (name)": school.new_la_code,
        "Easting": easting + rng.randint(-30000, 30000),
        "Northing": northing + rng.randint(-30000, 30000),
        "InspectorateName (name)": "Not applicable",
        "SENStat": "",
        "SENNoStat": "",
        "BoardingEstablishment (name)": "Not applicable",
        "PreviousLA (code)": "999",
        "PreviousLA (name)": "Not applicable",
        "OfstedRating (name)": rng.choice(("Good", "Good", "Good", "Outstanding", "Requires improvement",
                                           "")),
        "Country (name)": "",
        "UPRN": str(rng.randint(10_000_000, 99_999_999_999)),
        "QABName (code)": "0",
        "QABName (name)": "Not applicable",
        "EstablishmentAccredited (code)": "0",
        "EstablishmentAccredited (name)": "Not applicable",
    }
    return {column: row.get(column, "") for column in GIAS_COLUMNS}


def write_gias_csv(schools: Iterable[SyntheticSchool], path: str | Path) -> None:
    """Write a GIAS establishment extract of the schools for `gateway schools import`.

    As GIAS publishes it: latin-1, CRLF, the real column names in the real order, text fields quoted and
    the numeric ones (URN, ages, capacity, UKPRN, grid references) bare, dates as dd-mm-yyyy. A name
    that latin-1 cannot hold raises UnicodeEncodeError rather than being silently mangled.
    """
    with open(path, "w", encoding="latin-1", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        writer.writerow(GIAS_COLUMNS)
        for school in schools:
            row = _gias_row(school)
            writer.writerow(
                [value if column in _GIAS_NUMERIC and isinstance(value, int) else str(value)
                 for column, value in row.items()]
            )
