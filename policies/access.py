"""Who may do what: the one table of the gateway's actions and the rule each follows.

Every route but the public ones (health, the log's public keys, the purpose catalogue, sign-in)
asks this table before it touches data, through one shell function
(`gateway.services.access.authorise`) that records every denial in the audit log. A release is
decided by `policies.decide` instead, because its answer carries obligations; everything else is a
question of role and organisation, sometimes with a fact from the database (is the school open? is
the pupil on its roll?), which the shell looks up and passes in.

Like `policies.decide`, a rule reports every check that failed, as "code: text" reasons that carry
no personal data (URNs, LA codes and release ids are not personal data; a UPN never reaches here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from policies.model import Requester

#: The operator's DPO sees every organisation's records (docs/design.md, "who").
OPERATOR = "operator"

REGISTER_SUBMIT: Final = "register.submit"
PUPILS_VIEW: Final = "pupils.view"
PUPILS_AT_RISK_VIEW: Final = "pupils_at_risk.view"
CONSENT_RECORD: Final = "consent.record"
CONSENTS_VIEW: Final = "consents.view"
CONSENT_HISTORY_VIEW: Final = "consent_history.view"
PUPIL_REF_RESOLVE: Final = "pupil_ref.resolve"
RELEASE_VIEW: Final = "release.view"
RELEASE_ATTEST_DELETION: Final = "release.attest_deletion"
RELEASES_LIST: Final = "releases.list"
AUDIT_READ: Final = "audit.read"
SUBJECT_ACCESS: Final = "audit.subject_access"
ROPA_VIEW: Final = "ropa.view"
STATS_ASK: Final = "stats.ask"
BUDGET_VIEW: Final = "budget.view"
LA_CONSOLE: Final = "la.console"
REPORT_VIEW: Final = "report.view"
TRUST_SCHOOLS: Final = "trust.schools"
LA_SCHOOLS: Final = "la.schools"
ABIE_LIST: Final = "abie.list"


@dataclass(frozen=True)
class Target:
    """What a request is about, as far as the rules need to know, and the facts the shell found.

    A fact left as None is not known yet: the rule then judges on role and organisation alone
    (a service asks once before it reads anything, and again once it has read the fact).
    """

    urn: int | None = None
    """The school named in the address."""
    recipient: tuple[str, str] | None = None
    """(org_type, org_id) of the release asked about."""
    consumer: str | None = None
    """The share of the year's privacy budget asked about (a catalogue consumer, e.g. dfe-statistics)."""
    own_consumer: str | None = None
    """The share the requester's organisation draws on, if any."""
    school_open: bool | None = None
    """Whether the school in the address may submit registers (its GIAS status)."""
    on_roll: bool | None = None
    """Whether the pupil named is (or was) enrolled at the school concerned."""
    trust: str | None = None
    """The trust in the address, or the GIAS trust UID of the school in the address ("" if none)."""
    la: str | None = None
    """The LA in the address, or the LA code of the school in the address."""


@dataclass(frozen=True)
class AccessDecision:
    allow: bool
    action: str
    reasons: tuple[str, ...]
    scope: str | None = None
    """For views over other organisations' records: "all" (the operator's DPO, the pupil's own
    school) or "own_organisation"; None where the action has no such choice."""


Check = Callable[[Requester, Target], tuple[list[str], str | None]]


@dataclass(frozen=True)
class Rule:
    who: str
    """Who may, in words: what `gateway policy` and the README show."""
    check: Check
    audited_as: str = "access.denied"
    """The action of the audit event that records a denial."""


def decide(action: str, requester: Requester, target: Target | None = None) -> AccessDecision:
    """Allow or deny `action`; an action not in the table is denied (a route cannot forget its rule)."""
    rule = RULES.get(action)
    if rule is None:
        return AccessDecision(False, action, (f"unknown_action: '{action}' is not in the access table",))
    reasons, scope = rule.check(requester, target if target is not None else Target())
    if reasons:
        return AccessDecision(False, action, tuple(reasons))
    return AccessDecision(True, action, (f"allowed: {rule.who}",), scope)


# --- the checks -----------------------------------------------------------------------------------


def _is(requester: Requester, org_type: str, org_id: str | None = None) -> bool:
    return requester.org_type == org_type and (org_id is None or requester.org_id == org_id)


def _has(requester: Requester, role: str) -> bool:
    return role in requester.roles


def _own_school(requester: Requester, target: Target) -> bool:
    return target.urn is not None and _is(requester, "school", str(target.urn))


def _school_officer(organisation: str, not_on_roll: str | None = None) -> Check:
    def check(requester: Requester, target: Target) -> tuple[list[str], str | None]:
        reasons = []
        if not _own_school(requester, target):
            reasons.append(f"wrong_organisation: {organisation}")
        if not _has(requester, "attendance_officer"):
            reasons.append("wrong_role: this needs the attendance_officer role")
        if not_on_roll is not None and target.on_roll is False and not reasons:
            reasons.append(f"not_on_roll: {not_on_roll}")
        return reasons, None

    return check


def _la_officer(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    reasons = []
    if not _is(requester, "la"):
        reasons.append("wrong_organisation: these pages are for a local authority")
    if not _has(requester, "case_officer"):
        reasons.append("wrong_role: this needs the case_officer role")
    return reasons, "own_organisation"


def _register(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    reasons = []
    if not _own_school(requester, target):
        reasons.append("wrong_organisation: only the school itself may submit its register")
    if not _has(requester, "feed_submitter"):
        reasons.append("wrong_role: submitting a register needs the feed_submitter role")
    if target.school_open is False and not reasons:
        reasons.append("school_not_open: only open schools may submit registers")
    return reasons, None


def _consent_history(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    if target.urn is not None:
        return _school_officer(
            "a school sees the consent history of its own pupils only",
            "a school sees the consent history of its own pupils only",
        )(requester, target)
    if _is(requester, OPERATOR) and _has(requester, "dpo"):
        return [], "all"
    return ["wrong_role: the consent history of any pupil is for the operator's DPO"], None


def _pupil_ref(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    if _own_school(requester, target) and _has(requester, "attendance_officer"):
        return [], None
    return [
        "wrong_organisation: only the pupil's own school's attendance officer may resolve a pupil_ref"
    ], None


def _is_recipient(requester: Requester, target: Target) -> bool:
    return target.recipient is not None and (requester.org_type, requester.org_id) == target.recipient


def _release_view(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    if _is_recipient(requester, target) or (_is(requester, OPERATOR) and _has(requester, "dpo")):
        return [], None
    return ["not_recipient: a release's metadata is for its recipient and the operator's DPO"], None


def _release_deletion(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    if _is_recipient(requester, target):
        return [], None
    return ["not_recipient: only the recipient can attest that its copy is deleted"], None


def _dpo(what: str) -> Check:
    def check(requester: Requester, target: Target) -> tuple[list[str], str | None]:
        if not _has(requester, "dpo"):
            return [f"wrong_role: {what} is for data protection officers (role dpo)"], None
        return [], "all" if _is(requester, OPERATOR) else "own_organisation"

    return check


def _releases_list(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    if not _has(requester, "dpo"):
        return ["wrong_role: listing releases needs the dpo role"], None
    return [], "all" if _is(requester, OPERATOR) else "own_organisation"


def _subject_access(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    """The operator's DPO, and the DPO or attendance officer of a school where the pupil is (or was)
    enrolled, see every release of the pupil; any other DPO sees those about its own organisation."""
    school_staff = _is(requester, "school") and (
        _has(requester, "dpo") or _has(requester, "attendance_officer")
    )
    if (_is(requester, OPERATOR) and _has(requester, "dpo")) or (school_staff and target.on_roll is True):
        return [], "all"
    if _has(requester, "dpo"):
        return [], "own_organisation"
    if _is(requester, "school") and _has(requester, "attendance_officer"):
        if target.on_roll is False:
            return ["not_your_pupil: a school answers subject access only for pupils enrolled there"], None
        return [], None  # the pupil is not named yet (the console's form)
    return ["wrong_role: subject access is for DPOs and the pupil's school attendance officer"], None


def _statistician(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    reasons = []
    if not _is(requester, "dfe"):
        reasons.append("wrong_organisation: differentially private statistics are released to DfE only")
    if not _has(requester, "statistician"):
        reasons.append("wrong_role: statistics need the statistician role")
    return reasons, None


def _budget(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    statistician = _is(requester, "dfe") and _has(requester, "statistician")
    dpo = _has(requester, "dpo")
    if not (statistician or dpo):
        return ["wrong_role: the privacy budget is shown to statisticians and data protection officers"], None
    if dpo and _is(requester, OPERATOR):
        return [], "all"
    if target.own_consumer is None or target.consumer not in (None, target.own_consumer):
        return ["wrong_organisation: only the operator's DPO sees another organisation's budget"], None
    return [], "own_organisation"


def _report(requester: Requester, target: Target) -> tuple[list[str], str | None]:
    """A school's report: its own attendance officer, its trust's officer, its LA's case officer.

    Before the school's trust and LA are read (None), a trust or LA officer passes on role alone;
    the service asks again with both facts, and only then reads the report."""
    if _is(requester, "school"):
        return _school_officer("a school sees only its own report")(requester, target)
    if _is(requester, "trust"):
        if not _has(requester, "trust_officer"):
            return ["wrong_role: a trust reads its schools' reports with the trust_officer role"], None
        if target.trust is not None and target.trust != requester.org_id:
            return ["wrong_organisation: a trust sees the reports of its own schools only"], None
        return [], None
    if _is(requester, "la"):
        if not _has(requester, "case_officer"):
            return ["wrong_role: an LA reads its schools' reports with the case_officer role"], None
        if target.la is not None and target.la != requester.org_id:
            return ["wrong_organisation: an LA sees the reports of schools in its own area only"], None
        return [], None
    return ["wrong_organisation: a report is for the school, its trust and its local authority"], None


def _overview(org_type: str, role: str, what: str) -> Check:
    def check(requester: Requester, target: Target) -> tuple[list[str], str | None]:
        reasons = []
        own = target.trust if org_type == "trust" else target.la
        if not _is(requester, org_type) or own is None or requester.org_id != own:
            reasons.append(f"wrong_organisation: {what}")
        if not _has(requester, role):
            reasons.append(f"wrong_role: this needs the {role} role")
        return reasons, "own_organisation"

    return check


RULES: Final[Mapping[str, Rule]] = MappingProxyType(
    {
        REGISTER_SUBMIT: Rule("the school's own feed_submitter, while the school is open", _register),
        PUPILS_VIEW: Rule(
            "the school's own attendance_officer", _school_officer("a school sees only its own pupils")
        ),
        PUPILS_AT_RISK_VIEW: Rule(
            "the school's own attendance_officer",
            _school_officer("a school sees only its own pupils at risk"),
        ),
        CONSENT_RECORD: Rule(
            "the school's own attendance_officer, for a pupil on its roll",
            _school_officer(
                "a school records consent for its own pupils only",
                "a school records consent only for pupils on its own roll",
            ),
        ),
        CONSENTS_VIEW: Rule(
            "the school's own attendance_officer", _school_officer("a school sees only its own pupils")
        ),
        CONSENT_HISTORY_VIEW: Rule(
            "the attendance_officer of the pupil's school, or the operator's DPO", _consent_history
        ),
        PUPIL_REF_RESOLVE: Rule("the attendance_officer of the pupil's own school", _pupil_ref),
        RELEASE_VIEW: Rule("the release's recipient, or the operator's DPO", _release_view),
        RELEASE_ATTEST_DELETION: Rule("the release's recipient", _release_deletion),
        RELEASES_LIST: Rule("a DPO (the operator's sees every organisation's)", _releases_list),
        AUDIT_READ: Rule("a DPO (the operator's sees every event)", _dpo("the audit trail")),
        SUBJECT_ACCESS: Rule(
            "a DPO, or the attendance_officer of a school where the pupil is enrolled",
            _subject_access,
            audited_as="audit.subject_access",
        ),
        ROPA_VIEW: Rule("a DPO", _dpo("the record of processing activities")),
        STATS_ASK: Rule("a DfE statistician", _statistician, audited_as="stats.denied"),
        BUDGET_VIEW: Rule(
            "a DfE statistician or a DPO, for their own organisation (the operator's DPO: any)", _budget
        ),
        LA_CONSOLE: Rule("an LA's case_officer, for the LA's own schools and releases", _la_officer),
        REPORT_VIEW: Rule(
            "the school's attendance_officer, its trust's trust_officer or its LA's case_officer", _report
        ),
        TRUST_SCHOOLS: Rule(
            "the trust's own trust_officer",
            _overview("trust", "trust_officer", "a trust sees the overview of its own schools only"),
        ),
        LA_SCHOOLS: Rule(
            "the LA's own case_officer",
            _overview("la", "case_officer", "an LA sees the overview of its own schools only"),
        ),
        ABIE_LIST: Rule("a DfE statistician", _statistician),
    }
)
"""Every action, who may do it, and how a denial is recorded. `audited_as` follows the log's
vocabulary: the statistics and subject access kept their own actions (`stats.denied`,
`audit.subject_access` with decision "deny"); every other refusal is `access.denied`, naming the
action in its details."""
