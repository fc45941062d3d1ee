"""The dealer-side pass-code portal (portal-rules.md; the bulletin, Sections 1-5).

- :mod:`ecusim.portal.rules`: the rules as pure functions (titles, tool version, VIN, seed).
- :mod:`ecusim.portal.service`: :class:`Portal`, one transaction per operation or read, every
  rule and role check.
- :mod:`ecusim.portal.views`: the views it returns (pydantic), which the API answers and the
  client decodes.
- :mod:`ecusim.portal.models` and :mod:`ecusim.portal.db`: SQLAlchemy tables, Alembic migrations,
  SQLite by default, PostgreSQL by URL.
- :mod:`ecusim.portal.settings`: :class:`PortalSettings`, every limit (``ECUSIM_PORTAL_*``).
- :mod:`ecusim.portal.login_sessions`, :mod:`ecusim.portal.throttle`,
  :mod:`ecusim.portal.passwords`: sessions in the database, the failure throttle, scrypt and the
  password policy (docs/portal-security.md).
- :mod:`ecusim.portal.audit`: the HMAC-chained audit log; :mod:`ecusim.portal.anchors`: its
  signed checkpoints; :mod:`ecusim.portal.reports`: the NICB export and the monthly report.
- :mod:`ecusim.portal.api`: the HTTP API v1 (FastAPI); :mod:`ecusim.portal.client`: its client.
"""

from __future__ import annotations

from ecusim.portal.errors import (
    AuthenticationError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PortalError,
    RateLimitedError,
    ValidationError,
)
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import Inbox, IssuedPassCode, Portal, RequestView, StaffView
from ecusim.portal.settings import PortalSettings

__all__ = [
    "ApprovalConfirmations",
    "AuthenticationError",
    "ConflictError",
    "ExpiredError",
    "IdentificationConfirmations",
    "Inbox",
    "IssuedPassCode",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Portal",
    "PortalError",
    "PortalSettings",
    "RateLimitedError",
    "RequestView",
    "StaffView",
    "ValidationError",
]
