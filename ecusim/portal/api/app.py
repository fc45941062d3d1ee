"""The application: :func:`create_app` mounts every router under ``/api/v1``."""

from __future__ import annotations

from fastapi import FastAPI

from ecusim.portal.api.errors import ERROR_RESPONSES, add_error_handlers
from ecusim.portal.api.limits import BodySizeLimit
from ecusim.portal.api.routes import ROUTERS
from ecusim.portal.api_models import API_PREFIX
from ecusim.portal.service import Portal
from ecusim.portal.web import add_pages, refusal_page

__all__ = ["create_app"]

_DESCRIPTION = """\
The dealer side of the Immobilizer and Smart Key Reset (bulletin Sections 1-5): reset requests,
manager approvals and Pass-Code issue, with the audit log and the reports.

Log in with `POST /api/v1/login`, then send `Authorization: Bearer <token>` (valid 8 h by
default); `POST /api/v1/logout` ends the session. Before Pass-Codes, re-enter the password
(`POST /api/v1/step-up`). Too many failed passwords answer 429 with `Retry-After`.
Every error answers `{"error": {"status", "field", "reason"}}`. Request bodies over the size
limit (64 KiB by default) answer 413.
"""


def create_app(portal: Portal) -> FastAPI:
    """The API v1 over ``portal`` (its database holds the login sessions, its clock times them)
    and the TIS pages (:mod:`ecusim.portal.web`) beside it."""
    app = FastAPI(
        title="ecusim pass-code portal",
        version="1",
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # the pages serve /docs from the portal's own files (no CDN)
        redoc_url=None,
    )
    app.state.portal = portal
    add_error_handlers(app)
    # Outermost but for Starlette's own error middleware: a body over the limit is refused
    # before anything else runs (ASVS V13.1.3).
    # A page's refusal is an HTML page (ASVS V13.1.3 for the pages too).
    app.add_middleware(
        BodySizeLimit, max_body_bytes=portal.settings.max_body_bytes, page_refusal=refusal_page
    )
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    add_pages(app)
    return app
