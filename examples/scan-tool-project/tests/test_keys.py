"""The scan tool against ecusim's virtual car: every fixture of the plugin, the marker, and
faults a real ECU shows. Runs as well under ``pytest -n 4`` as alone: each test has its car on
a channel of its own, its folders in its tmp_path, its portal on a free port."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from scan_tool import KeyCounts, ScanToolError, read_key_counts, reset_keys

from ecusim.portal.client import PortalClient
from ecusim.testing.portal import TOOL_VERSION
from protocol.passcode import parse_code

SMART_CAR = {"model": "LS460", "year": 2012}
TRANSPONDER_CAR = {"model": "LS430", "year": 2004}


def test_a_new_smart_key_car_has_its_two_smart_keys(uds_client):
    assert read_key_counts(uds_client) == KeyCounts(masters=0, subs=0, smart=2)


@pytest.mark.ecusim_car(**TRANSPONDER_CAR)
def test_a_new_transponder_car_has_two_masters_and_a_sub(uds_client):
    assert read_key_counts(uds_client) == KeyCounts(masters=2, subs=1, smart=0)


def _car(model: str, year: int) -> object:
    """A parameter whose test runs on that car (the marker as a parameter's mark)."""
    return pytest.param(model, marks=pytest.mark.ecusim_car(model=model, year=year), id=model)


@pytest.mark.parametrize("model", [_car("LS460", 2012), _car("LS430", 2004), _car("GX470", 2005)])
def test_the_reset_erases_every_key(model, virtual_car, uds_client, portal):
    assert virtual_car.vehicle.model_year.model == model
    virtual_car.ready_for_reset()
    assert reset_keys(uds_client, virtual_car.vin, portal.pass_code).total == 0


def test_the_car_saw_the_tools_requests(virtual_car, uds_client, portal, car_requests):
    virtual_car.ready_for_reset()
    reset_keys(uds_client, virtual_car.vin, portal.pass_code)
    session, seed, key, routine, capabilities, counts = car_requests.all()
    assert (session.sid, session.sub_function) == (0x10, 0x03)  # extended session
    assert (seed.sid, seed.sub_function, key.sub_function) == (0x27, 0x11, 0x12)
    assert len(key.data) == 16 and key.positive  # the portal's Pass-Code was accepted
    assert (routine.sub_function, routine.routine_id) == (0x01, 0x0201)  # startRoutine, reset
    assert capabilities.did == 0x010A  # smart key or transponder: which counts to read
    assert counts.did == 0x0106 and counts.data == bytes([0x01, 0x06, 0x01, 0x07, 0x01, 0x0D])


def test_a_busy_ecu_is_asked_again(uds_client, car_faults, car_requests):
    car_faults.force_nrc("busyRepeatRequest", sid=0x22, times=2)
    assert read_key_counts(uds_client).smart == 2
    # the capabilities read twice busy, then it and the counts read answered
    assert [(record.did, record.nrc) for record in car_requests] == [
        (0x010A, 0x21),
        (0x010A, 0x21),
        (0x010A, None),
        (0x0106, None),
    ]


def test_an_ecu_that_stays_busy_is_reported(uds_client, car_faults):
    car_faults.force_nrc(0x21, sid=0x22)
    with pytest.raises(ScanToolError, match="stayed busy"):
        read_key_counts(uds_client, retries=2)


def test_a_refused_reset_is_reported(virtual_car, uds_client, portal, car_faults):
    virtual_car.ready_for_reset()
    car_faults.force_nrc("conditionsNotCorrect", sid=0x31)
    with pytest.raises(ScanToolError, match="reset was refused"):
        reset_keys(uds_client, virtual_car.vin, portal.pass_code)
    assert read_key_counts(uds_client).smart == 2  # nothing was erased


def test_the_tool_waits_out_response_pending(virtual_car, uds_client, portal, car_faults):
    virtual_car.ready_for_reset()
    car_faults.extra_pending(5, sid=0x31)
    assert reset_keys(uds_client, virtual_car.vin, portal.pass_code).total == 0


@pytest.mark.ecusim_car(**SMART_CAR, state_dir="car")
def test_the_reset_holds_after_a_power_cycle(virtual_car, uds_client, portal, tmp_path):
    virtual_car.ready_for_reset()
    reset_keys(uds_client, virtual_car.vin, portal.pass_code)
    virtual_car.power_cycle()
    assert virtual_car.vehicle.state_dir == tmp_path / "car"
    assert read_key_counts(uds_client).total == 0
    assert uds_client.read_data_by_identifier_first(0xF186) == 0x01  # default session


def _over_http(portal) -> tuple[PortalClient, Callable[[str, bytes], bytes]]:
    """Pass-Codes from the portal's HTTP API (on a free port of its own), as a real tool gets
    them: the technician logged in beforehand (the car's session would not wait for a login),
    asking under the dealer's approval."""
    client = PortalClient(portal.url)
    client.login(portal.technician, portal.password)

    def issue(vin: str, seed: bytes) -> bytes:
        approval = portal.approve(vin)
        issued = client.issue_pass_code(approval.number, portal.password, TOOL_VERSION, seed)
        return parse_code(issued.pass_code)

    return client, issue


def test_the_reset_with_a_pass_code_over_http(virtual_car, uds_client, portal, record_property):
    record_property("portal_url", portal.url)
    client, pass_code = _over_http(portal)
    with client:
        virtual_car.ready_for_reset()
        assert reset_keys(uds_client, virtual_car.vin, pass_code).total == 0
