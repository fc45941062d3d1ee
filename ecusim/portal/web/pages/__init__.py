"""The page routers, one module per part of the bulletin; :data:`PAGE_ROUTERS` in order."""

from __future__ import annotations

from fastapi import APIRouter

from ecusim.portal.web.pages import approval_file, auth, docs, inbox, reports, requests

__all__ = ["PAGE_ROUTERS"]

PAGE_ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    docs.router,
    inbox.router,
    requests.router,  # /requests/new: before /requests/{number}
    approval_file.router,
    reports.router,
)
"""Every page router (HTML, not in the API's OpenAPI schema)."""
