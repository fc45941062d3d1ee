"""The TIS inbox and the managers' approval message (bulletin Sections 3 and 4).

``GET /inbox``: for an approving manager, the dealer's requests awaiting approval, each titled
"Approval Required: Immobilizer Reset Request No. <n>" (Figure 16) and linking to
``/inbox/<n>``; for everyone, their own requests with their status (approved, refused with the
reason, pending, expired, closed), linking to the approval file ``/requests/<n>``.

``GET /inbox/<n>``: the approval message: who requested it and when, the request details, the
three Request Approval Policy boxes, *Approve*, and *Refuse* with a reason. ``POST
/inbox/<n>/approve`` and ``/refuse`` call :meth:`Portal.approve` / :meth:`Portal.refuse`
and answer 303 to the message, which then shows the decision. The service decides who may
(an enrolled approving manager of the dealer, not the requester): its refusals are shown next
to their field in its words, the boxes and the reason kept; another dealer's request is a 404
page.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ecusim.portal.errors import PermissionDeniedError, PortalError
from ecusim.portal.rules import ApprovalConfirmations
from ecusim.portal.views import RequestView
from ecusim.portal.web import display  # noqa: F401  (the templates' tis_time filter)
from ecusim.portal.web.rendering import (
    Browser,
    BrowserSession,
    CheckedForm,
    PagePortal,
    RequestNumber,
    form_box,
    form_text,
    not_found_page,
    refusal_page,
    render,
    see_other,
)

__all__ = ["APPROVAL_BOXES", "router"]

router = APIRouter(include_in_schema=False)


APPROVAL_BOXES: Final = (
    (
        "details_verified",
        "I have verified the details entered for this request and confirmed the authority of "
        "the customer was verified.",
    ),
    (
        "nicb_log_acknowledged",
        "I realize that upon retrieval, a transaction log will be posted to the National "
        "Insurance Crime Bureau.",
    ),
    ("terms_and_conditions", "I agree to the TIS Terms and Conditions."),
)
"""The Request Approval Policy boxes (bulletin Figure 16): the fields of
:class:`ApprovalConfirmations`, in order, and their words."""
assert tuple(name for name, _ in APPROVAL_BOXES) == tuple(
    item.name for item in fields(ApprovalConfirmations)
)
MESSAGE_FIELDS: Final = ("confirmations", "reason", "request_number", "username", "job_title")
"""The fields a refusal is shown next to (each box's is ``confirmations.<box>``)."""


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request, portal: PagePortal, current: Browser) -> Response:
    box = await run_in_threadpool(portal.inbox, current.username)
    return render(request, "inbox.html", {"inbox": box}, current=current)


async def _message(
    request: Request,
    portal: PagePortal,
    current: BrowserSession,
    number: str,
    *,
    form: FormData | None = None,
    error: PortalError | None = None,
) -> Response:
    try:
        req: RequestView = await run_in_threadpool(portal.get_request, current.username, number)
    except PortalError as exc:  # another dealer's: as if absent (404)
        return not_found_page(request, current, exc)
    try:  # the approval message is a manager's page: no form for anyone else (ASVS V4.1.1)
        await run_in_threadpool(portal.require_manager, current.username)
    except PermissionDeniedError as exc:
        # a refused POST says the service's own words
        return refusal_page(request, current, error or exc, "Not allowed")
    ticked = {name for name, _ in APPROVAL_BOXES if form is not None and form_box(form, name)}
    context = {
        "req": req,
        "boxes": APPROVAL_BOXES,
        "ticked": ticked,
        "reason": form_text(form, "reason") if form is not None else "",
    }
    fields_shown = (*MESSAGE_FIELDS, *(f"confirmations.{name}" for name, _ in APPROVAL_BOXES))
    return render(
        request, "inbox_message.html", context, current=current, error=error, fields=fields_shown
    )


@router.get("/inbox/{number}", response_class=HTMLResponse)
async def message(
    request: Request, portal: PagePortal, current: Browser, number: RequestNumber
) -> Response:
    return await _message(request, portal, current, number)


@router.post("/inbox/{number}/approve", response_class=HTMLResponse)
async def approve(
    request: Request,
    portal: PagePortal,
    current: Browser,
    form: CheckedForm,
    number: RequestNumber,
) -> Response:
    confirmations = ApprovalConfirmations(
        **{name: form_box(form, name) for name, _ in APPROVAL_BOXES}
    )
    try:
        await run_in_threadpool(portal.approve, current.username, number, confirmations)
    except PortalError as exc:
        return await _message(request, portal, current, number, form=form, error=exc)
    return see_other(f"/inbox/{number}")


@router.post("/inbox/{number}/refuse", response_class=HTMLResponse)
async def refuse(
    request: Request,
    portal: PagePortal,
    current: Browser,
    form: CheckedForm,
    number: RequestNumber,
) -> Response:
    try:
        await run_in_threadpool(portal.refuse, current.username, number, form_text(form, "reason"))
    except PortalError as exc:
        return await _message(request, portal, current, number, form=form, error=exc)
    return see_other(f"/inbox/{number}")
