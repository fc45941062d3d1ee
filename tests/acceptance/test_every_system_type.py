"""For one model-year of every system type in the support chart, the correct procedure works
end to end on a virtual bus with udsoncan as the scan tool (issue: "a parametrised test runs the
correct procedure for one model-year of every system type in the chart")."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import can
import isotp
import pytest
import udsoncan

from ecusim.car.keys import Key
from ecusim.car.vehicle import Vehicle
from ecusim.catalog import Catalog, ModelYear, SystemType
from protocol.clock import FakeClock
from tests.acceptance.acceptance_kit import (
    DID_REGISTRATION_MODE,
    ENGINE_ADDRESS,
    EXTENDED_SESSION,
    LEVEL_IMMOBILIZER_RESET,
    RID_RESET,
    VIN,
    ByteCodec,
    Tester,
    key_counts,
    nrc_of,
    read_dids,
)

DID_CAPABILITIES = 0x010A
REQUEST_OUT_OF_RANGE = 0x31


def _first_of_each_type() -> list[ModelYear]:
    chosen: dict[SystemType, ModelYear] = {}
    for entry in Catalog.load():
        chosen.setdefault(entry.system_type, entry)
    return [chosen[system_type] for system_type in SystemType]


@pytest.fixture
def running(channel: str) -> Iterator[Callable[[ModelYear], tuple[Vehicle, Tester]]]:
    """Start a car of a chart entry on the test's channel; returns it with a tester."""
    started: list[tuple[Vehicle, can.BusABC, Tester, can.BusABC]] = []

    def start(entry: ModelYear) -> tuple[Vehicle, Tester]:
        if entry.system_type is SystemType.SMART_KEY:  # the 16-minute wait: a clock we move
            car = Vehicle.from_catalog(entry.model, entry.year, VIN, clock=FakeClock(), seed=11)
        else:
            car = Vehicle.from_catalog(entry.model, entry.year, VIN, time_scale=20.0, seed=11)
        car_bus = can.Bus(interface="virtual", channel=channel)
        car.start(car_bus)
        tester_bus = can.Bus(interface="virtual", channel=channel)
        tester = Tester(tester_bus)
        started.append((car, car_bus, tester, tester_bus))
        return car, tester

    yield start
    for car, car_bus, tester, tester_bus in started:
        tester.close()
        tester_bus.shutdown()
        car.stop()
        car_bus.shutdown()


def _starts(car: Vehicle, key: Key) -> bool:
    car.present_key(key)
    car.set_ignition("on")
    started = car.start_engine()
    car.withdraw_key()
    return started


def no_immobilizer(car: Vehicle, tester: Tester) -> None:
    """Early cars: no immobilizer; any key that turns the cylinder starts the engine."""
    assert _starts(car, car.factory_keys[0])
    assert _starts(car, car.new_key("master"))  # a plain new key: no transponder check


def ecm_integrated(car: Vehicle, tester: Tester) -> None:
    """The bulletin: no scan-tool reset (0x0201 → 0x31, refer to the SPOC bulletin); a blank
    ECM registers 3 codes, the last becoming the sub key."""
    client = tester.client(ENGINE_ADDRESS)
    codecs = dict(client.config["data_identifiers"])
    client.set_config("data_identifiers", {**codecs, DID_CAPABILITIES: udsoncan.DidCodec(">BB")})
    capabilities = read_dids(client, DID_CAPABILITIES)[DID_CAPABILITIES]
    assert capabilities == (0x01, 0x00)  # system type 1 ECM-integrated, reset not supported
    client.change_session(EXTENDED_SESSION)
    assert nrc_of(client.start_routine, RID_RESET) == REQUEST_OUT_OF_RANGE
    old = car.factory_keys[0]
    car.install_blank_key_ecu()
    assert read_dids(client, DID_REGISTRATION_MODE)[DID_REGISTRATION_MODE] == 1  # automatic
    new_keys = [car.new_key("master") for _ in range(3)]
    for key in new_keys:
        car.present_key(key)
        car.withdraw_key()
    assert key_counts(client) == (2, 1)  # the last code became the sub key
    assert read_dids(client, DID_REGISTRATION_MODE)[DID_REGISTRATION_MODE] == 0  # ended
    assert not _starts(car, old)
    assert all(_starts(car, key) for key in new_keys)


def transponder_key_ecu(car: Vehicle, tester: Tester) -> None:
    """The bulletin's reset with the Pass-Code, then automatic registration of new keys."""
    client = tester.client()
    old = car.factory_keys[0]
    reset_key = car.new_key("master")
    car.present_key(reset_key)
    car.set_ignition("on")
    client.change_session(EXTENDED_SESSION)
    client.unlock_security_access(LEVEL_IMMOBILIZER_RESET)
    client.start_routine(RID_RESET)
    assert key_counts(client) == (0, 0)
    car.withdraw_key()
    new_keys = [car.new_key("master"), car.new_key("master"), car.new_key("sub")]
    for key in new_keys:
        car.present_key(key)
        car.withdraw_key()
    for _ in range(5):
        car.press_brake()
    assert key_counts(client) == (2, 1)
    assert not _starts(car, old)
    assert all(_starts(car, key) for key in new_keys)


SMART_KEY_ADDRESS = isotp.Address(
    isotp.AddressingMode.Extended_11bits,
    txid=0x750,
    rxid=0x758,
    target_address=0xB5,  # the certification ECU's sub-address (diagnostic-contract.md §1)
    source_address=0xB5,
)
DID_SMART_KEYS = 0x010D
RID_SMART_KEY_REGISTRATION = 0x0206
REGISTRATION_OPEN = 4
RESET_ANSWER_TIMEOUT_S = 10.0
"""Real-time bound for udsoncan to return the reset's final response once the keys are erased."""


def _smart_starts(car: Vehicle, key: Key) -> bool:
    car.present_key(key)  # in the cabin
    car.set_brake(True)  # push-button start needs the brake
    started = car.start_engine()
    car.set_brake(False)
    car.set_ignition("off")
    car.withdraw_key()
    return started


def smart_key(car: Vehicle, tester: Tester) -> None:
    """Reset, the 16-minute waiting period on the vehicle clock, smart key code registration
    by touching two new keys to the engine switch; only they unlock and start."""
    clock = car.clock
    assert isinstance(clock, FakeClock)
    client = tester.client(SMART_KEY_ADDRESS)
    codecs = dict(client.config["data_identifiers"])
    client.set_config("data_identifiers", {**codecs, DID_SMART_KEYS: ByteCodec()})
    old = car.factory_keys[0]
    car.set_ignition("on")
    client.change_session(EXTENDED_SESSION)
    client.unlock_security_access(LEVEL_IMMOBILIZER_RESET)
    certification = car.certification
    assert certification is not None
    reset = threading.Thread(target=client.start_routine, args=(RID_RESET,))
    reset.start()  # udsoncan waits through the 0x78s while the test moves the clock
    for _ in range(200):
        if certification.key_count == 0 or not reset.is_alive():
            break  # erased: the final response is on its way
        clock.advance(0.25)
        reset.join(timeout=0.05)
    # The clock stands still until udsoncan returns: a late thread on a loaded machine must not
    # cost vehicle time (1 s of real lateness used to run out S3 and end the extended session).
    reset.join(timeout=RESET_ANSWER_TIMEOUT_S)
    assert not reset.is_alive()
    assert read_dids(client, DID_SMART_KEYS)[DID_SMART_KEYS] == 0
    client.start_routine(RID_SMART_KEY_REGISTRATION)
    for _ in range(int(car.model_year.waiting_period_s // 4) + 1):
        clock.advance(4.0)
        client.tester_present()  # keeps the extended session (S3) alive
    assert read_dids(client, DID_REGISTRATION_MODE)[DID_REGISTRATION_MODE] == REGISTRATION_OPEN
    new_keys = [car.new_key("smart"), car.new_key("smart")]
    for key in new_keys:
        car.present_key(key, "switch")
        car.withdraw_key()
    client.stop_routine(RID_SMART_KEY_REGISTRATION)
    assert read_dids(client, DID_SMART_KEYS)[DID_SMART_KEYS] == 2
    car.set_ignition("off")
    assert not _smart_starts(car, old)
    assert all(_smart_starts(car, key) for key in new_keys)
    car.physical.doors_locked = True
    car.present_key(old, "outside")
    assert not car.touch_door_handle()  # an old key no longer unlocks
    car.withdraw_key()
    car.present_key(new_keys[0], "outside")
    assert car.touch_door_handle()


PROCEDURES: dict[SystemType, Callable[[Vehicle, Tester], None]] = {
    SystemType.NONE: no_immobilizer,
    SystemType.ECM_INTEGRATED: ecm_integrated,
    SystemType.TRANSPONDER_KEY_ECU: transponder_key_ecu,
    SystemType.SMART_KEY: smart_key,
}


@pytest.mark.parametrize("entry", _first_of_each_type(), ids=lambda entry: entry.name)
def test_the_correct_procedure_for_each_system_type(
    entry: ModelYear, running: Callable[[ModelYear], tuple[Vehicle, Tester]]
) -> None:
    procedure = PROCEDURES.get(entry.system_type)
    assert procedure is not None, f"no procedure for {entry.system_type.label}"
    car, tester = running(entry)
    procedure(car, tester)


def test_every_model_year_of_the_chart_builds() -> None:
    """Every model-year the chart lists can be built (and so run with `ecusim run`)."""
    for entry in Catalog.load():
        car = Vehicle.from_catalog(entry.model, entry.year, seed=1)
        assert car.model_year == entry
        assert car.ecus, entry.name
