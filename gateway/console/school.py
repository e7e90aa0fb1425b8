"""The school view: a school's attendance officer sees its pupils' running totals, its persistent and
severe absence lists, and records parental consent and objections.

The same service functions as ``GET /v1/schools/{urn}/pupils`` and ``/v1/schools/{urn}/consents``: a
school sees only its own pupils, and every view and every consent is recorded. A UPN reaches the
server only in a posted form.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from consent.rules import ACCEPTED, ConsentDecision
from gateway.console.dpo import UPN_FORMAT
from gateway.console.web import ConsoleRoute, Page, Viewer, current_viewer, render, runtime_of, signed_in_form
from gateway.errors import Forbidden, InvalidInput
from gateway.services import access, consents, pupils
from gateway.services.access import Target
from policies.access import CONSENT_RECORD, PUPILS_VIEW
from policies.model import ConsentRule
from schemas.json_strict import control_character_in

router = APIRouter(route_class=ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]

MAX_EVIDENCE_CHARS = 2000
DECISION_TEXT = {
    ConsentDecision.GRANTED: ("Consent granted", "The parent agrees to this purpose."),
    ConsentDecision.WITHDRAWN: ("Withdrawn", "The parent withdraws an earlier consent or objection."),
    ConsentDecision.OBJECTED: ("Objection", "The parent objects: the pupil is left out of this purpose."),
}


def _urn(viewer: Viewer) -> int:
    # A principal that is not a school gets 0: the service then refuses with its own reasons.
    return viewer.urn or 0


def _date(value: str | None, field: str, label: str, errors: dict[str, str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[field] = f"{label} must be a real date, like 2025-10-03"
        return None


@router.get("/school")
async def school_pupils(
    request: Request,
    viewer: ViewerDep,
    from_: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    to: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    errors: dict[str, str] = {}
    start, end = _date(from_, "from", "From", errors), _date(to, "to", "To", errors)
    page = Page(title="Pupils", viewer=viewer, errors=errors)
    values = {"from": from_ or "", "to": to or ""}
    if errors:
        await access.authorise_async(
            runtime_of(request).sessions, viewer.principal, PUPILS_VIEW, Target(urn=_urn(viewer))
        )
        return render(
            request,
            "school/pupils.html",
            page,
            status=400,
            values=values,
            result=None,
            persistent=[],
            severe=[],
        )
    runtime = runtime_of(request)
    try:
        result = await run_in_threadpool(
            pupils.list_pupils, runtime.sessions, runtime.keys, viewer.principal, _urn(viewer), start, end
        )
    except InvalidInput as exc:
        page.errors = {
            e.get("field") or "from": str(e.get("message", "")).capitalize() for e in exc.detail["errors"]
        }
        return render(
            request,
            "school/pupils.html",
            page,
            status=400,
            values=values,
            result=None,
            persistent=[],
            severe=[],
        )

    def by_rate(rows: list[pupils.PupilTotals]) -> list[pupils.PupilTotals]:
        # No possible session (no rate) sorts last.
        return sorted(rows, key=lambda p: (2.0 if p.attendance_rate is None else p.attendance_rate,
                                           p.surname))

    return render(
        request,
        "school/pupils.html",
        page,
        values=values,
        result=result,
        persistent=by_rate([p for p in result.pupils if p.persistent_absence]),
        severe=by_rate([p for p in result.pupils if p.severe_absence]),
    )


# --- consent -------------------------------------------------------------------------------------


def _consent_purposes(request: Request) -> list[dict[str, Any]]:
    out = []
    for p in runtime_of(request).catalogue.purposes:
        if p.consent is ConsentRule.NONE:
            continue
        accepted = [d for d in ConsentDecision if d in ACCEPTED[p.consent]]
        out.append(
            {
                "id": p.id,
                "title": p.title,
                "rule": p.consent.value,
                "accepts": ", ".join(DECISION_TEXT[d][0].lower() for d in accepted),
            }
        )
    return out


async def _consent_page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    runtime = runtime_of(request)
    current = await run_in_threadpool(
        consents.current_states, runtime.sessions, runtime.keys, viewer.principal, _urn(viewer), None
    )
    titles = {p.id: p.title for p in runtime.catalogue.purposes}
    return render(
        request,
        "school/consents.html",
        Page(title="Consent and objections", viewer=viewer, errors=errors or {}),
        status=status,
        values=values,
        purposes=_consent_purposes(request),
        decisions=DECISION_TEXT,
        current=current.consents,
        titles=titles,
    )


@router.get("/school/consents")
async def consent_form(request: Request, viewer: ViewerDep) -> Response:
    return await _consent_page(request, viewer, values={})


@router.post("/school/consents/start")
async def consent_form_for_pupil(request: Request, viewer: ViewerDep) -> Response:
    """From a row of the pupils table: the consent form with the pupil's UPN filled in.

    The UPN is posted, never put in the address."""
    form = await signed_in_form(request, viewer)
    return await _consent_page(
        request, viewer, values={"upn": "".join(form.get("upn", "").split()).upper()[:20]}
    )


@router.post("/school/consents")
async def record_consent(request: Request, viewer: ViewerDep) -> Response:
    form = await signed_in_form(request, viewer)
    await access.authorise_async(
        runtime_of(request).sessions, viewer.principal, CONSENT_RECORD, Target(urn=_urn(viewer))
    )
    values = {
        "upn": "".join(form.get("upn", "").split()).upper()[:20],
        "purpose": form.get("purpose", "").strip(),
        "decision": form.get("decision", "").strip(),
        "evidence": form.get("evidence", "").strip(),
    }
    errors: dict[str, str] = {}
    if not values["upn"]:
        errors["upn"] = "Enter the pupil's UPN"
    if values["purpose"] not in {p["id"] for p in _consent_purposes(request)}:
        errors["purpose"] = "Choose the purpose the parent's decision is about"
    if values["decision"] not in {d.value for d in ConsentDecision}:
        errors["decision"] = "Choose what the parent decided"
    if len(values["evidence"]) > MAX_EVIDENCE_CHARS:
        errors["evidence"] = f"The evidence must be {MAX_EVIDENCE_CHARS:,} characters or fewer"
    elif control_character_in(values["evidence"], free_text=True):
        errors["evidence"] = (
            "The evidence must not contain control characters (line breaks and tabs are fine)"
        )
    if errors:
        return await _consent_page(request, viewer, values=values, errors=errors, status=422)
    runtime = runtime_of(request)
    try:
        receipt = await run_in_threadpool(
            consents.record_consent,
            runtime.sessions,
            runtime.keys,
            runtime.catalogue,
            viewer.principal,
            _urn(viewer),
            values["upn"],
            values["purpose"],
            ConsentDecision(values["decision"]),
            values["evidence"] or None,
        )
    except InvalidInput as exc:
        for e in exc.detail["errors"]:
            field = e.get("field") or "upn"
            errors[field] = UPN_FORMAT if field == "upn" else str(e.get("message", "")).capitalize()
        return await _consent_page(request, viewer, values=values, errors=errors, status=422)
    except Forbidden as exc:
        if any(str(r).startswith("not_on_roll") for r in exc.detail["reasons"]):
            return await _consent_page(
                request,
                viewer,
                values=values,
                status=403,
                errors={"upn": "This pupil is not on your school's roll: check the UPN"},
            )
        raise
    return render(
        request,
        "school/receipt.html",
        Page(title="Consent recorded", viewer=viewer),
        receipt=receipt,
        decision_text=DECISION_TEXT[ConsentDecision(receipt.decision)][0],
    )
