"""Waiting on the portal: the session (and its Seed Number) is kept past S3 with
TesterPresent, and a car that stops answering ends the wait at once, before any Pass-Code is
issued for a Seed Number it no longer holds."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ecusim.car.vehicle import Vehicle
from ecusim.portal.client import PortalClient, RequestInfo
from ecusim.portal.rules import IdentificationConfirmations
from ecusim.tool import TOOL_VERSION
from ecusim.tool.console import TextConsole
from ecusim.tool.errors import ToolError
from ecusim.tool.identify import identify
from ecusim.tool.link import DiagnosticLink
from ecusim.tool.portal_steps import PortalSteps, RequestDetails
from ecusim.tool.reset import ResetUtility
from tests.tool.tool_kit import PASSWORD, ServedPortal, ready_for_reset

S3_S = 5.0
"""S3server of the contract, real time whatever the car's time scale."""


@pytest.fixture
def technician(portal: ServedPortal) -> Iterator[PortalClient]:
    with PortalClient(portal.url) as client:
        client.login(portal.dealer.technician.username, PASSWORD)
        yield client


def _steps(
    client: PortalClient, wait_s: float, on_sent: Callable[[RequestInfo], None]
) -> PortalSteps:
    details = RequestDetails("RO-9", "Smith", IdentificationConfirmations.all_confirmed())
    return PortalSteps(client, PASSWORD, TOOL_VERSION, details=details, approval_wait_s=wait_s,
                       on_request_sent=on_sent, poll_s=0.2)  # fmt: skip


@pytest.mark.slow
def test_an_approval_after_s3_still_unlocks_the_same_seed(
    running_car: Callable[..., Vehicle],
    link: DiagnosticLink,
    portal: ServedPortal,
    technician: PortalClient,
) -> None:
    ready_for_reset(running_car("LS430", 2004, time_scale=20.0))
    out = io.StringIO()
    console = TextConsole(out, assume_yes=True)

    def approve_later(_request: RequestInfo) -> None:
        threading.Timer(S3_S + 1.5, portal.approve_all).start()

    identity = identify(link, console)
    steps = _steps(technician, 20.0, approve_later)
    outcome = ResetUtility(link, console, identity, steps).run()
    assert outcome.keys_left == 0
    assert "approved" in out.getvalue()


def test_a_car_that_stops_answering_ends_the_wait_before_a_pass_code(
    running_car: Callable[..., Vehicle],
    link: DiagnosticLink,
    portal: ServedPortal,
    technician: PortalClient,
) -> None:
    car = ready_for_reset(running_car("LS430", 2004, time_scale=20.0))
    console = TextConsole(io.StringIO(), assume_yes=True)
    identity = identify(link, console)
    steps = _steps(technician, 30.0, lambda _request: threading.Timer(0.5, car.stop).start())
    started = time.monotonic()
    with pytest.raises(ToolError, match="the car stopped answering while the tool waited"):
        ResetUtility(link, console, identity, steps).run()
    assert time.monotonic() - started < 20.0  # not the whole 30 s approval wait
    (request,) = technician.inbox().my_requests
    assert request.status == "requested"  # still pending; nothing was issued
