"""What endpoints depend on: the portal, the bearer token, the session and the logged-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ecusim.portal.api import sessions
from ecusim.portal.login_sessions import SessionInfo
from ecusim.portal.service import Portal
from ecusim.portal.views import StaffView

__all__ = [
    "ClientAddress",
    "CurrentManager",
    "CurrentSession",
    "CurrentUser",
    "LiveToken",
    "PortalDep",
    "Token",
]


def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


PortalDep = Annotated[Portal, Depends(_portal)]
"""The portal the application serves."""

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="The token from `POST /api/v1/login`.",
)


def _token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    return sessions.bearer_token(credentials)


Token = Annotated[str | None, Depends(_token)]
"""The request's bearer token, if any (not checked)."""
ClientAddress = Annotated[str | None, Depends(sessions.client_address)]
"""The TCP peer's address (what the failure throttle counts)."""


def _current_session(portal: PortalDep, token: Token) -> SessionInfo:
    return portal.session(token)


CurrentSession = Annotated[SessionInfo, Depends(_current_session)]
"""The live login session, read from the database on every request (401 without one)."""


def _live_token(current: CurrentSession, token: Token) -> str:
    del current  # checked: the token is live
    assert token is not None
    return token


LiveToken = Annotated[str, Depends(_live_token)]
"""The bearer token of a live session (401 otherwise, before the body is read)."""


def _current_user(current: CurrentSession) -> StaffView:
    return current.user


CurrentUser = Annotated[StaffView, Depends(_current_user)]
"""The logged-in user as stored now (401 without a valid token)."""


def _current_manager(portal: PortalDep, user: CurrentUser) -> StaffView:
    return portal.require_manager(user.username)


CurrentManager = Annotated[StaffView, Depends(_current_manager)]
"""The logged-in user, an approving manager as stored now (403 otherwise). FastAPI resolves
dependencies before it validates the query, so the refusal comes first."""
