"""The failure throttle: failed logins and password re-entries counted in the database.

OWASP ASVS 4.0.3 V2.2.1 (anti-automation against credential guessing). Every failure is an
:class:`~ecusim.portal.models.AuthFailure` row, so the count is the same in every worker process
of one portal. Before a password is verified, the failures of the last
``settings.failure_window`` are counted for the account (its username; failed logins and failed
re-entries together) and for the client address; at or over ``login_failure_budget`` (account)
or ``address_failure_budget`` (address) the attempt is refused with
:class:`~ecusim.portal.errors.RateLimitedError` before any hash is computed, so the right
password gets ``429`` too. Unknown usernames are counted like known ones (nothing tells them
apart). Refused (429) attempts are not counted: the lock-out ends one window after the failures
that caused it, whatever an attacker keeps sending.

The functions work inside the caller's transaction; the service does the audit records.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from ecusim.portal.errors import RateLimitedError
from ecusim.portal.models import AuthFailure
from ecusim.portal.settings import PortalSettings

__all__ = [
    "CLI_ADDRESS",
    "FailureKind",
    "Scope",
    "check",
    "clear_login_failures",
    "key",
    "record_failure",
]

CLI_ADDRESS = "cli"
"""The client address of the command line's password re-entries (``ecusim portal passcode``)."""
_KEY_CHARS = 64
"""Length of ``auth_failure.username`` and ``client_address``."""


class FailureKind(StrEnum):
    """``AuthFailure.kind``."""

    LOGIN = "login"
    PASSWORD = "password"
    """A re-entry: step-up, or the password with a Pass-Code."""


class Scope(StrEnum):
    """What a budget counts."""

    ACCOUNT = "account"
    ADDRESS = "address"


def key(value: str | None) -> str | None:
    """A username or address as stored and counted (the column holds 64 characters; a longer
    username cannot exist, so its failures may share a bucket)."""
    return None if value is None else value[:_KEY_CHARS]


def _filter(scope: Scope, value: str | None) -> ColumnElement[bool]:
    column = AuthFailure.username if scope is Scope.ACCOUNT else AuthFailure.client_address
    return column == key(value)


def _budget(settings: PortalSettings, scope: Scope) -> int:
    if scope is Scope.ACCOUNT:
        return settings.login_failure_budget
    return settings.address_failure_budget


def _count(session: Session, scope: Scope, value: str | None, since: datetime) -> int:
    return (
        session.scalar(
            select(func.count(AuthFailure.id)).where(_filter(scope, value), AuthFailure.at > since)
        )
        or 0
    )


def _retry_after_s(
    session: Session,
    scope: Scope,
    value: str | None,
    now: datetime,
    *,
    over: int,
    window: timedelta,
) -> int:
    """Seconds until enough counted failures have left the window for one more attempt: the
    ``over``-th oldest (1: the oldest) leaves at its time + the window."""
    oldest = session.scalar(
        select(AuthFailure.at)
        .where(_filter(scope, value), AuthFailure.at > now - window)
        .order_by(AuthFailure.at, AuthFailure.id)
        .offset(over - 1)
        .limit(1)
    )
    if oldest is None:
        return 1
    return max(1, math.ceil((oldest + window - now).total_seconds()))


def check(
    session: Session,
    settings: PortalSettings,
    now: datetime,
    username: str,
    client_address: str | None,
) -> None:
    """Refuse the attempt (:class:`RateLimitedError`, ``Retry-After``) if the account's or the
    address's failures within the window are at or over the budget."""
    since = now - settings.failure_window
    for scope, value, field in (
        (Scope.ACCOUNT, username, "username"),
        (Scope.ADDRESS, client_address, "client_address"),
    ):
        if value is None:
            continue
        count, budget = _count(session, scope, value, since), _budget(settings, scope)
        if count >= budget:
            wait = _retry_after_s(
                session, scope, value, now, over=count - budget + 1, window=settings.failure_window
            )
            what = "this account" if scope is Scope.ACCOUNT else "this client address"
            raise RateLimitedError(
                f"too many failed password attempts for {what}: try again in {wait} s",
                field=field,
                retry_after_s=wait,
            )


def record_failure(
    session: Session,
    settings: PortalSettings,
    now: datetime,
    kind: FailureKind,
    *,
    username: str,
    client_address: str | None,
) -> tuple[Scope, ...]:
    """Write one failure (and delete the rows that left the window); the scopes whose budget
    this failure reached exactly (each is reported once per lock-out)."""
    since = now - settings.failure_window
    session.execute(delete(AuthFailure).where(AuthFailure.at <= since))
    session.add(
        AuthFailure(
            at=now, kind=kind.value, username=key(username), client_address=key(client_address)
        )
    )
    session.flush()
    reached = []
    for scope, value in ((Scope.ACCOUNT, username), (Scope.ADDRESS, client_address)):
        if value is not None and _count(session, scope, value, since) == _budget(settings, scope):
            reached.append(scope)
    return tuple(reached)


def clear_login_failures(session: Session, username: str) -> None:
    """A successful login forgets the account's failed logins (not its failed re-entries, nor
    the address's)."""
    session.execute(
        delete(AuthFailure).where(
            AuthFailure.username == key(username), AuthFailure.kind == FailureKind.LOGIN.value
        )
    )
