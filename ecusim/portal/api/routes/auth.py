"""``POST /login`` (a bearer token) and ``GET /me`` (the logged-in user)."""

from __future__ import annotations

from fastapi import APIRouter

from ecusim.portal.api.dependencies import CurrentUser, PortalDep, SessionsDep
from ecusim.portal.api_models import LoginIn, LoginOut
from ecusim.portal.views import StaffView

__all__ = ["router"]

router = APIRouter(tags=["session"])


@router.post("/login", summary="Log in: get a bearer token")
def login(portal: PortalDep, sessions: SessionsDep, body: LoginIn) -> LoginOut:
    """Check the password; the token works for 8 h of the portal's clock."""
    user = portal.authenticate(body.username, body.password)
    token, expires_at = sessions.open(user)
    return LoginOut(token=token, expires_at=expires_at, user=user)


@router.get("/me", summary="The logged-in user")
def me(user: CurrentUser) -> StaffView:
    return user
