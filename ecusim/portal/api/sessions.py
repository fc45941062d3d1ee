"""The HTTP side of login sessions: the bearer token and the client address of a request.

The sessions themselves live in the database (:mod:`ecusim.portal.login_sessions`), so every
worker process serving one portal knows every token. The client address the failure throttle
counts is the TCP peer (``request.client.host``); ``X-Forwarded-For`` is never read (anyone can
send it). Behind a reverse proxy, let uvicorn rewrite the peer from the proxy's headers:
``--proxy-headers --forwarded-allow-ips <the proxy's address>`` (docs/portal-security.md).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

__all__ = ["bearer_token", "client_address"]


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    return credentials.credentials if credentials else None


def client_address(request: Request) -> str | None:
    """The TCP peer's address (``None`` when the server does not know it)."""
    return request.client.host if request.client else None
