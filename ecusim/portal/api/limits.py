"""The request-body size limit, as pure ASGI middleware (OWASP ASVS 4.0.3 V13.1.3, V12.1.1).

A body over the limit answers 413 in the contract's error shape, with ``Connection: close``:

- at once when ``Content-Length`` declares it, before the application runs or a byte of the body
  is read;
- while it streams in otherwise (chunked): the bytes taken from ``receive`` are counted and
  reading stops at the first message past the limit, so at most the limit plus one message is
  ever held.

A malformed ``Content-Length`` (RFC 9110 §8.6: digits only; several values must agree) answers
400. uvicorn's HTTP parser refuses most of these itself; the check here covers any server.
With ``page_refusal`` (the TIS pages' :func:`ecusim.portal.web.refusal_page`) a page's path
gets these answers as an HTML page instead of the JSON error.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

__all__ = ["BodySizeLimit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PageRefusal = Callable[[Scope, int, str], ASGIApp | None]
"""The answer of a refused body on a page path (``None``: not a page, the JSON error)."""

_CLOSE = {"Connection": "close"}
_HUGE = 10**18
"""Stands for any declared length of this many digits or more (over every limit)."""


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An HTTPException, so FastAPI's body reading lets it through to the error handlers (which
    answer it in the contract's shape); the middleware answers it itself if it gets this far.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit), headers=_CLOSE)


def _too_large(limit: int) -> str:
    return f"the request body is over the limit of {limit} bytes"


def _declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` (``None`` without one); ``ValueError`` if malformed."""
    values = [
        part.strip()
        for name, value in scope.get("headers", ())
        if name.lower() == b"content-length"
        for part in value.split(b",")
    ]
    if not values:
        return None
    if any(not value.isdigit() for value in values) or len(set(values)) > 1:
        raise ValueError("malformed Content-Length")
    digits = values[0].lstrip(b"0") or b"0"
    return _HUGE if len(digits) >= len(str(_HUGE)) else int(digits)  # no int() of 5000 digits


class BodySizeLimit:
    """Refuse request bodies over ``max_body_bytes`` (413), without reading or buffering them."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, page_refusal: PageRefusal | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.page_refusal = page_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes

        async def answer(status: int, reason: str) -> None:
            page = self.page_refusal(scope, status, reason) if self.page_refusal else None
            if page is None:
                await _answer(send, status, reason)
            else:
                await page(scope, receive, send)

        try:
            declared = _declared_length(scope)
        except ValueError:
            await answer(400, "malformed Content-Length header (RFC 9110 §8.6)")
            return
        if declared is not None and declared > limit:
            await answer(413, _too_large(limit))
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _BodyTooLarge:
            if started:
                raise
            await answer(413, _too_large(limit))


async def _answer(send: Send, status: int, reason: str) -> None:
    body = json.dumps({"error": {"status": status, "field": None, "reason": reason}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
