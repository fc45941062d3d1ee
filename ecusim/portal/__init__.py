"""The dealer-side pass-code portal (portal-rules.md; the bulletin, Sections 1-5).

- :mod:`ecusim.portal.rules`: the rules as pure functions (titles, tool version, VIN, seed).
- :mod:`ecusim.portal.service`: :class:`Portal`, one transaction per operation or read, every
  rule and role check.
- :mod:`ecusim.portal.views`: the views it returns (pydantic), which the API answers and the
  client decodes.
- :mod:`ecusim.portal.models` and :mod:`ecusim.portal.db`: SQLAlchemy tables, Alembic migrations,
  SQLite by default, PostgreSQL by URL.
- :mod:`ecusim.portal.audit`: the hash-chained audit log; :mod:`ecusim.portal.reports`: the NICB
  export and the monthly dealer report.
- :mod:`ecusim.portal.api`: the HTTP API v1 (FastAPI); :mod:`ecusim.portal.client`: its client.
"""

from __future__ import annotations

from ecusim.portal.errors import (
    AuthenticationError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    PermissionDeniedError,
    PortalError,
    ValidationError,
)
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import Inbox, IssuedPassCode, Portal, RequestView, StaffView

__all__ = [
    "ApprovalConfirmations",
    "AuthenticationError",
    "ConflictError",
    "ExpiredError",
    "IdentificationConfirmations",
    "Inbox",
    "IssuedPassCode",
    "NotFoundError",
    "PermissionDeniedError",
    "Portal",
    "PortalError",
    "RequestView",
    "StaffView",
    "ValidationError",
]
