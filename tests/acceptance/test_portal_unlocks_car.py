"""Acceptance: the portal's Pass-Code unlocks the car.

A portal (SQLite, a temporary file) is served by uvicorn on 127.0.0.1 and a free port. A
technician requests a reset for the LS430 2004 (transponder keys) through the HTTP client, a
manager approves it through the client, udsoncan reads the car's Seed Number (requestSeed 0x11 in
the extended session), the technician obtains the Pass-Code for that seed from the portal (display
form), and udsoncan sends it (sendKey 0x12): the car unlocks, the reset routine 0x0201 runs and
both key counts read 0.

The car's own waits run 20 times fast; its ISO 14229 timers do not: S3 is 5 s of real time. A
technician may take longer than that on the portal, so the scan tool keeps the session (and its
seed) alive with TesterPresent while the Pass-Code is being obtained, as a real scan tool does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import can
import pytest

from ecusim.car.keys import KeyKind
from ecusim.car.vehicle import Vehicle
from ecusim.portal.api import BackgroundServer
from ecusim.portal.client import PortalClient
from ecusim.portal.demo_data import add_demo_dealer
from ecusim.portal.rules import ApprovalConfirmations, IdentificationConfirmations
from ecusim.portal.service import Portal
from protocol.passcode import parse_code
from tests.acceptance.acceptance_kit import (
    EXTENDED_SESSION,
    LEVEL_IMMOBILIZER_RESET,
    MODEL,
    RID_RESET,
    SEED_LENGTH,
    TIME_SCALE,
    VIN,
    YEAR,
    Tester,
    assert_known_answers,
    key_counts,
    pass_code,
)

PASSWORD: Final = "acceptance password"
TOOL_VERSION: Final = "9.10.037"
SERVER_START_TIMEOUT_S: Final = 20.0
SERVER_STOP_TIMEOUT_S: Final = 10.0
PORTAL_TIMEOUT_S: Final = 30.0
"""Deadline of one HTTP call (scrypt and SQLite on a busy 2-core box)."""
KEEP_ALIVE_PERIOD_S: Final = 1.0
"""TesterPresent every second of real time (S3 = 5 s of real time, whatever the time scale)."""


@pytest.fixture
def portal(tmp_path: Path) -> Portal:
    return Portal.open(f"sqlite:///{tmp_path / 'portal.db'}")


@pytest.fixture
def portal_url(portal: Portal) -> Iterator[str]:
    """The API served by uvicorn on 127.0.0.1 and an OS-chosen port, in a thread; stopped at
    teardown (both bounded in time)."""
    server = BackgroundServer(
        portal, start_timeout_s=SERVER_START_TIMEOUT_S, stop_timeout_s=SERVER_STOP_TIMEOUT_S
    )
    url = server.start()
    assert url.startswith("http://127.0.0.1:")
    yield url
    assert server.stop(), f"uvicorn still running after {SERVER_STOP_TIMEOUT_S} s"


@pytest.fixture
def tester(channel: str) -> Iterator[Tester]:
    bus = can.Bus(interface="virtual", channel=channel)
    scan_tool = Tester(bus)
    yield scan_tool
    scan_tool.close()
    bus.shutdown()


@pytest.fixture
def car_bus(channel: str) -> Iterator[can.BusABC]:
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


@pytest.mark.slow
def test_the_portals_pass_code_unlocks_the_car(
    portal: Portal, portal_url: str, tester: Tester, car_bus: can.BusABC
) -> None:
    assert_known_answers()  # the independent check below is right
    demo = add_demo_dealer(portal, PASSWORD)
    technician = PortalClient(portal_url, timeout_s=PORTAL_TIMEOUT_S)
    manager = PortalClient(portal_url, timeout_s=PORTAL_TIMEOUT_S)
    try:
        # The technician requests the reset; a manager approves it (bulletin Sections 2-4).
        technician.login(demo.technician.username, PASSWORD)
        assert technician.find_approval(VIN) is None
        request = technician.create_request(
            VIN, "RO-4711", "Smith", IdentificationConfirmations.all_confirmed()
        )
        manager.login(demo.managers[0].username, PASSWORD)
        assert [r.number for r in manager.inbox().awaiting_approval] == [request.number]
        manager.approve(request.number, ApprovalConfirmations.all_confirmed())
        approval = technician.find_approval(VIN)
        assert approval is not None and approval.number == request.number

        car = Vehicle.from_catalog(MODEL, YEAR, VIN, time_scale=TIME_SCALE)
        master = next(key for key in car.factory_keys if key.kind is KeyKind.MASTER)
        client = tester.client()
        with car.running(car_bus):
            assert key_counts(client) != (0, 0)
            car.present_key(master)  # the bulletin's conditions: key in, ignition ON, stopped
            car.set_ignition("on")
            client.change_session(EXTENDED_SESSION)
            seed_response = client.request_seed(LEVEL_IMMOBILIZER_RESET)
            assert seed_response is not None
            seed = bytes(seed_response.service_data.seed)
            assert len(seed) == SEED_LENGTH

            # Bulletin Section 5: the Pass-Code for this seed, while the session is kept alive.
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(
                    technician.issue_pass_code, request.number, PASSWORD, TOOL_VERSION, seed
                )
                while not pending.done():
                    client.tester_present()
                    time.sleep(KEEP_ALIVE_PERIOD_S)
                issued = pending.result()
            assert (issued.request_number, issued.vin) == (request.number, VIN)
            code = parse_code(issued.pass_code)
            assert code == pass_code(VIN, seed)  # diagnostic-contract.md §5, computed independently

            unlocked = client.send_key(LEVEL_IMMOBILIZER_RESET + 1, code)
            assert unlocked is not None and unlocked.positive
            reset = client.start_routine(RID_RESET)  # udsoncan waits through the 0x78
            assert reset is not None and reset.positive
            results = client.get_routine_result(RID_RESET)
            assert results is not None
            assert results.service_data.routine_status_record[0] == 0x00  # done
            assert key_counts(client) == (0, 0)
        assert manager.audit_verify().ok  # the audit log is for approving managers
    finally:
        technician.close()
        manager.close()
