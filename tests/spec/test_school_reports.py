"""The rules of the schools' attendance reports, on small tables: similar schools, the attendance
baseline improvement expectation (ABIE), pupils at risk of persistent absence, and where a school
differs from its group. The numbers are the shipped catalogue's unless a test says otherwise."""

from __future__ import annotations

import pytest

from policies.abie import Exemplar, expectation
from policies.at_risk import PupilRecord, reasons
from policies.comparison import Interval, verdict
from policies.loader import load_catalogue
from policies.report_policy import SimilarityWeight, SimilarSchoolsRule
from policies.similarity import SchoolCharacteristics, similar_schools

POLICY = load_catalogue().school_reports
assert POLICY is not None


def school(urn: int, fsm: float, sen: float = 0.12, ehc: float = 0.02, *, phase: str = "Primary",
           size: int = 300, region: str = "London", type_group: str = "Academy") -> SchoolCharacteristics:
    return SchoolCharacteristics(urn, phase, type_group, None, None, region, size, fsm, sen, ehc)


def rule(group_size: int, **weights: float) -> SimilarSchoolsRule:
    return SimilarSchoolsRule(
        group_size=group_size,
        method="test",
        weights=tuple(SimilarityWeight(characteristic=k, weight=v, reason="test")
                      for k, v in weights.items()),
    )


# --- similar schools --------------------------------------------------------------------------------

def test_a_school_whose_characteristics_match_a_group_is_matched_to_that_group():
    # Three groups of 25 primary schools: few, some and many pupils eligible for FSM and on SEN support.
    groups = {"low": (0.05, 0.08), "middle": (0.25, 0.14), "high": (0.55, 0.22)}
    schools, members = [], {}
    for g, (name, (fsm, sen)) in enumerate(groups.items()):
        urns = [100000 + 100 * g + i for i in range(25)]
        members[name] = set(urns)
        schools += [school(u, fsm + 0.002 * (i % 5), sen + 0.001 * (i % 3)) for i, u in enumerate(urns)]
    newcomer = school(199999, 0.26, 0.15)
    groups_found = similar_schools([*schools, newcomer], POLICY.similar_schools)
    similar = [n.urn for n in groups_found[199999]]
    assert len(similar) == 20
    assert set(similar) <= members["middle"]
    # Every member of a group finds its 20 within its own group.
    assert all({n.urn for n in groups_found[u]} <= members["high"] for u in members["high"])


def test_similar_schools_are_of_the_same_phase_never_the_school_itself_and_nearest_first():
    schools = [school(100001 + i, 0.1 + 0.01 * i) for i in range(6)]
    schools.append(school(200001, 0.13, phase="Secondary"))
    found = similar_schools(schools, rule(3, fsm_share=1.0))
    assert [n.urn for n in found[100004]] == [100003, 100005, 100002]
    assert found[100004][0].distance < found[100004][2].distance
    assert found[200001] == ()  # the only secondary school has no similar school


def test_a_characteristic_with_weight_zero_or_left_out_does_not_count():
    # Region differs, FSM matches: with region weighted 0 the FSM twin is nearest.
    schools = [school(100001, 0.20, region="London"), school(100002, 0.20, region="North East"),
               school(100003, 0.30, region="London"), school(100004, 0.40, region="London")]
    assert similar_schools(schools, rule(1, fsm_share=1.0, region=0.0))[100001][0].urn == 100002
    assert similar_schools(schools, rule(1, fsm_share=0.01, region=10.0))[100001][0].urn == 100003


def test_ties_are_broken_by_urn_and_unknown_shares_count_as_the_phase_average():
    schools = [school(100005, 0.2), school(100001, 0.3), school(100003, 0.1), school(100002, 0.2)]
    # 100003 and 100001 are 0.1 away from 100002 and 100005 is nearest.
    nearest = similar_schools(schools, rule(3, fsm_share=1.0))[100002]
    assert [n.urn for n in nearest] == [100005, 100001, 100003]
    unknown = SchoolCharacteristics(100009, "Primary", "Academy", None, None, "London", 300, None, None, None)
    found = similar_schools([*schools, unknown], rule(1, fsm_share=1.0))
    assert found[100009][0].urn in {100002, 100005}  # the average share, 0.2


def test_the_catalogue_refuses_weights_that_cannot_make_groups():
    with pytest.raises(ValueError, match="weighted twice"):
        SimilarSchoolsRule.model_validate({"group_size": 5, "method": "m", "weights": [
            {"characteristic": "fsm_share", "weight": 1, "reason": "r"},
            {"characteristic": "fsm_share", "weight": 2, "reason": "r"}]})
    with pytest.raises(ValueError, match="above zero"):
        rule(5, fsm_share=0.0)


# --- ABIE -------------------------------------------------------------------------------------------

PRIOR = {100 + i: rate for i, rate in enumerate([90.0, 91.0, 92.0, 93.0, 94.0, 95.0, 96.0, 97.0, 98.0])}


def test_abie_asks_a_quarter_of_the_gap_to_the_upper_quartile_of_similar_schools():
    # Upper quartile of 90..98 is 96; a school at 90 has a gap of 6: a quarter is 1.5 points.
    got = expectation(90.0, list(PRIOR), PRIOR, POLICY.abie)
    assert got is not None
    assert (got.benchmark, got.expectation_pp, got.target) == (96.0, 1.5, 91.5)
    assert got.learn_from == (Exemplar(108, 98.0), Exemplar(107, 97.0), Exemplar(106, 96.0))


def test_abie_is_capped_floored_and_not_set_without_a_prior_year():
    assert expectation(80.0, list(PRIOR), PRIOR, POLICY.abie).expectation_pp == 2.0  # gap 16: capped
    at_top = expectation(97.5, list(PRIOR), PRIOR, POLICY.abie)
    assert (at_top.expectation_pp, at_top.target) == (0.2, 97.7)  # above the benchmark: the floor
    assert expectation(None, list(PRIOR), PRIOR, POLICY.abie) is None
    assert expectation(92.0, [999], PRIOR, POLICY.abie) is None  # no similar school has a prior year


# --- pupils at risk ---------------------------------------------------------------------------------

def test_a_recent_fall_is_flagged_with_both_figures():
    # 140 sessions before the last four weeks with 7 missed (95%), then 40 with 6 missed (85%); 7.2%
    # absence so far is not yet close to the line (7.5%).
    pupil = PupilRecord(possible=180, absent=13, recent_possible=40, recent_absent=6)
    assert reasons(pupil, POLICY.at_risk) == (
        "attendance in the last 4 school weeks 85.0% against 95.0% before",
    )


def test_persistent_absence_last_year_and_closeness_to_the_line_are_reasons():
    pupil = PupilRecord(180, 14, 40, 3, prior_possible=380, prior_absent=46)
    assert reasons(pupil, POLICY.at_risk) == (
        "persistently absent last year (attendance 87.9%)",
        "absence so far this year 7.8%, close to the 10.0% line of persistent absence",
    )


def test_pupils_already_persistently_absent_or_with_too_little_record_or_doing_well_are_not_flagged():
    assert reasons(PupilRecord(180, 18, 40, 10), POLICY.at_risk) == ()  # 10%: already persistently absent
    assert reasons(PupilRecord(10, 0, 10, 0, 380, 80), POLICY.at_risk) == ()  # 10 sessions only
    assert reasons(PupilRecord(180, 4, 40, 1, 380, 10), POLICY.at_risk) == ()
    # A fall that stays above 92% is not a reason.
    assert reasons(PupilRecord(180, 2, 40, 2), POLICY.at_risk) == ()


# --- strengths and areas to focus on ----------------------------------------------------------------

def test_a_school_differs_from_its_group_only_outside_the_group_values_interval():
    group = Interval(value=6.0, lower=5.6, upper=6.4)
    assert verdict(5.5, group) == "strength"
    assert verdict(6.5, group) == "focus"
    assert verdict(5.7, group) is None and verdict(6.4, group) is None
    assert verdict(None, group) is None and verdict(5.0, None) is None
