"""``/docs``: Swagger UI over the API's OpenAPI schema, every file served by the portal."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ecusim.portal.web.rendering import TEMPLATES

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI from ``fastapi-offline``'s files and the portal's ``static/docs.js``."""
    return TEMPLATES.TemplateResponse(request, "docs.html", {})
