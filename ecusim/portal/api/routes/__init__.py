"""The endpoints, one module per resource; :data:`ROUTERS` in the order they are documented."""

from __future__ import annotations

from fastapi import APIRouter

from ecusim.portal.api.routes import (
    approvals,
    audit,
    auth,
    closing,
    health,
    passcodes,
    reports,
    requests,
    staff,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    auth.router,
    requests.router,
    approvals.router,
    passcodes.router,
    closing.router,
    audit.router,
    reports.router,
    staff.router,
)
"""Every router of the API v1; the application mounts each under ``API_PREFIX``."""
