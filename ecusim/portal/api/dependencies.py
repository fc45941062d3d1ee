"""What endpoints depend on: the portal, the bearer token, the session and the logged-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ecusim.portal import login_sessions
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
    "PresentToken",
    "Token",
]


# Dependencies that do no I/O are coroutines: FastAPI runs a plain ``def`` dependency in a
# worker thread, a hop that costs more than the work. Those that read the database stay plain.


async def _portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


PortalDep = Annotated[Portal, Depends(_portal)]
"""The portal the application serves."""

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="The token from `POST /api/v1/login`.",
)


async def _token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    return sessions.bearer_token(credentials)


Token = Annotated[str | None, Depends(_token)]
"""The request's bearer token, if any (not checked)."""


async def _client_address(request: Request) -> str | None:
    return sessions.client_address(request)


async def _present_token(token: Token) -> str:
    return login_sessions.require_token(token)


PresentToken = Annotated[str, Depends(_present_token)]
"""The request's bearer token, which must be there (401 otherwise, before the body is read);
whether it is live is for the endpoint to check (in its own transaction)."""


ClientAddress = Annotated[str | None, Depends(_client_address)]
"""The TCP peer's address (what the failure throttle counts)."""


def _current_session(portal: PortalDep, token: Token) -> SessionInfo:
    return portal.session(token)


CurrentSession = Annotated[SessionInfo, Depends(_current_session)]
"""The live login session, read from the database on every request (401 without one)."""


async def _live_token(current: CurrentSession, token: Token) -> str:
    del current  # checked: the token is live
    assert token is not None
    return token


LiveToken = Annotated[str, Depends(_live_token)]
"""The bearer token of a live session (401 otherwise, before the body is read)."""


async def _current_user(current: CurrentSession) -> StaffView:
    return current.user


CurrentUser = Annotated[StaffView, Depends(_current_user)]
"""The logged-in user as stored now (401 without a valid token)."""


def _current_manager(portal: PortalDep, user: CurrentUser) -> StaffView:
    return portal.require_manager(user.username)


CurrentManager = Annotated[StaffView, Depends(_current_manager)]
"""The logged-in user, an approving manager as stored now (403 otherwise). FastAPI resolves
dependencies before it validates the query, so the refusal comes first."""
