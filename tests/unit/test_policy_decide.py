"""The decision point: deny by default, every denial with a stable code, every allowed release with
the obligations the shell must apply, and the catalogue's version and hash in every decision."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from policies.decide import PENALTY_MARKS_LOOKBACK_WEEKS, decide
from policies.fields import Criterion
from policies.loader import load_catalogue
from policies.model import (
    ConsentRule,
    Decision,
    Recipient,
    ReleaseRequest,
    Requester,
    RequestFacts,
    Scope,
)

CATALOGUE = load_catalogue()
NOW = dt.datetime(2025, 11, 12, 14, 30, tzinfo=dt.UTC)
WHY = "Preparing the autumn targeting support meetings"

LA = Requester(org_type="la", org_id="202", roles=("case_officer",))
SECONDARY = Requester(org_type="school", org_id="100003", roles=("attendance_officer",))
STATISTICIAN = Requester(org_type="dfe", org_id="dfe", roles=("statistician",))
SCHOOLS = RequestFacts(school_la_codes={100001: "202", 100002: "202", 200001: "203", 999999: None})
SECONDARY_FACTS = RequestFacts(requester_la_code="202", requester_phase="Secondary")
EVERYTHING_KNOWN = RequestFacts(
    school_la_codes=SCHOOLS.school_la_codes, requester_la_code="202", requester_phase="Secondary"
)


def ask(
    purpose: str = "la-targeting-support",
    requester: Requester = LA,
    facts: RequestFacts = SCHOOLS,
    now: dt.datetime = NOW,
    **request: Any,
) -> Decision:
    fields: dict[str, Any] = {"justification": WHY, **request}
    return decide(CATALOGUE, requester, ReleaseRequest(purpose=purpose, **fields), facts, now=now)


def transition(**request: Any) -> Decision:
    fields: dict[str, Any] = {"upns": ("A202100124001",), **request}
    return ask("transition-y6-y7", SECONDARY, SECONDARY_FACTS, **fields)


# --- denials -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "code"),
    [
        pytest.param(lambda: ask("la-everything"), "unknown_purpose", id="unknown purpose"),
        pytest.param(lambda: ask("dfe-statistics", STATISTICIAN), "statistics_only", id="statistics only"),
        pytest.param(lambda: ask("pupils-at-risk", SECONDARY), "view_only", id="view only"),
        pytest.param(
            lambda: ask(requester=STATISTICIAN.model_copy(update={"roles": ("case_officer",)})),
            "wrong_org_type",
            id="wrong org type",
        ),
        pytest.param(
            lambda: ask(requester=LA.model_copy(update={"roles": ("dpo",)})), "wrong_role", id="wrong role"
        ),
        pytest.param(lambda: ask(justification=None), "missing_justification", id="no justification"),
        pytest.param(lambda: ask(justification=" \n\t "), "missing_justification", id="blank justification"),
        pytest.param(
            lambda: ask(justification="because"), "justification_too_short", id="short justification"
        ),
        pytest.param(lambda: ask(schools=(100001, 200001)), "other_la_school", id="another LA's school"),
        pytest.param(
            lambda: ask(schools=(999999,)), "unknown_school", id="a school not in the facts as known"
        ),
        pytest.param(lambda: ask(schools=(123456,)), "unknown_school", id="a school missing from the facts"),
        pytest.param(lambda: ask(schools=()), "empty_schools", id="an empty list of schools"),
        pytest.param(
            lambda: ask(upns=("A202100124001",)), "upns_not_allowed", id="naming pupils to an LA purpose"
        ),
        pytest.param(lambda: transition(upns=None), "upns_required", id="transition without pupils"),
        pytest.param(lambda: transition(upns=()), "upns_required", id="transition with an empty list"),
        pytest.param(lambda: transition(upns=(" ",)), "upns_required", id="transition with a blank UPN"),
        pytest.param(lambda: transition(schools=(100001,)), "schools_not_allowed", id="transition by school"),
        pytest.param(
            lambda: ask("transition-y6-y7", SECONDARY, RequestFacts(requester_phase="Primary"), upns=("A1",)),
            "wrong_phase",
            id="transition from a primary school",
        ),
        pytest.param(
            lambda: ask("transition-y6-y7", SECONDARY, RequestFacts(), upns=("A1",)),
            "unknown_phase",
            id="transition from a school of unknown phase",
        ),
        pytest.param(
            lambda: ask(from_date=dt.date(2025, 10, 1), to_date=dt.date(2025, 9, 30)),
            "invalid_window",
            id="window ending before it starts",
        ),
        pytest.param(
            lambda: ask(to_date=dt.date(2025, 11, 13)), "invalid_window", id="window ending tomorrow"
        ),
        pytest.param(
            lambda: ask(from_date=dt.date(2025, 11, 13)), "invalid_window", id="window starting tomorrow"
        ),
        pytest.param(
            lambda: ask(from_date=dt.date(2025, 7, 1), to_date=dt.date(2025, 9, 30)),
            "window_spans_academic_years",
            id="window across two academic years",
        ),
        pytest.param(
            lambda: transition(from_date=dt.date(2023, 9, 1), to_date=dt.date(2024, 7, 19)),
            "retention_elapsed",
            id="transition data past 31 December of Year 7",
        ),
    ],
)
def test_each_kind_of_refusal_denies_with_its_code_and_no_obligations(decision, code: str):
    result = decision()

    assert result.allow is False
    assert result.obligations is None
    assert code in result.reason_codes
    assert all(": " in reason for reason in result.reasons)


def test_missing_justification_is_a_denial_even_when_everything_else_is_right():
    assert ask(justification=None).reasons == (
        "missing_justification: a release needs a justification saying why it is necessary",
    )


def test_a_justification_of_exactly_the_minimum_length_is_enough():
    minimum = CATALOGUE.catalogue.justification_min_chars

    assert ask(justification="x" * minimum).allow
    assert not ask(justification="  " + "x" * (minimum - 1) + "  ").allow


def test_every_failed_check_is_reported_not_just_the_first():
    result = ask(
        requester=Requester(org_type="school", org_id="100001", roles=("feed_submitter",)),
        justification="",
        upns=("A202100124001",),
        from_date=dt.date(2025, 10, 1),
        to_date=dt.date(2025, 9, 1),
    )

    assert result.reason_codes == (
        "wrong_org_type",
        "wrong_role",
        "missing_justification",
        "upns_not_allowed",
        "invalid_window",
    )


def test_naming_another_las_school_names_the_school_and_the_la_but_no_pupil():
    result = ask(schools=(200001, 100001))

    assert result.reasons == ("other_la_school: school 200001 is not in LA 202",)


def test_an_unknown_purpose_is_denied_without_echoing_what_was_asked():
    result = ask("A202100124001")

    assert result.reasons == ("unknown_purpose: the purpose is not in the catalogue (version 2025.4)",)
    assert "A202100124001" not in " ".join(result.reasons)


def test_the_statistics_purpose_is_denied_to_everyone_including_the_statistician():
    for requester in (STATISTICIAN, LA, SECONDARY):
        assert ask("dfe-statistics", requester).reason_codes == ("statistics_only",)


@given(
    upns=st.lists(st.text(alphabet="ABCDEFGHJKLMNPQRTUVWXYZ0123456789", min_size=13, max_size=13), max_size=5)
)
def test_no_upn_a_request_names_ever_appears_in_a_reason(upns: list[str]):
    for purpose in ("la-targeting-support", "transition-y6-y7", "dfe-statistics"):
        for requester in (LA, SECONDARY):
            result = ask(purpose, requester, SECONDARY_FACTS, upns=tuple(upns), justification="no")
            text = " ".join(result.reasons)
            assert not any(upn in text for upn in upns)


# --- allowed releases ----------------------------------------------------------------------------


def test_an_la_case_officer_gets_its_own_area_for_the_academic_year_to_date():
    result = ask()

    assert result.allow
    assert result.obligations is not None
    obligations = result.obligations
    assert obligations.purpose == "la-targeting-support"
    assert obligations.recipient == Recipient(org_type="la", org_id="202")
    assert obligations.scope == Scope(la_code="202", school_urns=None, named_pupils=False)
    assert (obligations.window.from_date, obligations.window.to_date) == (
        dt.date(2025, 8, 1),
        dt.date(2025, 11, 12),
    )
    assert obligations.academic_year == 2025
    assert obligations.criterion is Criterion.PERSISTENT_ABSENCE
    assert obligations.consent is ConsentRule.OBJECTION_HONOURED
    assert obligations.output_fields == CATALOGUE.purpose("la-targeting-support").output_fields  # type: ignore[union-attr]
    assert obligations.expires_at == dt.datetime(2026, 11, 12, 14, 30, tzinfo=dt.UTC)
    assert obligations.acknowledgement.startswith("I will use this list only")


def test_an_allowed_decision_explains_itself():
    result = ask(schools=(100002, 100001, 100002))

    assert result.reason_codes == (
        "allowed",
        "scope",
        "window",
        "criterion",
        "consent",
        "fields",
        "retention",
    )
    assert result.reasons[1] == "scope: schools in LA 202 limited to 100001, 100002"


def test_named_schools_in_the_las_own_area_narrow_the_scope():
    result = ask(schools=(100002, 100001, 100002))

    assert result.obligations is not None
    assert result.obligations.scope == Scope(la_code="202", school_urns=(100001, 100002), named_pupils=False)


def test_a_requester_with_several_roles_is_allowed_if_one_of_them_may_ask():
    assert ask(requester=LA.model_copy(update={"roles": ("dpo", "case_officer")})).allow


def test_an_explicit_window_inside_one_academic_year_is_kept():
    result = ask("la-severe-absence", from_date=dt.date(2025, 9, 1), to_date=dt.date(2025, 10, 24))

    assert result.obligations is not None
    assert (result.obligations.window.from_date, result.obligations.window.to_date) == (
        dt.date(2025, 9, 1),
        dt.date(2025, 10, 24),
    )
    assert result.obligations.expires_at == dt.datetime(2027, 11, 12, 14, 30, tzinfo=dt.UTC)


def test_a_window_given_only_its_start_runs_to_today_or_the_end_of_that_academic_year():
    this_year = ask(from_date=dt.date(2025, 9, 1)).obligations
    last_year = ask(from_date=dt.date(2025, 3, 1)).obligations

    assert this_year is not None and last_year is not None
    assert this_year.window.to_date == dt.date(2025, 11, 12)
    assert last_year.window.to_date == dt.date(2025, 7, 31)
    assert last_year.academic_year == 2024


def test_a_window_given_only_its_end_starts_on_1_august_of_that_academic_year():
    obligations = ask(to_date=dt.date(2025, 3, 31)).obligations

    assert obligations is not None
    assert obligations.window.from_date == dt.date(2024, 8, 1)


def test_the_penalty_notice_window_reads_half_a_year_of_marks_back_from_to_by_default():
    obligations = ask("la-penalty-notice", to_date=dt.date(2025, 11, 7)).obligations

    assert obligations is not None
    assert obligations.window.to_date == dt.date(2025, 11, 7)
    assert obligations.window.from_date == dt.date(2025, 11, 3) - dt.timedelta(
        weeks=PENALTY_MARKS_LOOKBACK_WEEKS - 1
    )
    assert obligations.window.from_date.weekday() == 0


def test_the_penalty_notice_window_may_span_academic_years_because_the_rolling_weeks_do():
    obligations = ask(
        "la-penalty-notice", from_date=dt.date(2025, 6, 2), to_date=dt.date(2025, 9, 19)
    ).obligations

    assert obligations is not None
    assert obligations.window.from_date == dt.date(2025, 6, 2)
    assert obligations.academic_year == 2025


def test_a_secondary_school_may_ask_for_named_pupils_from_any_school():
    result = transition()

    assert result.allow
    assert result.obligations is not None
    assert result.obligations.scope == Scope(la_code=None, school_urns=None, named_pupils=True)
    assert result.obligations.recipient.key == "school:100003"


@pytest.mark.parametrize("phase", ["Secondary", "secondary", " All-through ", "ALL-THROUGH"])
def test_the_phase_of_a_requesting_school_is_compared_without_regard_to_case_or_spaces(phase: str):
    assert ask("transition-y6-y7", SECONDARY, RequestFacts(requester_phase=phase), upns=("A1",)).allow


@pytest.mark.parametrize(
    ("now", "window", "expires"),
    [
        pytest.param(
            dt.datetime(2025, 3, 3, 9, tzinfo=dt.UTC),
            (dt.date(2024, 8, 1), dt.date(2025, 3, 3)),
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            id="asked in spring of Year 6",
        ),
        pytest.param(
            dt.datetime(2025, 7, 31, 9, tzinfo=dt.UTC),
            (dt.date(2024, 8, 1), dt.date(2025, 7, 31)),
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            id="asked on the last day of Year 6",
        ),
        pytest.param(
            dt.datetime(2025, 8, 1, 9, tzinfo=dt.UTC),
            (dt.date(2024, 8, 1), dt.date(2025, 7, 31)),
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            id="asked on the first day of the Year 7 academic year",
        ),
        pytest.param(
            dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC),
            (dt.date(2024, 8, 1), dt.date(2025, 7, 31)),
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            id="asked on 31 December of Year 7",
        ),
        pytest.param(
            dt.datetime(2026, 1, 2, 9, tzinfo=dt.UTC),
            (dt.date(2025, 8, 1), dt.date(2026, 1, 2)),
            dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
            id="asked in January, about the current Year 6",
        ),
    ],
)
def test_the_transition_window_is_the_year_6_year_and_the_expiry_is_31_december_of_year_7(
    now: dt.datetime, window: tuple[dt.date, dt.date], expires: dt.datetime
):
    result = ask("transition-y6-y7", SECONDARY, SECONDARY_FACTS, now=now, upns=("A1",))

    assert result.obligations is not None
    assert (result.obligations.window.from_date, result.obligations.window.to_date) == window
    assert result.obligations.expires_at == expires


def test_a_retention_in_years_from_29_february_ends_on_28_february():
    leap = dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC)

    obligations = ask(now=leap).obligations

    assert obligations is not None
    assert obligations.expires_at == dt.datetime(2029, 2, 28, 12, tzinfo=dt.UTC)


def test_a_consent_based_purpose_is_allowed_with_the_opt_in_obligation():
    obligations = ask("mentoring-referral").obligations

    assert obligations is not None
    assert obligations.consent is ConsentRule.OPT_IN


# --- every decision --------------------------------------------------------------------------------


@given(
    purpose=st.sampled_from([p.id for p in CATALOGUE.purposes] + ["nonsense"]),
    org_type=st.sampled_from(["school", "la", "dfe", "operator"]),
    roles=st.lists(
        st.sampled_from(["feed_submitter", "attendance_officer", "case_officer", "dpo", "statistician"])
    ),
    justification=st.none() | st.text(max_size=40),
    schools=st.none() | st.lists(st.sampled_from([100001, 100002, 200001, 999999]), max_size=3),
    upns=st.none() | st.lists(st.just("A202100124001"), max_size=2),
)
def test_every_decision_carries_the_catalogue_version_and_hash_and_allows_only_with_obligations(
    purpose, org_type, roles, justification, schools, upns
):
    requester = Requester(
        org_type=org_type, org_id="202" if org_type == "la" else "100003", roles=tuple(roles)
    )
    request = ReleaseRequest(
        purpose=purpose,
        justification=justification,
        schools=None if schools is None else tuple(schools),
        upns=None if upns is None else tuple(upns),
    )

    result = decide(CATALOGUE, requester, request, EVERYTHING_KNOWN, now=NOW)

    assert result.policy_version == CATALOGUE.version
    assert result.policy_hash == CATALOGUE.content_hash
    assert result.allow == (result.obligations is not None)
    assert result.reasons
    if result.allow:
        assert purpose not in {"nonsense", "dfe-statistics"}
        assert set(roles) & set(CATALOGUE.purpose(purpose).requester.roles)  # type: ignore[union-attr]


def test_a_decision_needs_a_timezone_aware_now():
    with pytest.raises(ValueError, match="timezone-aware"):
        ask(now=dt.datetime(2025, 11, 12, 14, 30))


def test_a_decision_cannot_allow_without_obligations_nor_deny_with_them():
    allowed = ask().model_dump()

    with pytest.raises(ValidationError, match="an allowed decision has obligations"):
        Decision.model_validate({**allowed, "obligations": None})
    with pytest.raises(ValidationError, match="a denial has none"):
        Decision.model_validate({**allowed, "allow": False})
