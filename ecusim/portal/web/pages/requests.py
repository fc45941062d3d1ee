"""The Key Code Reset form, its OK page and sending the request (bulletin Sections 2 and 3).

``GET /requests/new`` is the form of Figures 3 and 13: Dealer Code, Dealer Name and Technician
Name filled in from the session, the required VIN, Repair Order/Parts Invoice Number and Customer
Last Name, the four Positive Identification Policy boxes, Back / Clear / Next. The password is
re-entered before it (bulletin Section 2): outside the session's step-up window the browser is
sent to ``/step-up?next=/requests/new`` first. The POSTs need no open window, as
``POST /api/v1/requests`` does not: a slow typist keeps what was typed.

Every step POSTs to ``/requests/new`` (the values travel in the body, never in a URL), the
button naming the step: *Next* checks the fields with the service's own rules
(:func:`check_form`) and shows the OK page, the values in hidden fields; *OK* sends the request
(:meth:`~ecusim.portal.service.Portal.create_request`) and answers 303 to the request's approval
file ``/requests/<n>``, which says it was sent to management and when it expires; the OK page's
*Back* shows the form again with the values. A refusal is shown next to its field in the API's
words (``PortalError.reason``), the form keeping what was typed, with the error's HTTP status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ecusim.portal import rules
from ecusim.portal.errors import PortalError
from ecusim.portal.rules import IdentificationConfirmations
from ecusim.portal.web import display  # noqa: F401  (the templates' tis_time filter)
from ecusim.portal.web.rendering import (
    Browser,
    BrowserSession,
    CheckedForm,
    PagePortal,
    form_box,
    form_text,
    render,
    see_other,
)

__all__ = ["POLICY_BOXES", "KeyCodeForm", "check_form", "router"]

router = APIRouter(include_in_schema=False)

NEW_REQUEST_PATH: Final = "/requests/new"

POLICY_BOXES: Final[tuple[tuple[str, str], ...]] = (
    (
        "customer_authority",
        "I have verified the customer's authority to obtain vehicle security information for "
        "this vehicle.",
    ),
    (
        "customer_identity",
        "I have verified the customer's full legal name and confirmed their identity with a "
        "valid picture ID.",
    ),
    (
        "vehicle_registration",
        "I have or will visually confirm the vehicle's registration document and ownership.",
    ),
    ("terms_and_conditions", "I agree to the TIS Terms and Conditions."),
)
"""The Positive Identification Policy boxes (bulletin Figure 3): the fields of
:class:`~ecusim.portal.rules.IdentificationConfirmations`, in order, and their wording. A box is
the form field ``confirm_<name>``; its refusal names ``confirmations.<name>``."""

FORM_FIELDS: Final = (
    "dealer",
    "vin",
    "repair_order",
    "customer_last_name",
    *(f"confirmations.{name}" for name, _ in POLICY_BOXES),
)
"""The fields a refusal is shown next to (``dealer``: fewer than two managers)."""


@dataclass(frozen=True)
class KeyCodeForm:
    """What the Key Code Reset form holds: as typed, or as :func:`check_form` normalised it."""

    vin: str = ""
    repair_order: str = ""
    customer_last_name: str = ""
    ticked: frozenset[str] = field(default_factory=frozenset)
    """The names of the ticked Positive Identification Policy boxes."""

    @classmethod
    def of(cls, form: FormData) -> KeyCodeForm:
        return cls(
            vin=form_text(form, "vin"),
            repair_order=form_text(form, "repair_order"),
            customer_last_name=form_text(form, "customer_last_name"),
            ticked=frozenset(name for name, _ in POLICY_BOXES if form_box(form, f"confirm_{name}")),
        )

    def confirmations(self) -> IdentificationConfirmations:
        return IdentificationConfirmations(
            **{name: name in self.ticked for name, _ in POLICY_BOXES}
        )


def check_form(values: KeyCodeForm) -> KeyCodeForm:
    """The values as :meth:`~ecusim.portal.service.Portal.create_request` will take them (VIN
    upper-cased, texts stripped), checked by the same rules in the same order, so a refusal has
    the API's words; :class:`~ecusim.portal.errors.ValidationError` for the first bad field.
    What needs the database (a second request for the VIN, the dealer's managers) is refused at
    OK."""
    vin = rules.validate_vin_field(values.vin)
    repair_order = rules.require_text("repair_order", values.repair_order)
    customer_last_name = rules.require_text("customer_last_name", values.customer_last_name)
    rules.check_confirmations(values.confirmations(), "confirmations")
    return KeyCodeForm(vin, repair_order, customer_last_name, values.ticked)


async def _form_page(
    request: Request,
    portal: PagePortal,
    current: BrowserSession,
    values: KeyCodeForm,
    *,
    template: str = "request_form.html",
    error: PortalError | None = None,
) -> Response:
    dealer = await run_in_threadpool(portal.own_dealer, current.username)
    return render(
        request,
        template,
        {
            "dealer": dealer,
            "values": values,
            "boxes": POLICY_BOXES,
            "max_text": rules.MAX_TEXT_LENGTH,
        },
        current=current,
        error=error,
        fields=FORM_FIELDS,
    )


@router.get(NEW_REQUEST_PATH, response_class=HTMLResponse)
async def new_request_form(request: Request, portal: PagePortal, current: Browser) -> Response:
    """The empty form, after the password re-entry (bulletin Section 2)."""
    if not current.info.stepped_up(portal.now()):
        return see_other(f"/step-up?next={NEW_REQUEST_PATH}")
    return await _form_page(request, portal, current, KeyCodeForm())


@router.post(NEW_REQUEST_PATH, response_class=HTMLResponse)
async def new_request_step(
    request: Request, portal: PagePortal, current: Browser, form: CheckedForm
) -> Response:
    """*Next* (check, then the OK page), *OK* (send it) or the OK page's *Back* (edit)."""
    values = KeyCodeForm.of(form)
    step = form_text(form, "step")
    if step == "edit":
        return await _form_page(request, portal, current, values)
    if step == "ok":
        try:
            sent = await run_in_threadpool(
                portal.create_request,
                current.username,
                values.vin,
                values.repair_order,
                values.customer_last_name,
                values.confirmations(),
            )
        except PortalError as exc:
            return await _form_page(request, portal, current, values, error=exc)
        return see_other(f"/requests/{sent.number}")
    try:  # "next", and Enter in a text field (the form's first submit button is Next)
        checked = check_form(values)
    except PortalError as exc:
        return await _form_page(request, portal, current, values, error=exc)
    return await _form_page(request, portal, current, checked, template="request_confirm.html")
