"""Plain-text views of the catalogue and of a decision, for `gateway policy show` and `explain`.

Kept in the core so that the command line prints exactly what the decision point decided, and
so that the wording is tested with the policy it describes.
"""

from __future__ import annotations

from policies.model import Catalogue, Decision
from policies.ropa import CONSENT_NAMES, fields_released, recipients


def describe_catalogue(catalogue: Catalogue) -> str:
    lines = [
        f"{catalogue.catalogue.title}",
        f"version {catalogue.version}, sha256 {catalogue.content_hash} ({catalogue.source})",
    ]
    for purpose in catalogue.purposes:
        basis = purpose.lawful_basis
        lines += [
            "",
            f"{purpose.id}: {purpose.title}",
            f"  {purpose.description}",
            f"  who may ask:   {recipients(purpose)}",
            f"  lawful basis:  {basis.article}",
            *(f"                 {reference}" for reference in basis.legal_references),
        ]
        if basis.special_category_condition:
            lines.append(f"  special category condition: {basis.special_category_condition}")
        lines += [
            f"  selection:     {purpose.criterion_description}",
            f"  fields out:    {fields_released(purpose)}",
            f"  consent:       {CONSENT_NAMES[purpose.consent]}",
            f"  retention:     {purpose.retention.describe()}",
            f"  acknowledgement: {purpose.acknowledgement}",
        ]
    return "\n".join(lines) + "\n"


def describe_decision(decision: Decision) -> str:
    lines = [
        f"decision: {'allow' if decision.allow else 'deny'}",
        f"purpose: {decision.purpose}",
        f"policy: version {decision.policy_version}, sha256 {decision.policy_hash}",
        "reasons:",
        *(f"  - {reason}" for reason in decision.reasons),
    ]
    if decision.obligations is not None:
        lines += ["acknowledgement the requester must accept:", f"  {decision.obligations.acknowledgement}"]
    return "\n".join(lines) + "\n"
