"""The absence model of a synthetic pupil: propensities drawn so that each LA and phase meets its
published absence rate, persistent-absence share and code mix."""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from schemas.codes import CURRENT_CODES, StatClass
from synthetic.profiles import _COLUMN_CODES, LaProfile
from synthetic.rolls import _cohort_weights
from synthetic.schools import _SCHOOL_EFFECT_SIGMA, _SEN_SHARES

#: Absence relative to pupils without the characteristic: FSM-eligible pupils miss about twice as much,
#: pupils with SEN support or an EHC plan 1.7 and 2.3 times (autumn 2024/25, docs/domain.md section 5). The
#: ratios are shrunk (1.7, 1.5, 1.9) because they are combined multiplicatively and FSM and SEN overlap.
_FSM_ABSENCE_RATIO = 1.7
_SEN_ABSENCE_RATIO = {"N": 1.0, "K": 1.5, "E": 1.9}
#: A pupil's absence changes from one year to the next (assumption): each year's propensity is the
#: pupil's own times a log-normal factor of this sigma drawn afresh for the year, so that last year's
#: persistent absence predicts this year's without deciding it. The calibration below counts it.
_YEAR_DRIFT_SIGMA = 0.3
#: Some pupils' attendance falls during a year (assumption: illness, anxiety, a change at home, as the
#: at-risk rule's "recent fall" looks for): this share of pupils a year, from a school day drawn
#: uniformly from the year's 11th on, miss a further 8%-30% of their sessions for the rest of the year.
#: Their extra absence is not calibrated away: it adds about 0.3 points to a year's absence rate and
#: less to the autumn term's, within what the published figures are matched to.
_DECLINE_SHARE = 0.04
_DECLINE_JUMP = (0.08, 0.30)
_DECLINE_FIRST_DAY = 10
#: Pupils move school (assumption: a few percent of a year group a year, outside the move to
#: secondary): each year after its first in the school, this share of a cohort leaves and as many join,
#: with UPNs of their own.
_MOBILITY = 0.04

#: No pupil's propensity exceeds 95%: even the most absent child is sometimes marked present, as on
#: real registers (a child who never attends is taken off roll, not marked absent forever).
_P_CAP = 0.95

#: How each code's sessions arise (assumption): the share that comes as whole days (both sessions) and,
#: for the rest, the share falling in the morning. Illness is mostly whole days, appointments half days,
#: late after registers closed (U) and late (L) are mornings, a reduced timetable (C2) afternoons.
_SHAPE: dict[str, tuple[float, float]] = {
    "I": (0.9, 0.5), "M": (0.15, 0.5), "R": (1.0, 0.5), "S": (1.0, 0.5), "T": (1.0, 0.5), "E": (1.0, 0.5),
    "C": (0.8, 0.5), "C1": (1.0, 0.5), "J1": (0.5, 0.5), "C2": (0.0, 0.1), "G": (1.0, 0.5),
    "U": (0.0, 0.9), "O": (0.75, 0.5), "N": (0.8, 0.5), "L": (0.0, 0.85), "B": (0.6, 0.5),
    "P": (0.2, 0.5), "V": (0.8, 0.5), "W": (1.0, 0.5), "K": (0.8, 0.5),
}

#: Codes carried by a few pupils rather than spread over all (assumption): a temporary part-time
#: timetable, suspension, a mobile (Traveller) family, education arranged by the LA. The share of pupils
#: carrying each, by phase; the code's whole published share is concentrated on them.
_CARRIERS: dict[str, dict[str, float]] = {
    "C2": {"Primary": 0.01, "Secondary": 0.02, "Special": 0.08},
    "E": {"Primary": 0.004, "Secondary": 0.03, "Special": 0.02},
    "T": {"Primary": 0.002, "Secondary": 0.001, "Special": 0.002},
    "K": {"Primary": 0.002, "Secondary": 0.006, "Special": 0.01},
}

#: Unauthorised holidays (G) come as blocks of 2-5 school days at the start or end of a week.
_G_BLOCK_DAYS = (2, 3, 4, 5)
_G_BLOCK_SESSIONS_MEAN = 2 * sum(_G_BLOCK_DAYS) / len(_G_BLOCK_DAYS)
_G_BLOCK_SESSIONS_SQ_MEAN = sum((2 * d) ** 2 for d in _G_BLOCK_DAYS) / len(_G_BLOCK_DAYS)

#: How a pupil's unauthorised share of absence varies (assumption): it rises with the pupil's absence
#: relative to the mean (to this power: persistent absentees' absence is more often unauthorised) and
#: has individual log-normal noise of this sigma; each school's absence-weighted share is then rescaled
#: to the LA's published one.
_UNAUTH_TILT = 0.35
_UNAUTH_NOISE = 0.5

#: Dual registration (D on one weekday, e.g. alternative provision) and part-time Reception (X in the
#: afternoon in the autumn term): rare, not possible sessions, there to exercise that class.
_DUAL_SHARE = 0.003
_PART_TIME_RECEPTION_SHARE = 0.04

#: The window the persistent-absence share is calibrated over: the autumn term (73 days), the term a demo
#: feeds. Over a whole year the same pupils come out a few points lower, as in DfE's own figures.
DEFAULT_PA_WINDOW_SESSIONS = 146

#: First registers: how the MIS sends a day before reasons are known (assumption, consistent with DfE's
#: note that a day's absence falls by about a point as registers are corrected). Absences of these codes
#: are sent as N first, then corrected within 1-5 school days; and 2% of present pupils are first sent
#: as N in the morning (arrived after the first extract) and corrected within 1-2 days.
_PENDING_SHARE = {"I": 0.35, "O": 0.5, "G": 0.5, "M": 0.2}
_PRESENT_PENDING = 0.02


@dataclass(frozen=True, slots=True)
class _Table:
    """Outcomes of one kind of event with cumulative weights in [0, 1]."""

    cum: tuple[float, ...]
    out: tuple[tuple[str, str], ...]

    def pick(self, frac: float) -> tuple[tuple[str, str], float]:
        """The outcome at a uniform position, and the position within it (a fresh uniform)."""
        j = bisect.bisect_right(self.cum, frac)
        if j >= len(self.out):
            j = len(self.out) - 1
        lo = self.cum[j - 1] if j else 0.0
        width = self.cum[j] - lo
        return self.out[j], ((frac - lo) / width if width > 0 else 0.0)


def _table(entries: list[tuple[float, str, str]]) -> _Table:
    """A table from (weight, AM mark, PM mark) entries; an empty one (no such sessions published) still
    gives a valid outcome, though no band leads to it."""
    entries = [e for e in entries if e[0] > 0]
    if not entries:
        return _Table((1.0,), (("O", "O"),))
    total = sum(e[0] for e in entries)
    cum: list[float] = []
    acc = 0.0
    for weight, _, _ in entries:
        acc += weight / total
        cum.append(acc)
    cum[-1] = 1.0
    return _Table(tuple(cum), tuple((am, pm) for _, am, pm in entries))


def _code_entries(shares: dict[str, float], codes: Iterable[str], part: str) -> list[tuple[float, str, str]]:
    """Table entries of whole-day ("whole") or single-session ("single") events of the given codes."""
    out: list[tuple[float, str, str]] = []
    for code in codes:
        share = shares.get(code, 0.0)
        whole, am = _SHAPE[code]
        if part == "whole":
            out.append((whole * share, code, code))
        else:
            out.append((2 * (1 - whole) * share * am, code, "\\"))
            out.append((2 * (1 - whole) * share * (1 - am), "/", code))
    return out


@dataclass(frozen=True, slots=True)
class _Tables:
    whole_auth: _Table
    whole_unauth: _Table
    single_auth: _Table
    single_unauth: _Table
    present: _Table


@dataclass(frozen=True, slots=True)
class _Model:
    """What a profile implies for drawing pupils: derived once per profile and window, then cached."""

    m_all: float  # overall absence rate
    m_gen: float  # absence not carried by the carrier codes
    concentration: float  # Beta concentration k of the ordinary pupils' propensity (diagnostics)
    beta_cdf: tuple[float, ...]  # its cumulative mass per grid cell, for inverse-transform sampling
    severe: float  # share of pupils in severe absence (before the FSM/SEN/school multiplier)
    omega: float  # unauthorised share of general absence, G included
    g_frac: float  # G's share of unauthorised
    phi_auth: float  # whole-day share of authorised, of unauthorised (non-G) sessions
    phi_unauth: float
    present_events: float  # daily probability of a late or approved-activity event
    fsm_norm: float
    sen_norm: float
    # (code, share of pupils carrying it, daily probability, the marks of such a day)
    carriers: tuple[tuple[str, float, float, tuple[str, str]], ...]
    tables: tuple[_Tables, _Tables]  # ordinary; Years 10-11 (who alone take study leave)


_AUTH_GENERAL = ("I", "M", "R", "S", "C", "C1", "J1")
_UNAUTH_GENERAL = ("U", "O", "N")
_PRESENT_EVENTS = ("L", "B", "P", "V", "W")

#: Share of pupils in severe absence (half their sessions or more) by phase at England's absence rate
#: (assumption: DfE's daily data does not publish it; these give 2.3% overall, the 2023/24 census
#: figure in docs/domain.md section 5), scaled by the LA's absence relative to England's to the power 1.5.
#: A Beta fitted to the persistent-absence share alone has too thin a tail to produce them.
_SEVERE_SHARE = {"Primary": 0.009, "Secondary": 0.038, "Special": 0.06}
_SEVERE_LOW, _SEVERE_SPAN = 0.5, 0.35  # their propensity is uniform on 50%-85%


def _check_classes() -> None:
    """The code groups above must agree with schemas.codes (the gateway's single source of truth)."""
    expected = {
        **dict.fromkeys(_AUTH_GENERAL + ("T", "E", "C2"), StatClass.AUTHORISED),
        **dict.fromkeys(_UNAUTH_GENERAL + ("G",), StatClass.UNAUTHORISED),
        **dict.fromkeys(("B", "P", "V", "W", "K"), StatClass.AEA),
        **dict.fromkeys(("/", "\\", "L"), StatClass.PRESENT),
    }
    wrong = [c for c, k in expected.items() if CURRENT_CODES.get(c) is not k]
    if wrong or not set(_COLUMN_CODES.values()) <= set(CURRENT_CODES):
        raise RuntimeError(f"synthetic code groups disagree with schemas.codes: {wrong}")


_check_classes()


def _p_at_least(p: float, threshold: float, n: int, phi: float, g: float) -> float:
    """P(sessions absent >= threshold of n | propensity p), normal approximation with the clustering
    of whole days and holiday blocks in the variance (they make high totals more likely)."""
    if threshold <= 0:
        return 1.0
    pg = p * g
    pn = p - pg
    var_session = pn * (1 + phi) - 2 * pn * pn
    var_session += pg * _G_BLOCK_SESSIONS_SQ_MEAN / _G_BLOCK_SESSIONS_MEAN - 10 * pg * pg
    var = max(var_session, 1e-12) * n
    z = (threshold - 0.5 - n * p) / math.sqrt(2 * var)
    return 0.5 * math.erfc(z)


#: Grid on which propensity distributions are integrated and sampled: quadratic spacing puts cells
#: where absence rates live (a cell is 0.0004 wide at 5%, 0.008 at 100%).
_CELLS = 240
_EDGES = tuple((j / _CELLS) ** 2 for j in range(_CELLS + 1))
_MIDS = tuple(((j + 0.5) / _CELLS) ** 2 for j in range(_CELLS))
_LOG_MID = tuple(math.log(b) for b in _MIDS)
_LOG_WIDTH = tuple(math.log(_EDGES[j + 1] - _EDGES[j]) for j in range(_CELLS))
_LOG1M = tuple(math.log1p(-b) for b in _MIDS)


def _beta_cells(mean: float, k: float) -> list[float]:
    """Mass of Beta(mean k, (1 - mean) k) in each grid cell, normalised.

    When a < 1 the density's b^(a-1) singularity is integrated exactly per cell; otherwise the midpoint
    rule is applied in logs, since powers of the small edges would underflow.
    """
    a1, b1 = mean * k - 1, (1 - mean) * k - 1
    if a1 < 0:
        a = a1 + 1
        powers = [e ** a for e in _EDGES]
        logs = [math.log(hi - lo) + b1 * l1 if hi > lo else -math.inf
                for lo, hi, l1 in zip(powers, powers[1:], _LOG1M, strict=False)]
    else:
        logs = [a1 * lm + b1 * l1 + lw for lm, l1, lw in zip(_LOG_MID, _LOG1M, _LOG_WIDTH, strict=True)]
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total = sum(weights)
    return [w / total for w in weights]


def _scaled(values: Sequence[float], r: float) -> list[float]:
    """A function tabulated at the grid midpoints, evaluated at r times each midpoint (capped).

    The grid is quadratic, so r x b_j sits at fractional index (j + 0.5) sqrt(r) - 0.5: linear
    interpolation there is far cheaper than evaluating the function again for every multiplier.
    """
    root = math.sqrt(r)
    top = math.sqrt(_P_CAP) * _CELLS - 0.5
    last = len(values) - 1
    out: list[float] = []
    for j in range(len(values)):
        x = min((j + 0.5) * root - 0.5, top)
        if x <= 0:
            out.append(values[0])
            continue
        i = min(int(x), last - 1)
        t = x - i
        out.append(values[i] * (1 - t) + values[i + 1] * t)
    return out


def _calibrate(mean: float, pa: float, cond: Sequence[float]) -> tuple[float, bool]:
    """The Beta concentration k whose propensity spread makes the PA share equal pa.

    `cond[j]` is the probability that a pupil whose Beta draw falls in grid cell j ends up persistently
    absent (over the groups: FSM x SEN x school effect, the carrier codes, severe absence). With the
    mean fixed, the PA share for a k is the Beta's cell masses dotted with it. Scanning from
    concentrated to dispersed, the first k that reaches the target is refined by bisection: the least
    dispersion that explains the published share. Returns it and whether the target was reached; if
    not, the k that comes closest.
    """

    def share(log_k: float) -> float:
        return sum(map(operator.mul, _beta_cells(mean, math.exp(log_k)), cond))

    log_ks = [x * 0.75 for x in range(int(math.log(5000) / 0.75), int(math.log(0.05) / 0.75) - 1, -1)]
    values = [share(x) for x in log_ks]
    for i in range(1, len(log_ks)):
        if (values[i - 1] - pa) * (values[i] - pa) <= 0:
            lo, hi, v_lo = log_ks[i], log_ks[i - 1], values[i]
            for _ in range(14):
                mid = (lo + hi) / 2
                v_mid = share(mid)
                if (v_mid - pa) * (v_lo - pa) <= 0:
                    hi = mid
                else:
                    lo, v_lo = mid, v_mid
            return math.exp((lo + hi) / 2), True
    return math.exp(log_ks[min(range(len(log_ks)), key=lambda i: abs(values[i] - pa))]), False


@functools.cache
def _model(profile: LaProfile, window: int) -> _Model:
    """Derive per-pupil drawing parameters from a published profile (cached: each takes a while)."""
    shares = profile.code_shares
    phase = profile.phase
    m_all = sum(shares.get(c, 0.0) for c, k in CURRENT_CODES.items()
                if k in (StatClass.AUTHORISED, StatClass.UNAUTHORISED))
    auth = sum(shares.get(c, 0.0) for c in _AUTH_GENERAL)
    unauth_other = sum(shares.get(c, 0.0) for c in _UNAUTH_GENERAL)
    g_share = shares.get("G", 0.0)
    m_gen = max(auth + unauth_other + g_share, 1e-4)
    omega = (unauth_other + g_share) / m_gen
    g_frac = g_share / (unauth_other + g_share) if unauth_other + g_share > 0 else 0.0
    phi_auth = sum(_SHAPE[c][0] * shares.get(c, 0.0) for c in _AUTH_GENERAL) / auth if auth else 1.0
    phi_unauth = (sum(_SHAPE[c][0] * shares.get(c, 0.0) for c in _UNAUTH_GENERAL) / unauth_other
                  if unauth_other else 1.0)
    present_events = sum((2 - _SHAPE[c][0]) * shares.get(c, 0.0) for c in _PRESENT_EVENTS)

    carriers: list[tuple[str, float, float, tuple[str, str]]] = []
    for code, by_phase in _CARRIERS.items():
        frac = by_phase[phase]
        share = shares.get(code, 0.0)
        if share <= 0:
            continue
        if code == "C2":
            carriers.append((code, frac, min(0.95, 2 * share / frac), ("/", "C2")))
        else:
            carriers.append((code, frac, min(0.95, share / frac), (code, code)))
    carrier_total = sum(c[1] for c in carriers)

    fsm = profile.fsm_rate
    fsm_norm = fsm * _FSM_ABSENCE_RATIO + (1 - fsm)
    sen_norm = sum(s * _SEN_ABSENCE_RATIO[c] for c, s in _SEN_SHARES[phase])
    school_points = ((-math.sqrt(3), 1 / 6), (0.0, 2 / 3), (math.sqrt(3), 1 / 6))
    # The school effect and the pupil's drift from year to year are both log-normal and independent.
    spread = math.hypot(_SCHOOL_EFFECT_SIGMA, _YEAR_DRIFT_SIGMA)
    multipliers: list[tuple[float, float]] = []
    for is_fsm, w_fsm in ((True, fsm), (False, 1 - fsm)):
        for sen, w_sen in _SEN_SHARES[phase]:
            for z, w_z in school_points:
                r = ((_FSM_ABSENCE_RATIO if is_fsm else 1.0) / fsm_norm * _SEN_ABSENCE_RATIO[sen] / sen_norm
                     * math.exp(spread * z - spread ** 2 / 2))
                multipliers.append((w_fsm * w_sen * w_z, r))

    # Severe absence: a pupil is severe with probability severe x r, so FSM and SEN pupils more often.
    # The ordinary pupils' mean is lowered to keep the profile's mean, never below half of it. Severe
    # pupils take absence away from the others, which lowers the most persistent absence the rest can
    # show at that mean; where the published share is then out of reach (low-absence LAs with high
    # persistent absence), the severe share gives way, since persistent absence is the published target.
    severe_mean = _SEVERE_LOW + _SEVERE_SPAN / 2
    severe = _SEVERE_SHARE[phase] * profile.relative_absence ** 1.5
    severe = min(severe, 0.5 * m_gen / (severe_mean - 0.5 * m_gen), 0.2)
    second_moment = sum(w * r * r for w, r in multipliers)
    phi = (phi_auth * auth + phi_unauth * unauth_other) / max(auth + unauth_other, 1e-12)
    threshold = math.ceil(0.1 * window - 1e-9)

    def cond_vector(extra: float) -> list[float]:
        return [_p_at_least(b, threshold - extra * window, window, phi, omega * g_frac) for b in _MIDS]

    base = cond_vector(0.0)
    ordinary = [_scaled(base, r) for _, r in multipliers]
    carried = [(frac, cond_vector(daily / 2 if code == "C2" else daily))
               for code, frac, daily, _ in carriers if CURRENT_CODES[code] is not StatClass.AEA]
    for attempt in range(8):
        mean = (m_gen - severe * severe_mean) / (1 - severe * second_moment)
        cond = [severe] * _CELLS
        for (w, r), vector in zip(multipliers, ordinary, strict=True):
            weight = w * (1 - min(severe * r, 0.5)) * (1 - carrier_total)
            cond = [c + weight * v for c, v in zip(cond, vector, strict=True)]
        for frac, vector in carried:
            cond = [c + frac * v for c, v in zip(cond, vector, strict=True)]
        k, reached = _calibrate(mean, profile.pa_perc / 100.0, cond)
        if reached or attempt == 7:
            break
        severe *= 0.6

    def tables(study_leave: float) -> _Tables:
        auth_shares = dict(shares)
        auth_shares["S"] = shares.get("S", 0.0) * study_leave
        return _Tables(
            whole_auth=_table(_code_entries(auth_shares, _AUTH_GENERAL, "whole")),
            whole_unauth=_table(_code_entries(shares, _UNAUTH_GENERAL, "whole")),
            single_auth=_table(_code_entries(auth_shares, _AUTH_GENERAL, "single")),
            single_unauth=_table(_code_entries(shares, _UNAUTH_GENERAL, "single")),
            present=_table(_code_entries(shares, _PRESENT_EVENTS, "whole")
                           + _code_entries(shares, _PRESENT_EVENTS, "single")),
        )

    # Study leave is taken by Years 10 and 11 only: their weight makes up for everyone else's zero.
    senior = 0.4 if phase == "Secondary" else sum(_cohort_weights("Special")[g] for g in ("10", "11"))
    cdf = list(itertools.accumulate(_beta_cells(mean, k)))
    cdf[-1] = 1.0
    return _Model(
        m_all=m_all, m_gen=m_gen, concentration=k, beta_cdf=tuple(cdf), severe=severe, omega=omega,
        g_frac=g_frac, phi_auth=phi_auth, phi_unauth=phi_unauth, present_events=present_events,
        fsm_norm=fsm_norm, sen_norm=sen_norm, carriers=tuple(carriers),
        tables=(tables(0.0), tables(1.0 / senior if phase != "Primary" else 0.0)),
    )
