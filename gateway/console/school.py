"""The school view: a school's attendance officer sees its pupils' running totals, its persistent and
severe absence lists, and records parental consent and objections.

The same service functions as ``GET /v1/schools/{urn}/pupils`` and ``/v1/schools/{urn}/consents``: a
school sees only its own pupils, and every view and every consent is recorded. A UPN reaches the
server only in a posted form.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as FastPath
from fastapi.concurrency import run_in_threadpool

from consent.rules import ConsentDecision
from gateway.console import pupil_view
from gateway.console.dates import PARTS, DateField, error_targets, read_dates
from gateway.console.dpo import UPN_FORMAT
from gateway.console.web import (
    PREFIX,
    ConsoleRoute,
    Page,
    Viewer,
    current_viewer,
    render,
    runtime_of,
    signed_in_form,
)
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
    ConsentDecision.GRANTED: ("Consent granted", "The parent agrees to the pupil being included."),
    ConsentDecision.WITHDRAWN: (
        "Withdrawn",
        "The parent takes back an earlier consent or objection: the purpose's usual rule applies.",
    ),
    ConsentDecision.OBJECTED: (
        "Objection", "The parent does not want the pupil included: the pupil is left out."
    ),
}


#: What each consent rule means for a pupil, in the words a parent would use.
RULE_HINTS = {
    ConsentRule.OPT_IN: (
        "A pupil is included only if a parent has given consent. Record consent, or withdraw it."
    ),
    ConsentRule.OBJECTION_HONOURED: (
        "Every pupil is included unless a parent objects. Record an objection, or withdraw it."
    ),
}


def _urn(viewer: Viewer) -> int:
    # A principal that is not a school gets 0: the service then refuses with its own reasons.
    return viewer.urn or 0


async def _authorise_view(request: Request, viewer: Viewer) -> None:
    # A form with a mistake is still a decision to record (allowed or denied) before it is answered.
    await access.authorise_async(
        runtime_of(request).sessions, viewer.principal, PUPILS_VIEW, Target(urn=_urn(viewer))
    )


def _window(params: Mapping[str, str], errors: dict[str, str]) -> dict[str, DateField]:
    """The window's GOV.UK date inputs (or the ISO dates of the page's own links)."""
    return read_dates(params, {"from": "From", "to": "To"}, "3 10 2025", errors)


def _page_values(dates: Mapping[str, DateField]) -> dict[str, str]:
    return {"from": dates["from"].iso, "to": dates["to"].iso}


async def _pupils(
    request: Request, viewer: Viewer, params: Mapping[str, str], search: str | None
) -> Response:
    """The pupils page, from an address (`search` None) or a posted search: the whole list is
    gathered and audited as the API's view is, and one page of it shown."""
    errors: dict[str, str] = {}
    dates = _window(params, errors)
    values = _page_values(dates)
    start, end = dates["from"].value, dates["to"].value
    query = pupil_view.read_query(params, errors, search=search or "")
    if search is not None and not query.search and "q" not in errors:
        errors["q"] = "Enter a name or UPN to search for"
    runtime = runtime_of(request)
    result = None
    if not errors:
        try:
            result = await run_in_threadpool(
                pupils.list_pupils, runtime.sessions, runtime.keys, viewer.principal, _urn(viewer), start, end
            )
        except InvalidInput as exc:
            errors = {
                e.get("field") or "from": str(e.get("message", "")).capitalize() for e in exc.detail["errors"]
            }
    else:
        await _authorise_view(request, viewer)
    view = pupil_view.view_of(result.pupils, query) if result else None
    return render(
        request,
        "school/pupils.html",
        Page(title="Search results" if search is not None else "Pupils", viewer=viewer, errors=errors),
        status=400 if errors else 200,
        values={**values, "q": query.search if search is not None else ""},
        dates=dates,
        error_targets=error_targets(dates),
        result=result,
        view=view,
        query=query,
        searching=search is not None,
        columns=pupil_view.COLUMNS,
        numeric=pupil_view.NUMERIC,
        absence_filters=pupil_view.ABSENCE_FILTERS,
        page_numbers=pupil_view.page_numbers(view.page, view.pages) if view else [],
        counts=_counts(result.pupils) if result else None,
        link=lambda **changes: _link(values, query, **changes),
    )


def _counts(rows: list[pupils.PupilTotals]) -> dict[str, int]:
    return {
        "pupils": len(rows),
        "persistent": sum(p.persistent_absence for p in rows),
        "severe": sum(p.severe_absence for p in rows),
    }


def _link(values: dict[str, str], query: pupil_view.Query, **changes: Any) -> str:
    params = {k: v for k, v in values.items() if v}
    params.update(query.link_params(**changes))
    return f"{PREFIX}/school" + (f"?{urlencode(params)}" if params else "")


@router.get("/school")
async def school_pupils(request: Request, viewer: ViewerDep) -> Response:
    params = {k: v for k, v in request.query_params.items() if k in _QUERY_FIELDS}
    return await _pupils(request, viewer, params, None)


@router.post("/school/search")
async def search_pupils(request: Request, viewer: ViewerDep) -> Response:
    """A search by name or UPN: posted, so that the term stays out of addresses, logs and history.
    The results' own paging and sorting post the term again."""
    form = await signed_in_form(request, viewer)
    params = {k: form.get(k, "") for k in (*_QUERY_FIELDS, "order")}
    return await _pupils(request, viewer, params, form.get("q", ""))


@router.get("/school.csv")
async def school_pupils_csv(request: Request, viewer: ViewerDep) -> Response:
    """The school's own list with the page's window and filters (not a search: that is never in an
    address), audited as the API's view is."""
    params = {k: v for k, v in request.query_params.items() if k in _QUERY_FIELDS}
    errors: dict[str, str] = {}
    dates = _window(params, errors)
    start, end = dates["from"].value, dates["to"].value
    query = pupil_view.read_query(params, errors)
    runtime = runtime_of(request)
    if errors:
        await _authorise_view(request, viewer)
        raise InvalidInput([{"row": None, "field": f, "message": m} for f, m in errors.items()])
    result = await run_in_threadpool(
        pupils.list_pupils, runtime.sessions, runtime.keys, viewer.principal, _urn(viewer), start, end
    )
    everyone = pupil_view.Query(sort=query.sort, direction=query.direction, year=query.year,
                                absence=query.absence, page=1)
    chosen = pupil_view.view_of(result.pupils, everyone, whole=True).rows
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(pupil_view.CSV_HEADER)
    writer.writerows(pupil_view.csv_row(p) for p in chosen)
    name = f"pupils-{result.urn}-{result.from_}-{result.to}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


_QUERY_FIELDS = (
    "from", "to", *(f"{name}-{part}" for name in ("from", "to") for part in PARTS),
    "sort", "dir", "page", "year", "absence",
)


# --- consent -------------------------------------------------------------------------------------


def _consent_purposes(request: Request) -> list[dict[str, Any]]:
    out = []
    for p in runtime_of(request).catalogue.purposes:
        if p.consent is ConsentRule.NONE:
            continue
        out.append({"id": p.id, "title": p.title, "rule": p.consent.value, "hint": RULE_HINTS[p.consent]})
    return out


async def _consent_page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
    pupil: pupils.PupilOnRoll | None = None,
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
        pupil=pupil,
    )


@router.get("/school/consents")
async def consent_form(request: Request, viewer: ViewerDep) -> Response:
    return await _consent_page(request, viewer, values={})


@router.post("/school/consents/start")
async def consent_form_for_pupil(request: Request, viewer: ViewerDep) -> Response:
    """The consent form for one pupil, from a row of the pupils table or the form's "Find pupil"
    button: the pupil's name, looked up on the school's roll, to confirm against the parent's form.

    The UPN is posted, never put in the address."""
    form = await signed_in_form(request, viewer)
    values = {k: form.get(k, "").strip() for k in ("purpose", "decision", "evidence")}
    values["upn"] = "".join(form.get("upn", "").split()).upper()[:20]
    if not values["upn"]:
        return await _consent_page(request, viewer, values=values, errors={"upn": "Enter the pupil's UPN"},
                                   status=422)
    runtime = runtime_of(request)
    try:
        found = await run_in_threadpool(
            pupils.pupil_on_roll, runtime.sessions, runtime.keys, viewer.principal, _urn(viewer),
            values["upn"],
        )
    except InvalidInput:
        return await _consent_page(request, viewer, values=values, errors={"upn": UPN_FORMAT}, status=422)
    if found is None:
        return await _consent_page(
            request, viewer, values=values, status=404,
            errors={"upn": "This pupil is not on your school's roll: check the UPN"},
        )
    return await _consent_page(request, viewer, values=values, pupil=found)


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
    return _receipt_page(request, viewer, receipt, "Consent recorded", recorded=True)


def _receipt_page(
    request: Request, viewer: Viewer, receipt: Any, title: str, *, recorded: bool = False,
    printable: bool = False,
) -> Response:
    return render(
        request,
        "school/receipt_print.html" if printable else "school/receipt.html",
        Page(title=title, viewer=viewer),
        receipt=receipt,
        recorded=recorded,
        decision_text=DECISION_TEXT[ConsentDecision(receipt.decision)][0],
    )


ReceiptId = Annotated[str, FastPath(pattern=r"^cr_[0-9a-f]{32}$")]


@router.get("/school/consents/receipts/{receipt_id}")
async def receipt_page(request: Request, viewer: ViewerDep, receipt_id: ReceiptId) -> Response:
    """A receipt recorded by this school, to read or print again (audited as a view)."""
    runtime = runtime_of(request)
    receipt = await run_in_threadpool(
        consents.get_receipt, runtime.sessions, runtime.keys, runtime.catalogue, viewer.principal,
        _urn(viewer), receipt_id,
    )
    return _receipt_page(request, viewer, receipt, "Consent receipt")


@router.get("/school/consents/receipts/{receipt_id}/print")
async def receipt_printable(request: Request, viewer: ViewerDep, receipt_id: ReceiptId) -> Response:
    """The receipt alone on a page, without the console's header and navigation, to print for the parent."""
    runtime = runtime_of(request)
    receipt = await run_in_threadpool(
        consents.get_receipt, runtime.sessions, runtime.keys, runtime.catalogue, viewer.principal,
        _urn(viewer), receipt_id,
    )
    return _receipt_page(request, viewer, receipt, "Consent receipt", printable=True)
