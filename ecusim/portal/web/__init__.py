"""The TIS pages: the bulletin's Sections 1-5 as server-rendered HTML on the portal's app.

:func:`add_pages` mounts the page routers (:mod:`ecusim.portal.web.pages`), the portal's own
static files (``/static``: CSS, the copy button's script, Swagger UI's files for ``/docs``) and
the security headers (:mod:`ecusim.portal.web.headers`); nothing loads from the internet. Plain
HTML forms that work without JavaScript; the cookie session and CSRF tokens are in
:mod:`ecusim.portal.web.browser`.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Final

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecusim.portal.api_models import API_PREFIX
from ecusim.portal.errors import PortalError
from ecusim.portal.web.headers import SecurityHeaders
from ecusim.portal.web.pages import PAGE_ROUTERS
from ecusim.portal.web.rendering import CsrfRefusedError, LoginRequiredError, login_redirect, render

__all__ = ["STATIC_DIR", "SWAGGER_UI_DIR", "add_pages", "refusal_page"]

STATIC_DIR: Final = Path(__file__).parent / "static"
SWAGGER_UI_DIR: Final = Path(fastapi_offline.__file__).parent / "static"
"""Swagger UI's files, from the ``fastapi-offline`` package (no CDN)."""
_NOT_PAGES: Final = (API_PREFIX, "/openapi.json", "/static/")


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith(_NOT_PAGES)


def refusal_page(scope: MutableMapping[str, Any], status: int, reason: str) -> Response | None:
    """The error page of a request body refused before any page ran (over the size limit: 413,
    ``Connection: close``; ASVS V13.1.3), or ``None`` if the path is not a page's (the API
    answers its JSON error)."""
    if scope.get("type") != "http" or str(scope.get("path", "")).startswith(_NOT_PAGES):
        return None
    page = render(
        Request(scope),
        "error.html",
        {"title": f"Error {status}", "reason": f"{reason}: nothing was changed"},
        status_code=status,
    )
    page.headers["Connection"] = "close"
    return page


def add_pages(app: FastAPI) -> None:
    """Mount the pages on ``app`` (made by :func:`ecusim.portal.api.create_app`, which has
    registered the API's JSON error handlers: pages get HTML instead)."""
    app.mount("/static/docs", StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in PAGE_ROUTERS:
        app.include_router(router)
    app.add_middleware(SecurityHeaders)

    api_portal_error = app.exception_handlers[PortalError]
    api_http_error = app.exception_handlers[StarletteHTTPException]
    api_validation_error = app.exception_handlers[RequestValidationError]

    async def on_login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequiredError)
        return login_redirect(exc.next_path)

    async def on_csrf_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CsrfRefusedError)
        return render(
            request,
            "error.html",
            {
                "title": "Nothing was changed",
                "reason": f"{exc.reason}: nothing was changed. "
                "Reload the page and send the form again.",
            },
            status_code=403,
        )

    async def on_portal_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await _call(api_portal_error, request, exc)
        assert isinstance(exc, PortalError)
        return render(
            request,
            "error.html",
            {"title": "Refused", "reason": exc.reason},
            status_code=exc.http_status,
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await _call(api_http_error, request, exc)
        assert isinstance(exc, StarletteHTTPException)
        page = render(
            request,
            "error.html",
            {"title": f"Error {exc.status_code}", "reason": str(exc.detail)},
            status_code=exc.status_code,
        )
        page.headers.update(exc.headers or {})  # Allow of a 405 (RFC 9110 §15.5.6), Connection
        return page

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await _call(api_validation_error, request, exc)
        assert isinstance(exc, RequestValidationError)
        first: dict[str, Any] = next(iter(exc.errors()), {})
        field = ".".join(str(part) for part in first.get("loc", ())[1:])
        return render(
            request,
            "error.html",
            {"title": "Malformed request", "reason": f"{field}: {first.get('msg', 'invalid')}"},
            status_code=422,
        )

    app.add_exception_handler(LoginRequiredError, on_login_required)
    app.add_exception_handler(CsrfRefusedError, on_csrf_refused)
    app.add_exception_handler(PortalError, on_portal_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)


async def _call(handler: object, request: Request, exc: Exception) -> Response:
    """Call an exception handler, sync or async."""
    result = handler(request, exc)  # type: ignore[operator]
    if hasattr(result, "__await__"):
        result = await result
    assert isinstance(result, Response)
    return result
