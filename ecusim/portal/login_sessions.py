"""Server-side login sessions, in the database (OWASP ASVS 4.0.3 V3).

A login makes a bearer token of 32 random bytes (``secrets.token_urlsafe``, V3.2.2); only its
SHA-256 is stored (:class:`~ecusim.portal.models.LoginSession`), so a copy of the database
holds no usable token. Every request looks the session up and reads the user as stored now
(V3.3, V4.1.3): a changed role applies at once, in every worker process. A session ends when it
expires (``settings.session_lifetime`` after login, on the portal's clock; valid up to and
including ``expires_at``), at logout (V3.3.1), or when the user's enrolment or job title changes
(all their sessions are revoked, V3.3.3).

The functions work inside the caller's transaction; :class:`~ecusim.portal.service.Portal`
holds the rules.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import Row, delete, select, update
from sqlalchemy.orm import Session

from ecusim.portal.errors import AuthenticationError
from ecusim.portal.models import LoginSession, Staff
from ecusim.portal.views import StaffView

__all__ = [
    "TOKEN_BYTES",
    "SessionInfo",
    "find",
    "info",
    "open_session",
    "read",
    "require_token",
    "revoke_all",
    "token_sha256",
]

SessionRow: TypeAlias = "Row[*tuple[Any, ...]]"
"""A row of :func:`read`."""

TOKEN_BYTES = 32
"""Random bytes of a bearer token (ASVS V3.2.2: at least 64 bits of entropy)."""


@dataclass(frozen=True)
class SessionInfo:
    """A live session and its user as stored now."""

    user: StaffView
    created_at: datetime
    expires_at: datetime
    step_up_until: datetime | None
    """The password was re-entered; Pass-Codes need no new one up to this time."""
    client_address: str | None

    def stepped_up(self, now: datetime) -> bool:
        """Whether the step-up window is open at ``now`` (inclusive)."""
        return self.step_up_until is not None and now <= self.step_up_until


def token_sha256(token: str) -> str:
    """Hex SHA-256 of a token's text: all the database keeps of it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(
    session: Session, staff: Staff, client_address: str | None, now: datetime, lifetime: timedelta
) -> tuple[str, datetime]:
    """A new session for ``staff``: its token and expiry. Sessions expired by now are deleted."""
    session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + lifetime
    session.add(
        LoginSession(
            token_sha256=token_sha256(token),
            staff_id=staff.id,
            client_address=client_address,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token, expires_at


_MISSING = "log in first: send the header Authorization: Bearer <token>"
_DEAD = "the token is unknown, has expired or was revoked: log in again"


def require_token(token: str | None) -> str:
    """``token`` if there is one; else :class:`AuthenticationError` on ``authorization``."""
    if not token:
        raise AuthenticationError(_MISSING, field="authorization")
    return token


def find(session: Session, token: str | None, now: datetime) -> tuple[LoginSession, Staff]:
    """The live session of ``token`` and its user; :class:`AuthenticationError` (field
    ``authorization``) if the token is missing, unknown, expired or revoked."""
    token = require_token(token)
    row = session.execute(
        select(LoginSession, Staff)
        .join(Staff, Staff.id == LoginSession.staff_id)
        .where(LoginSession.token_sha256 == token_sha256(token))
    ).one_or_none()
    if row is None:
        raise AuthenticationError(_DEAD, field="authorization")
    login, staff = row[0], row[1]
    if login.revoked_at is not None or now > login.expires_at:
        raise AuthenticationError(_DEAD, field="authorization")
    return login, staff


def read(session: Session, token: str | None, now: datetime) -> SessionRow:
    """:func:`find` for reading only, in one plain statement (no ORM objects: it runs on every
    request): a row with the session's ``created_at``, ``expires_at``, ``step_up_until`` and
    ``client_address`` and the user's ``username``, ``name``, ``dealer_code``, ``job_title``
    and ``enrolled``."""
    token = require_token(token)
    statement = (
        select(
            LoginSession.created_at,
            LoginSession.expires_at,
            LoginSession.step_up_until,
            LoginSession.client_address,
            LoginSession.revoked_at,
            Staff.username,
            Staff.name,
            Staff.dealer_code,
            Staff.job_title,
            Staff.enrolled,
        )
        .join(Staff, Staff.id == LoginSession.staff_id)
        .where(LoginSession.token_sha256 == token_sha256(token))
    )
    row: SessionRow | None = session.connection().execute(statement).one_or_none()
    if row is None or row.revoked_at is not None or now > row.expires_at:
        raise AuthenticationError(_DEAD, field="authorization")
    return row


def info(login: LoginSession | SessionRow, user: StaffView) -> SessionInfo:
    """The session's public facts (never its token or digest); ``login``: the session or a
    row of :func:`read`."""
    return SessionInfo(
        user=user,
        created_at=login.created_at,
        expires_at=login.expires_at,
        step_up_until=login.step_up_until,
        client_address=login.client_address,
    )


def revoke_all(session: Session, staff_id: int, now: datetime) -> int:
    """Revoke every session of the member not revoked yet (expired or not: another process's
    clock may differ); how many."""
    result = session.execute(
        update(LoginSession)
        .where(LoginSession.staff_id == staff_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
