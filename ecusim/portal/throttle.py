"""The failure throttle: failed logins and password re-entries counted in the database.

OWASP ASVS 4.0.3 V2.2.1 (anti-automation against credential guessing). Every failure is an
:class:`~ecusim.portal.models.AuthFailure` row, so the count is the same in every worker process
of one portal. Before a password is verified, :func:`reserve` counts the failures of the last
``settings.failure_window`` for the account (its username; failed logins and failed re-entries
together) and for the client address; at or over ``login_failure_budget`` (account) or
``address_failure_budget`` (address) the attempt is refused with
:class:`~ecusim.portal.errors.RateLimitedError` before any hash is computed, so the right
password gets ``429`` too. Unknown usernames are counted like known ones (nothing tells them
apart). Refused (429) attempts are not counted: the lock-out ends one window after the failures
that caused it, whatever an attacker keeps sending.

Concurrency: the count and a provisional failure row for the attempt are written in one
transaction, serialised per account and per address (on SQLite ``BEGIN IMMEDIATE`` serialises
every writer, :mod:`ecusim.portal.db`; on PostgreSQL :func:`_lock` takes transaction-level
advisory locks), before the password is hashed outside it. So simultaneous attempts see each
other: however many arrive at once, at most the budget's worth are checked. A right password
then deletes its row (:func:`release`); a wrong one keeps it as the failure (:func:`confirm`).
Checks under way count too, so one account (or address) has at most its budget of them at once;
one more is refused for 1 s, not for the window.

The functions work inside the caller's transaction; the service does the audit records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, delete, func, select, text, update
from sqlalchemy.orm import Session

from ecusim.portal.errors import RateLimitedError
from ecusim.portal.models import AuthFailure
from ecusim.portal.settings import PortalSettings

__all__ = [
    "CLI_ADDRESS",
    "PENDING",
    "Attempt",
    "FailureKind",
    "Scope",
    "check",
    "confirm",
    "key",
    "release",
    "reserve",
]

CLI_ADDRESS = "cli"
"""The client address of the command line's password re-entries (``ecusim portal passcode``)."""
PENDING = "pending"
"""``AuthFailure.kind`` of a check under way (:func:`reserve`); :func:`confirm` makes it a
failure, :func:`release` deletes it. One left by a crashed worker counts until the window ends."""
_KEY_CHARS = 64
"""Length of ``auth_failure.username`` and ``client_address``."""
_LOCK_SPACES = {"account": 0x45430001, "address": 0x45430002}
"""PostgreSQL advisory lock key spaces (the first key of ``pg_advisory_xact_lock(int, int)``)."""


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


def _filter(scope: Scope, value: str | None, *, failed_only: bool) -> ColumnElement[bool]:
    column = AuthFailure.username if scope is Scope.ACCOUNT else AuthFailure.client_address
    if failed_only:
        return and_(column == key(value), AuthFailure.kind != PENDING)
    return column == key(value)


def _budget(settings: PortalSettings, scope: Scope) -> int:
    if scope is Scope.ACCOUNT:
        return settings.login_failure_budget
    return settings.address_failure_budget


def _count(
    session: Session, scope: Scope, value: str | None, since: datetime, *, failed_only: bool
) -> int:
    """The attempts counted (``failed_only``: without the checks under way)."""
    where = _filter(scope, value, failed_only=failed_only)
    return (
        session.scalar(select(func.count(AuthFailure.id)).where(where, AuthFailure.at > since)) or 0
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
        .where(_filter(scope, value, failed_only=True), AuthFailure.at > now - window)
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
    address's failures and checks under way within the window are at or over the budget. Full
    with checks under way only, the wait is 1 s (they end within moments)."""
    since = now - settings.failure_window
    for scope, value, field in (
        (Scope.ACCOUNT, username, "username"),
        (Scope.ADDRESS, client_address, "client_address"),
    ):
        if value is None:
            continue
        budget = _budget(settings, scope)
        if _count(session, scope, value, since, failed_only=False) < budget:
            continue
        what = "this account" if scope is Scope.ACCOUNT else "this client address"
        failed = _count(session, scope, value, since, failed_only=True)
        if failed < budget:
            raise RateLimitedError(
                f"too many password checks under way for {what}: try again in 1 s",
                field=field,
                retry_after_s=1,
            )
        wait = _retry_after_s(
            session, scope, value, now, over=failed - budget + 1, window=settings.failure_window
        )
        raise RateLimitedError(
            f"too many failed password attempts for {what}: try again in {wait} s",
            field=field,
            retry_after_s=wait,
        )


@dataclass(frozen=True)
class Attempt:
    """A password check under way: its provisional failure row and the budgets it uses up if
    the password is wrong (each is reported once per lock-out)."""

    failure_id: int
    kind: FailureKind
    reaches: tuple[Scope, ...]


def _lock(session: Session, username: str, client_address: str | None) -> None:
    """On PostgreSQL, serialise the attempts of one account and of one address until commit
    (always the account first: no deadlock). SQLite's ``BEGIN IMMEDIATE`` already did."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for scope, value in ((Scope.ACCOUNT, username), (Scope.ADDRESS, client_address)):
        if value is not None:
            session.execute(
                text(f"SELECT pg_advisory_xact_lock({_LOCK_SPACES[scope]}, hashtext(:key))"),
                {"key": key(value)},
            )


def reserve(
    session: Session,
    settings: PortalSettings,
    now: datetime,
    kind: FailureKind,
    *,
    username: str,
    client_address: str | None,
) -> Attempt:
    """Admit one password check or refuse it (:func:`check`): admitted, it is written as a
    failure at once (and the rows that left the window are deleted), so concurrent attempts
    count it. Call in a writing transaction and commit before hashing."""
    _lock(session, username, client_address)
    check(session, settings, now, username, client_address)
    since = now - settings.failure_window
    session.execute(delete(AuthFailure).where(AuthFailure.at <= since))
    row = AuthFailure(
        at=now, kind=PENDING, username=key(username), client_address=key(client_address)
    )
    session.add(row)
    session.flush()
    reached = []
    for scope, value in ((Scope.ACCOUNT, username), (Scope.ADDRESS, client_address)):
        if value is None:
            continue
        if _count(session, scope, value, since, failed_only=False) == _budget(settings, scope):
            reached.append(scope)
    return Attempt(failure_id=row.id, kind=kind, reaches=tuple(reached))


def confirm(session: Session, attempt: Attempt) -> None:
    """The password was wrong: the attempt's row becomes the failure."""
    session.execute(
        update(AuthFailure)
        .where(AuthFailure.id == attempt.failure_id)
        .values(kind=attempt.kind.value)
    )


def release(session: Session, attempt: Attempt, username: str, *, login: bool) -> None:
    """The password was right: the attempt is no failure. A successful login also forgets the
    account's earlier failed logins (not its failed re-entries, nor the address's, nor attempts
    that began after it)."""
    session.execute(delete(AuthFailure).where(AuthFailure.id == attempt.failure_id))
    if login:
        session.execute(
            delete(AuthFailure).where(
                AuthFailure.username == key(username),
                AuthFailure.kind == FailureKind.LOGIN.value,
                AuthFailure.id < attempt.failure_id,
            )
        )
