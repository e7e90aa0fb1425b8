"""The consent state machine, and the property that a release never holds a withdrawn or objecting pupil."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.rules import ConsentDecision, DecisionNotAccepted, check_accepts, current_state, may_release, partition
from policies.model import ConsentRule

G, W, O = ConsentDecision.GRANTED, ConsentDecision.WITHDRAWN, ConsentDecision.OBJECTED


def test_the_current_state_is_the_latest_decision() -> None:
    assert current_state([]) is None
    assert current_state([G, W]) is W
    assert current_state([G, W, G]) is G


@pytest.mark.parametrize(
    ("rule", "state", "released"),
    [
        (ConsentRule.OPT_IN, None, False),
        (ConsentRule.OPT_IN, G, True),
        (ConsentRule.OPT_IN, W, False),
        (ConsentRule.OPT_IN, O, False),
        (ConsentRule.OBJECTION_HONOURED, None, True),
        (ConsentRule.OBJECTION_HONOURED, O, False),
        (ConsentRule.OBJECTION_HONOURED, W, True),
        (ConsentRule.NONE, O, True),
    ],
)
def test_who_may_be_released_under_each_rule(rule: ConsentRule, state: ConsentDecision | None, released: bool) -> None:
    assert may_release(rule, state) is released


def test_decisions_a_rule_does_not_take_are_refused() -> None:
    with pytest.raises(DecisionNotAccepted):
        check_accepts(ConsentRule.NONE, O)
    with pytest.raises(DecisionNotAccepted):
        check_accepts(ConsentRule.OBJECTION_HONOURED, G)
    check_accepts(ConsentRule.OPT_IN, G)
    check_accepts(ConsentRule.OBJECTION_HONOURED, O)


def _obligations(purpose: str):
    import datetime as dt

    from policies.decide import decide
    from policies.loader import load_catalogue
    from policies.model import ReleaseRequest, RequestFacts, Requester

    decision = decide(load_catalogue(), Requester(org_type="la", org_id="202", roles=("case_officer",)),
                      ReleaseRequest(purpose=purpose, from_date=dt.date(2025, 9, 1), to_date=dt.date(2025, 10, 31),
                                     justification="Property test of the consent registry"),
                      RequestFacts(), now=dt.datetime(2025, 11, 1, tzinfo=dt.UTC))
    assert decision.obligations is not None
    return decision.obligations


OBLIGATIONS = {"mentoring-referral": _obligations("mentoring-referral"), "la-targeting-support": _obligations("la-targeting-support")}


@given(st.dictionaries(st.from_regex(r"p[0-9]{1,3}", fullmatch=True), st.lists(st.sampled_from([G, W, O]), max_size=6),
                       min_size=1, max_size=15),
       st.sampled_from(sorted(OBLIGATIONS)))
def test_a_release_never_contains_a_pupil_whose_latest_decision_is_withdrawn_or_objected(histories, purpose) -> None:
    from policies.select import select
    from schemas.records import EnrolmentTotals

    obligations = OBLIGATIONS[purpose]
    # Every pupil is persistently absent (4 of 20 sessions missed), so only consent decides.
    totals = [EnrolmentTotals(p, 100001, "202", 2025, "5", "N", False, 20, 16, 0, 4, 0) for p in sorted(histories)]
    states = {p: s for p, h in histories.items() if (s := current_state(h)) is not None}
    granted, objected = partition(obligations.consent, states)
    released = {row.pupil_id for row in select(obligations, totals, consented=granted, objected=objected)}
    for pupil in released:
        assert states.get(pupil) is not O
        if obligations.consent is ConsentRule.OPT_IN:
            assert states.get(pupil) is G
    assert released == {p for p in histories if may_release(obligations.consent, states.get(p))}
    # The release service runs the criterion once for everyone, then applies consent: the same rows.
    from gateway.services.releases import _apply_consent

    meeting = select(obligations, totals, consented=set(histories), objected=set())
    kept, withheld_consent, withheld_objection = _apply_consent(obligations, meeting, granted, objected)
    assert {row.pupil_id for row in kept} == released
    assert withheld_consent + withheld_objection == len(totals) - len(released)
