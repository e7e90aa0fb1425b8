"""The web console under /console/: sign-in and sign-out, the home page, the purpose catalogue,
static files; and the role pages (dpo.py, school.py, statistics.py) gathered into one router.

Every page calls the same service functions as the API, so authorisation and audit events are the
same whichever way a user comes in.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from gateway.console import dpo, la, overviews, reports, school, statistics, trail, trend
from gateway.console.web import (
    PREFIX,
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    STATIC_DIR,
    STATIC_FILES,
    STATIC_MEDIA_TYPES,
    ConsoleRoute,
    CsrfRejected,
    NotFound,
    NotSignedIn,
    Page,
    Viewer,
    check_csrf,
    clear_cookie,
    csrf_token,
    current_viewer,
    presession_binding,
    read_form,
    render,
    runtime_of,
    safe_next,
    session_binding,
    set_cookie,
    static_url,
    verify,
)
from gateway.errors import Unauthenticated
from policies.ropa import CONSENT_NAMES, fields_released, recipients

log = structlog.get_logger("gateway.console")

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
#: The site's own root: people who open the gateway's address in a browser are looking for the console.
root_router = APIRouter(include_in_schema=False)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]

#: Browsers keep cookies of up to 4,096 bytes (RFC 6265 section 6.1), name and attributes included; a
#: token longer than this could not be kept as the session. JWTs from identity providers are far shorter.
MAX_TOKEN_CHARS = 3800


@router.get("")
def console_root() -> RedirectResponse:
    return RedirectResponse(PREFIX + "/", status_code=308)


@root_router.get("/")
def site_root() -> RedirectResponse:
    return RedirectResponse(PREFIX + "/", status_code=307)


#: Swagger UI for /docs, vendored (static/vendor/, hashes in vendor.json) so that it works offline.
SWAGGER_UI = "vendor/swagger-ui-dist-5.36.0/"


@root_router.get("/docs")
def api_docs(request: Request) -> HTMLResponse:
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=static_url(SWAGGER_UI + "swagger-ui-bundle.js"),
        swagger_css_url=static_url(SWAGGER_UI + "swagger-ui.css"),
        swagger_favicon_url=static_url(SWAGGER_UI + "favicon-32x32.png"),
    )


@router.get("/static/{name:path}")
def static_file(name: str) -> FileResponse:
    # Only the files shipped in static/ (listed at import): no path from the request reaches the disk.
    # Immutable: every address carries the file's hash (and a vendored library's folder its version).
    if name not in STATIC_FILES:
        raise NotFound("no such file")
    return FileResponse(
        STATIC_DIR / name,
        media_type=STATIC_MEDIA_TYPES[Path(name).suffix],
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


# --- sign-in and sign-out --------------------------------------------------------------------------


def _sign_in_page(
    request: Request,
    presession: str,
    *,
    next_: str,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    data_dir = runtime_of(request).settings.data_dir
    response = render(
        request,
        "sign_in.html",
        Page(title="Sign in", errors=errors or {}, notice=notice),
        status=status,
        csrf_form=csrf_token(data_dir, presession_binding(presession)),
        next=next_,
        dev=runtime_of(request).settings.env == "dev",
    )
    set_cookie(request, response, PRESESSION_COOKIE, presession)
    return response


@router.get("/sign-in")
def sign_in_form(
    request: Request, next: str | None = None, ended: str | None = None, signed_out: str | None = None
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            verify(request, token)
        except Unauthenticated:
            pass
        else:
            return RedirectResponse(safe_next(next), status_code=303)
    presession = request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(32)
    notice = (
        "Your session has ended. Sign in again." if ended else "You have signed out." if signed_out else None
    )
    return _sign_in_page(request, presession, next_=safe_next(next), notice=notice)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    presession = request.cookies.get(PRESESSION_COOKIE)
    if not presession:
        raise CsrfRejected()
    check_csrf(
        request, form, csrf_token(runtime_of(request).settings.data_dir, presession_binding(presession))
    )
    next_ = safe_next(form.get("next"))
    token = "".join(form.get("token", "").split())
    if not token:
        return _sign_in_page(
            request, presession, next_=next_, errors={"token": "Enter your token"}, status=422
        )
    if len(token) > MAX_TOKEN_CHARS:
        return _sign_in_page(
            request,
            presession,
            next_=next_,
            errors={"token": "The token is too long to keep as a browser session"},
            status=422,
        )
    try:
        principal = verify(request, token)
    except Unauthenticated as exc:
        # The reason names what is wrong (expired, wrong issuer ...), never the token's content.
        log.info("console_sign_in_refused", reason=str(exc))
        return _sign_in_page(
            request,
            presession,
            next_=next_,
            errors={"token": f"The token was not accepted: {exc}"},
            status=401,
        )
    request.state.principal = principal
    log.info(
        "console_signed_in", org_type=principal.org_type, org_id=principal.org_id, roles=list(principal.roles)
    )
    response = RedirectResponse(next_, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token)
    clear_cookie(request, response, PRESESSION_COOKIE)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotSignedIn(ended=False)
    form = await read_form(request)
    # The session need not still verify (it may have just expired), but the form must be this session's.
    check_csrf(request, form, csrf_token(runtime_of(request).settings.data_dir, session_binding(token)))
    response = RedirectResponse(f"{PREFIX}/sign-in?signed_out=1", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


# --- home and the purpose catalogue --------------------------------------------------------------


def _sections(viewer: Viewer) -> list[dict[str, str]]:
    p = viewer.principal
    out = []
    if p.has_role("dpo"):
        out += [
            {
                "href": f"{PREFIX}/audit",
                "title": "Audit trail",
                "description": (
                    "Every decision and exchange, filtered by date, organisation, purpose, decision, action."
                ),
            },
            {
                "href": f"{PREFIX}/audit/integrity",
                "title": "Integrity of the log",
                "description": "The latest signed tree head, and a check that the whole log still holds.",
            },
            {
                "href": f"{PREFIX}/releases/overdue",
                "title": "Releases overdue for deletion",
                "description": "Releases past their expiry whose recipient has not attested deletion.",
            },
            {
                "href": f"{PREFIX}/subject-access",
                "title": "Subject access",
                "description": "Who has seen a pupil's data: every release that included the pupil.",
            },
            {
                "href": f"{PREFIX}/ropa",
                "title": "Record of processing activities",
                "description": "Generated from the purpose catalogue the gateway enforces.",
            },
        ]
    if p.has_role("attendance_officer") and p.org_type == "school":
        out += [
            {
                "href": f"{PREFIX}/school",
                "title": "Pupils",
                "description": "Your pupils' running totals, and who is persistently or severely absent.",
            },
            {
                "href": f"{PREFIX}/school/report",
                "title": "Attendance report",
                "description": "Your school beside similar schools and England, and your ABIE.",
            },
            {
                "href": f"{PREFIX}/school/at-risk",
                "title": "Pupils at risk",
                "description": (
                    "Pupils on the way to persistent absence, each with the reasons, and the rule."
                ),
            },
            {
                "href": f"{PREFIX}/school/consents",
                "title": "Consent and objections",
                "description": (
                    "Record a parent's consent, withdrawal or objection, and see the current state."
                ),
            },
        ]
        if not p.has_role("dpo"):
            out.append(
                {
                    "href": f"{PREFIX}/subject-access",
                    "title": "Subject access",
                    "description": "Every release that included one of your pupils.",
                }
            )
    if p.has_role("statistician"):
        out.append(
            {
                "href": f"{PREFIX}/statistics",
                "title": "Statistics",
                "description": (
                    "Noisy national and local authority statistics with intervals, and your privacy budget."
                ),
            }
        )
    if p.has_role("statistician") and p.org_type == "dfe":
        out.append(
            {
                "href": f"{PREFIX}/abie",
                "title": "Attendance baseline improvement expectations",
                "description": "Every school's ABIE and the similar schools it is measured against.",
            }
        )
    if p.has_role("trust_officer") and p.org_type == "trust":
        out.append(
            {
                "href": f"{PREFIX}/trust",
                "title": "Your schools' attendance",
                "description": (
                    "The trust's schools with their absence rates and ABIE, and each school's report."
                ),
            }
        )
    return out


@router.get("/")
async def home(request: Request, viewer: ViewerDep) -> Response:
    if la.is_case_officer(viewer):
        return await la.home(request, viewer)
    return render(request, "home.html", Page(title="Console", viewer=viewer), sections=_sections(viewer))


def purpose_rows(request: Request) -> list[dict[str, Any]]:
    return [
        {
            "id": p.id,
            "title": p.title,
            "description": p.description,
            "who": recipients(p),
            "basis": p.lawful_basis.article,
            "references": list(p.lawful_basis.legal_references),
            "criterion": p.criterion_description,
            "fields": fields_released(p),
            "consent": CONSENT_NAMES[p.consent],
            "retention": p.retention.describe(),
        }
        for p in runtime_of(request).catalogue.purposes
    ]


@router.get("/purposes")
def purposes(request: Request, viewer: ViewerDep) -> Response:
    # Like GET /v1/purposes: open to any authenticated user.
    return render(
        request,
        "purposes.html",
        Page(title="Purposes", viewer=viewer),
        catalogue=runtime_of(request).catalogue,
        purposes=purpose_rows(request),
    )


router.include_router(dpo.router)
router.include_router(trail.router)
router.include_router(la.router)
router.include_router(school.router)
router.include_router(reports.router)
router.include_router(overviews.router)
router.include_router(statistics.router)
router.include_router(trend.router)
