"""Login sessions: the bearer tokens of logged-in users, in this process's memory [LAB]."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from ecusim.portal.errors import AuthenticationError
from ecusim.portal.service import Portal
from ecusim.portal.views import StaffView

__all__ = ["TOKEN_BYTES", "TOKEN_LIFETIME", "SessionStore"]

TOKEN_LIFETIME = timedelta(hours=8)
"""A login token works this long on the portal's clock [LAB]."""
TOKEN_BYTES = 32


@dataclass(frozen=True)
class _Login:
    user: StaffView
    expires_at: datetime


class SessionStore:
    """Bearer tokens of logged-in users, in memory, expiring on the portal's clock.

    A token is valid up to and including ``expires_at`` (the portal's 72 h rules count the same
    way). Expired tokens are dropped when met and whenever a new one is issued.
    """

    def __init__(self, portal: Portal, lifetime: timedelta = TOKEN_LIFETIME) -> None:
        self._portal = portal
        self._lifetime = lifetime
        self._logins: dict[str, _Login] = {}
        self._lock = threading.Lock()

    def open(self, user: StaffView) -> tuple[str, datetime]:
        """A new token for ``user`` and the time it expires."""
        now = self._portal.now()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = now + self._lifetime
        with self._lock:
            for old in [key for key, login in self._logins.items() if now > login.expires_at]:
                del self._logins[old]
            self._logins[token] = _Login(user, expires_at)
        return token, expires_at

    def user(self, token: str | None) -> StaffView:
        """The user the token was issued to; :class:`AuthenticationError` if it is missing,
        unknown or expired."""
        if not token:
            raise AuthenticationError(
                "log in first: send the header Authorization: Bearer <token>",
                field="authorization",
            )
        now = self._portal.now()
        with self._lock:
            login = self._logins.get(token)
            if login is not None and now > login.expires_at:
                del self._logins[token]
                login = None
        if login is None:
            raise AuthenticationError(
                "the token is unknown or has expired: log in again", field="authorization"
            )
        return login.user

    def __len__(self) -> int:
        with self._lock:
            return len(self._logins)
