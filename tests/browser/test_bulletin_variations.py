"""The bulletin's three variations of the reset, in a real browser against a car on a virtual
bus: the technician's and the managers' steps are done on the pages, the car is driven by the
reference scan tool (``ecusim tool reset``) or by udsoncan, and the Pass-Code read off the page
unlocks the car.

1. Pre-approval: the request is sent on the Key Code Reset form before the car is there; a
   manager approves it in the inbox; later ``ecusim tool reset`` finds the approval and resets.
2. The request is sent by ``ecusim tool reset`` (which prints the approval file's URL and exits
   3, approval pending); a manager approves it on the page ``/inbox/<n>``; the technician opens
   the printed URL, types the car's Seed Number and gets the Pass-Code, which unlocks the car
   (``67 12``) and lets the reset erase its keys.
3. Repeated resets with one approval: each new Seed Number typed on the same approval file gives
   its own Pass-Code, and each unlocks the car.

The car's ISO 14229 S3 timer is 5 s of real time: while a browser works on the portal, the
test keeps the car's session (and its seed) alive with TesterPresent, as a scan tool does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

import can
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from udsoncan.client import Client

from ecusim.car.vehicle import Vehicle
from ecusim.cli.main import main
from ecusim.cli.tool_command import EXIT_PENDING
from ecusim.portal.rules import IdentificationConfirmations
from protocol.passcode import format_code, parse_code
from tests.acceptance.acceptance_kit import (
    EXTENDED_SESSION,
    LEVEL_IMMOBILIZER_RESET,
    MODEL,
    RID_RESET,
    TIME_SCALE,
    VIN,
    YEAR,
    Tester,
    key_counts,
    pass_code,
)
from tests.browser.browser_kit import click, fill, screenshot, text_of
from tests.browser.conftest import PASSWORD, ServedPortal
from tests.browser.pages import log_in, open_page, page_text, step_up, tick

TOOL_VERSION: Final = "9.10.037"
KEEP_ALIVE_PERIOD_S: Final = 1.0
BROWSER_STEP_TIMEOUT_S: Final = 120.0
"""Bound of one browser step done while the car's session is kept alive."""
IDENTIFICATION_BOXES: Final = (
    "confirm_customer_authority",
    "confirm_customer_identity",
    "confirm_vehicle_registration",
    "confirm_terms_and_conditions",
)
APPROVAL_BOXES: Final = ("details_verified", "nicb_log_acknowledged", "terms_and_conditions")
POSITIVE_UNLOCK: Final = bytes(
    [
        0x67,  # SecurityAccess positive response (0x27 + 0x40)
        0x12,  # sendKey of the immobilizer-reset level (requestSeed 0x11 + 1)
    ]
)
_REQUEST_URL: Final = re.compile(r"(http://127\.0\.0\.1:\d+)/requests/(\d{11})\b")


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    """A python-can virtual channel no other test uses."""
    return "browser-" + re.sub(r"\W+", "-", request.node.nodeid)[-60:]


@dataclass(frozen=True)
class Bench:
    """The car on the test's channel and a udsoncan scan tool beside it."""

    channel: str
    car: Vehicle
    tester: Tester


@pytest.fixture
def bench(channel: str) -> Iterator[Bench]:
    """The LS430 2004 (transponder keys) running on the test's channel, ready for the reset:
    its master key in, ignition ON, stopped (the bulletin's conditions)."""
    vehicle = Vehicle.from_catalog(MODEL, YEAR, VIN, time_scale=TIME_SCALE)
    car_bus = can.Bus(interface="virtual", channel=channel)
    tester_bus = can.Bus(interface="virtual", channel=channel)
    scan_tool = Tester(tester_bus)
    try:
        with vehicle.running(car_bus):
            vehicle.present_key(vehicle.factory_keys[0])
            vehicle.set_ignition("on")
            yield Bench(channel, vehicle, scan_tool)
    finally:
        scan_tool.close()
        tester_bus.shutdown()
        car_bus.shutdown()


@pytest.fixture(autouse=True)
def _portal_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECUSIM_PORTAL_PASSWORD", PASSWORD)


def tool_reset(channel: str, served: ServedPortal, *extra: str) -> list[str]:
    return ["tool", "reset", "-i", "virtual", "-c", channel, "--portal", served.url,
            "--user", served.dealer.technician.username, *extra]  # fmt: skip


def manager_approves(
    driver: WebDriver, served: ServedPortal, number: str, shots: Path, *, shoot: bool = False
) -> None:
    """A manager finds "Approval Required: … Request No. <n>" in the inbox, opens it, ticks the
    three Request Approval Policy boxes and approves (bulletin Section 4)."""
    manager = served.dealer.managers[0]
    log_in(driver, served.url, manager.username, PASSWORD, "/inbox")
    assert f"Approval Required: Immobilizer Reset Request No. {number}" in page_text(driver)
    if shoot:
        screenshot(driver, "inbox-manager", shots)
    click(driver, f"request-{number}")
    assert driver.current_url == f"{served.url}/inbox/{number}"
    tick(driver, *APPROVAL_BOXES)
    if shoot:
        screenshot(driver, "approval-message", shots)
    click(driver, "approve")
    assert served.service.get_request(manager.username, number).status == "approved"
    assert "Approved" in page_text(driver)


def pass_code_on_the_page(driver: WebDriver, seed: bytes, *, password: bool) -> str:
    """Type the Techstream version and the Seed Number on the approval file the browser shows
    (and the password, when the page asks for it); the Pass-Code it answers (Figure 21)."""
    fill(driver, tool_version=TOOL_VERSION, seed=format_code(seed))
    if password:
        fill(driver, password=PASSWORD)
    click(driver, "next")
    return text_of(driver, "pass-code")


def while_kept_alive(client: Client, step: Callable[[], str]) -> str:
    """Run a browser ``step`` while TesterPresent keeps the car's session (and seed) alive."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(step)
        waited = 0.0
        while not pending.done():
            client.tester_present()
            try:
                return pending.result(timeout=KEEP_ALIVE_PERIOD_S)
            except FutureTimeout:
                waited += KEEP_ALIVE_PERIOD_S
                assert waited < BROWSER_STEP_TIMEOUT_S, "the browser step did not end"
        return pending.result()


def seed_of_the_car(client: Client) -> bytes:
    client.change_session(EXTENDED_SESSION)
    response = client.request_seed(LEVEL_IMMOBILIZER_RESET)
    assert response is not None and response.positive
    return bytes(response.service_data.seed)


def unlock(client: Client, code_text: str) -> None:
    """Send the Pass-Code typed off the page (sendKey 0x12): the car answers ``67 12``."""
    response = client.send_key(LEVEL_IMMOBILIZER_RESET + 1, parse_code(code_text))
    assert response is not None and response.get_payload() == POSITIVE_UNLOCK


def erase_keys(client: Client) -> None:
    reset = client.start_routine(RID_RESET)  # udsoncan waits through the 0x78 responses
    assert reset is not None and reset.positive
    assert key_counts(client) == (0, 0)


@pytest.mark.slow
def test_variation_2_the_tools_request_approved_in_the_inbox_and_the_pages_pass_code_unlocks(
    served: ServedPortal,
    chromium: Callable[[str], WebDriver],
    bench: Bench,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # The scan tool sends the request and stops: the approval is pending (exit 3); it says
    # where the approval file is and where a manager approves.
    new_request = ("--repair-order", "RO-4711", "--customer", "Smith", "--confirm-identification")
    assert main(tool_reset(bench.channel, served, *new_request)) == EXIT_PENDING
    printed = capsys.readouterr()
    found = _REQUEST_URL.search(printed.out + printed.err)
    assert found is not None, printed
    base, number = found.groups()
    assert base == served.url
    assert f"{served.url}/inbox/{number}" in printed.out + printed.err

    manager_approves(chromium("manager"), served, number, tmp_path, shoot=True)

    technician = chromium("technician")
    log_in(technician, served.url, served.dealer.technician.username, PASSWORD,
           f"/requests/{number}")  # fmt: skip
    assert text_of(technician, "request-status") == "Approved"
    assert text_of(technician, "request-vin") == VIN
    screenshot(technician, "approval-file", tmp_path)

    client = bench.tester.client()
    assert key_counts(client) != (0, 0)
    seed = seed_of_the_car(client)
    code = while_kept_alive(client, lambda: pass_code_on_the_page(technician, seed, password=True))
    screenshot(technician, "pass-code", tmp_path)
    assert parse_code(code) == pass_code(VIN, seed)  # diagnostic-contract.md §5, independently
    unlock(client, code)
    erase_keys(client)


@pytest.mark.slow
def test_variation_3_each_new_seed_on_the_same_approval_file_gives_its_own_pass_code(
    served: ServedPortal,
    chromium: Callable[[str], WebDriver],
    bench: Bench,
    tmp_path: Path,
) -> None:
    technician_user = served.dealer.technician
    request = served.service.create_request(
        technician_user.username,
        VIN,
        "RO-4712",
        "Smith",
        IdentificationConfirmations.all_confirmed(),
    )
    manager_approves(chromium("manager"), served, request.number, tmp_path)
    technician = chromium("technician")
    log_in(technician, served.url, technician_user.username, PASSWORD,
           f"/requests/{request.number}")  # fmt: skip
    client = bench.tester.client()
    codes: list[str] = []
    seeds: list[bytes] = []
    for attempt in range(3):
        seed = seed_of_the_car(client)
        # the first Pass-Code asks for the password; later ones fall in the re-entry window
        step = partial(pass_code_on_the_page, technician, seed, password=not codes)
        code = while_kept_alive(client, step)
        assert parse_code(code) == pass_code(VIN, seed)
        unlock(client, code)
        seeds.append(seed)
        codes.append(code)
        if attempt < 2:
            client.change_session(0x01)  # back to the default session: locked again
    assert len(set(seeds)) == 3 and len(set(codes)) == 3  # a new seed, its own Pass-Code
    erase_keys(client)
    assert served.service.get_request(technician_user.username, request.number).status == (
        "approved"
    )


@pytest.mark.slow
def test_variation_1_pre_approval_on_the_pages_then_the_tool_resets_the_car(
    served: ServedPortal,
    chromium: Callable[[str], WebDriver],
    bench: Bench,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    technician_user = served.dealer.technician
    technician = chromium("technician")
    # the Key Code Reset form needs the password re-entered first (bulletin Section 2)
    log_in(technician, served.url, technician_user.username, PASSWORD, "/requests/new",
           lands_on="/step-up")  # fmt: skip
    step_up(technician, PASSWORD)
    assert text_of(technician, "technician_name") == technician_user.name
    fill(technician, vin=VIN, repair_order="RO-4713", customer_last_name="Smith")
    tick(technician, *IDENTIFICATION_BOXES)
    screenshot(technician, "request-form", tmp_path)
    click(technician, "next")
    assert text_of(technician, "confirm-vin") == VIN
    screenshot(technician, "request-confirm", tmp_path)
    click(technician, "ok")
    number = text_of(technician, "request-number")
    assert VIN not in technician.current_url  # no customer data in URLs
    screenshot(technician, "request-sent", tmp_path)

    manager_approves(chromium("manager"), served, number, tmp_path)
    open_page(technician, f"{served.url}/inbox")  # the technician's inbox: the approval
    assert number in page_text(technician)
    screenshot(technician, "inbox-technician", tmp_path)

    # the car arrives: the tool finds the approval and resets without a new request
    capsys.readouterr()
    assert main(tool_reset(bench.channel, served, "--yes")) == 0
    out = capsys.readouterr().out
    assert number in out
    assert key_counts(bench.tester.client()) == (0, 0)
    open_page(technician, f"{served.url}/requests/{number}")
    assert technician.find_elements(By.ID, "pass-code-form")  # the approval stays usable
