"""The portal's HTTP API v1 (FastAPI): ``create_app(portal)`` and ``serve(portal)``.

Contract: ``docs/portal-api.md``. Base path ``/api/v1``, JSON bodies, ISO 8601 UTC times.
``POST /api/v1/login`` gives a bearer token (32 random bytes, URL-safe) of a session held in the
database (only its SHA-256), for ``settings.session_lifetime`` of the portal's clock; every other
endpoint but ``/health`` needs it, and each request re-reads the user. The
rules, the role checks included, are the service's: each endpoint calls one
:class:`~ecusim.portal.service.Portal` method as the logged-in user, and every error is a
:class:`~ecusim.portal.errors.PortalError` answered with its ``http_status`` and the body
``{"error": {"status", "field", "reason"}}`` (request-body validation 422, malformed JSON 400).

Endpoints are plain functions: FastAPI runs them in its thread pool, so a slow database call
never blocks the event loop, and concurrent requests reach the service concurrently (the service
serialises its writers).

- :mod:`~ecusim.portal.api.app`: :func:`create_app`, the application.
- :mod:`~ecusim.portal.api.errors`: every error as ``{"error": {...}}``.
- :mod:`~ecusim.portal.api.sessions`: the bearer token and the client address of a request.
- :mod:`~ecusim.portal.api.dependencies`: the portal, the session and the logged-in user.
- :mod:`~ecusim.portal.api.routes`: one module of endpoints per resource.
- :mod:`~ecusim.portal.api.serving`: uvicorn (:func:`serve`, :class:`BackgroundServer`).
- :mod:`~ecusim.portal.api.workers`: several worker processes (:func:`serve_workers`).
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
from ecusim.portal.api_models import API_PREFIX
from ecusim.portal.service import MAX_AUDIT_LIMIT

__all__ = [
    "API_PREFIX",
    "DEFAULT_PORT",
    "MAX_AUDIT_LIMIT",
    "BackgroundServer",
    "ServerStartError",
    "create_app",
    "listen",
    "make_server",
    "serve",
    "url_host",
]
