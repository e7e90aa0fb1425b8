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

from collections.abc import Iterable, Sequence, Set
from enum import StrEnum
from typing import Generic, NamedTuple, Protocol, TypeVar

from policies.model import ConsentRule


class ConsentDecision(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    OBJECTED = "objected"


class DecisionNotAccepted(Exception):
    """The purpose's consent rule has no place for this decision."""


ACCEPTED: dict[ConsentRule, frozenset[ConsentDecision]] = {
    ConsentRule.OPT_IN: frozenset(
        {ConsentDecision.GRANTED, ConsentDecision.WITHDRAWN, ConsentDecision.OBJECTED}
    ),
    ConsentRule.OBJECTION_HONOURED: frozenset({ConsentDecision.OBJECTED, ConsentDecision.WITHDRAWN}),
    ConsentRule.NONE: frozenset(),
}


def check_accepts(rule: ConsentRule, decision: ConsentDecision) -> None:
    if rule is ConsentRule.NONE:
        raise DecisionNotAccepted("this purpose has no consent or objection rule: there is nothing to record")
    if decision not in ACCEPTED[rule]:
        raise DecisionNotAccepted(
            f"a purpose whose rule is '{rule.value}' does not take the decision '{decision.value}'"
        )


def current_state(history: Iterable[ConsentDecision]) -> ConsentDecision | None:
    """The latest decision, or None when nothing was ever recorded."""
    state = None
    for decision in history:
        state = decision
    return state


class Withheld(StrEnum):
    """Why a pupil in scope is kept out of a release."""

    CONSENT = "consent"  # an opt-in purpose, and no current consent
    OBJECTION = "objection"  # a current objection: it outweighs a consent


def withheld_because(
    rule: ConsentRule, pupil_id: str, consented: Set[str], objected: Set[str]
) -> Withheld | None:
    """The one consent rule: why this pupil may not be released under `rule`, or None when it may.
    `consented` and `objected` are the pupils whose current state is granted and objected."""
    if rule is ConsentRule.NONE:
        return None
    if pupil_id in objected:
        return Withheld.OBJECTION
    if rule is ConsentRule.OPT_IN and pupil_id not in consented:
        return Withheld.CONSENT
    return None


def may_release(rule: ConsentRule, state: ConsentDecision | None) -> bool:
    """Whether a pupil with this current state may be in a release under this rule."""
    granted, objected = partition(rule, {"": state} if state is not None else {})
    return withheld_because(rule, "", granted, objected) is None


def partition(rule: ConsentRule, states: dict[str, ConsentDecision]) -> tuple[set[str], set[str]]:
    """The pupils with consent granted, and those with an objection, as the decision point takes them."""
    granted = set()
    if rule is ConsentRule.OPT_IN:
        granted = {p for p, s in states.items() if s is ConsentDecision.GRANTED}
    objected = {p for p, s in states.items() if s is ConsentDecision.OBJECTED}
    return granted, objected


class _OfPupil(Protocol):
    @property
    def pupil_id(self) -> str: ...


Row = TypeVar("Row", bound=_OfPupil)


class ConsentFiltered(NamedTuple, Generic[Row]):
    """The rows that may be released, and how many were withheld for consent and for objection:
    counts only, never who."""

    kept: list[Row]
    withheld_consent: int
    withheld_objection: int


def filter_by_consent(
    rule: ConsentRule, rows: Sequence[Row], consented: Set[str], objected: Set[str]
) -> ConsentFiltered[Row]:
    """The rows (anything with a `pupil_id`) that `withheld_because` lets through, in their order."""
    if rule is ConsentRule.NONE:
        return ConsentFiltered(list(rows), 0, 0)
    kept: list[Row] = []
    withheld = {Withheld.CONSENT: 0, Withheld.OBJECTION: 0}
    for row in rows:
        reason = withheld_because(rule, row.pupil_id, consented, objected)
        if reason is None:
            kept.append(row)
        else:
            withheld[reason] += 1
    return ConsentFiltered(kept, withheld[Withheld.CONSENT], withheld[Withheld.OBJECTION])
