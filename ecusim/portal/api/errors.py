"""Every error answered as ``{"error": {"status", "field", "reason"}}``.

A :class:`~ecusim.portal.errors.PortalError` from the service gets its ``http_status``; a request
that FastAPI cannot read gets 422 (400 for malformed JSON); an unknown path or method gets
Starlette's status; anything else is logged and answered 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecusim.portal.api_models import ErrorOut
from ecusim.portal.errors import PortalError, RateLimitedError

__all__ = ["ERROR_RESPONSES", "add_error_handlers"]

logger = logging.getLogger(__name__)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "Malformed JSON"),
        (401, "Missing, unknown or expired token, or wrong password"),
        (403, "The rules do not let this user do this"),
        (404, "No such request, approval or dealer"),
        (409, "The request is not in a state that allows this (e.g. expired: a new one is needed)"),
        (413, "The request body is over the size limit"),
        (422, "A field is malformed or missing"),
        (429, "Too many attempts: wait `Retry-After` seconds"),
    )
}
"""The error answers every endpoint documents (OpenAPI)."""


def _error(
    status_code: int, field: str | None, reason: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    if status_code == status.HTTP_401_UNAUTHORIZED:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(
        {"error": {"status": status_code, "field": field, "reason": reason}},
        status_code=status_code,
        headers=headers,
    )


def _on_portal_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PortalError)
    headers = None
    if isinstance(exc, RateLimitedError):  # RFC 9110 §10.2.3, RFC 6585 §4
        headers = {"Retry-After": str(exc.retry_after_s)}
    return _error(exc.http_status, exc.field, exc.reason, headers)


_UNPROCESSABLE = 422  # HTTP_422_UNPROCESSABLE_CONTENT (named _ENTITY in older Starlette)
_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if not errors:
        return _error(_UNPROCESSABLE, None, "invalid request")
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        where = f" at position {loc[1]}" if len(loc) > 1 else ""
        return _error(status.HTTP_400_BAD_REQUEST, None, f"malformed JSON: {detail}{where}")
    path = loc[1:] if loc and loc[0] in _LOCATIONS else loc
    field = ".".join(str(part) for part in path) or None
    reason = str(first.get("msg", "invalid value"))
    if field is None and loc[:1] == ("body",):
        reason = f"the body must be a JSON object: {reason}"
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more problem(s))"
    return _error(_UNPROCESSABLE, field, reason)


def _on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _error(exc.status_code, None, str(exc.detail), dict(exc.headers or {}))


def _on_unexpected_error(_request: Request, exc: Exception) -> Response:
    logger.exception("unexpected error in the portal API", exc_info=exc)
    return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, None, "internal error")


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` in the contract's shape."""
    app.add_exception_handler(PortalError, _on_portal_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
