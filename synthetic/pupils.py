"""Synthetic pupils on roll: identity, characteristics and absence behaviour, per school and year."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
from dataclasses import dataclass, field

from schemas.upn import upn_from_body
from synthetic.absence import (
    _DECLINE_FIRST_DAY,
    _DECLINE_JUMP,
    _DECLINE_SHARE,
    _DUAL_SHARE,
    _EDGES,
    _FSM_ABSENCE_RATIO,
    _G_BLOCK_SESSIONS_MEAN,
    _MOBILITY,
    _P_CAP,
    _PART_TIME_RECEPTION_SHARE,
    _SEN_ABSENCE_RATIO,
    _SEVERE_LOW,
    _SEVERE_SPAN,
    _UNAUTH_NOISE,
    _UNAUTH_TILT,
    _YEAR_DRIFT_SIGMA,
    DEFAULT_PA_WINDOW_SESSIONS,
    _Model,
    _model,
    _Tables,
)
from synthetic.calendar import school_days, term_dates
from synthetic.names import _FORENAMES, _SURNAMES
from synthetic.profiles import LaProfile
from synthetic.rolls import _YEAR_GROUPS, _cohort_size, _year_index
from synthetic.schools import _UPN_PREDECESSORS, SyntheticSchool
from synthetic.seeds import _rng


@dataclass(slots=True)
class SyntheticPupil:
    """A made-up pupil on roll, with the static part of its feed row and its absence behaviour.

    `absence_propensity` is the expected share of possible sessions missed this year (besides the codes
    a few pupils carry, `carrier_code`: C2, E, T or K) and `unauthorised_share` the part of it that is
    unauthorised. A pupil whose attendance falls during the year has `decline_onset`, the first school
    day of the fall, from which the registers use `_after` (the same pupil, more absent). The
    underscored fields are precomputed so that a register row costs one random draw. Treat it as
    read-only: it is not frozen only because frozen dataclasses cost more to build, which adds up over
    England's 8.8 million pupils.
    """

    upn: str
    forename: str
    surname: str
    date_of_birth: dt.date
    year_group: str
    sen_status: str
    fsm_eligible: bool
    absence_propensity: float
    unauthorised_share: float
    carrier_code: str | None
    _row: dict[str, str | bool] = field(repr=False, compare=False)
    _bands: tuple[float, float, float, float, float, float] = field(repr=False, compare=False)
    _gate: float = field(repr=False, compare=False)
    _tables: _Tables = field(repr=False, compare=False)
    _carrier: tuple[str, str] = field(repr=False, compare=False)
    _holiday_week: float = field(repr=False, compare=False)
    _fixed: tuple[int, str, str] | None = field(repr=False, compare=False)
    decline_onset: dt.date | None = None
    _after: SyntheticPupil | None = field(default=None, repr=False, compare=False)


def _upn_prefix(la_code: str, estab: str, cohort: int) -> str:
    """LA number of the issuing LA, establishment number and 2-digit issue year (the Reception year).

    A UPN keeps the number of the LA that issued it: in LAs created by reorganisation, pupils who
    started school before it carry the old LA's number (Poole or Bournemouth split by school).
    """
    predecessors = _UPN_PREDECESSORS.get(la_code)
    if predecessors and cohort < predecessors[1]:
        olds = predecessors[0]
        la_code = olds[int(estab) % len(olds)]
    return f"{la_code}{estab}{cohort % 100:02d}"


def synthetic_pupils(
    school: SyntheticSchool,
    profile: LaProfile,
    academic_year: int,
    seed: int | str = 0,
    *,
    include_reception: bool = True,
    pa_window_sessions: int = DEFAULT_PA_WINDOW_SESSIONS,
) -> list[SyntheticPupil]:
    """The pupils on roll in an academic year (2025 = 2025/26), in year-group order.

    Pupils belong to intake cohorts (the year they entered Reception), each drawn from its own seed, so
    the same child is on roll in successive years, one year group up, with the same UPN, name and date
    of birth; each year after the first a few leave and as many join (`_MOBILITY`). FSM and SEN follow
    the school's own shares. Absence propensity is Beta-distributed with the profile's mean and a spread
    calibrated so that the share of pupils missing 10% or more of `pa_window_sessions` sessions matches
    the published persistent-absence share, then scaled for FSM, SEN and the school, and moved a little
    each year; a few pupils are in severe absence, and a few a year see their attendance fall from a
    day of the year on. A closed school has no pupils.
    """
    if (school.la_code, school.phase) != (profile.old_la_code, profile.phase):
        raise ValueError(f"profile {profile.old_la_code}/{profile.phase} is not school {school.urn}'s")
    if school.status != "Open":
        return []
    model = _model(profile, pa_window_sessions)
    phase = school.phase
    school_mult = school.absence_factor
    sen_k, sen_e = school.sen_support_share, school.ehc_plan_share
    sen_n = 1.0 - sen_k - sen_e
    fsm_rate = school.fsm_share
    mult_fsm = _FSM_ABSENCE_RATIO / model.fsm_norm * school_mult
    mult_plain = 1.0 / model.fsm_norm * school_mult
    mult_sen = {c: r / model.sen_norm for c, r in _SEN_ABSENCE_RATIO.items()}
    severe = model.severe
    cdf, edges = model.beta_cdf, _EDGES
    last_cell = len(cdf) - 1
    carrier_cum = list(itertools.accumulate(c[1] for c in model.carriers))
    forenames, surnames = _FORENAMES, _SURNAMES
    n_fore, n_sur = len(forenames), len(surnames)
    bisect_right, fromordinal, exp = bisect.bisect_right, dt.date.fromordinal, math.exp
    noise_shift = _UNAUTH_NOISE ** 2 / 2
    drift_shift = _YEAR_DRIFT_SIGMA ** 2 / 2
    inv_mean = 1.0 / model.m_gen
    terms = term_dates(academic_year)
    year_days = school_days(terms[0].start, terms[-1].end)
    onset_span = max(1, len(year_days) - _DECLINE_FIRST_DAY)
    jump_lo, jump_span = _DECLINE_JUMP[0], _DECLINE_JUMP[1] - _DECLINE_JUMP[0]
    groups = _YEAR_GROUPS[phase]

    drafts: list[tuple[str, str, str, dt.date, str, str, bool, float, float, int, int, float]] = []
    onsets: list[dt.date | None] = []
    for position, year_group in enumerate(groups):
        if year_group == "R" and not include_reception:
            continue
        cohort = academic_year - _year_index(year_group)
        rng = _rng(seed, "cohort", school.urn, cohort)
        rnd, gauss = rng.random, rng.gauss
        # This year's draws (drift, a fall) come from a generator of their own, so that the cohort's
        # draws, and with them every child's identity, are the same whichever year is asked for.
        year_rng = _rng(seed, "year", school.urn, cohort, academic_year)
        y_rnd, y_gauss = year_rng.random, year_rng.gauss
        prefix = _upn_prefix(school.la_code, school.establishment_number, cohort)
        first_day = dt.date(cohort - 5, 9, 1).toordinal()
        days = dt.date(cohort - 4, 9, 1).toordinal() - first_day
        size = _cohort_size(school, seed, year_group, cohort)
        # Leavers and joiners: the cohort's serials on roll slide up by the share that moves a year, so
        # the first ones have left and new serials (new children) have joined.
        moved = min(round(size * _MOBILITY * position), max(0, 999 - size))
        for serial in range(1, moved + size + 1):
            forename = forenames[int(rnd() * n_fore)]
            surname = surnames[int(rnd() * n_sur)]
            if rnd() < 0.03:
                surname = f"{surname}-{surnames[int(rnd() * n_sur)]}"
            dob = fromordinal(first_day + int(rnd() * days))
            u = rnd()
            sen = "N" if u < sen_n else ("K" if u < sen_n + sen_k else "E")
            fsm = rnd() < fsm_rate
            r = (mult_fsm if fsm else mult_plain) * mult_sen[sen]
            u_severe, u_p = rnd(), rnd()
            if u_severe < severe * r:
                p = _SEVERE_LOW + _SEVERE_SPAN * u_p
            else:
                j = min(bisect_right(cdf, u_p), last_cell)
                below = cdf[j - 1] if j else 0.0
                within = (u_p - below) / (cdf[j] - below) if cdf[j] > below else 0.5
                p = r * (edges[j] + within * (edges[j + 1] - edges[j]))
            u_tilt = gauss(0.0, _UNAUTH_NOISE)
            carrier = bisect_right(carrier_cum, rnd())
            u_fixed, fixed_day = rnd(), int(rnd() * 5)
            if serial <= moved:
                continue
            p = min(p * exp(_YEAR_DRIFT_SIGMA * y_gauss(0.0, 1.0) - drift_shift), _P_CAP)
            u_decline, u_onset, u_jump = y_rnd(), y_rnd(), y_rnd()
            tilt = (max(p, 1e-6) * inv_mean) ** _UNAUTH_TILT * exp(u_tilt - noise_shift)
            fixed = -1
            if u_fixed < _DUAL_SHARE:
                fixed = fixed_day
            elif year_group == "R" and u_fixed < _DUAL_SHARE + _PART_TIME_RECEPTION_SHARE:
                fixed = 5
            jump = 0.0
            onsets.append(None)
            if u_decline < _DECLINE_SHARE and p < _P_CAP:
                onset_day = _DECLINE_FIRST_DAY + int(u_onset * onset_span)
                onsets[-1] = year_days[min(len(year_days) - 1, onset_day)]
                jump = jump_lo + jump_span * u_jump
            upn = upn_from_body(f"{prefix}{serial:03d}")
            drafts.append((upn, forename, surname, dob, year_group, sen, fsm, p, tilt, carrier, fixed, jump))

    # Scale the unauthorised tilt so that the school's absence-weighted unauthorised share is the LA's
    # (a few fixed-point rounds, since individual shares are capped).
    total = sum(d[7] for d in drafts) or 1.0
    scale = model.omega * total / (sum(d[7] * d[8] for d in drafts) or 1.0)
    for _ in range(4):
        realised = sum(d[7] * min(0.98, d[8] * scale) for d in drafts) / total
        if realised <= 0:
            break
        scale *= model.omega / realised

    pupils: list[SyntheticPupil] = []
    for draft, onset in zip(drafts, onsets, strict=True):
        upn, forename, surname, dob, year_group, sen, fsm, p, tilt, carrier, fixed, jump = draft
        row: dict[str, str | bool] = {
            "upn": upn,
            "forename": forename,
            "surname": surname,
            "date_of_birth": dob.isoformat(),
            "year_group": year_group,
            "sen_status": sen,
            "fsm_eligible": fsm,
        }
        pupil = _pupil(model, row, dob, year_group, sen, fsm, p, tilt * scale, carrier, fixed)
        if onset is not None:
            # After the fall more of the absence is unauthorised, as the tilt has it for a higher rate.
            later = min(p + jump, _P_CAP)
            pupil.decline_onset = onset
            omega = tilt * scale * (later / max(p, 1e-6)) ** _UNAUTH_TILT
            pupil._after = _pupil(model, row, dob, year_group, sen, fsm, later, omega, carrier, fixed)
        pupils.append(pupil)
    return pupils


def _pupil(
    model: _Model,
    row: dict[str, str | bool],
    dob: dt.date,
    year_group: str,
    sen: str,
    fsm: bool,
    p: float,
    omega: float,
    carrier: int,
    fixed: int,
) -> SyntheticPupil:
    """A pupil of propensity p and unauthorised share omega, with the event bands a register draws from."""
    tables_young, tables_senior = model.tables
    g_frac, phi_a, phi_u = model.g_frac, model.phi_auth, model.phi_unauth
    present_rate = model.present_events / max(1 - model.m_all, 1e-6)
    holiday_week = 10 / _G_BLOCK_SESSIONS_MEAN
    if omega > 0.98:
        omega = 0.98
    carrier_prob, carrier_marks, carrier_code = 0.0, _PRESENT, None
    if carrier < len(model.carriers):
        carrier_code, _, carrier_prob, carrier_marks = model.carriers[carrier]
    a_unauth = p * omega
    holiday = a_unauth * g_frac
    # Registers on holiday-block days are all G, so the other events happen on the remaining days
    # at a rate raised to keep their expected count.
    keep = 1.0 / (1.0 - holiday)
    a_auth = p * (1 - omega) * keep
    a_other = (a_unauth - holiday) * keep
    carrier_prob = carrier_prob * keep
    if carrier_prob > 0.95:
        carrier_prob = 0.95
    w_a, s_a = phi_a * a_auth, 2 * (1 - phi_a) * a_auth
    w_u, s_u = phi_u * a_other, 2 * (1 - phi_u) * a_other
    present = present_rate * (1 - p)
    excess = carrier_prob + w_a + s_a + w_u + s_u + present - 0.999
    if excess > 0:  # turn single sessions into whole days (same sessions, fewer events)
        singles = s_a + s_u
        convert = min(1.0, 2 * excess / singles) if singles > 0 else 0.0
        w_a, s_a = w_a + s_a * convert / 2, s_a * (1 - convert)
        w_u, s_u = w_u + s_u * convert / 2, s_u * (1 - convert)
        present = max(0.0, min(present, 0.999 - (carrier_prob + w_a + s_a + w_u + s_u)))
    b1 = carrier_prob + w_a
    b2 = b1 + w_u
    b3 = b2 + s_a
    b4 = b3 + s_u
    b5 = min(b4 + present, 0.999)
    fixed_marks: tuple[int, str, str] | None = None
    if fixed == 5:
        fixed_marks = (5, "/", "X")
    elif fixed >= 0:
        fixed_marks = (fixed, "D", "D")
    return SyntheticPupil(
        upn=str(row["upn"]),
        forename=str(row["forename"]),
        surname=str(row["surname"]),
        date_of_birth=dob,
        year_group=year_group,
        sen_status=sen,
        fsm_eligible=fsm,
        absence_propensity=p,
        unauthorised_share=omega,
        carrier_code=carrier_code,
        _row=row,
        _bands=(carrier_prob, b1, b2, b3, b4, b5),
        _gate=2.0 if fixed_marks else b5,
        _tables=tables_senior if year_group in ("10", "11") else tables_young,
        _carrier=carrier_marks,
        _holiday_week=min(0.6, holiday * holiday_week),
        _fixed=fixed_marks,
    )


_PRESENT = ("/", "\\")
