"""Pass-Codes: one for a Seed Number, under an approved request."""

from __future__ import annotations

from fastapi import APIRouter, status

from ecusim.portal.api.dependencies import ClientAddress, CurrentSession, PortalDep, Token
from ecusim.portal.api.routes.requests import RequestNumber
from ecusim.portal.api_models import PassCodeIn
from ecusim.portal.views import IssuedPassCode

__all__ = ["router"]

router = APIRouter(tags=["requests"])


@router.post(
    "/requests/{number}/pass-codes",
    status_code=status.HTTP_201_CREATED,
    summary="Get the Pass-Code for a Seed Number",
)
def issue_pass_code(
    *,
    portal: PortalDep,
    current: CurrentSession,
    token: Token,
    number: RequestNumber,
    body: PassCodeIn,
    client: ClientAddress,
) -> IssuedPassCode:
    """Bulletin Section 5: the password again, scan-tool software 9.10.037 or later and the
    Seed Number. The password is either in the body (a re-entry: it also opens the step-up
    window) or was re-entered with `POST /step-up` within the window; else 401 on `password`.
    Only the seed's SHA-256 is stored; the Pass-Code is never stored."""
    return portal.issue_pass_code_in_session(
        token,
        number,
        body.password,
        body.tool_version,
        body.seed,
        client_address=client,
        current=current,  # read once per request
    )
