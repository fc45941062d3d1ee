"""The portal's side of the reset utility (bulletin Sections 3-5): approval, then Pass-Code.

If the dealer already holds a valid approval for the VIN it is used (the bulletin: do not
resubmit). Otherwise the technician's own open request for the VIN is waited for, or a new
request is sent to the dealer's managers, and the tool waits for the approval with a progress
bar, up to ``approval_wait_s``. Then the Pass-Code for the Seed Number is issued (password
entered again, tool version checked by the portal).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from ecusim.portal.client import PortalClient, PortalClientError, RequestInfo
from ecusim.portal.rules import IdentificationConfirmations
from ecusim.tool.console import Console
from ecusim.tool.errors import ToolError
from protocol.passcode import format_code, parse_code

APPROVAL_POLL_S: Final = 1.0
"""How often the tool asks the portal whether the request was approved."""


CarCheck = Callable[[], None]
"""Raises :class:`ToolError` once the car stopped answering (see ``DiagnosticLink.keep_alive``)."""


def _no_check() -> None:
    return None


class PassCodeSource(Protocol):
    """Where the reset utility gets the Pass-Code for a Seed Number. ``car_alive`` raises
    once the car stopped answering: call it while waiting and before anything is issued."""

    def pass_code_for(
        self, vin: str, seed: bytes, console: Console, car_alive: CarCheck = _no_check
    ) -> bytes: ...


class ApprovalPendingError(ToolError):
    """The request waits for a manager; run the utility again once it is approved."""

    def __init__(self, message: str, request_number: str) -> None:
        super().__init__(message)
        self.request_number = request_number


@dataclass(frozen=True)
class RequestDetails:
    """The request form (bulletin Section 3 step 9)."""

    repair_order: str
    customer_last_name: str
    confirmations: IdentificationConfirmations


def _portal_error(what: str, exc: PortalClientError) -> ToolError:
    return ToolError(f"{what}: the portal said: {exc}")


class PortalSteps:
    """:class:`PassCodeSource` through the portal's HTTP API with a logged-in ``client``."""

    def __init__(
        self,
        client: PortalClient,
        password: str,
        tool_version: str,
        *,
        details: RequestDetails | None = None,
        approval_wait_s: float = 0.0,
        on_request_sent: Callable[[RequestInfo], None] | None = None,
        poll_s: float = APPROVAL_POLL_S,
    ) -> None:
        self.client = client
        self.password = password
        self.tool_version = tool_version
        self.details = details
        self.approval_wait_s = approval_wait_s
        self.on_request_sent = on_request_sent
        self.poll_s = poll_s
        self.request_number: str | None = None
        """The request whose approval the last Pass-Code came from, or that waits for one."""

    def pass_code_for(
        self, vin: str, seed: bytes, console: Console, car_alive: CarCheck = _no_check
    ) -> bytes:
        console.step("Pass-Code from the portal")
        try:
            approval = self.client.find_approval(vin)
        except PortalClientError as exc:
            raise _portal_error("looking up an approval", exc) from exc
        if approval is not None:
            console.info(
                f"approval {approval.number} for VIN {vin} is valid until "
                f"{approval.valid_until:%Y-%m-%d %H:%M} UTC: no new request needed"
            )
        else:
            request = self._open_request(vin, console)
            self.request_number = request.number
            approval = self._wait_for_approval(request, console, car_alive)
        self.request_number = approval.number
        car_alive()  # no Pass-Code is issued (and audited) for a Seed Number the car dropped
        console.info(f"Seed Number sent to the portal: {format_code(seed)}")
        try:
            issued = self.client.issue_pass_code(
                approval.number, self.password, self.tool_version, seed
            )
        except PortalClientError as exc:
            raise _portal_error("getting the Pass-Code", exc) from exc
        console.info(f"Pass-Code received for request {issued.request_number}")
        return parse_code(issued.pass_code)

    def _open_request(self, vin: str, console: Console) -> RequestInfo:
        """The technician's request for ``vin`` still awaiting approval, or a new one."""
        try:
            mine = self.client.inbox().my_requests
        except PortalClientError as exc:
            raise _portal_error("reading the inbox", exc) from exc
        for request in mine:
            if request.vin == vin and request.status == "requested":
                console.info(f"request {request.number} for this VIN already awaits approval")
                return request
        if self.details is None:
            raise ToolError(
                f"there is no approval for VIN {vin}: a new request needs the repair order, "
                "the customer's last name and the four identification confirmations "
                "(--repair-order, --customer, --confirm-identification)"
            )
        try:
            request = self.client.create_request(
                vin,
                self.details.repair_order,
                self.details.customer_last_name,
                self.details.confirmations,
            )
        except PortalClientError as exc:
            raise _portal_error("sending the request", exc) from exc
        console.info(
            f"request {request.number} sent to the dealer's approving managers "
            f"(expires {request.expires_at:%Y-%m-%d %H:%M} UTC)"
        )
        if self.on_request_sent is not None:
            self.on_request_sent(request)
            try:
                request = self.client.get_request(request.number)
            except PortalClientError as exc:
                raise _portal_error("checking the request", exc) from exc
        return request

    def approval_file_url(self, number: str) -> str:
        """The page of request ``number`` in the portal: its approval file (Figure 20)."""
        return f"{self.client.portal_url}/requests/{number}"

    def _wait_for_approval(
        self, request: RequestInfo, console: Console, car_alive: CarCheck
    ) -> RequestInfo:
        deadline = time.monotonic() + self.approval_wait_s
        progress = (
            console.progress("waiting for approval", self.approval_wait_s)
            if self.approval_wait_s > 0
            else None
        )
        started = time.monotonic()
        file_url = self.approval_file_url(request.number)
        if request.status == "requested":
            console.info(
                f"approval file: {file_url} (a manager approves it at "
                f"{self.client.portal_url}/inbox/{request.number})"
            )
        while True:
            if request.status == "approved":
                if progress is not None:  # the wait is over: a full bar, the real time waited
                    progress.finish(f"approved after {time.monotonic() - started:.0f} s")
                console.info(f"request {request.number} approved by {request.approved_by}")
                return request
            if request.status in ("refused", "expired") and progress is not None:
                progress.finish(request.status, done=time.monotonic() - started)
            if request.status == "refused":
                raise ToolError(
                    f"request {request.number} was refused by {request.refused_by}: "
                    f"{request.refusal_reason}"
                )
            if request.status == "expired":
                raise ToolError(
                    f"request {request.number} expired (72 hours) before a manager approved "
                    "it: send a new request"
                )
            car_alive()
            if time.monotonic() >= deadline:
                if progress is not None:
                    progress.finish("still pending")
                raise ApprovalPendingError(
                    f"approval pending: request {request.number} waits for an approving "
                    "manager in the portal inbox; run the utility again once it is approved "
                    "(a new Seed Number will be read; the approval stays valid for 72 hours); "
                    f"approval file: {file_url}",
                    request.number,
                )
            if progress is not None:
                progress.update(time.monotonic() - started, "pending")
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))
            try:
                request = self.client.get_request(request.number)
            except PortalClientError as exc:
                raise _portal_error("checking the request", exc) from exc
