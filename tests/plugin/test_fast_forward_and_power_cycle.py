"""A whole smart-key registration in a plugin test takes well under the 48 s the waiting period
lasts at the default time scale: ``virtual_car.fast_forward`` skips it. ``power_cycle`` keeps the
NVM (the keys just registered) and loses the RAM state (session, security unlocks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pytest
from udsoncan.client import Client
from udsoncan.exceptions import NegativeResponseException

from ecusim.errors import VehicleError
from ecusim.testing import VirtualCar
from ecusim.testing.portal import VirtualPortal
from ecusim.testing.virtual_car import DEFAULT_TIME_SCALE
from protocol.uds.faults import RequestLog

WAITING_S: Final = 960.0
"""The LS460 2012's waiting period (16 min; 48 s of wall time at the default 20x)."""
REGISTRATION_BOUND_S: Final = 30.0
"""Generous bound of the whole procedure on a loaded machine (the assertion that it is fast is
the 48 s it would otherwise wait, not this bound)."""
POLL_S: Final = 0.05

RID_RESET, RID_REGISTRATION = 0x0201, 0x0206
DID_REGISTRATION_MODE, DID_WAITING_PERIOD, DID_SMART_KEYS = 0x0109, 0x010B, 0x010D
MODE_WAITING, MODE_OPEN = 3, 4


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + REGISTRATION_BOUND_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {REGISTRATION_BOUND_S:g} s")
        time.sleep(POLL_S)


def _reset(virtual_car: VirtualCar, uds_client: Client, portal: VirtualPortal) -> None:
    virtual_car.ready_for_reset()
    uds_client.change_session(0x03)
    seed = uds_client.request_seed(0x11).service_data.seed
    uds_client.send_key(0x12, portal.pass_code(virtual_car.vin, seed))
    uds_client.start_routine(RID_RESET)


def _register(virtual_car: VirtualCar, uds_client: Client, count: int) -> None:
    """Routine 0x0206 at level 0x01, the waiting period skipped, ``count`` new keys touched to
    the engine switch, the routine stopped."""
    uds_client.change_session(0x03)
    uds_client.unlock_security_access(0x01)
    response = uds_client.start_routine(RID_REGISTRATION)
    assert response is not None
    started = response.service_data.routine_status_record
    assert 0 < int.from_bytes(started[1:3], "big") <= WAITING_S  # the waiting period's seconds
    assert uds_client.read_data_by_identifier_first(DID_REGISTRATION_MODE) == MODE_WAITING
    virtual_car.fast_forward(WAITING_S)
    assert uds_client.read_data_by_identifier_first(DID_WAITING_PERIOD) == 0
    assert uds_client.read_data_by_identifier_first(DID_REGISTRATION_MODE) == MODE_OPEN
    for number in range(1, count + 1):
        key = virtual_car.vehicle.new_key("smart")
        virtual_car.vehicle.present_key(key, "switch")

        def registered(n: int = number) -> bool:
            return bool(uds_client.read_data_by_identifier_first(DID_SMART_KEYS) == n)

        _until(registered, f"smart key {number} registered")
        virtual_car.vehicle.withdraw_key(key)
    uds_client.stop_routine(RID_REGISTRATION)


def test_a_smart_key_registration_takes_seconds_not_the_waiting_period(
    virtual_car: VirtualCar, uds_client: Client, portal: VirtualPortal
) -> None:
    started = time.monotonic()
    _reset(virtual_car, uds_client, portal)
    _register(virtual_car, uds_client, 2)
    assert time.monotonic() - started < WAITING_S / DEFAULT_TIME_SCALE  # not the 48 s wait
    registered = virtual_car.vehicle.registered_keys
    assert registered is not None and len(registered) == 2
    assert uds_client.read_data_by_identifier_first(DID_SMART_KEYS) == 2


def test_fast_forward_moves_only_the_cars_clock(
    virtual_car: VirtualCar, uds_client: Client
) -> None:
    uds_client.change_session(0x03)
    before = virtual_car.vehicle.clock.now()
    assert virtual_car.fast_forward(3600.0) >= before + 3600.0
    assert uds_client.read_data_by_identifier_first(0xF186) == 0x03  # S3 is real time: still open
    for wrong in (-1.0, float("nan"), "960"):
        with pytest.raises(VehicleError, match="fast_forward takes seconds"):
            virtual_car.fast_forward(wrong)  # type: ignore[arg-type]


def _security_denied(uds_client: Client) -> int:
    uds_client.change_session(0x03)
    with pytest.raises(NegativeResponseException) as info:
        uds_client.start_routine(RID_REGISTRATION)
    code = info.value.response.code
    assert code is not None
    return code


@pytest.mark.ecusim_car(state_dir="car")
def test_a_power_cycle_keeps_the_keys_and_loses_session_and_unlock(
    virtual_car: VirtualCar,
    uds_client: Client,
    portal: VirtualPortal,
    car_requests: RequestLog,
    tmp_path: Path,
) -> None:
    assert virtual_car.vehicle.state_dir == tmp_path / "car"
    _reset(virtual_car, uds_client, portal)
    _register(virtual_car, uds_client, 1)
    uds_client.change_session(0x03)
    uds_client.unlock_security_access(0x01)
    channel, car = virtual_car.channel, virtual_car.vehicle

    virtual_car.power_cycle()

    assert (virtual_car.channel, virtual_car.vehicle) == (channel, car)  # same car, same channel
    assert virtual_car.vehicle.is_running
    assert uds_client.read_data_by_identifier_first(0xF186) == 0x01  # default session again
    assert uds_client.read_data_by_identifier_first(DID_SMART_KEYS) == 1  # NVM kept
    assert (tmp_path / "car" / "certification.nvm.json").is_file()
    car_requests.clear()
    assert _security_denied(uds_client) == 0x33  # securityAccessDenied: level 0x01 locked again
    last = car_requests.last()
    assert last is not None and last.routine_id == RID_REGISTRATION and last.nrc == 0x33


def test_a_power_cycle_keeps_an_in_process_memory_too(
    virtual_car: VirtualCar, uds_client: Client, portal: VirtualPortal
) -> None:
    assert virtual_car.vehicle.state_dir is None
    _reset(virtual_car, uds_client, portal)
    _register(virtual_car, uds_client, 1)
    virtual_car.power_cycle()
    assert uds_client.read_data_by_identifier_first(DID_SMART_KEYS) == 1  # the ECU's memory kept
    assert uds_client.read_data_by_identifier_first(0xF186) == 0x01
