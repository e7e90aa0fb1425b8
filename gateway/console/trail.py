"""Downloads of the DPO's audit trail: one event's inclusion proof as JSON, and the filtered trail as
CSV. Both read the log through ``audit_log.list_events``, the query (and visibility, and audit
event) of the trail's pages and of ``GET /v1/audit/events``; the proof through
``audit_log.inclusion`` and ``current_head``, as ``GET /v1/audit/proofs/inclusion`` and
``/v1/audit/tree-head``.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from gateway.api.releases import json_bytes
from gateway.console.dpo import FILTER_FIELDS, _filters
from gateway.console.web import ConsoleRoute, NotFound, Viewer, current_viewer, error_page, runtime_of
from gateway.runtime import Runtime
from gateway.services import access
from gateway.services.audit import checks
from gateway.services.audit import trail as audit_log
from policies.access import AUDIT_READ

router = APIRouter(route_class=ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]
Filter = Annotated[str | None, Query(max_length=60)]

#: Most events one CSV holds (ten pages of the API's largest): each page read is itself recorded.
MAX_CSV_EVENTS = 10_000
CSV_COLUMNS = (
    "index", "occurred_at", "action", "actor_org_type", "actor_org_id", "actor_sub", "purpose", "decision",
    "reasons", "subject_org_ids", "record_count", "release_id", "leaf_hash",
)


def find_event(runtime: Runtime, viewer: Viewer, index: int) -> audit_log.LoggedEvent:
    """One event through the trail's query: a page of one after index - 1 (recorded as a view)."""
    cursor = audit_log.encode_cursor(index - 1, index + 1) if index > 0 else None
    result = audit_log.list_events(runtime.sessions, viewer.principal, audit_log.EventFilters(), cursor, 1)
    found = [e for e in result.events if e.index == index]
    if not found:
        raise NotFound("There is no event with this number that you can see.")
    return found[0]


def _proof(runtime: Runtime, viewer: Viewer, index: int) -> dict[str, Any]:
    access.authorise(runtime.sessions, viewer.principal, AUDIT_READ)
    event = find_event(runtime, viewer, index)
    return checks.proof_document(runtime.sessions, runtime.settings.data_dir, event).as_json()


@router.get("/audit/events/{index}/proof.json")
async def event_proof(
    request: Request, viewer: ViewerDep, index: Annotated[int, Path(ge=0, lt=2**62)]
) -> Response:
    body = await run_in_threadpool(_proof, runtime_of(request), viewer, index)
    return Response(
        json_bytes(body),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="audit-event-{index}-inclusion-proof.json"'},
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell that starts like a formula: keep it text (OWASP CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(runtime: Runtime, viewer: Viewer, filters: audit_log.EventFilters) -> tuple[str, bool]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    cursor, written = None, 0
    while True:
        page = audit_log.list_events(
            runtime.sessions, viewer.principal, filters, cursor,
            min(audit_log.MAX_PAGE, MAX_CSV_EVENTS - written),
        )
        for e in page.events:
            b = e.event
            actor = b["actor"]
            writer.writerow(_cell(v) for v in (
                e.index, b["occurred_at"], b["action"], actor["org_type"], actor["org_id"], actor["sub"],
                b.get("purpose"), b.get("decision"), "; ".join(b.get("reasons") or []),
                " ".join(b.get("subject_org_ids") or []), b.get("record_count"), b.get("release_id"),
                e.leaf_hash,
            ))
        written += len(page.events)
        cursor = page.next_cursor
        if cursor is None or written >= MAX_CSV_EVENTS:
            return out.getvalue(), cursor is not None


@router.get("/audit.csv")
async def trail_csv(
    request: Request,
    viewer: ViewerDep,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    org_id: Filter = None,
    purpose: Filter = None,
    decision: Filter = None,
    action: Filter = None,
) -> Response:
    await audit_log.authorise_dpo(runtime_of(request).sessions, viewer.principal)
    values = {
        k: (v or "").strip()
        for k, v in zip(FILTER_FIELDS, (from_, to, org_id, purpose, decision, action), strict=True)
    }
    filters, errors = _filters(values)
    if filters is None:
        return error_page(request, 422, {"errors": [{"field": k, "message": m} for k, m in errors.items()]})
    text, truncated = await run_in_threadpool(_csv, runtime_of(request), viewer, filters)
    headers = {"Content-Disposition": 'attachment; filename="audit-trail.csv"'}
    if truncated:
        headers["X-Truncated-At"] = str(MAX_CSV_EVENTS)
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
