"""Synthetic schools: as many per LA and phase as DfE counts, with GIAS-like names, types, sizes and
academy trusts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthetic.profiles import PHASES, LaProfile
from synthetic.seeds import _rng

#: LAs created by reorganisation and the LA numbers their area had before (1 April of the given year):
#: a UPN keeps the LA number of the LA that issued it, so older pupils there carry the old number.
_UPN_PREDECESSORS: dict[str, tuple[tuple[str, ...], int]] = {
    "838": (("835",), 2019),  # Dorset (from Dorset 835)
    "839": (("836", "837"), 2019),  # Bournemouth, Christchurch and Poole (from Poole 836, Bournemouth 837)
    "940": (("928",), 2021),  # North Northamptonshire (from Northamptonshire 928)
    "941": (("928",), 2021),  # West Northamptonshire
    "942": (("909",), 2023),  # Cumberland (from Cumbria 909)
    "943": (("909",), 2023),  # Westmorland and Furness
}

#: LAs whose schools must not share an establishment number because their older UPNs share an LA number.
_ESTAB_GROUP: dict[str, str] = {"940": "928", "941": "928", "942": "909", "943": "909"}

#: DfE establishment-number ranges by phase (2xxx-3xxx primary, 4xxx-5xxx secondary, 7xxx special).
_ESTAB_RANGE: dict[str, tuple[int, int]] = {
    "Primary": (2000, 4000),
    "Secondary": (4000, 6000),
    "Special": (7000, 8000),
}

#: Spread of school sizes (sigma of a log-normal around the LA mean): small rural primaries of 40 and
#: city primaries of 700 both exist; secondaries vary less; special schools a lot.
_SIZE_SIGMA = {"Primary": 0.45, "Secondary": 0.35, "Special": 0.5}
_SIZE_BOUNDS = {"Primary": (20, 900), "Secondary": (150, 2600), "Special": (15, 450)}
#: Schools differ beyond their intake: each school scales its pupils' absence by a log-normal factor
#: (sigma 0.25: most schools of an LA within -40%..+60% of its rate), drawn apart from the intake below,
#: so that two schools with the same pupils can do better or worse with them.
_SCHOOL_EFFECT_SIGMA = 0.25

#: SEN status shares (assumption): mainstream about 13% SEN support and 3% EHC plan; special schools
#: almost all EHC plans. They are the centres of each school's own shares.
_SEN_SHARES = {
    "Primary": (("N", 0.84), ("K", 0.13), ("E", 0.03)),
    "Secondary": (("N", 0.84), ("K", 0.13), ("E", 0.03)),
    "Special": (("N", 0.02), ("K", 0.05), ("E", 0.93)),
}
#: Schools of one LA differ in intake (assumption, of the order of the spread of schools' FSM and SEN
#: shares within an LA that GIAS and the school census show): a school's FSM share is the LA's moved on
#: the logit scale by a normal draw of sigma 0.7, its SEN support and EHC plan shares likewise around the
#: phase's with sigma 0.35 and 0.45. Nineteen schools in twenty then lie within 6%-50% FSM in an LA at
#: 20%, 7%-23% SEN support and 1.3%-7% EHC plans in mainstream.
_INTAKE_SIGMA = {"fsm": 0.7, "K": 0.35, "E": 0.45}
#: LA x phase groups of at least this many open schools are re-centred so that their size-weighted
#: intake and absence factor are the LA's; smaller ones (a demo's scale gives one or two schools per LA)
#: keep their draws, which are centred in expectation, since re-centring one school erases its difference.
_RECENTRE_MIN_SCHOOLS = 10

#: (TypeOfEstablishment code, name, EstablishmentTypeGroup code, name, weight) per phase: roughly the
#: 2025 mix, most secondaries and about half of primaries being academies.
_TYPES: dict[str, tuple[tuple[str, str, str, str, float], ...]] = {
    "Primary": (
        ("01", "Community school", "4", "Local authority maintained schools", 0.33),
        ("02", "Voluntary aided school", "4", "Local authority maintained schools", 0.08),
        ("03", "Voluntary controlled school", "4", "Local authority maintained schools", 0.08),
        ("05", "Foundation school", "4", "Local authority maintained schools", 0.02),
        ("34", "Academy converter", "10", "Academies", 0.36),
        ("28", "Academy sponsor led", "10", "Academies", 0.11),
        ("35", "Free schools", "11", "Free Schools", 0.02),
    ),
    "Secondary": (
        ("01", "Community school", "4", "Local authority maintained schools", 0.08),
        ("02", "Voluntary aided school", "4", "Local authority maintained schools", 0.04),
        ("05", "Foundation school", "4", "Local authority maintained schools", 0.04),
        ("34", "Academy converter", "10", "Academies", 0.55),
        ("28", "Academy sponsor led", "10", "Academies", 0.22),
        ("35", "Free schools", "11", "Free Schools", 0.07),
    ),
    "Special": (
        ("07", "Community special school", "5", "Special schools", 0.40),
        ("12", "Foundation special school", "5", "Special schools", 0.05),
        ("44", "Academy special converter", "10", "Academies", 0.25),
        ("33", "Academy special sponsor led", "10", "Academies", 0.08),
        ("36", "Free schools special", "11", "Free Schools", 0.22),
    ),
}

#: GIAS `PhaseOfEducation` (code, name): special schools are "Not applicable", not a phase of their own.
_GIAS_PHASE = {
    "Primary": ("2", "Primary"), "Secondary": ("4", "Secondary"), "Special": ("0", "Not applicable"),
}

_SAINTS = (
    "St Mary's", "St John's", "St Peter's", "St Paul's", "St Joseph's", "St Michael's", "St Andrew's",
    "St George's", "St Anne's", "St Margaret's", "St Thomas'", "St James'", "St Bernadette's",
    "St Edmund's", "Holy Trinity", "Christ Church", "Holy Family", "Our Lady of Lourdes", "Sacred Heart",
    "All Saints", "St Augustine's", "St Francis'", "St Teresa's", "St Wilfrid's", "St Chad's",
    "St Aidan's", "St Cuthbert's", "St Oswald's", "St Bede's", "St Patrick's", "St Thérèse's",
    "St Bartholomew's", "St Luke's", "St Mark's", "St Matthew's", "St Stephen's", "St Nicholas'",
    "Emmanuel", "St Benedict's", "Notre Dame", "St Winefride's", "St Hilda's",
)
_PLACES = (
    "Oakwood", "Hillside", "Riverside", "Meadowbank", "Elmhurst", "Ashfield", "Brookfield", "Woodlands",
    "Fairfield", "Highfield", "Greenacres", "Millbrook", "Beechwood", "Westfield", "Northgate",
    "Southmead", "Eastbrook", "Kingsway", "Queensbury", "Castle Hill", "Willow Bank", "Holly Grove",
    "Rosewood", "Cedar", "Birchwood", "Hazelwood", "Larkrise", "Moorside", "Heathfield", "Springfield",
    "Lakeside", "Bridgewater", "Manor", "Abbey", "Priory", "Grange", "Hawthorn", "Rowan", "Fernhill",
    "Ladybrook", "Stonebridge", "Windmill", "Orchard", "Thornbury", "Ravenscliffe", "Kingfisher",
    "Sandringham", "Marlborough", "Cavendish", "Brunel", "Tennyson", "Wordsworth", "Brontë", "Beaumont",
    "Foxhill", "Harewood", "Linden", "Mayfield", "Newlands", "Redhill", "Stanley", "Trinity", "Valley",
    "Wellington", "Whitehall", "Hartley", "Langley", "Norbury", "Pelham", "Rushey Mead", "Sefton",
    "Thornhill", "Upton", "Wharton", "Yew Tree", "Greenfield", "Elm Park", "Oak Tree", "Acorn",
)
_PLACE_SUFFIXES = ("", "", "", " Park", " Green", " Hill", " Vale", " Fields", " Lane", " Meadows", " Wood",
                   " Heath", " Bank", " Grove", " View", " Road", " Farm", " Court")

#: Per region: GIAS `GOR (code)`, postcode areas and a rough grid reference of its centre, so that
#: addresses and eastings/northings are plausible for the region without being anyone's real address.
_REGION = {
    "North East": ("A", ("NE", "SR", "DH", "TS", "DL"), (425000, 560000)),
    "North West": ("B", ("M", "L", "PR", "BB", "BL", "OL", "WN", "WA", "CH", "CA", "LA", "FY", "SK"),
                   (360000, 430000)),
    "Yorkshire and The Humber": ("D", ("LS", "BD", "HD", "HX", "WF", "S", "DN", "HU", "YO", "HG"),
                                 (440000, 450000)),
    "East Midlands": ("E", ("NG", "DE", "LE", "LN", "NN", "PE"), (470000, 330000)),
    "West Midlands": ("F", ("B", "CV", "WV", "WS", "DY", "ST", "TF", "SY", "WR", "HR"), (390000, 280000)),
    "East of England": ("G", ("CB", "CM", "CO", "IP", "NR", "SS", "SG", "AL", "LU", "PE"), (570000, 250000)),
    "London": ("H", ("E", "N", "NW", "SE", "SW", "W", "BR", "CR", "DA", "EN", "HA", "IG", "KT", "RM", "SM",
                     "TW", "UB"), (530000, 180000)),
    "South East": ("J", ("BN", "CT", "GU", "ME", "OX", "PO", "RG", "RH", "SL", "SO", "TN", "HP", "MK"),
                   (480000, 150000)),
    "South West": ("K", ("BS", "BA", "EX", "GL", "PL", "SN", "SP", "TA", "TQ", "TR", "BH", "DT"),
                   (300000, 120000)),
}
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

#: Academy trusts (assumption, of the order of DfE's academy trust statistics and GIAS for 2024-25):
#: about 8 academies in 10 are in a multi-academy trust (MAT), the rest each in its own single-academy
#: trust; MATs run from 2 schools to a few dozen, most of them under six and a few dozen over 25. A
#: MAT's size is drawn from a power law k^-2 on 2..45 (a median of 3, a mean of about 5.5); most of its
#: schools are in its founding school's LA, the others in the same region (neighbouring LAs) and a few
#: further afield; Catholic academies are in Catholic trusts, as diocesan MATs hold them.
_MAT_SHARE = 0.8
#: Free schools are academies in law and, like them, run by academy trusts.
_ACADEMY_GROUPS = ("Academies", "Free Schools")
_MAT_SIZE_EXPONENT = 2.0
_MAT_SIZES = tuple(range(2, 46))
_MAT_WEIGHTS = tuple(k ** -_MAT_SIZE_EXPONENT for k in _MAT_SIZES)
_MAT_CUM_WEIGHTS = tuple(itertools.accumulate(_MAT_WEIGHTS))
_MAT_MEAN = sum(k * w for k, w in zip(_MAT_SIZES, _MAT_WEIGHTS, strict=True)) / sum(_MAT_WEIGHTS)
#: A trust is single with this chance, so that the share of academies in MATs is _MAT_SHARE:
#: q / (q + (1 - q) x mean MAT size) = 1 - _MAT_SHARE.
_SINGLE_TRUST_CHANCE = (1 - _MAT_SHARE) * _MAT_MEAN / (_MAT_SHARE + (1 - _MAT_SHARE) * _MAT_MEAN)
#: Where a MAT's next school comes from: its LA, else its region, else anywhere in England.
_MAT_FROM_LA, _MAT_FROM_REGION = 0.7, 0.25
#: No MAT takes more than this share of the academies of its kind that were drawn, though any may take
#: three: at a demo's scale (a dozen or two academies in England) a trust of forty would otherwise
#: hold all of them.
_MAT_MAX_SHARE = 0.3
_TRUST_WORDS = (
    "Aspire", "Inspire", "Horizon", "Endeavour", "Pioneer", "Unity", "Summit", "Compass", "Beacon",
    "Evolve", "Ascent", "Keystone", "Bright Futures", "Northern Star", "Discovery", "Voyager", "Kite",
    "Lighthouse", "Meridian", "Pathways", "Tapestry", "Vantage", "Cornerstone", "Harmony", "Elevate",
)
_TRUST_KINDS = ("Learning Trust", "Academy Trust", "Multi-Academy Trust", "Education Trust",
                "Schools Trust", "Learning Partnership", "Academies Trust", "Trust")
_CATHOLIC_TRUST_KINDS = ("Catholic Academy Trust", "Catholic Multi-Academy Trust",
                         "Catholic Education Partnership", "Catholic Multi Academy Company")


@dataclass(frozen=True, slots=True)
class SyntheticSchool:
    """A made-up state-funded school, shaped like the GIAS record of a real one.

    `phase` is DfE's statistical phase (Primary, Secondary, Special) and picks the LA profile;
    `phase_of_education` and `type_of_establishment` are spelled as GIAS spells them (a special school's
    phase of education is "Not applicable"). `size` is the expected compulsory-age roll (Years 1-11, the
    DfE statistics' scope); primary schools also have a Reception year group on top of it (`roll_size`).
    `absence_factor` scales its pupils' absence: schools differ beyond their intake, so each draws a
    log-normal factor, normalised within its LA and phase (size-weighted mean 1) so that the LA's rates
    hold however few of its schools are drawn.
    """

    urn: int
    la_code: str
    la_name: str
    new_la_code: str
    region: str
    establishment_number: str
    name: str
    phase: str
    phase_of_education: str
    type_of_establishment: str
    establishment_type_group: str
    religious_character: str
    status: str
    size: int
    statutory_low_age: int
    statutory_high_age: int
    open_date: dt.date | None
    close_date: dt.date | None
    postcode: str
    ukprn: int
    absence_factor: float
    #: The school's own intake: shares of its pupils eligible for FSM, on SEN support, with an EHC plan.
    fsm_share: float = 0.25
    sen_support_share: float = 0.13
    ehc_plan_share: float = 0.03
    #: The academy trust (GIAS group UID and name) of an academy or free school; None for the others.
    trust_uid: str | None = None
    trust_name: str | None = None
    multi_academy_trust: bool = False

    @property
    def laestab(self) -> str:
        """LA number and establishment number, the seven-digit DfE number."""
        return self.la_code + self.establishment_number


def _logit(x: float) -> float:
    return math.log(x / (1 - x))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _shares_around(
    target: float, zs: Sequence[float], sigma: float, sizes: Sequence[int] | None
) -> list[float]:
    """`target` moved by sigma x z on the logit scale, one share per school; with `sizes`, shifted (on the
    logit scale) so that their size-weighted mean is `target` again."""
    base = [_logit(min(max(target, 1e-4), 1 - 1e-4)) + sigma * z for z in zs]
    shift = 0.0
    if sizes:
        lo, hi, total = -6.0, 6.0, sum(sizes)
        for _ in range(40):
            shift = (lo + hi) / 2
            mean = sum(n * _expit(b + shift) for n, b in zip(sizes, base, strict=True)) / total
            lo, hi = (shift, hi) if mean < target else (lo, shift)
    return [_expit(b + shift) for b in base]


def _stochastic_round(x: float, rng: random.Random) -> int:
    """Round so the expectation is x: at scale 0.01 an LA of 60 schools still gets one 60% of the time."""
    whole = math.floor(x)
    return whole + (rng.random() < x - whole)


def _school_name(rng: random.Random, phase: str, type_name: str, religion: str) -> str:
    """A name of the kind schools of that phase, type and religious character have."""
    academy = "Academy" in type_name or "Free" in type_name
    if religion in ("Church of England", "Roman Catholic"):
        stem = rng.choice(_SAINTS)
    elif rng.random() < 0.12:  # community schools named after a saint or a church
        stem = rng.choice(("St George's", "St Andrew's", "St Edmund's", "St Margaret's", "St Nicholas'",
                           "Christ Church", "All Saints"))
    else:
        place = rng.choice(_PLACES)
        stem = place + ("" if " " in place else rng.choice(_PLACE_SUFFIXES))
    if phase == "Primary":
        if religion == "Church of England":
            kind = rng.choice(("C of E Primary School", "Church of England Primary School",
                               "CE Primary Academy" if academy else "CofE Primary School"))
        elif religion == "Roman Catholic":
            kind = "Catholic Primary Academy" if academy and rng.random() < 0.4 else "Catholic Primary School"
        elif academy and rng.random() < 0.5:
            kind = rng.choice(("Primary Academy", "Academy"))
        else:
            kind = rng.choice(("Primary School", "Primary School", "Community Primary School",
                               "Junior and Infant School"))
    elif phase == "Secondary":
        if religion == "Church of England":
            kind = "Church of England Academy" if academy else "C of E High School"
        elif religion == "Roman Catholic":
            kind = rng.choice(("Catholic High School", "Catholic College", "Catholic School"))
        else:
            kind = rng.choice(("Academy", "School", "High School", "Community College") if academy
                              else ("High School", "School", "Community School", "College"))
    else:
        kind = rng.choice(("School", "School", "Special School", "Academy" if academy else "School",
                           "Community Special School" if "Community" in type_name else "School"))
    return f"{stem} {kind}"


def _postcode(rng: random.Random, region: str) -> str:
    areas = _REGION.get(region, _REGION["London"])[1]
    area = rng.choice(areas)
    district = rng.randint(1, 28 if len(area) == 1 else 20)
    inward = f"{rng.randint(1, 9)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
    return f"{area}{district} {inward}"


def _urn_pool(seed: int | str, total: int) -> list[int]:
    """URNs for every school at once, so that each is unique and depends only on (seed, total).

    GIAS URNs are six digits, most from 100000-149999; that range holds over twice the 21,292 schools,
    so larger scales spill over into the rest of the six-digit space.
    """
    span = 50_000 if total <= 40_000 else min(900_000, 2 * total)
    if total > span:
        raise ValueError(f"{total} schools do not fit in six-digit URNs")
    return _rng(seed, "urn").sample(range(100_000, 100_000 + span), total)


def synthetic_schools(
    profiles: Sequence[LaProfile],
    scale: float = 1.0,
    seed: int | str = 0,
    *,
    las: set[str] | None = None,
    closed_fraction: float = 0.0,
) -> list[SyntheticSchool]:
    """Open schools per LA x phase = published count x scale, stochastically rounded.

    Counts, URNs and establishment numbers are allocated for every profile before `las` filters, so a
    school is the same (URN, name, size) whether it is generated alone or with all of England; it depends
    on (seed, scale). `closed_fraction` adds that share of extra schools with status "Closed" (as a GIAS
    extract has), which have no pupils. The result is in LA code, phase order.
    """
    if scale < 0:
        raise ValueError("scale must not be negative")
    ordered = sorted(profiles, key=lambda p: (p.old_la_code, PHASES.index(p.phase)))
    plan: list[tuple[LaProfile, int, int]] = []
    for profile in ordered:
        count_rng = _rng(seed, "count", profile.old_la_code, profile.phase)
        n_open = _stochastic_round(profile.total_num_schools * scale, count_rng)
        n_closed = _stochastic_round(profile.total_num_schools * scale * closed_fraction, count_rng)
        plan.append((profile, n_open, n_closed))
    pool = _urn_pool(seed, sum(n + c for _, n, c in plan))

    group_counts: dict[tuple[str, str], int] = {}
    for profile, n_open, n_closed in plan:
        key = (_ESTAB_GROUP.get(profile.old_la_code, profile.old_la_code), profile.phase)
        group_counts[key] = group_counts.get(key, 0) + n_open + n_closed
    estab_numbers: dict[tuple[str, str], list[int]] = {}
    for key, count in group_counts.items():
        lo, hi = _ESTAB_RANGE[key[1]]
        if count > hi - lo:
            raise ValueError(f"{count} {key[1].lower()} schools do not fit in LA {key[0]}'s number range")
        estab_numbers[key] = _rng(seed, "estab", *key).sample(range(lo, hi), count)

    schools: list[SyntheticSchool] = []
    next_urn = 0
    group_used: dict[tuple[str, str], int] = {}
    for profile, n_open, n_closed in plan:
        key = (_ESTAB_GROUP.get(profile.old_la_code, profile.old_la_code), profile.phase)
        first_estab = group_used.get(key, 0)
        group_used[key] = first_estab + n_open + n_closed
        urns = pool[next_urn: next_urn + n_open + n_closed]
        next_urn += n_open + n_closed
        estabs = estab_numbers[key][first_estab: first_estab + n_open + n_closed]
        schools.extend(_profile_schools(profile, n_open, urns, estabs, seed))
    # Trusts cross LAs, so they are drawn over all of England before `las` filters (about a second at
    # full scale), for a school's trust to be the same whichever LAs are asked for.
    schools = _with_trusts(schools, seed)
    return schools if las is None else [s for s in schools if s.la_code in las]


def _with_trusts(schools: list[SyntheticSchool], seed: int | str) -> list[SyntheticSchool]:
    """The schools with every academy and free school in a trust (see _MAT_SHARE).

    For each kind of academy (Catholic or not) trust sizes are drawn until they hold all of that kind,
    then the trusts are formed largest first (so that the sizes drawn are the sizes made, and the last,
    smallest trusts take what is left): each is founded by the next academy of its kind not yet in a
    trust, in a seeded random order, and draws its other schools one by one from its founder's LA,
    region or England (the next wider when one has none left). Sizes are England's whatever the scale,
    so at a small scale a MAT's schools spread over several LAs and regions.
    """
    rng = _rng(seed, "trusts")
    academies = [i for i, s in enumerate(schools) if s.establishment_type_group in _ACADEMY_GROUPS]
    pools: dict[tuple[str, ...], list[int]] = {}
    for i in academies:
        school = schools[i]
        kind = str(school.religious_character == "Roman Catholic")
        for key in ((kind, "la", school.la_code), (kind, "region", school.region), (kind,)):
            pools.setdefault(key, []).append(i)
    plan: list[tuple[int, float, str]] = []  # (size, tie-break, kind)
    for kind in sorted(key[0] for key in pools if len(key) == 1):
        count = len(pools[(kind,)])
        most = max(3, round(count * _MAT_MAX_SHARE))
        total = 0
        while total < count:
            single = rng.random() < _SINGLE_TRUST_CHANCE
            size = 1 if single else min(rng.choices(_MAT_SIZES, cum_weights=_MAT_CUM_WEIGHTS)[0], most)
            plan.append((size, rng.random(), kind))
            total += size
    plan.sort(key=lambda t: (-t[0], t[1]))
    founders = {key[0]: list(pool) for key, pool in pools.items() if len(key) == 1}
    for order in founders.values():
        rng.shuffle(order)
    taken: set[int] = set()

    def draw(pool: list[int]) -> int | None:
        # Swap-remove a random entry; entries another pool already gave to a trust are dropped on the way.
        while pool:
            j = rng.randrange(len(pool))
            i = pool[j]
            pool[j] = pool[-1]
            pool.pop()
            if i not in taken:
                return i
        return None

    uids = iter(_rng(seed, "trust-uid").sample(range(1000, 1000 + max(19_000, 2 * len(plan))), len(plan)))
    names: set[str] = set()
    trust_of: dict[int, tuple[str, str, bool]] = {}
    for size, _, kind in plan:
        order = founders[kind]
        while order and order[-1] in taken:
            order.pop()
        if not order:
            continue  # the trusts before took every academy of this kind
        founder = order.pop()
        taken.add(founder)
        school = schools[founder]
        members = [founder]
        tiers = [pools[(kind, "la", school.la_code)], pools[(kind, "region", school.region)], pools[(kind,)]]
        while len(members) < size:
            where = rng.random()
            start = 0 if where < _MAT_FROM_LA else 1 if where < _MAT_FROM_LA + _MAT_FROM_REGION else 2
            member = next((m for m in map(draw, tiers[start:]) if m is not None), None)
            if member is None:  # no academy of its kind left anywhere
                break
            taken.add(member)
            members.append(member)
        name = _trust_name(rng, school, len(members), names)
        names.add(name)
        uid = str(next(uids))
        for i in members:
            trust_of[i] = (uid, name, len(members) > 1)
    return [
        dataclasses.replace(s, trust_uid=trust_of[i][0], trust_name=trust_of[i][1],
                            multi_academy_trust=trust_of[i][2]) if i in trust_of else s
        for i, s in enumerate(schools)
    ]


def _trust_name(rng: random.Random, founder: SyntheticSchool, size: int, taken: set[str]) -> str:
    """A trust's name, unique in England: a single-academy trust is named after its school (as most
    are), a MAT after a place, its LA or an aspiration, a Catholic MAT after a saint."""
    town = founder.la_name.split(",")[0]
    if size == 1:
        name = founder.name + (" Trust" if founder.name.endswith("Academy") else " Academy Trust")
        candidates = [name, f"{name} ({town})"]
    else:
        candidates = []
        for _ in range(30):
            if founder.religious_character == "Roman Catholic":
                stem = rng.choice([s for s in _SAINTS if s.startswith(("St", "Our", "Holy F", "Sacred"))])
                candidates.append(f"{stem} {rng.choice(_CATHOLIC_TRUST_KINDS)}")
            else:
                draw = rng.random()
                stem = (rng.choice(_PLACES) if draw < 0.5 else rng.choice(_TRUST_WORDS) if draw < 0.85
                        else town)
                church = " Church of England" if founder.religious_character == "Church of England" else ""
                candidates.append(f"{stem}{church} {rng.choice(_TRUST_KINDS)}")
    for name in candidates:
        if name not in taken:
            return name
    return next(f"{candidates[-1]} {n}" for n in itertools.count(2) if f"{candidates[-1]} {n}" not in taken)


def _profile_schools(
    profile: LaProfile, n_open: int, urns: list[int], estabs: list[int], seed: int | str
) -> list[SyntheticSchool]:
    """The schools of one LA x phase, drawn in sequence so that names stay unique within the LA."""
    rng = _rng(seed, "schools", profile.old_la_code, profile.phase)
    phase = profile.phase
    types = _TYPES[phase]
    weights = [t[4] for t in types]
    sigma = _SIZE_SIGMA[phase]
    low, high = _SIZE_BOUNDS[phase]
    names: set[str] = set()
    drafts: list[dict[str, Any]] = []
    effect_rng = _rng(seed, "school-effect", profile.old_la_code, profile.phase)
    effects = [math.exp(_SCHOOL_EFFECT_SIGMA * effect_rng.gauss(0.0, 1.0)) for _ in urns]
    # Every LA has a St Mary's and a Catholic primary; giving two of its first few primaries those names
    # puts an apostrophe and a latin-1 letter in any GIAS extract of an LA, so decoding is exercised.
    st_marys = _rng(seed, "st-marys", profile.old_la_code).randrange(4) if phase == "Primary" else -1
    for index, (urn, estab) in enumerate(zip(urns, estabs, strict=True)):
        _, type_name, _, group_name, _ = rng.choices(types, weights)[0]
        religion = "Does not apply"
        draw = rng.random()
        if type_name == "Voluntary aided school":
            religion = "Roman Catholic" if draw < 0.6 else "Church of England"
        elif type_name == "Voluntary controlled school":
            religion = "Church of England"
        elif phase != "Special" and "Academy" in type_name and draw < 0.3:
            religion = "Church of England" if draw < 0.2 else "Roman Catholic"
        size = profile.mean_enrolment * math.exp(rng.gauss(0.0, sigma) - sigma * sigma / 2)
        size = int(min(max(round(size), low), high))
        if index == st_marys:
            name, type_name, group_name = ("St Mary's C of E Primary School", "Voluntary controlled school",
                                           "Local authority maintained schools")
            religion = "Church of England"
        elif index == st_marys + 1 and st_marys >= 0:
            name, type_name, group_name = ("St Thérèse's Catholic Primary School", "Voluntary aided school",
                                           "Local authority maintained schools")
            religion = "Roman Catholic"
        else:
            name = _school_name(rng, phase, type_name, religion)
            for _ in range(30):
                if name not in names:
                    break
                name = _school_name(rng, phase, type_name, religion)
            else:
                name = f"{rng.choice(('North', 'South', 'East', 'West', 'Upper', 'Lower'))} {name}"
        names.add(name)
        closed = index >= n_open
        academy = "Academy" in type_name or "Free" in type_name
        open_date = None
        if academy:
            open_date = dt.date(rng.randint(2011, 2024), rng.choice((1, 4, 9, 9, 9)), 1)
        close_date = None
        if closed:
            close_date = dt.date(rng.randint(2012, 2025), 8, 31)
            if open_date and open_date >= close_date:
                open_date = dt.date(close_date.year - 3, 9, 1)
        if phase == "Primary":
            ages = (3 if rng.random() < 0.4 else 4, 11)  # with or without a nursery class
        elif phase == "Secondary":
            ages = (11, 18 if rng.random() < 0.55 else 16)  # with or without a sixth form
        else:  # all-age special schools, as their pupils span Years 1 to 11
            ages = rng.choice(((2, 19), (3, 19), (4, 19), (5, 19), (5, 16)))
        drafts.append(
            dict(
                urn=urn,
                la_code=profile.old_la_code,
                la_name=profile.la_name,
                new_la_code=profile.new_la_code,
                region=profile.region,
                establishment_number=f"{estab:04d}",
                name=name,
                phase=phase,
                phase_of_education=_GIAS_PHASE[phase][1],
                type_of_establishment=type_name,
                establishment_type_group=group_name,
                religious_character=religion,
                status="Closed" if closed else "Open",
                size=size,
                statutory_low_age=ages[0],
                statutory_high_age=ages[1],
                open_date=open_date,
                close_date=close_date,
                postcode=_postcode(rng, profile.region),
                ukprn=10_000_000 + (urn * 7919) % 9_000_000,
                absence_factor=effects[index],
            )
        )
    sizes = [d["size"] for d in drafts[:n_open]]
    recentre = n_open >= _RECENTRE_MIN_SCHOOLS
    if recentre:
        weighted = sum(size * effect for size, effect in zip(sizes, effects, strict=False))
        norm = sum(sizes) / weighted if weighted > 0 else 1.0
    else:
        norm = math.exp(-_SCHOOL_EFFECT_SIGMA ** 2 / 2)
    intake_rng = _rng(seed, "intake", profile.old_la_code, profile.phase)
    z = [(intake_rng.gauss(0.0, 1.0), intake_rng.gauss(0.0, 1.0), intake_rng.gauss(0.0, 1.0)) for _ in drafts]
    # Closed schools have no pupils, so they weigh nothing in the re-centring.
    intake_weights = sizes + [0] * (len(drafts) - n_open) if recentre else None
    sen = dict(_SEN_SHARES[phase])
    fsm = _shares_around(profile.fsm_rate, [a for a, _, _ in z], _INTAKE_SIGMA["fsm"], intake_weights)
    support = _shares_around(sen["K"], [b for _, b, _ in z], _INTAKE_SIGMA["K"], intake_weights)
    plans = _shares_around(sen["E"], [c for _, _, c in z], _INTAKE_SIGMA["E"], intake_weights)
    return [
        SyntheticSchool(**{
            **d,
            "absence_factor": d["absence_factor"] * norm,
            "fsm_share": round(f, 4),
            "ehc_plan_share": round(e, 4),
            "sen_support_share": round(min(k, 1 - e), 4),
        })
        for d, f, k, e in zip(drafts, fsm, support, plans, strict=True)
    ]
