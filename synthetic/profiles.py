"""Published profiles: DfE's 2025/26 year-to-date figures per LA and phase, the model of every synthetic
school's pupils (register-code mix, enrolment, persistent absence)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

#: The phases DfE publishes per LA (its "Total" row is their sum and is not a kind of school).
PHASES: tuple[str, ...] = ("Primary", "Secondary", "Special")

_DATA_FILE = "dfe-pupil-attendance-ytd-2025-26.csv"

#: Every session-count column of the DfE file and the register code it counts. DfE still carries the
#: withdrawn codes H (agreed holiday, authorised) and J (interview, approved activity) for back-series;
#: they are folded into the current code of the same statistical class (C and B) so that no synthetic
#: register ever carries a code that is not in force.
_COLUMN_CODES: dict[str, str] = {
    "reason_present_am": "/",
    "reason_present_pm": "\\",
    "reason_l_present_late_before_registers_closed": "L",
    "reason_i_authorised_illness": "I",
    "reason_m_authorised_medical_dental": "M",
    "reason_r_authorised_religious_observance": "R",
    "reason_s_authorised_study_leave": "S",
    "reason_t_authorised_mobile_child": "T",
    "reason_h_authorised_holiday": "C",
    "reason_e_authorised_excluded": "E",
    "reason_c_authorised_other": "C",
    "reason_c1_authorised_regulated_performance": "C1",
    "reason_j1_authorised_interview": "J1",
    "reason_c2_authorised_temp_reduced_timetable": "C2",
    "reason_b_aea_education_off_site": "B",
    "reason_j_aea_interview": "B",
    "reason_p_aea_approved_sporting_activity": "P",
    "reason_v_aea_educational_visit_trip": "V",
    "reason_w_aea_work_experience": "W",
    "reason_k_aea_education_arranged_by_la": "K",
    "reason_g_unauthorised_holiday": "G",
    "reason_u_unauthorised_late_after_registers_closed": "U",
    "reason_o_other_unauthorised": "O",
    "reason_n_no_reason_yet": "N",
}

#: The DfE reason columns a profile carries, in the file's order.
REASON_COLUMNS: tuple[str, ...] = tuple(_COLUMN_CODES)

#: England's share of pupils eligible for free school meals (24.6% in January 2024, docs/domain.md section 5).
_FSM_RATE_ENGLAND = 0.25


@dataclass(frozen=True, slots=True)
class LaProfile:
    """One LA and phase as DfE published it for 2025/26: the target the synthetic data is drawn to.

    `reason_sessions` is a tuple of (column, sessions) pairs rather than a dict so that a profile is
    hashable and the calibration derived from it can be cached; `reasons` gives it as a dict.
    `relative_absence` is the LA's overall absence over England's for the phase. `fsm_rate` is not
    published per LA: it is England's rate scaled by that ratio (clamped to 8%-50%), because
    free-school-meal eligibility and absence go together.
    `suppressed` marks the cells DfE replaced by "c" (a single school): their rates are the national
    phase's, so no figure about that one school is reproduced.
    """

    old_la_code: str
    la_name: str
    new_la_code: str
    region: str
    region_code: str
    phase: str
    total_num_schools: int
    total_enrolments: int
    possible_sessions: int
    reason_sessions: tuple[tuple[str, int], ...]
    overall_absence_perc: float
    authorised_absence_perc: float
    unauthorised_absence_perc: float
    pa_perc: float
    relative_absence: float
    fsm_rate: float
    suppressed: bool

    @property
    def reasons(self) -> dict[str, int]:
        """Sessions per DfE reason column (reason_i_authorised_illness, ...)."""
        return dict(self.reason_sessions)

    @property
    def mean_enrolment(self) -> float:
        """Mean compulsory-age enrolment per school, the centre of the school-size distribution."""
        return self.total_enrolments / max(self.total_num_schools, 1)

    @property
    def code_shares(self) -> dict[str, float]:
        """Share of possible sessions per register code, legacy columns folded into current codes.

        Divided by the sum of the reason columns rather than `possible_sessions`, which differs from it
        by a few sessions in some rows, so that the shares sum to exactly one.
        """
        total = sum(n for _, n in self.reason_sessions) or 1
        shares: dict[str, float] = {}
        for column, sessions in self.reason_sessions:
            code = _COLUMN_CODES[column]
            shares[code] = shares.get(code, 0.0) + sessions / total
        return shares

    @property
    def overall_absence_rate(self) -> float:
        """Absence sessions over possible sessions (0 to 1), the headline rate the data is drawn to."""
        return self.overall_absence_perc / 100.0


def _number(row: dict[str, str], column: str) -> float | None:
    value = row.get(column, "")
    if value in ("", "c", "x", "z", "low", "k", "u"):
        return None
    return float(value)


def _read_rows(csv_path: str | Path | None) -> list[dict[str, str]]:
    if csv_path is None:
        # DfE's published file ships with the gateway's package data, read as a resource, not imported.
        text = resources.files("gateway.data").joinpath(_DATA_FILE).read_text(encoding="utf-8-sig")
        return list(csv.DictReader(io.StringIO(text, newline="")))
    with open(csv_path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def load_la_profiles(csv_path: str | Path | None = None) -> list[LaProfile]:
    """Every LA x phase of DfE's 2025/26 file (153 LAs; not every LA has every phase).

    Reads the packaged copy unless given a path, so an installed gateway does not depend on the
    repository layout. Cells suppressed as "c" fall back to the national profile of the phase (rates,
    reason mix, persistent absence, mean school size), keeping the published school count or assuming
    one school. Sorted by LA code then phase so that callers iterate in a stable order.
    """
    rows = _read_rows(csv_path)
    national = {
        r["education_phase"]: r for r in rows if r["geographic_level"] == "National" and r["education_phase"]
    }
    missing = [phase for phase in PHASES if phase not in national]
    if missing:
        raise ValueError(f"{csv_path or _DATA_FILE}: no national row for {missing}")
    profiles: list[LaProfile] = []
    for row in rows:
        phase = row["education_phase"]
        if row["geographic_level"] != "Local authority" or phase not in PHASES:
            continue
        nat = national[phase]
        needed = ("total_enrolments", "possible_sessions", "pa_perc", "overall_absence_perc", *REASON_COLUMNS)
        suppressed = any(_number(row, column) is None for column in needed)
        source = nat if suppressed else row
        schools_published = _number(row, "total_num_schools")
        schools = int(schools_published) if schools_published is not None else 1
        if suppressed:
            nat_mean = float(nat["total_enrolments"]) / float(nat["total_num_schools"])
            enrolments = round(nat_mean * schools)
        else:
            enrolments = int(float(row["total_enrolments"]))
        absence = float(source["overall_absence_perc"])
        relative = absence / float(nat["overall_absence_perc"])
        profiles.append(
            LaProfile(
                old_la_code=row["old_la_code"],
                la_name=row["la_name"],
                new_la_code=row["new_la_code"],
                region=row["region_name"],
                region_code=row["region_code"],
                phase=phase,
                total_num_schools=schools,
                total_enrolments=enrolments,
                possible_sessions=int(float(source["possible_sessions"])),
                reason_sessions=tuple((c, int(float(source[c]))) for c in REASON_COLUMNS),
                overall_absence_perc=absence,
                authorised_absence_perc=float(source["authorised_absence_perc"]),
                unauthorised_absence_perc=float(source["unauthorised_absence_perc"]),
                pa_perc=float(source["pa_perc"]),
                relative_absence=relative,
                fsm_rate=min(max(_FSM_RATE_ENGLAND * relative, 0.08), 0.5),
                suppressed=suppressed,
            )
        )
    profiles.sort(key=lambda p: (p.old_la_code, PHASES.index(p.phase)))
    return profiles
