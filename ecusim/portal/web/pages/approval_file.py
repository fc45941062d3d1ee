"""The approval file: a request, its Request Status and its Pass-Codes (bulletin Section 5).

``GET /requests/<n>`` is Figure 20: the request's details and the Request Status box (status,
manager, request time, approval valid till; the refusal or the closing), and while the approval
is usable (approved, not closed, not expired) the form for the Techstream Software Version and
the Seed Number. ``POST /requests/<n>/pass-code`` answers with the same page showing the
Pass-Code in its display form (Figure 21: element ``#pass-code``, with a copy button that
``/static/copy.js`` reveals) and the form again under it: every later Seed Number of the VIN goes
through the same page (Section 6). The Pass-Code is never in a URL nor redirected to, and pages
are ``no-store``. Inside the session's step-up window no password is asked; outside it the form
has a password field, sent as the re-entry (which opens the window), as
``POST /api/v1/requests/{number}/pass-codes`` takes it. ``POST /requests/<n>/close`` ("Repair
completed") closes the approval and answers 303 to the file, which then reads *Closed*.

Another dealer's request number is a 404 page, as the service answers
(:class:`~ecusim.portal.errors.NotFoundError`); every other refusal is shown next to its field
(``tool_version``, ``seed``, ``password``, ``note``; the approval's state on
``request_number``, in the status box) in the API's words, the form keeping what was typed but
the password.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from ecusim.portal import rules
from ecusim.portal.api_models import MAX_SEED_LENGTH
from ecusim.portal.errors import NotFoundError, PortalError, RateLimitedError
from ecusim.portal.models import RequestStatus
from ecusim.portal.views import IssuedPassCode
from ecusim.portal.web import display  # noqa: F401  (the templates' tis_time filter)
from ecusim.portal.web.pages.requests import POLICY_BOXES
from ecusim.portal.web.rendering import (
    Browser,
    BrowserSession,
    CheckedForm,
    PagePortal,
    RequestNumber,
    form_text,
    not_found_page,
    render,
    see_other,
)
from protocol.passcode import format_code

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


FILE_FIELDS: Final = ("request_number", "tool_version", "seed", "password", "note")
"""The fields a refusal is shown next to (``request_number``: in the Request Status box)."""
_HOURS: Final = 3600


def _client(request: Request) -> str | None:
    """The TCP peer's address, what the password throttle counts (as the API's)."""
    return request.client.host if request.client else None


async def _file_page(
    request: Request,
    portal: PagePortal,
    current: BrowserSession,
    number: str,
    *,
    issued: IssuedPassCode | None = None,
    issued_seed: str = "",
    stepped_up: bool | None = None,
    typed: dict[str, str] | None = None,
    error: PortalError | None = None,
) -> Response:
    """The approval file of request ``number`` as it stands now (another dealer's, or none:
    the 404 page)."""
    try:
        view = await run_in_threadpool(portal.get_request, current.username, number)
    except NotFoundError as exc:
        return not_found_page(request, current, exc)
    if stepped_up is None:
        stepped_up = current.info.stepped_up(portal.now())
    context: dict[str, Any] = {
        "req": view,
        "usable": view.status == RequestStatus.APPROVED,
        "needs_password": not stepped_up,
        "issued": issued,
        "issued_seed": issued_seed,
        "typed": {"tool_version": "", "seed": "", "note": "", **(typed or {})},
        "boxes": POLICY_BOXES,
        "min_tool_version": rules.MIN_TOOL_VERSION_TEXT,
        "max_tool_version": rules.MAX_TOOL_VERSION_LENGTH,
        "max_seed": MAX_SEED_LENGTH,
        "request_hours": int(rules.REQUEST_VALIDITY.total_seconds()) // _HOURS,
        "approval_hours": int(rules.APPROVAL_VALIDITY.total_seconds()) // _HOURS,
    }
    page = render(
        request, "approval_file.html", context, current=current, error=error, fields=FILE_FIELDS
    )
    if isinstance(error, RateLimitedError):  # RFC 9110 §10.2.3
        page.headers["Retry-After"] = str(error.retry_after_s)
    return page


@router.get("/requests/{number}", response_class=HTMLResponse)
async def approval_file(
    request: Request, portal: PagePortal, current: Browser, number: RequestNumber
) -> Response:
    return await _file_page(request, portal, current, number)


@router.post("/requests/{number}/pass-code", response_class=HTMLResponse)
async def get_pass_code(
    request: Request,
    portal: PagePortal,
    current: Browser,
    form: CheckedForm,
    number: RequestNumber,
) -> Response:
    """Bulletin Section 5: the software version and the Seed Number, *Next*: the Pass-Code."""
    tool_version, seed = form_text(form, "tool_version"), form_text(form, "seed")
    password = form_text(form, "password") or None  # none typed: the window must be open
    try:
        issued = await run_in_threadpool(
            portal.issue_pass_code_in_session,
            current.token,
            number,
            password,
            tool_version,
            seed,
            client_address=_client(request),
            current=current.info,
        )
    except NotFoundError as exc:  # another dealer's request: as if absent
        return not_found_page(request, current, exc)
    except PortalError as exc:
        typed = {"tool_version": tool_version, "seed": seed}
        return await _file_page(request, portal, current, number, typed=typed, error=exc)
    return await _file_page(
        request,
        portal,
        current,
        number,
        issued=issued,
        issued_seed=format_code(rules.validate_seed(seed)),
        # a password re-entry opened the window: the next seed needs none
        stepped_up=True if password is not None else None,
        typed={"tool_version": tool_version},  # the same scan tool, a new seed
    )


@router.post("/requests/{number}/close", response_class=HTMLResponse)
async def close_approval(
    request: Request,
    portal: PagePortal,
    current: Browser,
    form: CheckedForm,
    number: RequestNumber,
) -> Response:
    """ "Repair completed" (bulletin Section 5): no Pass-Code under the approval afterwards."""
    note = form_text(form, "note")
    try:
        closed = await run_in_threadpool(
            portal.close_approval, current.username, number, note or None
        )
    except NotFoundError as exc:
        return not_found_page(request, current, exc)
    except PortalError as exc:
        return await _file_page(request, portal, current, number, typed={"note": note}, error=exc)
    return see_other(f"/requests/{closed.number}")
