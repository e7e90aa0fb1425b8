"""The record of processing activities (UK GDPR Article 30) generated from the live catalogue.

Generated, never written by hand, so that the record a DPO shows the ICO is the policy the gateway
enforces: the same file, the same version and hash.
"""

from __future__ import annotations

import csv
import io

from policies.fields import Category, Transform
from policies.model import Catalogue, ConsentRule, Purpose, RetentionRule, ScopeRule

ORG_TYPE_NAMES = {
    "la": "Local authority",
    "school": "School",
    "trust": "Academy trust",
    "dfe": "Department for Education",
    "operator": "Gateway operator",
}

CONSENT_NAMES = {
    ConsentRule.NONE: "No consent needed; no objection route",
    ConsentRule.OPT_IN: "Opt-in: only pupils whose parent consented to this purpose",
    ConsentRule.OBJECTION_HONOURED: (
        "No consent needed; a parent's objection removes the pupil (UK GDPR Art 21)"
    ),
}

TRANSFORM_NAMES = {
    Transform.KEEP: "as held",
    Transform.PSEUDONYMISE: "pseudonymised per recipient and academic year",
    Transform.BAND: "banded",
}

CSV_COLUMNS = (
    "record_type",
    "id",
    "title",
    "description",
    "lawful_basis",
    "legal_references",
    "special_category_condition",
    "data_subjects",
    "categories_of_personal_data",
    "fields_released",
    "recipients",
    "selection",
    "consent",
    "retention",
    "retention_justification",
    "catalogue_version",
    "catalogue_hash",
)

DEFAULT_CONTROLLER = "The organisation operating this gateway, as named in its deployment record"


def recipients(purpose: Purpose) -> str:
    who = purpose.requester
    text = ORG_TYPE_NAMES[who.org_type]
    if who.school_phases:
        text += f" of phase {' or '.join(who.school_phases)}"
    text += f" (role {' or '.join(who.roles)})"
    if purpose.scope is ScopeRule.REQUESTER_LA:
        text += ", for schools in its own area"
    elif purpose.scope is ScopeRule.NAMED_PUPILS:
        text += ", for the pupils it names"
    elif purpose.scope is ScopeRule.OWN_SCHOOL:
        text += ", for its own pupils, viewed in the gateway and not released"
    else:
        text += ", aggregates only"
    return text


def categories(purpose: Purpose) -> str:
    if purpose.statistics_only and purpose.retention.rule is RetentionRule.VIEW_ONLY:
        return (
            "None at pupil level: the school's own session and pupil counts, exact; other schools' "
            "(similar schools, England) as aggregates with differential-privacy noise"
        )
    if purpose.statistics_only:
        return "None at pupil level: aggregates with differential-privacy noise"
    grouped: dict[Category, list[str]] = {}
    for rule in purpose.fields:
        if rule.output is None:
            continue
        name = rule.output + (" (special category)" if rule.spec.special_category else "")
        grouped.setdefault(rule.spec.category_when(rule.transform), []).append(name)
    return "; ".join(f"{category.value}: {', '.join(names)}" for category, names in grouped.items())


def fields_released(purpose: Purpose) -> str:
    parts = []
    for rule in purpose.fields:
        if rule.output is None:
            continue
        how = TRANSFORM_NAMES[rule.transform]
        parts.append(
            f"{rule.output} ({rule.field}, {how})" if rule.output != rule.field else f"{rule.output} ({how})"
        )
    return ", ".join(parts) or "none"


def ropa_markdown(catalogue: Catalogue, *, controller: str | None = None) -> str:
    header = catalogue.catalogue
    lines = [
        "# Record of processing activities (UK GDPR Article 30)",
        "",
        f'Generated from the purpose catalogue "{header.title}", version {catalogue.version}, '
        f"SHA-256 `{catalogue.content_hash}` ({catalogue.source}). Regenerate it after every change "
        "to the catalogue rather than editing it.",
        "",
        f"- **Controller:** {controller or DEFAULT_CONTROLLER}",
        f"- **Categories of data subjects:** {header.data_subjects}",
        f"- **Transfers to third countries:** {header.international_transfers}",
        f"- **Technical and organisational security measures:** {header.security_measures}",
        "",
        "## Purposes of processing",
        "",
        "| Purpose | Lawful basis | Recipients | Categories of personal data | Retention of the release |",
        "|---|---|---|---|---|",
    ]
    for purpose in catalogue.purposes:
        lines.append(
            "| "
            + " | ".join(
                _cell(text)
                for text in (
                    f"{purpose.id}: {purpose.title}",
                    purpose.lawful_basis.article,
                    recipients(purpose),
                    categories(purpose),
                    purpose.retention.describe(),
                )
            )
            + " |"
        )
    for purpose in catalogue.purposes:
        basis = purpose.lawful_basis
        lines += ["", f"### {purpose.id}: {purpose.title}", "", purpose.description, ""]
        lines.append(f"- **Lawful basis:** {basis.article}")
        lines += [f"  - {reference}" for reference in basis.legal_references]
        if basis.special_category_condition:
            lines.append(f"- **Special category condition:** {basis.special_category_condition}")
        lines += [
            f"- **Recipients:** {recipients(purpose)}",
            f"- **Categories of personal data:** {categories(purpose)}",
            f"- **Fields released:** {fields_released(purpose)}",
            f"- **Selection:** {purpose.criterion_description}",
            f"- **Consent and objection:** {CONSENT_NAMES[purpose.consent]}",
            f"- **Retention:** {purpose.retention.describe()}. {purpose.retention.justification}",
        ]
    lines += [
        "",
        "## Records held by the gateway",
        "",
        "| Record | Retention | Source |",
        "|---|---|---|",
    ]
    lines += [
        f"| {_cell(item.record)} | {_cell(item.period)} | {_cell(item.source)} |"
        for item in catalogue.retention_schedule
    ]
    return "\n".join(lines) + "\n"


def ropa_csv(catalogue: Catalogue) -> str:
    """One row per purpose and one per record the gateway keeps, for a DPO's register."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    fingerprint = {"catalogue_version": catalogue.version, "catalogue_hash": catalogue.content_hash}
    for purpose in catalogue.purposes:
        basis = purpose.lawful_basis
        writer.writerow(
            {
                "record_type": "purpose",
                "id": purpose.id,
                "title": purpose.title,
                "description": purpose.description,
                "lawful_basis": basis.article,
                "legal_references": "; ".join(basis.legal_references),
                "special_category_condition": basis.special_category_condition or "",
                "data_subjects": catalogue.catalogue.data_subjects,
                "categories_of_personal_data": categories(purpose),
                "fields_released": fields_released(purpose),
                "recipients": recipients(purpose),
                "selection": purpose.criterion_description,
                "consent": CONSENT_NAMES[purpose.consent],
                "retention": purpose.retention.describe(),
                "retention_justification": purpose.retention.justification,
                **fingerprint,
            }
        )
    for item in catalogue.retention_schedule:
        writer.writerow(
            {
                "record_type": "retained record",
                "id": item.id,
                "title": item.record,
                "legal_references": item.source,
                "data_subjects": catalogue.catalogue.data_subjects,
                "retention": item.period,
                **fingerprint,
            }
        )
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
