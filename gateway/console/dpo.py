"""The data protection officer's console: the audit trail, one event, the log's integrity, releases
overdue for deletion, subject access, and the record of processing activities.

Authorisation and audit events come from the same service functions as ``/v1/audit`` and
``/v1/releases``. A UPN is only ever posted (subject access), never put in an address.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from stdnum.exceptions import ValidationError as UpnInvalid
from stdnum.gb import upn as upn_rules

from audit.events import ACTIONS
from gateway.auth import Principal
from gateway.console.dates import error_targets, read_dates
from gateway.console.web import (
    ConsoleRoute,
    NotFound,
    Page,
    Viewer,
    current_viewer,
    render,
    runtime_of,
    signed_in_form,
)
from gateway.runtime import Runtime
from gateway.services import access, releases
from gateway.services.audit import checks
from gateway.services.audit import trail as audit_log
from policies.access import ROPA_VIEW, SUBJECT_ACCESS
from policies.ropa import CONSENT_NAMES, categories, fields_released, recipients, ropa_csv, ropa_markdown

router = APIRouter(route_class=ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]

#: Events per page of the audit trail: a screenful a DPO can read, well under the API's 1,000.
PAGE_SIZE = 50
#: Actions offered as suggestions in the filter (the log takes any well-formed action).
KNOWN_ACTIONS = sorted(
    ACTIONS
    | {
        "audit.events_viewed",
        "audit.subject_access",
        "audit.verified",
        "consents.viewed",
        "pupil_ref.resolved",
        "pupils.viewed",
        "release.deleted",
        "schools.imported",
    }
)
UPN_FORMAT = (
    "Enter a UPN in the correct format: a letter, 11 digits and a check character, like A123456789012"
)
FILTER_FIELDS = ("from", "to", "org_id", "purpose", "decision", "action")


def require_dpo(request: Request, principal: Principal) -> None:
    access.authorise(runtime_of(request).sessions, principal, ROPA_VIEW)


# --- the audit trail -----------------------------------------------------------------------------


def _day(value: str, *, end: bool) -> dt.datetime:
    day = dt.date.fromisoformat(value)
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start + dt.timedelta(days=1, microseconds=-1) if end else start


def _filters(values: dict[str, str]) -> tuple[audit_log.EventFilters | None, dict[str, str]]:
    errors: dict[str, str] = {}
    start = end = None
    for name, label in (("from", "From"), ("to", "To")):
        if values.get(name):
            try:
                parsed = _day(values[name], end=name == "to")
            except ValueError:
                errors[name] = f"{label} must be a real date, for example 3 10 2025"
                continue
            if name == "from":
                start = parsed
            else:
                end = parsed
    if start and end and start > end:
        errors["to"] = "To must be the same as or after From"
    if values.get("decision") not in (None, "", "allow", "deny"):
        errors["decision"] = "Choose allowed, denied or any decision"
    if errors:
        return None, errors
    return audit_log.EventFilters(
        start=start,
        end=end,
        org_id=values.get("org_id") or None,
        purpose=values.get("purpose") or None,
        decision=values.get("decision") or None,
        action=values.get("action") or None,
    ), {}


def _summary(event: audit_log.LoggedEvent) -> dict[str, Any]:
    body = event.event
    return {
        "index": event.index,
        "occurred_at": body["occurred_at"],
        "action": body["action"],
        "actor": f"{body['actor']['org_type']} {body['actor']['org_id']}",
        "purpose": body.get("purpose"),
        "decision": body.get("decision"),
        "record_count": body.get("record_count"),
        "reasons": [str(r).split(":")[0] for r in body.get("reasons") or []]
        if body.get("decision") == "deny"
        else [],
    }


Filter = Annotated[str | None, Query(max_length=60)]


@router.get("/audit")
async def audit_trail(
    request: Request,
    viewer: ViewerDep,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    org_id: Filter = None,
    purpose: Filter = None,
    decision: Filter = None,
    action: Filter = None,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
    order: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    await audit_log.authorise_dpo(runtime_of(request).sessions, viewer.principal)
    values = {
        k: (v or "").strip()
        for k, v in zip(FILTER_FIELDS, (from_, to, org_id, purpose, decision, action), strict=True)
    }
    # GOV.UK date inputs (day, month, year) send three fields; an address may carry the ISO date.
    errors: dict[str, str] = {}
    dates = read_dates(request.query_params, {"from": "From", "to": "To"}, "3 10 2025", errors)
    values["from"], values["to"] = dates["from"].iso, dates["to"].iso
    filters, filter_errors = _filters(values)
    errors |= filter_errors
    if errors:
        filters = None
    newest = order != "oldest"
    page = Page(title="Audit trail", viewer=viewer, errors=errors)
    context: dict[str, Any] = {
        "dates": dates,
        "error_targets": error_targets(dates),
        "newest": newest,
        "total": None,
        "latest_href": None,
        "order_href": None,
        "values": values,
        "actions": KNOWN_ACTIONS,
        "events": [],
        "next_href": None,
        "first_href": None,
        "purpose_options": [("", "Any purpose")]
        + [(p.id, p.id) for p in runtime_of(request).catalogue.purposes],
        "scope": audit_log.visible_org(viewer.principal),
    }
    if filters is None:
        return render(request, "dpo/audit.html", page, status=400, **context)
    runtime = runtime_of(request)
    result = await run_in_threadpool(
        partial(audit_log.list_events, newest_first=newest, with_total=True),
        runtime.sessions, viewer.principal, filters, cursor or None, PAGE_SIZE,
    )
    kept = {k: v for k, v in values.items() if v}
    ordered = kept if newest else {**kept, "order": "oldest"}
    context["events"] = [_summary(e) for e in result.events]
    context["total"] = result.total
    if result.next_cursor:
        context["next_href"] = "?" + urlencode({**ordered, "cursor": result.next_cursor})
    if cursor:
        context["first_href"] = "?" + urlencode(ordered) if ordered else request.url.path
    if cursor or not newest:
        context["latest_href"] = "?" + urlencode(kept) if kept else request.url.path
    context["order_href"] = "?" + urlencode(kept if not newest else {**kept, "order": "oldest"})
    return render(request, "dpo/audit.html", page, **context)


@router.get("/audit/events/{index}")
async def audit_event(
    request: Request, viewer: ViewerDep, index: Annotated[int, Path(ge=0, lt=2**62)]
) -> Response:
    await audit_log.authorise_dpo(runtime_of(request).sessions, viewer.principal)
    runtime = runtime_of(request)
    # The one event, through the same query (and visibility) as the trail: a page of one after index - 1.
    cursor = audit_log.encode_cursor(index - 1, index + 1) if index > 0 else None
    result = await run_in_threadpool(
        audit_log.list_events, runtime.sessions, viewer.principal, audit_log.EventFilters(), cursor, 1
    )
    found = [e for e in result.events if e.index == index]
    if not found:
        raise NotFound("There is no event with this number that you can see.")
    event = found[0]
    proof = await run_in_threadpool(checks.check_entry, runtime.sessions, runtime.settings.data_dir, event)
    body = event.event
    details = sorted(body["details"].items())
    justification = await run_in_threadpool(_justification, runtime, viewer.principal, body.get("release_id"))
    return render(
        request,
        "dpo/event.html",
        Page(title=f"Audit event {index}", viewer=viewer),
        event=event,
        body=body,
        details=details,
        proof=proof,
        justification=justification,
    )


def _justification(runtime: Runtime, principal: Principal, release_id: str | None) -> str | None:
    """The requester's stated justification, kept with the release (never in the log: it is free text)."""
    if not release_id:
        return None
    try:
        return str(releases.get_release(runtime.sessions, principal, release_id).justification)
    except NotFound:
        return None


# --- integrity -----------------------------------------------------------------------------------


@router.get("/audit/integrity")
async def integrity(request: Request, viewer: ViewerDep) -> Response:
    await audit_log.authorise_dpo(runtime_of(request).sessions, viewer.principal)
    runtime = runtime_of(request)
    head, signed = await run_in_threadpool(checks.latest_head, runtime.sessions, runtime.settings.data_dir)
    return render(
        request,
        "dpo/integrity.html",
        Page(title="Integrity of the audit log", viewer=viewer),
        head=head,
        signed=signed,
        report=None,
    )


@router.post("/audit/integrity")
async def verify_integrity(request: Request, viewer: ViewerDep) -> Response:
    await signed_in_form(request, viewer)
    await audit_log.authorise_dpo(runtime_of(request).sessions, viewer.principal)
    runtime = runtime_of(request)
    report = await run_in_threadpool(
        checks.verify_whole_log, runtime.sessions, runtime.settings.database_url, runtime.settings.data_dir,
        viewer.principal,
    )
    head, signed = await run_in_threadpool(checks.latest_head, runtime.sessions, runtime.settings.data_dir)
    return render(
        request,
        "dpo/integrity.html",
        Page(title="Integrity of the audit log", viewer=viewer),
        head=head,
        signed=signed,
        report=report,
    )


# --- releases ------------------------------------------------------------------------------------


@router.get("/releases/overdue")
async def overdue(request: Request, viewer: ViewerDep) -> Response:
    runtime = runtime_of(request)
    result = await run_in_threadpool(
        releases.list_releases, runtime.sessions, viewer.principal, "overdue", 1000
    )
    now = dt.datetime.now(dt.UTC)
    rows = [{**r.as_dict(), "days_overdue": max(0, (now - r.expires_at).days)} for r in result.releases]
    return render(
        request,
        "dpo/overdue.html",
        Page(title="Releases overdue for deletion", viewer=viewer),
        releases=rows,
        scope=audit_log.visible_org(viewer.principal),
    )


@router.get("/releases/{release_id}")
async def release(
    request: Request, viewer: ViewerDep, release_id: Annotated[str, Path(max_length=40)]
) -> Response:
    result = await run_in_threadpool(
        releases.get_release, runtime_of(request).sessions, viewer.principal, release_id
    )
    return render(
        request, "dpo/release.html", Page(title=f"Release {release_id}", viewer=viewer), release=result
    )


# --- subject access ------------------------------------------------------------------------------


async def _may_ask_subject_access(request: Request, principal: Principal) -> None:
    # Before a pupil is named: the role alone (the service judges the pupil, and records that).
    await access.authorise_async(runtime_of(request).sessions, principal, SUBJECT_ACCESS)


@router.get("/subject-access")
async def subject_access_form(request: Request, viewer: ViewerDep) -> Response:
    await _may_ask_subject_access(request, viewer.principal)
    return render(
        request, "dpo/subject_access.html", Page(title="Subject access", viewer=viewer), answer=None
    )


@router.post("/subject-access")
async def subject_access(request: Request, viewer: ViewerDep) -> Response:
    form = await signed_in_form(request, viewer)
    await _may_ask_subject_access(request, viewer.principal)
    raw = "".join(form.get("upn", "").split()).upper()
    error = None
    if not raw:
        error = "Enter the pupil's UPN"
    else:
        try:
            upn = str(upn_rules.validate(raw))
        except UpnInvalid:
            # Never repeat the value: it is a child's identifier, right or wrong.
            error = UPN_FORMAT
    page = Page(title="Subject access", viewer=viewer)
    if error:
        page.errors = {"upn": error}
        return render(request, "dpo/subject_access.html", page, status=422, answer=None)
    runtime = runtime_of(request)
    answer = await run_in_threadpool(
        audit_log.subject_access, runtime.sessions, runtime.keys, viewer.principal, upn
    )
    return render(request, "dpo/subject_access.html", page, answer=answer)


# --- the record of processing activities ----------------------------------------------------------


@router.get("/ropa")
def ropa(request: Request, viewer: ViewerDep) -> Response:
    require_dpo(request, viewer.principal)
    catalogue = runtime_of(request).catalogue
    purposes = [
        {
            "id": p.id,
            "title": p.title,
            "description": p.description,
            "basis": p.lawful_basis.article,
            "references": list(p.lawful_basis.legal_references),
            "special": p.lawful_basis.special_category_condition,
            "recipients": recipients(p),
            "categories": categories(p),
            "fields": fields_released(p),
            "selection": p.criterion_description,
            "consent": CONSENT_NAMES[p.consent],
            "retention": p.retention.describe(),
            "retention_justification": p.retention.justification,
        }
        for p in catalogue.purposes
    ]
    return render(
        request,
        "dpo/ropa.html",
        Page(title="Record of processing activities", viewer=viewer),
        catalogue=catalogue,
        header=catalogue.catalogue,
        purposes=purposes,
        schedule=catalogue.retention_schedule,
    )


def _download(text: str, media: str, filename: str) -> Response:
    return Response(
        text, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/ropa.csv")
def ropa_as_csv(request: Request, viewer: ViewerDep) -> Response:
    require_dpo(request, viewer.principal)
    catalogue = runtime_of(request).catalogue
    return _download(
        ropa_csv(catalogue), "text/csv; charset=utf-8", f"record-of-processing-{catalogue.version}.csv"
    )


@router.get("/ropa.md")
def ropa_as_markdown(request: Request, viewer: ViewerDep) -> Response:
    require_dpo(request, viewer.principal)
    catalogue = runtime_of(request).catalogue
    return _download(
        ropa_markdown(catalogue),
        "text/markdown; charset=utf-8",
        f"record-of-processing-{catalogue.version}.md",
    )
