"""Approvals: the valid one for a VIN, and a manager's approval or refusal of a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ecusim.portal.api.dependencies import CurrentUser, PortalDep
from ecusim.portal.api.routes.requests import RequestNumber
from ecusim.portal.api_models import MAX_VIN_LENGTH, ApproveIn, RefuseIn
from ecusim.portal.errors import NotFoundError
from ecusim.portal.rules import ApprovalConfirmations
from ecusim.portal.views import RequestView

__all__ = ["router"]

router = APIRouter(tags=["requests"])


@router.get("/approvals", summary="The valid approval for a VIN at the user's dealer")
def find_approval(
    portal: PortalDep,
    user: CurrentUser,
    vin: Annotated[
        str,
        Query(
            max_length=MAX_VIN_LENGTH,
            description="17-character VIN",
            examples=["JTHBL5EF0C5000001"],
        ),
    ],
) -> RequestView:
    """404 when the dealer holds no approval usable now for that VIN."""
    view = portal.find_approval(user.username, vin)
    if view is None:
        raise NotFoundError(f"no valid approval for {vin.strip().upper()}", field="vin")
    return view


@router.post("/requests/{number}/approve", summary="Approve a request")
def approve(
    portal: PortalDep, user: CurrentUser, number: RequestNumber, body: ApproveIn
) -> RequestView:
    """Bulletin Section 4: an enrolled approving manager of the same dealer, not the
    requester, with the 3 Request Approval Policy confirmations. Valid 72 h [LAB]."""
    confirmations = ApprovalConfirmations(**body.confirmations.model_dump())
    return portal.approve(user.username, number, confirmations)


@router.post("/requests/{number}/refuse", summary="Refuse a request")
def refuse(
    portal: PortalDep, user: CurrentUser, number: RequestNumber, body: RefuseIn
) -> RequestView:
    return portal.refuse(user.username, number, body.reason)
