"""The local authority's case officer: the LA's home (its name, schools and releases), asking for a
release, the release with its records, and the LA's releases with the attestation of deletion.

The same service functions as the API: a request goes through ``releases.create_release`` (the same
decision, the same audit event, allowed or denied), a release's page through ``releases.get_release``
and an attestation through ``releases.attest_deletion``. Records leave once, in the response to the
request that made the release: the gateway keeps none, so a release's page afterwards shows its
metadata only, and the page's CSV download is built in the browser from the records already on it
(the form's other button answers with the CSV file instead of the page). Asking again, or
reloading the page that showed the records (which re-sends the form), makes a new release with its
own audit event and expiry.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from gateway.console.dates import PARTS, DateField, read_dates
from gateway.console.web import (
    PREFIX,
    ConsoleRoute,
    FormData,
    Page,
    Viewer,
    current_viewer,
    render,
    runtime_of,
    signed_in_form,
)
from gateway.errors import Forbidden, InvalidInput, NotFound
from gateway.services import las, releases
from policies.model import Purpose, ReleaseRequest
from policies.ropa import CONSENT_NAMES, fields_released

router = APIRouter(route_class=ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]
ReleaseId = Annotated[str, Path(max_length=40)]
PurposeId = Annotated[str, Path(max_length=60)]

#: As POST /v1/releases (gateway.api.releases.ReleaseIn).
MAX_JUSTIFICATION_CHARS = 2000
#: Records shown per page of a release's table (paged in the browser: the server keeps no records).
RECORDS_PER_PAGE = 50
STAGE_TEXT = {
    "active": ("Active", ""),
    "expiring": ("Expiring soon", " govuk-tag--yellow"),
    "expired": ("Overdue for deletion", " govuk-tag--red"),
    "deleted": ("Deleted", " govuk-tag--grey"),
}
ATTESTED = "Deletion attested: the gateway has recorded that every copy is deleted."
FIELD_LABELS = {
    "upn": "UPN",
    "pupil_ref": "Pupil reference",
    "school_urn": "School URN",
    "fsm_eligible": "FSM eligible",
    "sen_status": "SEN status",
}


def is_case_officer(viewer: Viewer) -> bool:
    return viewer.principal.org_type == "la" and viewer.principal.has_role("case_officer")


def _la_title(overview: las.LaOverview) -> str:
    return overview.la_name or f"Local authority {overview.la_code}"


def la_purposes(request: Request) -> list[Purpose]:
    """The catalogue's purposes that a local authority asks for."""
    return [p for p in runtime_of(request).catalogue.purposes if p.requester.org_type == "la"]


def purposes_for(request: Request, viewer: Viewer) -> list[Purpose]:
    """The LA purposes that these roles may ask for."""
    p = viewer.principal
    return [
        purpose
        for purpose in la_purposes(request)
        if p.org_type == "la" and any(p.has_role(r) for r in purpose.requester.roles)
    ]


def purpose_view(purpose: Purpose) -> dict[str, Any]:
    basis = purpose.lawful_basis
    return {
        "id": purpose.id,
        "title": purpose.title,
        "description": purpose.description,
        "basis": basis.article,
        "references": list(basis.legal_references),
        "special": basis.special_category_condition,
        "criterion": purpose.criterion_description,
        "fields": fields_released(purpose),
        "consent": CONSENT_NAMES[purpose.consent],
        "retention": purpose.retention.describe(),
        "acknowledgement": purpose.acknowledgement,
    }


# --- home ----------------------------------------------------------------------------------------


async def home(request: Request, viewer: Viewer) -> Response:
    """The console's home page for a local authority's case officer (from routes.home)."""
    runtime = runtime_of(request)
    overview = await run_in_threadpool(las.overview, runtime.sessions, viewer.principal)
    return render(
        request,
        "la/home.html",
        Page(title=_la_title(overview), viewer=viewer),
        la=overview,
        la_title=_la_title(overview),
        recent=overview.releases[:5],
        stages=STAGE_TEXT,
        purposes=[purpose_view(p) for p in purposes_for(request, viewer)],
    )


# --- asking for a release --------------------------------------------------------------------------


@router.get("/la/ask")
async def choose_purpose(request: Request, viewer: ViewerDep) -> Response:
    await las.authorise_case_officer(runtime_of(request).sessions, viewer.principal)
    return render(
        request,
        "la/purposes.html",
        Page(title="Ask for a release", viewer=viewer),
        purposes=[purpose_view(p) for p in purposes_for(request, viewer)],
    )


async def _purpose(request: Request, viewer: Viewer, purpose_id: str) -> Purpose:
    await las.authorise_case_officer(runtime_of(request).sessions, viewer.principal)
    purpose = _la_purpose(request, purpose_id)
    if purpose not in purposes_for(request, viewer):
        raise NotFound("there is no purpose with this name that a local authority can ask for")
    return purpose


async def _ask_page(
    request: Request,
    viewer: Viewer,
    purpose: Purpose,
    *,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    runtime = runtime_of(request)
    overview = await run_in_threadpool(las.overview, runtime.sessions, viewer.principal)
    return render(
        request,
        "la/ask.html",
        Page(title=f"Ask for a release: {purpose.title}", viewer=viewer, errors=errors or {}),
        status=status,
        purpose=purpose_view(purpose),
        schools=overview.schools,
        la_title=_la_title(overview),
        values=values,
        min_chars=runtime.catalogue.catalogue.justification_min_chars,
    )


@router.get("/la/ask/{purpose_id}")
async def ask_form(request: Request, viewer: ViewerDep, purpose_id: PurposeId) -> Response:
    purpose = await _purpose(request, viewer, purpose_id)
    return await _ask_page(request, viewer, purpose, values=_blank_values())


def _blank_values() -> dict[str, Any]:
    return {
        "from": DateField("from", {p: "" for p in PARTS}),
        "to": DateField("to", {p: "" for p in PARTS}),
        "schools": [],
        "justification": "",
        "acknowledged": False,
    }


def _read_schools(form: FormData, errors: dict[str, str]) -> list[int]:
    urns = []
    for raw in form.getall("schools"):
        if not (raw.isascii() and raw.isdigit()) or not 100000 <= int(raw) <= 999999:
            errors["schools"] = "Choose schools from the list"
            return []
        urns.append(int(raw))
    return sorted(set(urns))


# Before the page's route: a purpose's id has no dot, so "x.csv" is never a purpose.
@router.post("/la/ask/{purpose_id}.csv")
async def ask_as_csv(request: Request, viewer: ViewerDep, purpose_id: PurposeId) -> Response:
    """The same request, answered with the records as a CSV file: the release itself, once, for a
    browser without scripts or a release too large to read on a page."""
    made = await _make(request, viewer, purpose_id)
    if isinstance(made, Response):
        return made
    result, meta = made
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(result.fields)
    fields = result.fields
    writer.writerows([_cell(record.get(name))[1] for name in fields] for record in result.records)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(result, meta)}"'},
    )


def _filename(made: releases.ReleaseMade, meta: releases.ReleaseMetadata) -> str:
    return f"{made.purpose}-{meta.from_date}-{meta.to_date}-{made.release_id}.csv"


@router.post("/la/ask/{purpose_id}")
async def ask(request: Request, viewer: ViewerDep, purpose_id: PurposeId) -> Response:
    made = await _make(request, viewer, purpose_id)
    if isinstance(made, Response):
        return made
    result, meta = made
    return render(
        request,
        "la/made.html",
        Page(title=f"Release {result.release_id}", viewer=viewer),
        status=201,
        scripts=["release.js"],
        release=meta,
        purpose=purpose_view(_la_purpose(request, purpose_id)),
        columns=[(name, _label(name)) for name in result.fields],
        rows=[[_cell(record.get(name)) for name in result.fields] for record in result.records],
        per_page=RECORDS_PER_PAGE,
        stage=STAGE_TEXT["active"],
        filename=_filename(result, meta),
    )


def _la_purpose(request: Request, purpose_id: str) -> Purpose:
    for purpose in la_purposes(request):
        if purpose.id == purpose_id:
            return purpose
    raise NotFound("there is no purpose with this name that a local authority can ask for")


async def _make(
    request: Request, viewer: Viewer, purpose_id: str
) -> Response | tuple[releases.ReleaseMade, releases.ReleaseMetadata]:
    """The posted form through releases.create_release: (the release made, its metadata), or the form
    again with what is wrong (422), or with the decision point's reasons (403)."""
    form = await signed_in_form(request, viewer)
    purpose = _la_purpose(request, purpose_id)
    errors: dict[str, str] = {}
    # The window's order is the service's rule (its reason names the field), not the form's.
    dates = read_dates(
        form, {"from": "The start of the window", "to": "The end of the window"}, "6 10 2025", errors,
        ordered=False,
    )
    values: dict[str, Any] = {
        **dates,
        "justification": form.get("justification", "").strip(),
        "acknowledged": form.get("acknowledged") == "yes",
    }
    start, end = dates["from"].value, dates["to"].value
    schools = _read_schools(form, errors)
    values["schools"] = schools
    if len(values["justification"]) > MAX_JUSTIFICATION_CHARS:
        errors["justification"] = f"The justification must be {MAX_JUSTIFICATION_CHARS:,} characters or fewer"
    if not values["acknowledged"]:
        # As the API: without the acknowledgement the request is incomplete and nothing is decided.
        errors["acknowledged"] = "Tick the box to accept the purpose's acknowledgement"
    officer = is_case_officer(viewer)
    if errors:
        if not officer:
            # Nothing was asked, so nothing is decided: only who may ask is.
            await las.authorise_case_officer(runtime_of(request).sessions, viewer.principal)
        return await _ask_page(request, viewer, purpose, values=values, errors=errors, status=422)
    runtime = runtime_of(request)
    asked = ReleaseRequest(
        purpose=purpose.id, schools=tuple(schools) or None, from_date=start, to_date=end,
        justification=values["justification"],
    )
    try:
        made = await run_in_threadpool(
            releases.create_release, runtime.sessions, runtime.keys, runtime.catalogue, viewer.principal,
            asked,
        )
    except InvalidInput as exc:
        for e in exc.detail["errors"]:
            errors[str(e.get("field") or "justification")] = str(e.get("message", "")).capitalize()
        return await _ask_page(request, viewer, purpose, values=values, errors=errors, status=422)
    except Forbidden as exc:
        # Denied, and the denial is in the audit log: the form again with the decision point's reasons
        # (anyone but an LA's case officer, whom the form is not for, gets them on the error page).
        if not officer:
            raise
        for reason in exc.detail["reasons"]:
            field = _reason_field(reason)
            errors[field] = "; ".join(filter(None, [errors.get(field), _reason_text(reason)]))
        return await _ask_page(request, viewer, purpose, values=values, errors=errors, status=403)
    meta = await run_in_threadpool(releases.made_metadata, runtime.sessions, made.release_id)
    return made, meta


_REASON_FIELDS = {
    "missing_justification": "justification",
    "justification_too_short": "justification",
    "invalid_window": "from",
    "window_spans_academic_years": "from",
    "retention_elapsed": "from",
    "other_la_school": "schools",
    "unknown_school": "schools",
    "empty_schools": "schools",
}


def _reason_field(reason: str) -> str:
    return _REASON_FIELDS.get(reason.split(":")[0], "purpose")


def _reason_text(reason: str) -> str:
    code, _, text = reason.partition(":")
    return f"{text.strip().capitalize()} ({code})" if text else code


def _label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def _cell(value: Any) -> tuple[str, str]:
    """(what the table shows, what the CSV holds): the record's value as the API would write it."""
    if value is None:
        return "–", ""
    if isinstance(value, bool):
        return ("Yes" if value else "No"), ("true" if value else "false")
    if isinstance(value, float):
        return f"{value * 100:.1f}%", repr(value)
    if isinstance(value, dt.date):
        return value.isoformat(), value.isoformat()
    return str(value), str(value)


# --- the LA's releases ---------------------------------------------------------------------------


@router.get("/la/releases")
async def release_list(request: Request, viewer: ViewerDep) -> Response:
    runtime = runtime_of(request)
    overview = await run_in_threadpool(las.overview, runtime.sessions, viewer.principal)
    return render(
        request,
        "la/releases.html",
        Page(title="Releases", viewer=viewer),
        la=overview,
        la_title=_la_title(overview),
        stages=STAGE_TEXT,
    )


@router.get("/la/releases/{release_id}")
async def release_page(
    request: Request, viewer: ViewerDep, release_id: ReleaseId, attested: str | None = None
) -> Response:
    await las.authorise_case_officer(runtime_of(request).sessions, viewer.principal)
    runtime = runtime_of(request)
    meta = await run_in_threadpool(releases.get_release, runtime.sessions, viewer.principal, release_id)
    purposes = {p.id: p for p in runtime.catalogue.purposes}
    stage = las.stage_of(meta.as_dict())
    return render(
        request,
        "la/release.html",
        Page(
            title=f"Release {release_id}", viewer=viewer,
            notice=ATTESTED if attested else None,
        ),
        release=meta,
        purpose=purpose_view(purposes[meta.purpose]) if meta.purpose in purposes else None,
        stage=STAGE_TEXT[stage],
        stage_key=stage,
    )


@router.post("/la/releases/{release_id}/deletion")
async def attest_deletion(request: Request, viewer: ViewerDep, release_id: ReleaseId) -> Response:
    await signed_in_form(request, viewer)
    await las.authorise_case_officer(runtime_of(request).sessions, viewer.principal)
    runtime = runtime_of(request)
    await run_in_threadpool(releases.attest_deletion, runtime.sessions, viewer.principal, release_id)
    return RedirectResponse(f"{PREFIX}/la/releases/{release_id}?attested=1", status_code=303)
