"""Reset requests: send one, read one, and the inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from ecusim.portal.api.dependencies import CurrentUser, PortalDep
from ecusim.portal.api_models import RequestIn
from ecusim.portal.rules import MAX_REQUEST_NUMBER_LENGTH, IdentificationConfirmations
from ecusim.portal.views import Inbox, RequestView

__all__ = ["RequestNumber", "router"]

RequestNumber = Annotated[
    str,
    Path(
        max_length=MAX_REQUEST_NUMBER_LENGTH,
        description="The request number (`YYMMDD` + 5 digits).",
        examples=["14070100001"],
    ),
]
"""The ``{number}`` of a request's path, bounded (ASVS V13.1.3)."""

router = APIRouter(tags=["requests"])


@router.post(
    "/requests",
    status_code=status.HTTP_201_CREATED,
    summary="Send a reset request to the dealer's managers",
)
def create_request(portal: PortalDep, user: CurrentUser, body: RequestIn) -> RequestView:
    """Bulletin Sections 2-3: VIN, repair order, customer last name and the 4 Positive
    Identification Policy confirmations, all required. Refused (409, field `vin`) while the
    dealer holds a valid approval for the VIN: reuse that one."""
    return portal.create_request(
        user.username,
        body.vin,
        body.repair_order,
        body.customer_last_name,
        IdentificationConfirmations(**body.confirmations.model_dump()),
    )


@router.get("/requests/{number}", summary="One request of the user's dealer")
def get_request(portal: PortalDep, user: CurrentUser, number: RequestNumber) -> RequestView:
    return portal.get_request(user.username, number)


@router.get("/inbox", summary="Requests awaiting approval and the user's own")
def inbox(portal: PortalDep, user: CurrentUser) -> Inbox:
    return portal.inbox(user.username)
