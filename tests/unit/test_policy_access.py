"""The access table: for every action, who is allowed (and with what scope) and who is refused, why."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import access
from policies.access import RULES, Target, decide
from policies.model import Requester


def who(org_type: str, org_id: str, *roles: str) -> Requester:
    return Requester(org_type=org_type, org_id=org_id, roles=roles)


CAMDEN, TOWER = 100001, 100003
SUBMITTER = who("school", "100001", "feed_submitter")
OFFICER = who("school", "100001", "attendance_officer")
SCHOOL_DPO = who("school", "100001", "dpo")
OTHER_OFFICER = who("school", "100003", "attendance_officer")
CASE_OFFICER = who("la", "202", "case_officer")
LA_DPO = who("la", "202", "dpo")
OPERATOR_DPO = who("operator", "operator", "dpo")
STATISTICIAN = who("dfe", "dfe", "statistician")
DFE, BENCH = "dfe-statistics", "school-benchmarks"  # the catalogue's shares of the year's budget
LA_STATISTICIAN = who("la", "202", "statistician")
TRUST_OFFICER = who("trust", "4021", "trust_officer")
OWN = Target(urn=CAMDEN)
LA_RELEASE = Target(recipient=("la", "202"))

#: (action, requester, target, the first reason's code or "allow:<scope>").
TABLE = [
    (access.REGISTER_SUBMIT, SUBMITTER, OWN, "allow:None"),
    (access.REGISTER_SUBMIT, SUBMITTER, Target(urn=CAMDEN, school_open=True), "allow:None"),
    (access.REGISTER_SUBMIT, SUBMITTER, Target(urn=CAMDEN, school_open=False), "school_not_open"),
    (access.REGISTER_SUBMIT, SUBMITTER, Target(urn=TOWER), "wrong_organisation"),
    (access.REGISTER_SUBMIT, OFFICER, OWN, "wrong_role"),
    (access.REGISTER_SUBMIT, who("la", "100001", "feed_submitter"), OWN, "wrong_organisation"),
    (access.PUPILS_VIEW, OFFICER, OWN, "allow:None"),
    (access.PUPILS_VIEW, OTHER_OFFICER, OWN, "wrong_organisation"),
    (access.PUPILS_VIEW, SUBMITTER, OWN, "wrong_role"),
    (access.PUPILS_VIEW, OFFICER, Target(), "wrong_organisation"),
    (access.PUPILS_AT_RISK_VIEW, OFFICER, OWN, "allow:None"),
    (access.PUPILS_AT_RISK_VIEW, OTHER_OFFICER, OWN, "wrong_organisation"),
    (access.PUPILS_AT_RISK_VIEW, SUBMITTER, OWN, "wrong_role"),
    (access.CONSENT_RECORD, OFFICER, OWN, "allow:None"),
    (access.CONSENT_RECORD, OFFICER, Target(urn=CAMDEN, on_roll=True), "allow:None"),
    (access.CONSENT_RECORD, OFFICER, Target(urn=CAMDEN, on_roll=False), "not_on_roll"),
    (access.CONSENT_RECORD, OTHER_OFFICER, Target(urn=CAMDEN, on_roll=False), "wrong_organisation"),
    (access.CONSENTS_VIEW, OFFICER, OWN, "allow:None"),
    (access.CONSENTS_VIEW, CASE_OFFICER, OWN, "wrong_organisation"),
    (access.CONSENT_HISTORY_VIEW, OFFICER, Target(urn=CAMDEN, on_roll=True), "allow:None"),
    (access.CONSENT_HISTORY_VIEW, OFFICER, Target(urn=CAMDEN, on_roll=False), "not_on_roll"),
    (access.CONSENT_HISTORY_VIEW, OTHER_OFFICER, OWN, "wrong_organisation"),
    (access.CONSENT_HISTORY_VIEW, OPERATOR_DPO, Target(), "allow:all"),
    (access.CONSENT_HISTORY_VIEW, LA_DPO, Target(), "wrong_role"),
    (access.CONSENT_HISTORY_VIEW, OFFICER, Target(), "wrong_role"),
    (access.PUPIL_REF_RESOLVE, OFFICER, OWN, "allow:None"),
    (access.PUPIL_REF_RESOLVE, OTHER_OFFICER, OWN, "wrong_organisation"),
    (access.PUPIL_REF_RESOLVE, SCHOOL_DPO, OWN, "wrong_organisation"),
    (access.RELEASE_VIEW, CASE_OFFICER, LA_RELEASE, "allow:None"),
    (access.RELEASE_VIEW, LA_DPO, LA_RELEASE, "allow:None"),
    (access.RELEASE_VIEW, OPERATOR_DPO, LA_RELEASE, "allow:None"),
    (access.RELEASE_VIEW, who("la", "211", "case_officer"), LA_RELEASE, "not_recipient"),
    (access.RELEASE_VIEW, who("la", "211", "dpo"), LA_RELEASE, "not_recipient"),
    (access.RELEASE_VIEW, who("school", "202", "attendance_officer"), LA_RELEASE, "not_recipient"),
    (access.RELEASE_ATTEST_DELETION, CASE_OFFICER, LA_RELEASE, "allow:None"),
    (access.RELEASE_ATTEST_DELETION, OPERATOR_DPO, LA_RELEASE, "not_recipient"),
    (access.RELEASE_ATTEST_DELETION, CASE_OFFICER, Target(), "not_recipient"),
    (access.RELEASES_LIST, OPERATOR_DPO, Target(), "allow:all"),
    (access.RELEASES_LIST, LA_DPO, Target(), "allow:own_organisation"),
    (access.RELEASES_LIST, CASE_OFFICER, Target(), "wrong_role"),
    (access.AUDIT_READ, OPERATOR_DPO, Target(), "allow:all"),
    (access.AUDIT_READ, SCHOOL_DPO, Target(), "allow:own_organisation"),
    (access.AUDIT_READ, OFFICER, Target(), "wrong_role"),
    (access.ROPA_VIEW, LA_DPO, Target(), "allow:own_organisation"),
    (access.ROPA_VIEW, STATISTICIAN, Target(), "wrong_role"),
    (access.SUBJECT_ACCESS, OPERATOR_DPO, Target(on_roll=False), "allow:all"),
    (access.SUBJECT_ACCESS, SCHOOL_DPO, Target(on_roll=True), "allow:all"),
    (access.SUBJECT_ACCESS, OFFICER, Target(on_roll=True), "allow:all"),
    (access.SUBJECT_ACCESS, SCHOOL_DPO, Target(on_roll=False), "allow:own_organisation"),
    (access.SUBJECT_ACCESS, LA_DPO, Target(on_roll=False), "allow:own_organisation"),
    (access.SUBJECT_ACCESS, OFFICER, Target(on_roll=False), "not_your_pupil"),
    (access.SUBJECT_ACCESS, OFFICER, Target(), "allow:None"),  # the console's form: no pupil yet
    (access.SUBJECT_ACCESS, SUBMITTER, Target(on_roll=True), "wrong_role"),
    (access.SUBJECT_ACCESS, CASE_OFFICER, Target(on_roll=False), "wrong_role"),
    (access.SUBJECT_ACCESS, who("la", "202", "attendance_officer"), Target(on_roll=True), "wrong_role"),
    (access.STATS_ASK, STATISTICIAN, Target(), "allow:None"),
    (access.STATS_ASK, LA_STATISTICIAN, Target(), "wrong_organisation"),
    (access.STATS_ASK, who("dfe", "dfe", "dpo"), Target(), "wrong_role"),
    (access.BUDGET_VIEW, STATISTICIAN, Target(consumer=DFE, own_consumer=DFE), "allow:own_organisation"),
    (access.BUDGET_VIEW, STATISTICIAN, Target(own_consumer=DFE), "allow:own_organisation"),
    (access.BUDGET_VIEW, OPERATOR_DPO, Target(), "allow:all"),
    (access.BUDGET_VIEW, STATISTICIAN, Target(consumer=BENCH, own_consumer=DFE), "wrong_organisation"),
    (access.BUDGET_VIEW, LA_DPO, Target(), "wrong_organisation"),
    (access.BUDGET_VIEW, LA_DPO, Target(consumer=DFE), "wrong_organisation"),
    (access.BUDGET_VIEW, OPERATOR_DPO, Target(consumer=DFE), "allow:all"),
    (access.BUDGET_VIEW, OPERATOR_DPO, Target(consumer=BENCH, own_consumer=None), "allow:all"),
    (access.BUDGET_VIEW, LA_STATISTICIAN, Target(consumer=DFE), "wrong_role"),
    (access.BUDGET_VIEW, OFFICER, Target(), "wrong_role"),
    (access.LA_CONSOLE, CASE_OFFICER, Target(), "allow:own_organisation"),
    (access.LA_CONSOLE, LA_DPO, Target(), "wrong_role"),
    (access.LA_CONSOLE, OFFICER, Target(), "wrong_organisation"),
    (access.REPORT_VIEW, OFFICER, OWN, "allow:None"),
    (access.REPORT_VIEW, OTHER_OFFICER, OWN, "wrong_organisation"),
    (access.REPORT_VIEW, SCHOOL_DPO, OWN, "wrong_role"),
    (access.REPORT_VIEW, TRUST_OFFICER, Target(urn=CAMDEN), "allow:None"),  # before the facts
    (access.REPORT_VIEW, TRUST_OFFICER, Target(urn=CAMDEN, trust="4021", la="202"), "allow:None"),
    (access.REPORT_VIEW, TRUST_OFFICER, Target(urn=CAMDEN, trust="", la="202"), "wrong_organisation"),
    (access.REPORT_VIEW, TRUST_OFFICER, Target(urn=CAMDEN, trust="5000", la="202"), "wrong_organisation"),
    (access.REPORT_VIEW, who("trust", "4021", "dpo"), OWN, "wrong_role"),
    (access.REPORT_VIEW, CASE_OFFICER, Target(urn=CAMDEN, trust="", la="202"), "allow:None"),
    (access.REPORT_VIEW, CASE_OFFICER, Target(urn=CAMDEN, trust="", la="211"), "wrong_organisation"),
    (access.REPORT_VIEW, LA_DPO, OWN, "wrong_role"),
    (access.REPORT_VIEW, STATISTICIAN, OWN, "wrong_organisation"),
    (access.TRUST_SCHOOLS, TRUST_OFFICER, Target(trust="4021"), "allow:own_organisation"),
    (access.TRUST_SCHOOLS, TRUST_OFFICER, Target(trust="5000"), "wrong_organisation"),
    (access.TRUST_SCHOOLS, who("trust", "4021", "dpo"), Target(trust="4021"), "wrong_role"),
    (access.TRUST_SCHOOLS, CASE_OFFICER, Target(trust="202"), "wrong_organisation"),
    (access.LA_SCHOOLS, CASE_OFFICER, Target(la="202"), "allow:own_organisation"),
    (access.LA_SCHOOLS, CASE_OFFICER, Target(la="211"), "wrong_organisation"),
    (access.LA_SCHOOLS, LA_DPO, Target(la="202"), "wrong_role"),
    (access.LA_SCHOOLS, TRUST_OFFICER, Target(la="4021"), "wrong_organisation"),
    (access.ABIE_LIST, STATISTICIAN, Target(), "allow:None"),
    (access.ABIE_LIST, CASE_OFFICER, Target(), "wrong_organisation"),
]


@pytest.mark.parametrize(("action", "requester", "target", "expected"), TABLE)
def test_each_action_allows_exactly_who_the_table_says(
    action: str, requester: Requester, target: Target, expected: str
) -> None:
    decision = decide(action, requester, target)
    assert decision.action == action
    if expected.startswith("allow:"):
        assert decision.allow and str(decision.scope) == expected.removeprefix("allow:")
        assert decision.reasons == (f"allowed: {RULES[action].who}",)
    else:
        assert not decision.allow and decision.scope is None
        assert decision.reasons[0].split(":")[0] == expected


def test_every_action_of_the_table_is_tested_both_ways() -> None:
    allowed = {action for action, _, _, expected in TABLE if expected.startswith("allow:")}
    refused = {action for action, _, _, expected in TABLE if not expected.startswith("allow:")}
    assert allowed == refused == set(RULES)


def test_every_check_that_fails_is_reported_not_just_the_first() -> None:
    reasons = decide(access.REGISTER_SUBMIT, who("la", "202", "case_officer"), OWN).reasons
    assert [r.split(":")[0] for r in reasons] == ["wrong_organisation", "wrong_role"]


def test_an_action_missing_from_the_table_is_denied() -> None:
    decision = decide("pupils.delete", OPERATOR_DPO)
    assert not decision.allow and decision.reasons[0].startswith("unknown_action: ")


def test_the_statistics_and_subject_access_keep_their_own_audit_actions() -> None:
    assert RULES[access.STATS_ASK].audited_as == "stats.denied"
    assert RULES[access.SUBJECT_ACCESS].audited_as == "audit.subject_access"
    others = {a for a in RULES if a not in (access.STATS_ASK, access.SUBJECT_ACCESS)}
    assert {RULES[a].audited_as for a in others} == {"access.denied"}


ROLES = ("feed_submitter", "attendance_officer", "case_officer", "dpo", "statistician")
REQUESTERS = st.builds(
    who,
    st.sampled_from(("school", "la", "dfe", "operator")),
    st.sampled_from(("100001", "100003", "202", "211", "dfe", "operator")),
).flatmap(lambda r: st.lists(st.sampled_from(ROLES), max_size=3, unique=True).map(
    lambda roles: r.model_copy(update={"roles": tuple(roles)})))
TARGETS = st.builds(
    Target,
    urn=st.sampled_from((None, CAMDEN, TOWER)),
    recipient=st.sampled_from((None, ("la", "202"), ("school", "100001"))),
    consumer=st.sampled_from((None, DFE, BENCH)),
    own_consumer=st.sampled_from((None, DFE)),
    school_open=st.sampled_from((None, True, False)),
    on_roll=st.sampled_from((None, True, False)),
)
REASON = re.compile(r"[a-z_]+: \S.*")


@given(action=st.sampled_from(sorted(RULES)), requester=REQUESTERS, target=TARGETS)
def test_a_requester_with_no_roles_is_always_refused_and_every_reason_has_a_code(
    action: str, requester: Requester, target: Target
) -> None:
    decision = decide(action, requester, target)
    assert all(REASON.fullmatch(r) for r in decision.reasons)
    assert decision.allow or decision.scope is None
    if not requester.roles and action not in (access.RELEASE_VIEW, access.RELEASE_ATTEST_DELETION):
        assert not decision.allow  # only a release's recipient needs no particular role
