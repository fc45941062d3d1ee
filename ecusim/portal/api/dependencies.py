"""What endpoints depend on: the portal, the login sessions and the logged-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ecusim.portal.api.sessions import SessionStore
from ecusim.portal.service import Portal
from ecusim.portal.views import StaffView

__all__ = ["CurrentManager", "CurrentUser", "PortalDep", "SessionsDep"]


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def _session_store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


PortalDep = Annotated[Portal, Depends(_portal)]
"""The portal the application serves."""
SessionsDep = Annotated[SessionStore, Depends(_session_store)]
"""The application's login sessions."""

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="The token from `POST /api/v1/login`.",
)


def _current_user(
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> StaffView:
    return sessions.user(credentials.credentials if credentials else None)


CurrentUser = Annotated[StaffView, Depends(_current_user)]
"""The logged-in user (401 without a valid token)."""


def _current_manager(portal: PortalDep, user: CurrentUser) -> StaffView:
    return portal.require_manager(user.username)


CurrentManager = Annotated[StaffView, Depends(_current_manager)]
"""The logged-in user, an approving manager as stored now (403 otherwise). FastAPI resolves
dependencies before it validates the query, so the refusal comes first."""
