"""``GET /health``: the liveness check, without login."""

from __future__ import annotations

from fastapi import APIRouter

from ecusim.portal.api_models import HealthOut

__all__ = ["router"]

router = APIRouter(tags=["server"])


@router.get("/health", summary="Liveness check (no login)")
def health() -> HealthOut:
    return HealthOut(status="ok")
