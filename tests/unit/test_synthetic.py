"""The synthetic-data generator: England's shape from DfE's published figures, valid identifiers and
register codes, and the same output for the same seed, so that demos and benchmarks can be replayed."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from stdnum.exceptions import InvalidComponent
from stdnum.gb import upn as stdnum_upn

import gateway.data
from synthetic import (
    FEED_COLUMNS,
    GIAS_COLUMNS,
    LaProfile,
    SyntheticSchool,
    daily_register,
    feed_csv,
    load_la_profiles,
    roll_size,
    school_days,
    synthetic_pupils,
    synthetic_schools,
    term_dates,
    write_gias_csv,
)
from schemas.codes import CURRENT_CODES, StatClass, codes_in_force
from schemas.feeds import parse_csv, parse_json

SEED = 2026
SHARED_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "dfe-pupil-attendance-ytd-2025-26.csv"
#: LAs created by reorganisation since python-stdnum's 2011 list of LA numbers.
NEW_LA_NUMBERS = {"838", "839", "940", "941", "942", "943"}
PREDECESSORS = {"838": {"835"}, "839": {"836", "837"}, "940": {"928"}, "941": {"928"}, "942": {"909"},
                "943": {"909"}}
AUTUMN_2025 = school_days(dt.date(2025, 9, 1), dt.date(2025, 12, 31))


@pytest.fixture(scope="module")
def profiles() -> list[LaProfile]:
    return load_la_profiles()


@pytest.fixture(scope="module")
def by_key(profiles: list[LaProfile]) -> dict[tuple[str, str], LaProfile]:
    return {(p.old_la_code, p.phase): p for p in profiles}


@pytest.fixture(scope="module")
def england(profiles: list[LaProfile]) -> list[SyntheticSchool]:
    return synthetic_schools(profiles, 1.0, SEED)


def pupils_of(school: SyntheticSchool, by_key: dict[tuple[str, str], LaProfile], year: int = 2025):
    return synthetic_pupils(school, by_key[(school.la_code, school.phase)], year, SEED)


@pytest.fixture(scope="module")
def walsall(profiles, by_key):
    """A quarter of Walsall's schools (about 28) with their pupils in 2025/26."""
    schools = synthetic_schools(profiles, 0.25, SEED, las={"335"})
    return [(s, by_key[("335", s.phase)], pupils_of(s, by_key)) for s in schools]


# --- published profiles ------------------------------------------------------------------------------


def test_all_153_local_authorities_are_loaded_with_the_phases_they_have(profiles):
    las = {p.old_la_code for p in profiles}
    phases = Counter(p.phase for p in profiles)

    assert len(las) == 153
    assert phases == {"Primary": 152, "Secondary": 152, "Special": 150}
    assert ("857", "Special") not in {(p.old_la_code, p.phase) for p in profiles}  # Rutland has none
    assert all(re.fullmatch(r"\d{3}", p.old_la_code) and p.new_la_code.startswith("E") for p in profiles)


def test_cells_suppressed_for_a_single_school_fall_back_to_the_national_profile_of_the_phase(profiles):
    suppressed = {(p.old_la_code, p.phase): p for p in profiles if p.suppressed}
    city = suppressed[("201", "Primary")]
    scilly = suppressed[("420", "Secondary")]
    ordinary = next(p for p in profiles if p.old_la_code == "335" and p.phase == "Primary")

    assert set(suppressed) == {("201", "Primary"), ("420", "Secondary")}
    assert city.total_num_schools == 1 and scilly.total_num_schools == 1
    assert city.pa_perc == pytest.approx(13.7725665268702)  # England's primary figure
    assert scilly.overall_absence_perc == pytest.approx(8.4897819092997)  # England's secondary figure
    assert city.total_enrolments == round(4330706 / 16677)
    assert not ordinary.suppressed and ordinary.total_num_schools == 85


def test_register_code_shares_sum_to_one_and_use_only_codes_in_force(profiles):
    for profile in profiles:
        shares = profile.code_shares

        assert sum(shares.values()) == pytest.approx(1.0)
        assert set(shares) <= set(CURRENT_CODES)
        absence = sum(v for c, v in shares.items()
                      if CURRENT_CODES[c] in (StatClass.AUTHORISED, StatClass.UNAUTHORISED))
        assert absence == pytest.approx(profile.overall_absence_rate, rel=1e-3)


#: SHA-256 of DfE's published file as the team received it (gateway/data/README.md records it too), so
#: that a clean clone without ../shared still checks that the packaged copy is that file.
REFERENCE_SHA256 = "80a10b6d87caab9588d093f60f1ca1040f3ccd385e07abaf9879db2bc19281ec"


def test_the_packaged_data_file_is_the_published_reference_file():
    packaged = Path(gateway.data.__file__).with_name(SHARED_CSV.name)
    assert hashlib.sha256(packaged.read_bytes()).hexdigest() == REFERENCE_SHA256
    assert REFERENCE_SHA256 in packaged.with_name("README.md").read_text()
    if SHARED_CSV.exists():  # beside the team's copy too, when it is there
        assert hashlib.sha256(SHARED_CSV.read_bytes()).hexdigest() == REFERENCE_SHA256


# --- schools -----------------------------------------------------------------------------------------


def test_at_full_scale_england_has_21292_schools_and_about_8_1_million_compulsory_age_pupils(
        profiles, england):
    published_schools = sum(p.total_num_schools for p in profiles)
    compulsory_age = sum(roll_size(s, 2025, SEED, include_reception=False) for s in england)
    with_reception = sum(roll_size(s, 2025, SEED) for s in england)

    assert len(england) == published_schools == 21_292
    assert sum(s.size for s in england) == pytest.approx(8_103_241, rel=0.01)
    assert compulsory_age == pytest.approx(8_103_241, rel=0.015)
    assert 8_600_000 < with_reception < 9_000_000  # plus a Reception year group in every primary
    assert Counter(s.phase for s in england) == {"Primary": 16_677, "Secondary": 3_494, "Special": 1_121}


def test_a_small_scale_still_touches_most_local_authorities(profiles):
    schools = synthetic_schools(profiles, 0.05, SEED)

    assert len(schools) == pytest.approx(21_292 * 0.05, rel=0.08)
    assert len({s.la_code for s in schools}) >= 130


def test_schools_have_unique_urns_and_laestabs_shaped_like_the_real_ones(england):
    urns = [s.urn for s in england]
    first_digit = {"Primary": "23", "Secondary": "45", "Special": "7"}

    assert len(set(urns)) == len(urns)
    assert all(100_000 <= u <= 149_999 for u in urns)
    assert len({s.laestab for s in england}) == len(england)
    assert all(re.fullmatch(r"\d{4}", s.establishment_number) for s in england)
    assert all(s.establishment_number[0] in first_digit[s.phase] for s in england)
    assert len({s.ukprn for s in england}) == len(england)


def test_schools_are_spelled_as_gias_spells_them(england):
    special = [s for s in england if s.phase == "Special"]
    primary = [s for s in england if s.phase == "Primary"]

    assert {s.phase_of_education for s in special} == {"Not applicable"}
    assert {s.phase_of_education for s in primary} == {"Primary"}
    assert all("special" in s.type_of_establishment for s in special)
    assert {s.status for s in england} == {"Open"}
    assert {s.establishment_type_group for s in england} <= {
        "Local authority maintained schools", "Academies", "Free Schools", "Special schools"}


def test_school_sizes_spread_around_the_local_authoritys_mean(england, by_key):
    primary_335 = [s.size for s in england if s.la_code == "335" and s.phase == "Primary"]
    mean = sum(primary_335) / len(primary_335)

    assert mean == pytest.approx(by_key[("335", "Primary")].mean_enrolment, rel=0.15)
    assert min(primary_335) < 0.6 * mean < 1.6 * mean < max(primary_335)


def test_school_absence_factors_and_intakes_vary_but_average_the_las_within_large_groups(england, by_key):
    groups: dict[tuple[str, str], list[SyntheticSchool]] = {}
    for school in england:
        groups.setdefault((school.la_code, school.phase), []).append(school)

    large = {key: schools for key, schools in groups.items() if len(schools) >= 10}
    assert len(large) > 200
    for key, schools in large.items():
        size = sum(s.size for s in schools)
        assert sum(s.size * s.absence_factor for s in schools) / size == pytest.approx(1.0)
        assert sum(s.size * s.fsm_share for s in schools) / size == pytest.approx(by_key[key].fsm_rate, abs=1e-4)
    factors = [s.absence_factor for s in england]
    assert min(factors) < 0.7 and max(factors) > 1.4
    primaries = [s for s in england if s.phase == "Primary"]
    for share, low, high in (("fsm_share", 0.12, 0.40), ("sen_support_share", 0.09, 0.17),
                             ("ehc_plan_share", 0.018, 0.045)):
        values = sorted(getattr(s, share) for s in primaries)
        decile, top = values[len(values) // 10], values[9 * len(values) // 10]
        assert decile < low < high < top, (share, decile, top)


def test_a_small_scale_keeps_schools_different_within_an_la(profiles):
    """At a demo's scale an LA and phase has one or two schools: they keep their own effect and intake."""
    schools = [s for s in synthetic_schools(profiles, 0.002, SEED) if s.status == "Open"]

    assert len({round(s.absence_factor, 6) for s in schools}) == len(schools)
    assert min(s.absence_factor for s in schools) < 0.85 < 1.15 < max(s.absence_factor for s in schools)
    assert min(s.fsm_share for s in schools) < 0.12 < 0.35 < max(s.fsm_share for s in schools)


def test_asking_for_some_local_authorities_gives_the_same_schools_as_asking_for_all(profiles, england):
    some = synthetic_schools(profiles, 1.0, SEED, las={"335", "942"})

    assert some == [s for s in england if s.la_code in {"335", "942"}]


# --- academy trusts -----------------------------------------------------------------------------------


def _trusts(schools: list[SyntheticSchool]) -> dict[str, list[SyntheticSchool]]:
    out: dict[str, list[SyntheticSchool]] = {}
    for school in schools:
        if school.trust_uid:
            out.setdefault(school.trust_uid, []).append(school)
    return out


def test_every_academy_and_no_other_school_is_in_a_trust_with_one_uid_and_one_name(england):
    academy = {s.urn: s.establishment_type_group in ("Academies", "Free Schools") for s in england}
    academies = [s for s in england if academy[s.urn]]
    trusts = _trusts(england)

    assert all(s.trust_uid and s.trust_name for s in academies)
    assert all(s.trust_uid is None and s.trust_name is None for s in england if not academy[s.urn])
    assert all(re.fullmatch(r"[1-9]\d{3,4}", uid) for uid in trusts)
    assert all(len({s.trust_name for s in members}) == 1 for members in trusts.values())
    assert len({members[0].trust_name for members in trusts.values()}) == len(trusts)  # names unique
    assert all(s.multi_academy_trust == (len(trusts[s.trust_uid]) > 1) for s in academies if s.trust_uid)
    for members in trusts.values():
        members[0].trust_name.encode("latin-1")  # GIAS is latin-1


def test_most_academies_are_in_multi_academy_trusts_mostly_small_a_few_of_dozens_of_schools(england):
    sizes = sorted((len(m) for m in _trusts(england).values()), reverse=True)
    academies = sum(sizes)
    mat_sizes = [n for n in sizes if n > 1]

    assert 0.75 <= sum(mat_sizes) / academies <= 0.85  # about 8 academies in 10 in a MAT
    assert 1_000 <= len(mat_sizes) <= 2_500 and sizes.count(1) >= 1_000  # and many single-academy trusts
    assert sum(n <= 5 for n in mat_sizes) / len(mat_sizes) >= 0.6  # many small MATs...
    assert 10 <= sum(n > 25 for n in mat_sizes) <= 100  # ...few large ones
    assert 30 <= sizes[0] <= 60


def test_a_trusts_schools_are_mostly_in_one_la_or_its_region_and_catholic_trusts_catholic(england):
    mats = [m for m in _trusts(england).values() if len(m) > 1]
    in_main_la = [Counter(s.la_code for s in m).most_common(1)[0][1] / len(m) for m in mats]
    in_main_region = [Counter(s.region for s in m).most_common(1)[0][1] / len(m) for m in mats]

    assert np.mean(in_main_la) >= 0.7 and np.mean(in_main_region) >= 0.9
    assert sum(len({s.la_code for s in m}) > 1 for m in mats) >= 0.2 * len(mats)  # some cross LA lines
    assert all(len({s.religious_character == "Roman Catholic" for s in m}) == 1 for m in mats)


def test_the_same_seed_gives_the_same_trusts_and_another_seed_does_not(profiles):
    def trusts(seed: int) -> list[tuple[int, str | None, str | None]]:
        return [(s.urn, s.trust_uid, s.trust_name) for s in synthetic_schools(profiles, 0.1, seed)]

    assert trusts(SEED) == trusts(SEED)
    assert trusts(SEED) != trusts(SEED + 1)


def test_at_the_demos_scale_a_trust_has_three_or_more_open_schools(profiles):
    """`gateway demo`'s defaults (scale 0.002, seed 2026): its trust officer has several schools to see,
    though their trust is spread over LAs, since so few of England's academies are drawn."""
    schools = [s for s in synthetic_schools(profiles, 0.002, 2026) if s.status == "Open"]
    sizes = Counter(s.trust_uid for s in schools if s.trust_uid)

    assert max(sizes.values()) >= 3
    assert sum(n > 1 for n in sizes.values()) >= 2


def test_closed_schools_are_added_on_request_and_have_no_pupils(profiles, by_key):
    schools = synthetic_schools(profiles, 1.0, SEED, las={"335"}, closed_fraction=0.1)
    closed = [s for s in schools if s.status == "Closed"]

    assert 5 <= len(closed) <= 20
    assert all(s.close_date is not None for s in closed)
    assert synthetic_pupils(closed[0], by_key[("335", closed[0].phase)], 2025, SEED) == []
    assert roll_size(closed[0], 2025, SEED) == 0


# --- pupils ------------------------------------------------------------------------------------------


def test_every_upn_carries_stdnums_check_letter_and_is_unique(profiles, by_key, walsall):
    schools = synthetic_schools(profiles, 0.05, SEED, las={"201"} | NEW_LA_NUMBERS)
    upns = [(p.upn, school) for school, _, pupils in walsall for p in pupils]
    for school in schools:
        upns += [(p.upn, school) for p in pupils_of(school, by_key)]

    assert len({u for u, _ in upns}) == len(upns) > 10_000
    assert {u[1:4] for u, _ in upns} >= {"335", "909", "942"}
    for upn, school in upns[::3]:
        assert re.fullmatch(r"[A-Z]\d{12}", upn)
        assert stdnum_upn.calc_check_digit(upn[1:]) == upn[0]
        assert upn[1:4] in {school.la_code} | PREDECESSORS.get(school.la_code, set())
        assert upn[4:8] == school.establishment_number
        if upn[1:4] in NEW_LA_NUMBERS:
            # python-stdnum's LA list predates these LAs; the check letter is still right.
            with pytest.raises(InvalidComponent):
                stdnum_upn.validate(upn)
        else:
            assert stdnum_upn.is_valid(upn)


def test_pupils_in_reorganised_local_authorities_keep_the_old_la_number_if_they_started_school_before(
        england, by_key):
    cumberland = next(s for s in england if s.la_code == "942" and s.phase == "Secondary")
    pupils = pupils_of(cumberland, by_key, 2025)

    assert {p.upn[1:4] for p in pupils} == {"909"}  # Years 7-11 started Reception before April 2023
    primary = next(s for s in england if s.la_code == "942" and s.phase == "Primary")
    by_year = {p.year_group: p.upn[1:4] for p in pupils_of(primary, by_key, 2025)}
    assert by_year["R"] == by_year["1"] == by_year["2"] == "942" and by_year["3"] == "909"


def test_issue_numbers_of_upns_cannot_collide_between_schools(england):
    from synthetic.pupils import _upn_prefix

    prefixes = [_upn_prefix(s.la_code, s.establishment_number, cohort)
                for s in england for cohort in range(2014, 2026)]

    assert len(set(prefixes)) == len(prefixes)


def test_dates_of_birth_match_the_year_group_in_the_academic_year(walsall):
    for _, _, pupils in walsall:
        for pupil in pupils:
            year = 0 if pupil.year_group == "R" else int(pupil.year_group)
            # Year Y in 2025/26: born 1 Sep (2025 - Y - 5) to 31 Aug (2025 - Y - 4).
            assert dt.date(2020 - year, 9, 1) <= pupil.date_of_birth <= dt.date(2021 - year, 8, 31)


def test_year_groups_follow_the_phase(walsall):
    groups: dict[str, set[str]] = {"Primary": set(), "Secondary": set(), "Special": set()}
    for school, _, pupils in walsall:
        groups[school.phase] |= {p.year_group for p in pupils}

    assert groups == {"Primary": {"R", "1", "2", "3", "4", "5", "6"},
                      "Secondary": {"7", "8", "9", "10", "11"},
                      "Special": {str(y) for y in range(1, 12)}}


def test_sen_and_fsm_come_out_near_the_assumed_shares(walsall):
    mainstream: Counter[str] = Counter()
    special: Counter[str] = Counter()
    fsm = []
    for school, profile, pupils in walsall:
        (special if school.phase == "Special" else mainstream).update(p.sen_status for p in pupils)
        fsm += [(p.fsm_eligible, school.fsm_share) for p in pupils]
    total = sum(mainstream.values())

    assert mainstream["K"] / total == pytest.approx(0.13, abs=0.02)
    assert mainstream["E"] / total == pytest.approx(0.03, abs=0.01)
    assert special["E"] / sum(special.values()) > 0.85
    assert sum(f for f, _ in fsm) / len(fsm) == pytest.approx(sum(r for _, r in fsm) / len(fsm), abs=0.03)


def test_names_include_apostrophes_hyphens_and_accents(walsall):
    names = [f"{p.forename} {p.surname}" for _, _, pupils in walsall for p in pupils]

    assert any("'" in n for n in names)
    assert any("-" in n for n in names)
    assert any(not n.isascii() for n in names)


def test_the_same_child_is_on_roll_a_year_group_higher_the_next_year_beside_a_few_leavers_and_joiners(
        england, by_key):
    school = next(s for s in england if s.la_code == "335" and s.phase == "Secondary")
    year9 = {p.upn: p for p in pupils_of(school, by_key, 2025) if p.year_group == "9"}
    year10 = {p.upn: p for p in pupils_of(school, by_key, 2026) if p.year_group == "10"}
    stayed = year9.keys() & year10.keys()

    assert all((year9[u].forename, year9[u].surname, year9[u].date_of_birth, year9[u].sen_status,
                year9[u].fsm_eligible) == (year10[u].forename, year10[u].surname, year10[u].date_of_birth,
                                           year10[u].sen_status, year10[u].fsm_eligible) for u in stayed)
    left, joined = year9.keys() - year10.keys(), year10.keys() - year9.keys()
    assert len(left) == len(joined) and abs(len(left) - 0.04 * len(year9)) <= 1
    assert 0 < len(left) < 0.1 * len(year9)
    # A child's absence moves from one year to the next, but is much the same child's.
    drift = [year10[u].absence_propensity / year9[u].absence_propensity for u in stayed]
    assert len({round(d, 6) for d in drift}) > len(drift) // 2
    assert 0.6 < sorted(drift)[len(drift) // 2] < 1.6


def test_another_las_profile_is_refused(england, by_key):
    school = next(s for s in england if s.la_code == "335")

    with pytest.raises(ValueError, match="not school"):
        synthetic_pupils(school, by_key[("211", school.phase)], 2025, SEED)


# --- calendar ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("year", [2025, 2026])
def test_a_year_has_six_half_terms_and_190_pupil_days(year):
    terms = term_dates(year)
    days = school_days(dt.date(year, 8, 1), dt.date(year + 1, 8, 31))

    assert [t.name for t in terms] == ["Autumn 1", "Autumn 2", "Spring 1", "Spring 2", "Summer 1", "Summer 2"]
    assert all(a.end < b.start for a, b in zip(terms, terms[1:]))
    assert len(days) == 190
    assert all(d.weekday() < 5 for d in days)


def test_school_days_skip_half_terms_holidays_and_bank_holidays():
    days = set(school_days(dt.date(2025, 9, 1), dt.date(2027, 8, 31)))
    holidays = [dt.date(2025, 10, 29), dt.date(2025, 12, 24), dt.date(2026, 2, 18), dt.date(2026, 4, 3),
                dt.date(2026, 4, 8), dt.date(2026, 5, 4), dt.date(2026, 5, 27), dt.date(2026, 8, 3),
                dt.date(2027, 3, 26), dt.date(2027, 5, 3), dt.date(2027, 6, 2)]

    assert not days & set(holidays)
    assert {dt.date(2025, 9, 4), dt.date(2025, 11, 3), dt.date(2026, 7, 20), dt.date(2027, 3, 25)} <= days


def test_other_years_get_a_calendar_of_the_usual_shape():
    days = school_days(dt.date(2024, 9, 1), dt.date(2025, 8, 31))

    assert len(days) == 190
    assert dt.date(2025, 4, 18) not in days and dt.date(2025, 4, 21) not in days  # Easter 2025


# --- registers ---------------------------------------------------------------------------------------


def test_register_rows_have_exactly_the_feed_fields_and_codes_in_force_on_the_day(walsall):
    day = AUTUMN_2025[10]
    in_force = codes_in_force(day)
    for school, profile, pupils in walsall:
        rows = daily_register(school, pupils, profile, day, SEED)

        assert len(rows) == len(pupils)
        for row in rows:
            assert tuple(row) == FEED_COLUMNS
            assert row["am"] in in_force and row["pm"] in in_force
            assert row["am"] != "\\" and row["pm"] != "/"
            assert isinstance(row["fsm_eligible"], bool)
            assert dt.date.fromisoformat(row["date_of_birth"]) < day


def test_registers_are_deterministic_for_a_seed_school_and_day(walsall):
    school, profile, pupils = walsall[0]
    day = AUTUMN_2025[3]

    register = daily_register(school, pupils, profile, day, SEED)

    assert register == daily_register(school, pupils, profile, day, SEED)
    assert register != daily_register(school, pupils, profile, day, SEED + 1)
    assert register != daily_register(school, pupils, profile, AUTUMN_2025[4], SEED)


def test_the_same_seed_gives_the_same_schools_and_pupils_and_another_seed_does_not(profiles, by_key):
    first = synthetic_schools(profiles, 0.1, SEED, las={"335"})
    again = synthetic_schools(profiles, 0.1, SEED, las={"335"})
    other = synthetic_schools(profiles, 0.1, SEED + 1, las={"335"})

    assert first == again and first != other
    assert pupils_of(first[0], by_key) == pupils_of(again[0], by_key)


def test_no_register_is_taken_on_a_day_without_school(walsall):
    school, profile, pupils = walsall[0]

    with pytest.raises(ValueError, match="not a school day"):
        daily_register(school, pupils, profile, dt.date(2025, 10, 28), SEED)  # October half term


def test_first_registers_carry_n_that_the_correction_replaces(walsall):
    school, profile, pupils = max(walsall, key=lambda w: len(w[2]))
    day = AUTUMN_2025[20]
    settled = daily_register(school, pupils, profile, day, SEED)
    first = daily_register(school, pupils, profile, day, SEED, as_of=day)
    corrected = daily_register(school, pupils, profile, day, SEED, as_of=day + dt.timedelta(days=14))

    def count_n(rows):
        return sum((r["am"] == "N") + (r["pm"] == "N") for r in rows)

    assert corrected == settled
    assert count_n(first) > count_n(settled) + 5
    assert [r["upn"] for r in first] == [r["upn"] for r in settled]
    changed = [(a, b) for a, b in zip(first, settled, strict=True) if a != b]
    assert changed and all("N" in (a["am"], a["pm"]) for a, _ in changed)


def test_pupils_of_one_academic_year_are_not_registered_in_another(walsall):
    school, profile, pupils = walsall[0]

    with pytest.raises(ValueError, match="another academic year"):
        daily_register(school, pupils, profile, dt.date(2026, 9, 10), SEED)


def test_year_11_leave_the_registers_after_the_last_friday_in_june(walsall):
    school, profile, pupils = next(w for w in walsall if w[0].phase == "Secondary")
    on_roll = {r["year_group"] for r in daily_register(school, pupils, profile, dt.date(2026, 6, 26), SEED)}
    after = {r["year_group"] for r in daily_register(school, pupils, profile, dt.date(2026, 6, 29), SEED)}

    assert "11" in on_roll and "11" not in after


ABSENT = frozenset(c for c, k in CURRENT_CODES.items() if k in (StatClass.AUTHORISED, StatClass.UNAUTHORISED))
NOT_POSSIBLE = frozenset(c for c, k in CURRENT_CODES.items() if k is StatClass.NOT_COUNTED)


@pytest.fixture(scope="module")
def autumn_term(walsall):
    """Walsall's schools through the autumn term of 2025: code counts per phase, and per pupil of
    compulsory age (possible, absent) sessions; also the lengths of unauthorised-holiday runs."""
    codes: dict[str, Counter[str]] = {}
    pupils_totals: dict[str, dict[str, list[int]]] = {}
    holiday_runs: list[int] = []
    for school, profile, pupils in walsall:
        counts = codes.setdefault(school.phase, Counter())
        totals = pupils_totals.setdefault(school.phase, {})
        holiday_days: dict[str, list[int]] = {}
        for number, day in enumerate(AUTUMN_2025):
            rows = daily_register(school, pupils, profile, day, SEED)
            counts.update(r["am"] for r in rows)
            counts.update(r["pm"] for r in rows)
            for row in rows:
                am, pm = row["am"], row["pm"]
                if row["year_group"] == "R":
                    continue
                total = totals.setdefault(row["upn"], [0, 0])
                total[0] += (am not in NOT_POSSIBLE) + (pm not in NOT_POSSIBLE)
                total[1] += (am in ABSENT) + (pm in ABSENT)
                if am == "G":
                    holiday_days.setdefault(row["upn"], []).append(number)
        for days in holiday_days.values():
            run = 1
            for a, b in zip(days, days[1:]):
                if b == a + 1:
                    run += 1
                else:
                    holiday_runs.append(run)
                    run = 1
            holiday_runs.append(run)
    return codes, pupils_totals, holiday_runs


def rate(counts: Counter[str], *classes: StatClass) -> float:
    possible = sum(n for c, n in counts.items() if CURRENT_CODES[c] is not StatClass.NOT_COUNTED)
    return 100 * sum(n for c, n in counts.items() if CURRENT_CODES[c] in classes) / possible


@pytest.mark.parametrize("phase", ["Primary", "Secondary"])
def test_over_a_term_absence_and_persistent_absence_come_out_near_the_published_figures(
        autumn_term, by_key, phase):
    codes, totals, _ = autumn_term
    published = by_key[("335", phase)]
    persistent = sum(1 for possible, absent in totals[phase].values() if absent >= 0.1 * possible)

    assert rate(codes[phase], StatClass.AUTHORISED, StatClass.UNAUTHORISED) == \
           pytest.approx(published.overall_absence_perc, rel=0.08)
    assert rate(codes[phase], StatClass.AUTHORISED) == \
           pytest.approx(published.authorised_absence_perc, rel=0.12)
    assert rate(codes[phase], StatClass.UNAUTHORISED) == \
           pytest.approx(published.unauthorised_absence_perc, rel=0.12)
    assert 100 * persistent / len(totals[phase]) == pytest.approx(published.pa_perc, abs=3.0)


def test_over_a_term_the_reasons_follow_the_published_mix(autumn_term, by_key):
    codes, totals, _ = autumn_term
    shares = by_key[("335", "Primary")].code_shares
    possible = sum(n for c, n in codes["Primary"].items() if CURRENT_CODES[c] is not StatClass.NOT_COUNTED)

    for code in ("I", "O", "G", "L", "M", "V"):
        assert codes["Primary"][code] / possible == pytest.approx(shares[code], rel=0.2), code
    severe = sum(1 for possible, absent in totals["Primary"].values() if absent >= 0.5 * possible)
    assert 0 < severe < 0.03 * len(totals["Primary"])


def test_unauthorised_holidays_come_in_blocks_of_consecutive_days(autumn_term):
    _, _, runs = autumn_term

    assert len(runs) > 50
    assert max(runs) >= 5
    assert sum(r for r in runs if r >= 2) >= 0.9 * sum(runs)


def test_dual_registration_and_part_time_reception_use_codes_that_are_not_possible_sessions(autumn_term):
    codes, _, _ = autumn_term

    assert codes["Primary"]["D"] > 0 and codes["Primary"]["X"] > 0
    assert CURRENT_CODES["D"] is CURRENT_CODES["X"] is StatClass.NOT_COUNTED


# --- files -------------------------------------------------------------------------------------------


def test_the_feed_csv_is_what_the_gateways_parser_accepts_and_round_trips(walsall):
    school, profile, pupils = walsall[0]
    day = AUTUMN_2025[0]
    rows = daily_register(school, pupils, profile, day, SEED)
    text = feed_csv(rows)
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))

    assert text.startswith("upn,forename,surname,date_of_birth,year_group,sen_status,fsm_eligible,am,pm\r\n")
    assert [{**r, "fsm_eligible": r["fsm_eligible"] == "true"} for r in parsed] == rows
    assert {r["fsm_eligible"] for r in parsed} == {"true", "false"}
    assert len(parse_csv(text.encode(), day).rows) == len(rows)
    assert len(parse_json(json.dumps({"pupils": rows}).encode(), day).rows) == len(rows)


@pytest.mark.parametrize("la_code", sorted(NEW_LA_NUMBERS))
def test_the_gateway_accepts_registers_from_las_created_since_stdnums_list(profiles, by_key, la_code):
    school = next(s for s in synthetic_schools(profiles, 1.0, SEED, las={la_code}) if s.phase == "Primary")
    profile = by_key[(la_code, "Primary")]
    day = AUTUMN_2025[0]
    rows = daily_register(school, synthetic_pupils(school, profile, 2025, SEED), profile, day, SEED)

    assert {r["upn"][1:4] for r in rows} >= {la_code}
    assert len(parse_csv(feed_csv(rows).encode(), day).rows) == len(rows)


def test_the_gias_extract_round_trips_in_latin_1_with_the_real_columns(profiles, tmp_path):
    schools = synthetic_schools(profiles, 1.0, SEED, las={"335", "201", "825"}, closed_fraction=0.05)
    path = tmp_path / "edubasealldata.csv"
    write_gias_csv(schools, path)
    raw = path.read_bytes()
    with open(path, encoding="latin-1", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames or []

    assert len(columns) >= 120 and tuple(columns) == GIAS_COLUMNS
    assert columns[:5] == ["URN", "LA (code)", "LA (name)", "EstablishmentNumber", "EstablishmentName"]
    assert {"TypeOfEstablishment (name)", "EstablishmentTypeGroup (name)", "EstablishmentStatus (name)",
            "PhaseOfEducation (name)", "StatutoryLowAge", "StatutoryHighAge", "Postcode", "UKPRN",
            "OpenDate", "ReasonEstablishmentOpened (name)", "GSSLACode (name)"} <= set(columns)
    assert [int(r["URN"]) for r in rows] == [s.urn for s in schools]
    assert [r["EstablishmentName"] for r in rows] == [s.name for s in schools]
    assert {r["EstablishmentStatus (name)"] for r in rows} == {"Open", "Closed"}
    assert any("'" in r["EstablishmentName"] for r in rows)
    assert any("é" in r["EstablishmentName"] for r in rows)
    assert "é".encode("latin-1") in raw and "é".encode() not in raw
    assert re.search(rb'\r\n\d{6},"335","Walsall","\d{4}",', raw)  # URN bare, text quoted, as GIAS does
    assert {r["PhaseOfEducation (name)"] for r in rows if r["LA (code)"] == "335"} == \
           {"Primary", "Secondary", "Not applicable"}
    assert all(re.fullmatch(r"[A-Z]{1,2}\d{1,2} \d[A-Z]{2}", r["Postcode"]) for r in rows)
    by_urn = {s.urn: s for s in schools}
    assert [(r["Trusts (code)"] or None, r["Trusts (name)"] or None) for r in rows] == \
           [(s.trust_uid, s.trust_name) for s in schools]
    assert {r["TrustSchoolFlag (name)"] for r in rows if by_urn[int(r["URN"])].multi_academy_trust} == \
           {"Supported by a multi-academy trust"}


def test_a_schools_absence_follows_its_intake_and_its_own_effect_apart(profiles, by_key):
    """Schools with more FSM pupils miss more; beyond that, the school effect is independent of intake."""
    primaries = [s for s in synthetic_schools(profiles, 0.03, SEED) if s.phase == "Primary"]
    fsm = np.array([s.fsm_share for s in primaries])
    effect = np.log([s.absence_factor for s in primaries])
    relative = np.log([np.mean([p.absence_propensity for p in pupils_of(s, by_key)])
                       / by_key[(s.la_code, "Primary")].overall_absence_rate for s in primaries])

    assert len(primaries) > 400
    assert abs(np.corrcoef(fsm, effect)[0, 1]) < 0.15
    slope_fsm = np.polyfit(fsm, relative - effect, 1)[0]
    assert slope_fsm > 0.5
    assert np.corrcoef(effect, relative)[0, 1] > 0.5


def test_some_pupils_attendance_falls_from_a_day_of_the_year_on(walsall):
    falling = [(school, profile, pupils, p) for school, profile, pupils in walsall for p in pupils
               if p.decline_onset is not None and AUTUMN_2025[20] <= p.decline_onset <= AUTUMN_2025[-20]]
    total = sum(len(pupils) for _, _, pupils in walsall)
    assert 0.01 * total < sum(1 for _, _, pupils in walsall for p in pupils if p.decline_onset) < 0.07 * total

    before = [0, 0]
    after = [0, 0]
    for school, profile, pupils, pupil in falling[:60]:
        index = pupils.index(pupil)
        for day in AUTUMN_2025:
            row = daily_register(school, pupils, profile, day, SEED)[index]
            assert row["upn"] == pupil.upn
            side = after if day >= pupil.decline_onset else before
            side[0] += (row["am"] not in NOT_POSSIBLE) + (row["pm"] not in NOT_POSSIBLE)
            side[1] += (row["am"] in ABSENT) + (row["pm"] in ABSENT)
    assert len(falling) >= 30
    assert after[1] / after[0] > before[1] / before[0] + 0.1
