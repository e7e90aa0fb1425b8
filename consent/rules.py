"""The consent and objection state machine (pure).

History is append-only; the current state of a pupil for a purpose is the latest decision. Which
decisions a purpose accepts follows its consent rule:
- opt-in (lawful basis consent, UK GDPR Art 6(1)(a)): a parent grants or withdraws consent, and may
  object; only a current "granted" lets the pupil be released (Art 7(3): withdrawal is as easy as
  giving consent and takes effect at once);
- objection honoured (public task, Art 21(1)): a parent objects, or withdraws the objection; only a
  current "objected" keeps the pupil out;
- none: nothing to record.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from policies.model import ConsentRule


class ConsentDecision(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    OBJECTED = "objected"


class DecisionNotAccepted(Exception):
    """The purpose's consent rule has no place for this decision."""


ACCEPTED: dict[ConsentRule, frozenset[ConsentDecision]] = {
    ConsentRule.OPT_IN: frozenset({ConsentDecision.GRANTED, ConsentDecision.WITHDRAWN, ConsentDecision.OBJECTED}),
    ConsentRule.OBJECTION_HONOURED: frozenset({ConsentDecision.OBJECTED, ConsentDecision.WITHDRAWN}),
    ConsentRule.NONE: frozenset(),
}


def check_accepts(rule: ConsentRule, decision: ConsentDecision) -> None:
    if rule is ConsentRule.NONE:
        raise DecisionNotAccepted("this purpose has no consent or objection rule: there is nothing to record")
    if decision not in ACCEPTED[rule]:
        raise DecisionNotAccepted(f"a purpose whose rule is '{rule.value}' does not take the decision '{decision.value}'")


def current_state(history: Iterable[ConsentDecision]) -> ConsentDecision | None:
    """The latest decision, or None when nothing was ever recorded."""
    state = None
    for decision in history:
        state = decision
    return state


def may_release(rule: ConsentRule, state: ConsentDecision | None) -> bool:
    """Whether a pupil with this current state may be in a release under this rule."""
    if rule is ConsentRule.OPT_IN:
        return state is ConsentDecision.GRANTED
    if rule is ConsentRule.OBJECTION_HONOURED:
        return state is not ConsentDecision.OBJECTED
    return True


def partition(rule: ConsentRule, states: dict[str, ConsentDecision]) -> tuple[set[str], set[str]]:
    """The pupils with consent granted, and those with an objection, as the decision point takes them."""
    granted = {p for p, s in states.items() if s is ConsentDecision.GRANTED} if rule is ConsentRule.OPT_IN else set()
    objected = {p for p, s in states.items() if s is ConsentDecision.OBJECTED}
    return granted, objected
