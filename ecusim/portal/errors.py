"""One exception tree for the portal (the python-can ``CanError`` pattern).

Every error derives from :class:`PortalError`, names the offending ``field`` where there is one
and carries the HTTP status the API step will answer with (``http_status``). Every rule is checked
inside the transaction that would write, before anything is written: an error always means the
database did not change.
"""

from __future__ import annotations

from ecusim.errors import EcusimError

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "ExpiredError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PortalError",
    "RateLimitedError",
    "SettingsError",
    "ValidationError",
]


class PortalError(EcusimError):
    """Base class of every error the portal raises on purpose."""

    http_status: int = 400
    """The status the HTTP API answers with."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        """A sentence for the user."""
        self.field = field
        """The request field, form field or object the error is about (``"vin"``, ``"seed"``)."""
        super().__init__(f"{field}: {reason}" if field else reason)


class ValidationError(PortalError, ValueError):
    """A field's value is malformed or missing (a bad VIN, an unchecked confirmation)."""

    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)


class AuthenticationError(PortalError):
    """Unknown user or wrong password (the message never says which)."""

    http_status = 401


class PermissionDeniedError(PortalError):
    """The user is known but the rules do not let them do this (a technician approving)."""

    http_status = 403


class NotFoundError(PortalError, LookupError):
    """No such dealer, user or request."""

    http_status = 404


class ConflictError(PortalError):
    """The object is not in a state that allows this (already approved, duplicate username)."""

    http_status = 409


class ExpiredError(PortalError):
    """A request or an approval is past its 72-hour validity.

    HTTP 409 Conflict, within the issue's status set (400/401/403/404/409/422): the object's
    state forbids the action for good; a new request is needed. The reason says "expired".
    """

    http_status = 409


class RateLimitedError(PortalError):
    """Too many attempts (failed logins, password re-entries, Pass-Codes per approval) within a
    window: HTTP 429 with ``Retry-After`` = :attr:`retry_after_s` (OWASP ASVS V2.2.1)."""

    http_status = 429

    def __init__(self, reason: str, *, field: str | None = None, retry_after_s: int) -> None:
        super().__init__(reason, field=field)
        self.retry_after_s = max(1, int(retry_after_s))
        """Whole seconds until the next attempt can succeed (at least 1)."""


class PayloadTooLargeError(PortalError):
    """The request body is over the size limit: HTTP 413 (ASVS V13.1.3)."""

    http_status = 413


class SettingsError(PortalError, ValueError):
    """A portal setting (``ECUSIM_PORTAL_*``) is malformed."""
