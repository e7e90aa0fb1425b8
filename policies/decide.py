"""The decision point: may this requester have this release, and on what terms?

One pure function, so that every route asks the same question the same way and a DPO can replay any
decision from the audit log with the catalogue version it names. It denies unless every check
passes, and it reports every check that failed, not just the first, so that a requester can fix the
request in one go. Reasons are "code: text"; the codes are stable for machines, the text is for
people, and neither carries personal data (UPNs are never echoed; school URNs and LA codes are not
personal data).
"""

from __future__ import annotations

import datetime as dt

from policies.dates import (
    WindowInvalid,
    academic_year_end,
    academic_year_of,
    academic_year_start,
    add_years,
    week_of,
    year_window,
)
from policies.fields import Criterion
from policies.model import (
    Catalogue,
    ConsentRule,
    Decision,
    Obligations,
    Purpose,
    Recipient,
    ReleaseRequest,
    Requester,
    RequestFacts,
    RetentionRule,
    Scope,
    ScopeRule,
    Window,
)

#: How far back the shell reads marks for the penalty-notice threshold when `from` is not given.
#: Ten school weeks ending in mid-September reach back across the summer holiday and a half term,
#: about 18 calendar weeks; 26 weeks covers every school calendar with room to spare. Only the
#: sessions inside the ten school weeks are ever released. (Design assumption, see docs/design.md.)
PENALTY_MARKS_LOOKBACK_WEEKS = 26

_ORG_NAMES = {
    "la": "an LA", "school": "a school", "trust": "a trust", "dfe": "a DfE", "operator": "an operator",
}

_CONSENT_TEXT = {
    ConsentRule.NONE: "no consent or objection rule applies",
    ConsentRule.OPT_IN: "only pupils whose parent granted consent for this purpose are released",
    ConsentRule.OBJECTION_HONOURED: "pupils whose parent objected are not released",
}


def decide(
    catalogue: Catalogue,
    requester: Requester,
    request: ReleaseRequest,
    facts: RequestFacts,
    *,
    now: dt.datetime,
) -> Decision:
    """Allow or deny a release; an allowed release carries the obligations the shell must apply.

    `now` is the moment of the request (timezone-aware, UTC from the shell); its date is "today" for
    the default window, and the expiry is computed from it.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    def deny(reasons: list[str]) -> Decision:
        return Decision(
            allow=False,
            purpose=request.purpose,
            reasons=tuple(reasons),
            obligations=None,
            policy_version=catalogue.version,
            policy_hash=catalogue.content_hash,
        )

    purpose = catalogue.purpose(request.purpose)
    if purpose is None:
        return deny([f"unknown_purpose: the purpose is not in the catalogue (version {catalogue.version})"])
    if purpose.statistics_only:
        return deny(
            [
                f"statistics_only: '{purpose.id}' releases no pupil-level records; "
                "its aggregates come from the statistics route"
            ]
        )

    if purpose.view_only:
        return deny(
            [
                f"view_only: '{purpose.id}' is shown to the school in the gateway and never released; "
                "it has its own route"
            ]
        )

    reasons = _check_requester(purpose, requester, facts)
    reasons += _check_justification(request.justification, catalogue.catalogue.justification_min_chars)
    scope, scope_reasons = _scope(purpose, requester, request, facts)
    reasons += scope_reasons
    window, window_reasons = _window(purpose, request, now.date())
    reasons += window_reasons
    expires_at = None
    if window is not None:
        expires_at = _expiry(purpose, academic_year_of(window.to_date), now)
        if expires_at <= now:
            reasons.append(
                "retention_elapsed: the window's data would already be past the retention of "
                f"'{purpose.id}' ({purpose.retention.describe()})"
            )
    if reasons:
        return deny(reasons)
    # Every check passed, so the scope, window and expiry exist.
    assert scope is not None and window is not None and expires_at is not None

    obligations = Obligations(
        purpose=purpose.id,
        recipient=Recipient(org_type=requester.org_type, org_id=requester.org_id),
        scope=scope,
        window=window,
        academic_year=academic_year_of(window.to_date),
        criterion=purpose.criterion,
        fields=purpose.fields,
        consent=purpose.consent,
        expires_at=expires_at,
        acknowledgement=purpose.acknowledgement,
    )
    role = next(r for r in purpose.requester.roles if r in requester.roles)
    return Decision(
        allow=True,
        purpose=purpose.id,
        reasons=(
            f"allowed: {_ORG_NAMES[requester.org_type]} {role} may ask for '{purpose.id}' ({purpose.title}) "
            f"on the lawful basis {purpose.lawful_basis.article}",
            f"scope: {_describe_scope(scope)}",
            f"window: marks from {window.from_date.isoformat()} to {window.to_date.isoformat()}",
            f"criterion: {purpose.criterion_description}",
            f"consent: {_CONSENT_TEXT[purpose.consent]}",
            f"fields: {', '.join(obligations.output_fields)}",
            f"retention: delete by {expires_at.isoformat()} ({purpose.retention.describe()})",
        ),
        obligations=obligations,
        policy_version=catalogue.version,
        policy_hash=catalogue.content_hash,
    )


def _check_requester(purpose: Purpose, requester: Requester, facts: RequestFacts) -> list[str]:
    rule = purpose.requester
    reasons = []
    if requester.org_type != rule.org_type:
        reasons.append(
            f"wrong_org_type: '{purpose.id}' may be asked for by an organisation of type "
            f"'{rule.org_type}', not '{requester.org_type}'"
        )
    if not set(rule.roles) & set(requester.roles):
        reasons.append(f"wrong_role: '{purpose.id}' needs the role {' or '.join(rule.roles)}")
    if rule.school_phases and requester.org_type == "school":
        allowed = {phase.casefold() for phase in rule.school_phases}
        phase = facts.requester_phase
        if phase is None:
            reasons.append("unknown_phase: the requesting school's phase of education is not known")
        elif phase.strip().casefold() not in allowed:
            reasons.append(
                f"wrong_phase: only a school of phase {' or '.join(rule.school_phases)} may ask for "
                f"'{purpose.id}'; the requesting school's phase is '{phase}'"
            )
    return reasons


def _check_justification(justification: str | None, min_chars: int) -> list[str]:
    text = (justification or "").strip()
    if not text:
        return ["missing_justification: a release needs a justification saying why it is necessary"]
    if len(text) < min_chars:
        return [f"justification_too_short: a justification needs at least {min_chars} characters"]
    return []


def _scope(
    purpose: Purpose, requester: Requester, request: ReleaseRequest, facts: RequestFacts
) -> tuple[Scope | None, list[str]]:
    if purpose.scope is ScopeRule.NAMED_PUPILS:
        reasons = []
        if request.schools is not None:
            reasons.append(f"schools_not_allowed: '{purpose.id}' takes pupils named by UPN, not schools")
        if not request.upns or not all(upn.strip() for upn in request.upns):
            reasons.append(f"upns_required: '{purpose.id}' needs the UPNs of the pupils it is about")
        return Scope(la_code=None, school_urns=None, named_pupils=True), reasons

    # ScopeRule.REQUESTER_LA: the only other scope a releasing purpose can have (see Purpose).
    reasons = []
    if request.upns is not None:
        reasons.append(f"upns_not_allowed: '{purpose.id}' selects pupils by its criterion, not by name")
    if requester.org_type != "la":
        return None, reasons  # wrong_org_type already says why; there is no LA to scope to
    la_code = requester.org_id
    urns: tuple[int, ...] | None = None
    if request.schools is not None:
        urns = tuple(sorted(set(request.schools)))
        if not urns:
            reasons.append("empty_schools: the list of schools is empty; leave it out to mean every school")
        for urn in urns:
            school_la = facts.school_la_codes.get(urn)
            if school_la is None:
                reasons.append(f"unknown_school: school {urn} is not a known school")
            elif school_la != la_code:
                reasons.append(f"other_la_school: school {urn} is not in LA {la_code}")
    return Scope(la_code=la_code, school_urns=urns, named_pupils=False), reasons


def _window(purpose: Purpose, request: ReleaseRequest, today: dt.date) -> tuple[Window | None, list[str]]:
    """The marks window: the request's, with defaults that depend on the criterion."""
    first, last = request.from_date, request.to_date
    if first is not None and last is not None and last < first:
        return None, ["invalid_window: the window ends before it starts"]
    if (last or first or today) > today:
        return None, ["invalid_window: the window ends after today"]

    if purpose.criterion is Criterion.PENALTY_NOTICE_THRESHOLD:
        # The rolling ten school weeks end at `to` and may span terms and academic years.
        to_date = last or today
        from_date = first or week_of(to_date) - dt.timedelta(weeks=PENALTY_MARKS_LOOKBACK_WEEKS - 1)
        return Window(from_date=from_date, to_date=to_date), []

    if purpose.criterion is Criterion.YEAR_6_SUMMARY and first is None and last is None:
        # Asked in spring or summer, Year 6 is the current academic year; asked in the autumn, the
        # pupils are already in Year 7 and Year 6 was last year. Either way it is the academic year
        # that started in August of last calendar year.
        year_6 = today.year - 1
        return Window(
            from_date=academic_year_start(year_6), to_date=min(today, academic_year_end(year_6))
        ), []

    # Attendance measures: one academic year, by default the year to date (policies.dates).
    try:
        window = year_window(first, last, today)
    except WindowInvalid:
        return None, [
            "window_spans_academic_years: attendance measures are computed within one academic year "
            "(1 August to 31 July)"
        ]
    return Window(from_date=window.start, to_date=window.end), []


def _expiry(purpose: Purpose, academic_year: int, now: dt.datetime) -> dt.datetime:
    retention = purpose.retention
    if retention.rule is RetentionRule.YEARS:
        assert retention.years is not None  # the catalogue model guarantees it
        return add_years(now, retention.years)
    # RetentionRule.UNTIL_31_DECEMBER_OF_YEAR_7 (NOT_APPLICABLE belongs to statistics-only purposes,
    # which are denied before this): Year 6 is `academic_year`, so Year 7 starts in
    # August of the next calendar year; the release may be held to the end of 31 December of it.
    return dt.datetime(academic_year + 2, 1, 1, tzinfo=dt.UTC)


def _describe_scope(scope: Scope) -> str:
    if scope.named_pupils:
        return "only the pupils named in the request, in their Year 6 enrolments"
    where = f"schools in LA {scope.la_code}"
    if scope.school_urns is not None:
        where += " limited to " + ", ".join(str(urn) for urn in scope.school_urns)
    return where
