"""The audit log: its records, and the check of its keyed hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ecusim.portal.api.dependencies import CurrentManager, PortalDep
from ecusim.portal.api_models import AuditOut
from ecusim.portal.rules import MAX_AUDIT_SEQ
from ecusim.portal.service import MAX_AUDIT_LIMIT
from ecusim.portal.views import AuditVerification

__all__ = ["router"]

router = APIRouter(tags=["audit"])


@router.get("/audit", summary="Audit records, oldest first")
def audit_records(
    portal: PortalDep,
    user: CurrentManager,
    since_seq: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_AUDIT_SEQ,  # the Integer column (PostgreSQL int4): larger raised in SQL
            description="Only records with a larger `seq` (a cursor).",
        ),
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_AUDIT_LIMIT, description="At most this many records.")
    ] = 100,
) -> AuditOut:
    """Managers only, and only their own dealer's records."""
    return AuditOut(records=portal.audit_records(user.username, since_seq, limit))


@router.get("/audit/verify", summary="Check the keyed audit hash chain")
def audit_verify(portal: PortalDep, user: CurrentManager) -> AuditVerification:
    """Managers only. The whole chain, with the portal's audit key; signed anchors are checked
    by `ecusim portal audit verify --anchor FILE`."""
    return portal.verify_audit(user.username)
