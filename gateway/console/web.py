"""The console's web plumbing: the session cookie, CSRF tokens, templates and HTML error pages.

The session cookie holds the identity provider's token itself, so that the gateway stays stateless
(docs/design.md "Shape": several workers behind a load balancer). The token is verified on every request
exactly as the API verifies a bearer token. Cookies are HttpOnly and SameSite=Strict; Secure unless the
request is plain http to this machine (a developer's browser on http://localhost).

CSRF: every form carries an HMAC, under a secret kept in the data directory, of what binds it to its
browser: the session token once signed in, or a random pre-session cookie on the sign-in form.
Every POST is refused (403) unless the field matches; a browser that says the request is cross-site
(`Sec-Fetch-Site`) is refused as well.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import secrets
import sys
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import govuk_frontend_jinja
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
    Undefined,
    select_autoescape,
)
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.api.feeds import read_body_capped
from gateway.auth import Principal, verify_token
from gateway.errors import Forbidden, GatewayError, InvalidInput, NotFound, Unauthenticated
from gateway.runtime import Runtime

log = structlog.get_logger("gateway.console")

PREFIX = "/console"
SESSION_COOKIE = "gw_console_session"
PRESESSION_COOKIE = "gw_console_presession"
#: Hosts on which a plain-http cookie is acceptable: the developer's own machine and the test client.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "testserver", "::1"})
#: Console forms are a few short fields; a token is about 1 KiB.
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 50

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"

#: Sent with every console response. Scripts only from this origin's files (GOV.UK Frontend's module,
#: started by static/init.js, and a page's own): never inline, never eval, never another host. Data
#: travels in non-executable `<script type="application/json">` blocks, which no script-src governs.
#: font-src 'self': no font is served (govuk-font.css keeps every element on arial), but Chromium
#: reports the stylesheet's GDS Transport faces as violations under a policy that refuses all fonts.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# --- signed-in user ------------------------------------------------------------------------------


class NotSignedIn(Exception):
    """No session cookie, or one whose token no longer verifies."""

    def __init__(self, ended: bool) -> None:
        super().__init__("not signed in")
        self.ended = ended


class CsrfRejected(Exception):
    """A POST without the form's CSRF token, or sent from another site."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one request: who the token says, and the form token of this session."""

    principal: Principal
    csrf: str

    @property
    def urn(self) -> int | None:
        p = self.principal
        return int(p.org_id) if p.org_type == "school" and p.org_id.isdigit() else None


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def verify(request: Request, token: str) -> Principal:
    runtime = runtime_of(request)
    settings = runtime.settings
    return verify_token(token, runtime.key_source, issuer=settings.jwt_issuer, audience=settings.jwt_audience)


def current_viewer(request: Request) -> Viewer:
    """FastAPI dependency of every signed-in page: the token in the cookie, verified now."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotSignedIn(ended=False)
    try:
        principal = verify(request, token)
    except Unauthenticated:
        raise NotSignedIn(ended=True) from None
    request.state.principal = principal
    viewer = Viewer(
        principal=principal, csrf=csrf_token(runtime_of(request).settings.data_dir, session_binding(token))
    )
    request.state.console_viewer = viewer
    return viewer


# --- CSRF ----------------------------------------------------------------------------------------

_secrets: dict[Path, bytes] = {}
_secrets_lock = threading.Lock()


def csrf_secret(data_dir: Path) -> bytes:
    """32 random bytes in `<data dir>/console/csrf.key`, created once (mode 0600) and shared by workers."""
    path = (data_dir / "console" / "csrf.key").resolve()
    with _secrets_lock:
        cached = _secrets.get(path)
        if cached is not None:
            return cached
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            secret = base64.b64decode(path.read_text().strip())
        else:
            secret = secrets.token_bytes(32)
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(secret).decode("ascii"))
        if len(secret) < 32:
            raise RuntimeError(f"the console secret at {path} is too short; delete it to make a new one")
        _secrets[path] = secret
        return secret


def session_binding(token: str) -> bytes:
    return hashlib.sha256(b"session|" + token.encode()).digest()


def presession_binding(value: str) -> bytes:
    return hashlib.sha256(b"presession|" + value.encode()).digest()


def csrf_token(data_dir: Path, binding: bytes) -> str:
    mac = hmac.new(csrf_secret(data_dir), b"gateway-console-csrf/1|" + binding, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def check_csrf(request: Request, form: Mapping[str, str], expected: str) -> None:
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise CsrfRejected()
    sent = form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected()


class FormData(dict[str, str]):
    """A posted form: the first value of each field, and every value of fields that repeat (checkboxes)."""

    def __init__(self, pairs: list[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self._all: dict[str, list[str]] = {}
        for key, value in pairs or []:
            self.setdefault(key, value)
            self._all.setdefault(key, []).append(value)

    def getall(self, key: str) -> list[str]:
        return list(self._all.get(key, []))


async def read_form(request: Request) -> FormData:
    """An urlencoded form, read with a size cap (Starlette's parser would buffer any size)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        # Not a form this console sent (JSON, multipart, nothing): read as empty, so that the CSRF
        # check refuses it (403) like any other post without the form's token.
        return FormData()
    body = await read_body_capped(request, MAX_FORM_BYTES)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise GatewayError("the form could not be read") from None
    return FormData(pairs)


async def signed_in_form(request: Request, viewer: Viewer) -> FormData:
    form = await read_form(request)
    check_csrf(request, form, viewer.csrf)
    return form


# --- cookies -------------------------------------------------------------------------------------


def cookie_secure(request: Request) -> bool:
    """Secure unless the request is plain http to this machine (no setting to get wrong)."""
    return not (request.url.scheme == "http" and (request.url.hostname or "") in LOCAL_HOSTS)


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name, value, path=PREFIX, httponly=True, samesite="strict", secure=cookie_secure(request)
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path=PREFIX, httponly=True, samesite="strict", secure=cookie_secure(request))


# --- templates -----------------------------------------------------------------------------------


#: What static/ serves, by suffix; anything else there (READMEs, licences, vendor.json) is not served.
STATIC_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}


def _static_versions() -> dict[str, str]:
    """Each servable file under static/ (vendored libraries in subfolders too), by its path there."""
    return {
        p.relative_to(STATIC_DIR).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()[:12]
        for p in sorted(STATIC_DIR.rglob("*"))
        if p.is_file() and p.suffix in STATIC_MEDIA_TYPES
    }


STATIC_FILES = _static_versions()


def static_url(name: str) -> str:
    return f"{PREFIX}/static/{name}?v={STATIC_FILES[name]}"


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _when(value: Any) -> str:
    """GOV.UK style dates: '3 October 2025' and '3 October 2025, 14:05 UTC'."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = (
                dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                if "T" in value
                else dt.date.fromisoformat(value)
            )
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC) if value.tzinfo else value
        return f"{utc.day} {MONTHS[utc.month - 1]} {utc.year}, {utc:%H:%M} UTC"
    if isinstance(value, dt.date):
        return f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    return str(value)


def _percent(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


#: GOV.UK Frontend's macros test options that a caller may leave out (``params.classes``); our own
#: templates must not, so that a misspelt name fails a test instead of rendering nothing.
GOVUK_MACROS = str(Path(govuk_frontend_jinja.__file__).parent)


class ConsoleUndefined(StrictUndefined):
    """Strict in the console's templates, lenient inside GOV.UK Frontend's macros (which expect
    Jinja's default). A compiled template's code carries the template's file name, so the nearest
    template frame tells whose expression asked."""

    __slots__ = ("_lenient",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A macro called without {% call %} has no caller; GOV.UK's macros test for one (`if caller`),
        # and Jinja makes that value in the calling template's frame, not the macro's.
        self._lenient = _asked_by_govuk_macro() or self._undefined_name == "caller"

    def __str__(self) -> str:
        return "" if self._lenient else super().__str__()

    def __iter__(self) -> Any:
        return iter(()) if self._lenient else super().__iter__()

    def __bool__(self) -> bool:
        return False if self._lenient else super().__bool__()

    def __contains__(self, item: object) -> bool:
        return False if self._lenient else super().__contains__(item)

    def __len__(self) -> int:
        return 0 if self._lenient else super().__len__()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) if self._lenient else super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = Undefined.__hash__


def _asked_by_govuk_macro() -> bool:
    frame = sys._getframe(2)
    for _ in range(8):
        if frame is None:
            return False
        name = frame.f_code.co_filename
        if name.endswith(".html"):
            return name.startswith(GOVUK_MACROS)
        frame = frame.f_back
    return False


TEMPLATES = Environment(
    # Our templates, then GOV.UK Frontend's component macros under the prefix their own imports use:
    # {% from "govuk_frontend_jinja/components/table/macro.html" import govukTable %}.
    loader=ChoiceLoader(
        [
            FileSystemLoader(TEMPLATE_DIR),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    ),
    autoescape=select_autoescape(["html"]),
    undefined=ConsoleUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(when=_when, percent=_percent, number=_number)
TEMPLATES.globals.update(static=static_url, prefix=PREFIX)


@dataclass(frozen=True)
class NavItem:
    href: str
    text: str
    current: bool = False


def mark_current(items: list[NavItem], path: str) -> list[NavItem]:
    """The one item whose address is the page's, or the longest that the page's address is under."""
    matches = [i for i in items if path == i.href or path.startswith(i.href + "/")]
    best = max(matches, key=lambda i: len(i.href), default=None)
    return [NavItem(i.href, i.text, current=i is best) for i in items]


def nav_for(principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    items = []
    if principal.has_role("dpo"):
        items += [
            NavItem(f"{PREFIX}/audit", "Audit trail"),
            NavItem(f"{PREFIX}/audit/integrity", "Integrity"),
            NavItem(f"{PREFIX}/releases/overdue", "Overdue releases"),
            NavItem(f"{PREFIX}/subject-access", "Subject access"),
            NavItem(f"{PREFIX}/ropa", "Processing record"),
        ]
    if principal.has_role("attendance_officer") and principal.org_type == "school":
        items += [NavItem(f"{PREFIX}/school", "Pupils"), NavItem(f"{PREFIX}/school/consents", "Consent")]
        if not principal.has_role("dpo"):
            items.append(NavItem(f"{PREFIX}/subject-access", "Subject access"))
    if principal.has_role("statistician"):
        items.append(NavItem(f"{PREFIX}/statistics", "Statistics"))
    if principal.has_role("case_officer") and principal.org_type == "la":
        items += [
            NavItem(f"{PREFIX}/la/ask", "Ask for a release"),
            NavItem(f"{PREFIX}/la/releases", "Releases"),
        ]
    items.append(NavItem(f"{PREFIX}/purposes", "Purposes"))
    return items


@dataclass
class Page:
    """What every template gets besides its own context."""

    title: str
    viewer: Viewer | None = None
    errors: dict[str, str] = field(default_factory=dict)
    notice: str | None = None


def render(
    request: Request,
    template: str,
    page: Page,
    *,
    status: int = 200,
    scripts: Sequence[str] = (),
    **context: Any,
) -> HTMLResponse:
    """The page; `scripts` are names of files in static/ it loads besides GOV.UK Frontend's."""
    viewer = page.viewer if page.viewer is not None else getattr(request.state, "console_viewer", None)
    principal = viewer.principal if viewer else None
    html = TEMPLATES.get_template(template).render(
        page=page,
        title=page.title,
        errors=page.errors,
        notice=page.notice,
        principal=principal,
        csrf_token=viewer.csrf if viewer else "",
        nav=mark_current(nav_for(principal), request.url.path),
        current_path=request.url.path,
        scripts=[static_url(name) for name in scripts],
        **context,
    )
    return HTMLResponse(html, status_code=status)


# --- errors as pages -----------------------------------------------------------------------------

_TITLES = {
    400: "There is a problem with what was sent",
    401: "You need to sign in",
    403: "You do not have permission to do this",
    404: "Page not found",
    409: "This has already been done",
    413: "What was sent is too large",
    415: "What was sent could not be read",
    422: "There is a problem with what was sent",
    503: "Sorry, there is a problem with the service",
}


def error_page(request: Request, status: int, detail: Any) -> HTMLResponse:
    reasons: list[str] = []
    message = ""
    if isinstance(detail, dict) and "reasons" in detail:
        reasons = [str(r) for r in detail["reasons"]]
    elif isinstance(detail, dict) and "errors" in detail:
        reasons = [f"{e.get('field') or 'input'}: {e.get('message')}" for e in detail["errors"]]
    elif isinstance(detail, str):
        message = detail
    title = _TITLES.get(status, "Sorry, there is a problem")
    return render(
        request,
        "error.html",
        Page(title=title),
        status=status,
        status_code=status,
        message=message,
        reasons=reasons,
    )


def _viewer_if_signed_in(request: Request) -> Viewer | None:
    """The signed-in user of a page outside the console's routes, for its navigation; else nobody."""
    try:
        return current_viewer(request)
    except NotSignedIn:
        return None


def not_found_page(request: Request) -> HTMLResponse:
    """The console's own 404 page, with its security headers, for an address nothing answers."""
    viewer = _viewer_if_signed_in(request)
    response = render(
        request,
        "error.html",
        Page(title=_TITLES[404], viewer=viewer),
        status=404,
        status_code=404,
        message="There is no page at this address. If you typed it, check it is correct.",
        reasons=[],
    )
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Cache-Control"] = "no-store"
    return response


def install_not_found_page(app: FastAPI) -> None:
    """An address no route answers gets the console's 404 page, unless it is the API's (under /v1/),
    whose clients read JSON; a known address with the wrong method stays a 405."""
    api_handler = app.exception_handlers[StarletteHTTPException]

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if (
            exc.status_code == 404
            and request.method in ("GET", "HEAD")
            and not request.url.path.startswith("/v1/")
        ):
            return not_found_page(request)
        response: Response = await api_handler(request, exc)
        return response

    app.add_exception_handler(StarletteHTTPException, handler)


def sign_in_redirect(request: Request, ended: bool) -> Response:
    if request.method == "GET":
        target = f"{PREFIX}/sign-in?next={quote(request.url.path, safe='/')}" + ("&ended=1" if ended else "")
        response: Response = RedirectResponse(target, status_code=303)
    else:
        response = render(
            request,
            "error.html",
            Page(title=_TITLES[401]),
            status=401,
            status_code=401,
            message="Your session has ended or you are not signed in. Sign in and try again.",
            reasons=[],
        )
    if ended:
        clear_cookie(request, response, SESSION_COOKIE)
    return response


def safe_next(target: str | None) -> str:
    """Only a console path of this site: never an absolute URL or a scheme-relative one."""
    if (
        target
        and target.startswith(PREFIX + "/")
        and len(target) <= 200
        and not any(bad in target for bad in ("//", "\\", "..", "%", "?", "#"))
    ):
        return target
    return PREFIX + "/"


class ConsoleRoute(APIRoute):
    """Console routes answer in HTML: refusals and errors become pages, never JSON.

    Also puts the security headers on every console response.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except NotSignedIn as exc:
                response = sign_in_redirect(request, exc.ended)
            except CsrfRejected:
                log.info("console_csrf_rejected", path=request.url.path)
                response = error_page(
                    request,
                    403,
                    "This form has expired or was not sent from this site. "
                    "Go back, reload the page and try again.",
                )
            except GatewayError as exc:
                response = error_page(request, exc.status_code, exc.detail)
            except RequestValidationError:
                response = error_page(request, 404, "There is no page at this address.")
            except OperationalError as exc:
                log.error(
                    "database_unavailable", error_type=type(exc.orig).__name__ if exc.orig else "unknown"
                )
                response = error_page(request, 503, "The database is unavailable. Try again later.")
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if not request.url.path.startswith(f"{PREFIX}/static/"):
                response.headers["Cache-Control"] = "no-store"
            return response

        return route


__all__ = [
    "ConsoleRoute",
    "CsrfRejected",
    "FormData",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "NotSignedIn",
    "Page",
    "Viewer",
    "check_csrf",
    "clear_cookie",
    "cookie_secure",
    "csrf_token",
    "current_viewer",
    "error_page",
    "install_not_found_page",
    "not_found_page",
    "presession_binding",
    "read_form",
    "render",
    "runtime_of",
    "safe_next",
    "set_cookie",
    "signed_in_form",
]
