"""Closing an approval when the vehicle repair is completed: no Pass-Code after it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ecusim.portal.api.dependencies import CurrentUser, PortalDep
from ecusim.portal.views import RequestView

__all__ = ["CloseIn", "router"]

router = APIRouter(tags=["requests"])


class CloseIn(BaseModel):
    """The body of ``POST /requests/{number}/close`` (optional: no body = no note)."""

    model_config = ConfigDict(extra="ignore")

    note: str | None = Field(
        None,
        description="Why, for the audit log (at most 200 characters), e.g. `repair completed`.",
        examples=["repair completed, RO-4711 invoiced"],
    )


@router.post("/requests/{number}/close", summary="Close an approval: the repair is completed")
def close_approval(
    portal: PortalDep, user: CurrentUser, number: str, body: CloseIn | None = None
) -> RequestView:
    """Any enrolled staff member of the request's dealer. Afterwards the request reads `closed`,
    Pass-Codes are refused (409, field `request_number`) and a new request for the VIN may be
    sent. Not approved, expired or already closed: 409."""
    return portal.close_approval(user.username, number, body.note if body else None)
