"""The portal's HTTP API v1 (FastAPI): ``create_app(portal)`` and ``serve(portal)``.

Contract: ``docs/portal-api.md``. Base path ``/api/v1``, JSON bodies, ISO 8601 UTC times.
``POST /api/v1/login`` gives a bearer token (32 random bytes, URL-safe) held in this process's
memory for 8 h of the portal's clock [LAB]; every other endpoint but ``/health`` needs it. The
rules, the role checks included, are the service's: each endpoint calls one
:class:`~ecusim.portal.service.Portal` method as the logged-in user, and every error is a
:class:`~ecusim.portal.errors.PortalError` answered with its ``http_status`` and the body
``{"error": {"status", "field", "reason"}}`` (request-body validation 422, malformed JSON 400).

Endpoints are plain functions: FastAPI runs them in its thread pool, so a slow database call
never blocks the event loop, and concurrent requests reach the service concurrently (the service
serialises its writers).

- :mod:`~ecusim.portal.api.app`: :func:`create_app`, the application.
- :mod:`~ecusim.portal.api.errors`: every error as ``{"error": {...}}``.
- :mod:`~ecusim.portal.api.sessions`: the login tokens (:class:`SessionStore`).
- :mod:`~ecusim.portal.api.dependencies`: the portal, the token store and the logged-in user.
- :mod:`~ecusim.portal.api.routes`: one module of endpoints per resource.
- :mod:`~ecusim.portal.api.serving`: uvicorn (:func:`serve`, :class:`BackgroundServer`).
"""

from __future__ import annotations

from ecusim.portal.api.app import create_app
from ecusim.portal.api.serving import (
    DEFAULT_PORT,
    BackgroundServer,
    ServerStartError,
    listen,
    make_server,
    serve,
    url_host,
)
from ecusim.portal.api.sessions import TOKEN_LIFETIME, SessionStore
from ecusim.portal.api_models import API_PREFIX
from ecusim.portal.service import MAX_AUDIT_LIMIT

__all__ = [
    "API_PREFIX",
    "DEFAULT_PORT",
    "MAX_AUDIT_LIMIT",
    "TOKEN_LIFETIME",
    "BackgroundServer",
    "ServerStartError",
    "SessionStore",
    "create_app",
    "listen",
    "make_server",
    "serve",
    "url_host",
]
