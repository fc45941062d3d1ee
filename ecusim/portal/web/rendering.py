"""Rendering pages: the Jinja2 templates, the logged-in browser session and the checked form.

Every page handler takes :data:`Browser` (the live session: else a redirect to the login page)
and, for a POST, :data:`CheckedForm` (the form, its CSRF token and origin checked first: else a
403 page and nothing changes). Refusals of the service (:class:`~ecusim.portal.errors.PortalError`)
are shown on the page next to their field, in the same words as the API's errors
(:func:`render` with ``error=``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote, unquote_to_bytes

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from ecusim.portal import rules
from ecusim.portal.errors import AuthenticationError, PortalError
from ecusim.portal.login_sessions import SessionInfo
from ecusim.portal.service import Portal
from ecusim.portal.web import browser

__all__ = [
    "TEMPLATES",
    "Browser",
    "BrowserSession",
    "CheckedForm",
    "CsrfRefusedError",
    "LoginRequiredError",
    "PagePortal",
    "RequestNumber",
    "error_of",
    "form_box",
    "form_text",
    "login_redirect",
    "not_found_page",
    "read_form",
    "refusal_page",
    "render",
    "see_other",
]

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
TEMPLATES: Final = Jinja2Templates(directory=TEMPLATES_DIR)
"""Autoescaped (``.html``) Jinja2 templates; every page extends ``base.html``."""


class LoginRequiredError(Exception):
    """No live session: the browser is sent to the login page (then back to ``next``)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefusedError(Exception):
    """A POST without this session's CSRF token, or from another site: nothing is done."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BrowserSession:
    """A logged-in browser: the session token (from the cookie), the session and its CSRF token."""

    token: str
    info: SessionInfo
    csrf: str

    @property
    def username(self) -> str:
        return self.info.user.username


async def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


PagePortal = Annotated[Portal, Depends(_portal)]

RequestNumber = Annotated[str, PathParam(max_length=rules.MAX_REQUEST_NUMBER_LENGTH)]
"""The ``<n>`` of a page's path, bounded as the API's (ASVS V13.1.3)."""


def _next_path(request: Request) -> str:
    """Where to come back after login: this page's path (never its query: no data in URLs)."""
    return request.url.path if request.method == "GET" else "/inbox"


async def _browser(request: Request, portal: PagePortal) -> BrowserSession:
    token = browser.session_token(request)
    if token is None:
        raise LoginRequiredError(_next_path(request))
    try:
        info = await run_in_threadpool(portal.session, token)
    except AuthenticationError:
        raise LoginRequiredError(_next_path(request)) from None
    return BrowserSession(token, info, browser.csrf_token(portal.pages_key, session=token))


Browser = Annotated[BrowserSession, Depends(_browser)]
"""The live browser session (else :class:`LoginRequiredError`: a redirect to ``/login``)."""


FORM_TYPE: Final = "application/x-www-form-urlencoded"
"""What the pages' forms send (none has ``enctype``): the only body a page takes."""


async def read_form(request: Request) -> FormData:
    """The POSTed form, if it is what a page's form sends (ASVS V13.1.5, V5.1.3): an
    ``application/x-www-form-urlencoded`` body (else 415: no multipart, JSON or typeless body;
    no body at all is an empty form),
    ASCII whose percent-escapes are UTF-8 (a browser's serialisation, WHATWG URL standard; else
    400, where Starlette would store raw bytes as Latin-1 and bad escapes as U+FFFD)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    if not body and not content_type:
        return FormData()  # no body at all: an empty form (no token: refused as such)
    if content_type != FORM_TYPE:
        raise HTTPException(415, f"a form is sent as {FORM_TYPE}: nothing was changed")
    try:
        unquote_to_bytes(body.decode("ascii").replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(
            400, "the form is not valid UTF-8 (percent-encoded ASCII): nothing was changed"
        ) from None
    return await request.form()


async def _checked_form(request: Request, portal: PagePortal, current: Browser) -> FormData:
    form = await read_form(request)
    if browser.cross_site(request):
        raise CsrfRefusedError("the form was sent from another site")
    sent = form.get(browser.CSRF_FIELD)
    if not browser.csrf_valid(portal.pages_key, sent, session=current.token):
        raise CsrfRefusedError(
            "the form's security token is missing or belongs to another session"
            if sent
            else "the form has no security token"
        )
    return form


CheckedForm = Annotated[FormData, Depends(_checked_form)]
"""A POSTed form of the live session, its CSRF token and origin checked (ASVS V4.2.2)."""


def form_text(form: FormData, name: str) -> str:
    """A text field of ``form`` ('' if absent; a file upload counts as absent)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_box(form: FormData, name: str) -> bool:
    """Whether the checkbox ``name`` was ticked."""
    return form_text(form, name) == "on"


def error_of(exc: PortalError) -> dict[str, str]:
    """The refusal as a template shows it: its field (``""``: the page's) and reason."""
    return {"field": exc.field or "", "reason": exc.reason, "status": str(exc.http_status)}


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    current: BrowserSession | None = None,
    error: PortalError | None = None,
    fields: Sequence[str] = (),
    status_code: int | None = None,
) -> HTMLResponse:
    """The page ``template`` with ``context``; with ``error`` the refusal is shown next to its
    field if it is one of the page's ``fields`` (else at the top of the page) and the answer has
    its HTTP status (the form keeps what ``context`` holds)."""
    values: dict[str, Any] = {
        "current": current,
        "user": current.info.user if current else None,
        "csrf_field": browser.CSRF_FIELD,
        "csrf": current.csrf if current else None,
        "error": error_of(error) if error else None,
        "fields": tuple(fields),
        **(context or {}),
    }
    if status_code is None:
        status_code = error.http_status if error else 200
    return TEMPLATES.TemplateResponse(request, template, values, status_code=status_code)


def refusal_page(
    request: Request, current: BrowserSession, error: PortalError, title: str
) -> HTMLResponse:
    """A page that only says the service's refusal (its words and HTTP status), with the
    session's navigation."""
    return render(
        request,
        "error.html",
        {"title": title, "reason": error.reason},
        current=current,
        status_code=error.http_status,
    )


def not_found_page(request: Request, current: BrowserSession, error: PortalError) -> HTMLResponse:
    """The page of a request number that is not the dealer's (the service answers as if it did
    not exist)."""
    return refusal_page(request, current, error, "Not found")


def see_other(path: str) -> RedirectResponse:
    """303 See Other to ``path`` (after a POST: the browser GETs it)."""
    return RedirectResponse(path, status_code=303)


def login_redirect(next_path: str) -> RedirectResponse:
    """To the login page, coming back to ``next_path`` (a path of the portal) after it."""
    if not next_path.startswith("/") or next_path.startswith("//"):
        next_path = "/inbox"
    return see_other(f"/login?next={quote(next_path, safe='/')}")
