"""The browser's side of a login session: the session cookie and the CSRF tokens.

The pages use the same server-side sessions as the API (:mod:`ecusim.portal.login_sessions`):
the bearer token travels in the :data:`SESSION_COOKIE` cookie instead of an ``Authorization``
header, ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends it)
and ``Secure`` when the page was served over TLS (OWASP ASVS 4.0.3 V3.4.1-V3.4.3).

Every form carries a CSRF token (ASVS V4.2.2; OWASP CSRF Prevention Cheat Sheet, "HMAC-based
synchronizer token"): HMAC-SHA256 under the portal's pages key
(:data:`ecusim.portal.keys.PAGES_KEY_INFO`) of the session token's SHA-256, so it is bound to
one session and nothing is stored. Before login there is no session: the login form's token is
bound to a random nonce in the :data:`LOGIN_COOKIE` cookie instead (login CSRF). A POST whose
``Origin`` names another site, or whose ``Sec-Fetch-Site`` is not ``same-origin``, is refused too
(defence in depth: :func:`cross_site`).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Final

from cryptography.hazmat.primitives import constant_time, hashes, hmac
from fastapi import Request, Response

from ecusim.portal.login_sessions import token_sha256

__all__ = [
    "CSRF_FIELD",
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "cross_site",
    "csrf_token",
    "csrf_valid",
    "forget_session",
    "login_nonce",
    "remember_session",
    "secure",
    "session_token",
]

SESSION_COOKIE: Final = "ecusim_session"
"""The cookie holding the login session's token (never readable by scripts)."""
LOGIN_COOKIE: Final = "ecusim_login"
"""The cookie holding the login form's nonce (before there is a session)."""
CSRF_FIELD: Final = "csrf_token"
"""The hidden field of every form."""
_SESSION_PURPOSE: Final = b"session\x00"
_LOGIN_PURPOSE: Final = b"login\x00"


def secure(request: Request) -> bool:
    """Whether the page was served over TLS (then cookies get ``Secure``)."""
    return request.url.scheme == "https"


def session_token(request: Request) -> str | None:
    """The session token the browser sent, if any (not checked)."""
    return request.cookies.get(SESSION_COOKIE) or None


def remember_session(
    request: Request, response: Response, token: str, expires_at: datetime, now: datetime
) -> None:
    """Set the session cookie, kept as long as the session lives on the portal's clock: as
    ``Max-Age`` (relative), so a browser whose clock differs keeps it just as long."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(0, int((expires_at - now).total_seconds())),
        path="/",
        secure=secure(request),
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(
        LOGIN_COOKIE, path="/", secure=secure(request), httponly=True, samesite="strict"
    )


def forget_session(request: Request, response: Response) -> None:
    """Delete the session cookie (logout, or a dead session)."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure(request), httponly=True, samesite="strict"
    )


def login_nonce(request: Request, response: Response) -> str:
    """The login form's nonce: the browser's, or a new one set in :data:`LOGIN_COOKIE`."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
        response.set_cookie(
            LOGIN_COOKIE, nonce, path="/", secure=secure(request), httponly=True, samesite="strict"
        )
    return nonce


def _mac(key: bytes, purpose: bytes, value: str) -> str:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(purpose + value.encode("utf-8"))
    return mac.finalize().hex()


def csrf_token(key: bytes, *, session: str | None = None, nonce: str | None = None) -> str:
    """The CSRF token of the session with token ``session`` (or of the login form's ``nonce``)."""
    if session is not None:
        return _mac(key, _SESSION_PURPOSE, token_sha256(session))
    assert nonce is not None, "a CSRF token is bound to a session or a login nonce"
    return _mac(key, _LOGIN_PURPOSE, nonce)


def csrf_valid(
    key: bytes, sent: object, *, session: str | None = None, nonce: str | None = None
) -> bool:
    """Whether ``sent`` (the form's field) is the token of that session or nonce (constant time)."""
    if not isinstance(sent, str) or not sent or (session is None and nonce is None):
        return False
    expected = csrf_token(key, session=session, nonce=nonce)
    return constant_time.bytes_eq(sent.encode("utf-8"), expected.encode("utf-8"))


def cross_site(request: Request) -> bool:
    """Whether the POST may come from another site (ASVS V4.2.2, defence in depth behind the
    CSRF token). ``Sec-Fetch-Site`` (set by the browser, no page can forge it) must be
    ``same-origin`` if sent (``same-site`` is a sibling host: another site for the portal); an
    ``Origin`` must name the portal. ``Origin: null`` is taken only with ``Sec-Fetch-Site:
    same-origin`` (a browser sends ``null`` under a strict Referrer-Policy; a sandboxed frame of
    another site sends it too, with ``cross-site``)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return fetch_site is None or fetch_site.lower() != "same-origin"
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin.rstrip("/").lower() != own.lower()
