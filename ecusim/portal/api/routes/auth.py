"""The session: ``POST /login``, ``POST /logout``, ``POST /step-up`` and ``GET /me``."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ecusim.portal.api.dependencies import (
    ClientAddress,
    CurrentUser,
    LiveToken,
    PortalDep,
    Token,
)
from ecusim.portal.api_models import LoginIn, LoginOut, StepUpIn, StepUpOut
from ecusim.portal.views import StaffView

__all__ = ["router"]

router = APIRouter(tags=["session"])


@router.post("/login", summary="Log in: get a bearer token")
def login(portal: PortalDep, body: LoginIn, client: ClientAddress) -> LoginOut:
    """Check the password; the token works for the session lifetime (8 h by default) of the
    portal's clock. Failed attempts are counted per account and per client address: over the
    budget every attempt, the right password included, answers 429 with `Retry-After`."""
    token, expires_at, user = portal.login(body.username, body.password, client)
    return LoginOut(token=token, expires_at=expires_at, user=user)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Log out: the token stops working",
)
def logout(portal: PortalDep, token: Token) -> Response:
    """Revokes the session on the server (every worker). 401 if the token is already dead."""
    portal.logout(token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/step-up", summary="Re-enter the password before Pass-Codes")
def step_up(
    portal: PortalDep, token: LiveToken, body: StepUpIn, client: ClientAddress
) -> StepUpOut:
    """Bulletin Section 5's password re-entry, once: for the step-up window (5 min by default)
    the session obtains Pass-Codes without the password. Throttled like the login."""
    opened = portal.step_up(token, body.password, client)
    assert opened.step_up_until is not None
    return StepUpOut(step_up_until=opened.step_up_until)


@router.get("/me", summary="The logged-in user")
def me(user: CurrentUser) -> StaffView:
    return user
