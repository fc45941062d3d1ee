"""Logging in and out, and the password re-entry (bulletin Sections 2 and 5).

The login form is protected against login CSRF by a nonce cookie (:mod:`..browser`); a good
password opens the same server-side session as ``POST /api/v1/login`` and puts its token in an
``HttpOnly``, ``SameSite=Strict`` cookie. Failed logins are throttled as in the API (429 with
``Retry-After``). The re-entry opens the session's step-up window (``POST /api/v1/step-up``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ecusim.portal.errors import PortalError, RateLimitedError
from ecusim.portal.web import browser
from ecusim.portal.web.rendering import (
    Browser,
    CheckedForm,
    CsrfRefusedError,
    PagePortal,
    form_text,
    read_form,
    render,
    see_other,
)

__all__ = ["router", "safe_next"]

router = APIRouter(include_in_schema=False)

NextPath = Annotated[str, Query(alias="next", max_length=200)]


def safe_next(path: str, default: str = "/inbox") -> str:
    """``path`` if it is a path of this portal (no other host: no open redirect, ASVS V5.1.5),
    else ``default``. Refused: anything not starting with one ``/``, a backslash (browsers read
    it as ``/``) and control characters (a browser drops tab, CR and LF from a URL, WHATWG URL
    standard, so ``/\\t/evil.example`` would become ``//evil.example``)."""
    if (
        not path.startswith("/")
        or path.startswith("//")
        or "\\" in path
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in path)
    ):
        return default
    return path


def _with_retry_after(response: Response, error: PortalError) -> Response:
    if isinstance(error, RateLimitedError):  # RFC 9110 §10.2.3
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


@router.get("/", response_class=RedirectResponse)
async def home() -> RedirectResponse:
    return see_other("/inbox")


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next_path: NextPath = "/inbox") -> Response:
    response = HTMLResponse("")
    nonce = browser.login_nonce(request, response)
    page = render(
        request,
        "login.html",
        {
            "next": safe_next(next_path),
            "login_csrf": browser.csrf_token(request.app.state.portal.pages_key, nonce=nonce),
            "username": "",
        },
    )
    page.raw_headers.extend(h for h in response.raw_headers if h[0] == b"set-cookie")
    return page


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, portal: PagePortal) -> Response:
    form = await read_form(request)
    nonce = request.cookies.get(browser.LOGIN_COOKIE)
    if browser.cross_site(request) or not browser.csrf_valid(
        portal.pages_key, form.get(browser.CSRF_FIELD), nonce=nonce
    ):
        raise CsrfRefusedError("the login form is stale or was sent from another site")
    username, password = form_text(form, "username"), form_text(form, "password")
    next_path = safe_next(form_text(form, "next"))
    client = request.client.host if request.client else None
    try:
        token, expires_at, _user = await run_in_threadpool(portal.login, username, password, client)
    except PortalError as exc:
        page = render(
            request,
            "login.html",
            {
                "next": next_path,
                "login_csrf": form_text(form, browser.CSRF_FIELD),
                "username": username,
            },
            error=exc,
            fields=("username", "password"),
        )
        return _with_retry_after(page, exc)
    response = see_other(next_path)
    browser.remember_session(request, response, token, expires_at, portal.now())
    return response


@router.post("/logout")
async def logout(
    request: Request, portal: PagePortal, current: Browser, form: CheckedForm
) -> Response:
    del form  # checked: this session's token
    await run_in_threadpool(portal.logout, current.token)
    response = see_other("/login")
    browser.forget_session(request, response)
    return response


@router.get("/step-up", response_class=HTMLResponse)
async def step_up_page(
    request: Request, current: Browser, next_path: NextPath = "/inbox"
) -> Response:
    return render(request, "step_up.html", {"next": safe_next(next_path)}, current=current)


@router.post("/step-up", response_class=HTMLResponse)
async def step_up(
    request: Request, portal: PagePortal, current: Browser, form: CheckedForm
) -> Response:
    next_path = safe_next(form_text(form, "next"))
    client = request.client.host if request.client else None
    try:
        await run_in_threadpool(portal.step_up, current.token, form_text(form, "password"), client)
    except PortalError as exc:
        page = render(
            request,
            "step_up.html",
            {"next": next_path},
            current=current,
            error=exc,
            fields=("password",),
        )
        return _with_retry_after(page, exc)
    return see_other(next_path)
