"""``PATCH /staff/{username}``: a manager changes a member's job title or enrolment."""

from __future__ import annotations

from fastapi import APIRouter

from ecusim.portal.api.dependencies import CurrentManager, PortalDep
from ecusim.portal.api_models import StaffChangeIn
from ecusim.portal.views import StaffView

__all__ = ["router"]

router = APIRouter(tags=["staff"])


@router.patch("/staff/{username}", summary="Change a member's job title or enrolment")
def change_staff(
    portal: PortalDep, manager: CurrentManager, username: str, body: StaffChangeIn
) -> StaffView:
    """An enrolled approving manager of the member's dealer (another dealer's member: 404).
    Every session of the member is revoked at once (their token answers 401); audited as
    `change-staff`."""
    return portal.change_staff(
        manager.username, username, enrolled=body.enrolled, job_title=body.job_title
    )
