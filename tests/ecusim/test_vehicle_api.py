"""The embedding API of ecusim.car.vehicle.Vehicle: a contract scan-tool developers' tests call
(from_catalog, running, new_key, present_key, withdraw_key, set_ignition, press_brake, set_speed,
set_door, start_engine)."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from ecusim.car.keys import KeyKind
from ecusim.car.physical import Ignition
from ecusim.car.vehicle import MAX_SPEED_KMH, Vehicle, VehicleError
from ecusim.catalog import CatalogError, SystemType
from ecusim.catalog.vin import lab_vin
from ecusim.systems.registry import KEY_SYSTEMS
from ecusim.tool.contract import client_stack
from protocol.clock import FakeClock
from protocol.errors import ConfigurationError
from protocol.isotp_binding import IsoTpAddressing
from protocol.seed_source import DeterministicSeedSource

VIN = "JTHBL5EF0C5000001"
RESPONSE_TIMEOUT_S = 5.0


def _car(vin: str | None = VIN, *, seed: int = 1) -> Vehicle:
    return Vehicle.from_catalog(
        "LS430",
        2004,
        vin,
        clock=FakeClock(),
        seed=seed,
        seed_source=DeterministicSeedSource(seed),
    )


@pytest.fixture
def car() -> Vehicle:
    return _car()


def _channel() -> str:
    return f"ecusim-api-{uuid.uuid4().hex}"


@pytest.fixture
def channel() -> Iterator[str]:
    yield _channel()


def _uds_over_isotp(channel: str, request: bytes) -> bytes | None:
    """One physical request to the ECM (0x7E0 → 0x7E8, normal addressing) over can-isotp."""
    bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(bus, [], timeout=0.1)
    stack = client_stack(bus, notifier, IsoTpAddressing(request_id=0x7E0, response_id=0x7E8))
    stack.start()
    try:
        stack.send(request)
        response = stack.recv(block=True, timeout=RESPONSE_TIMEOUT_S)
        return None if response is None else bytes(response)
    finally:
        stack.stop()
        notifier.stop()
        bus.shutdown()


def _read_vin(channel: str) -> bytes:
    response = _uds_over_isotp(channel, bytes([0x22, 0xF1, 0x90]))  # RDBI, DID F190 (VIN)
    assert response is not None, "no answer from the ECM"
    assert response[:3] == bytes([0x62, 0xF1, 0x90])  # positive RDBI, DID F190 echo
    return response[3:]


# -- construction ---------------------------------------------------------------------------


def test_from_catalog_defaults_to_the_lab_vin() -> None:
    vehicle = Vehicle.from_catalog("LS430", 2004, clock=FakeClock(), seed=1)
    assert vehicle.vin == lab_vin("LS430", 2004)
    assert vehicle.model_year.model == "LS430" and vehicle.model_year.year == 2004
    assert vehicle.engine.vin == vehicle.vin


def test_from_catalog_uses_the_given_vin(car: Vehicle) -> None:
    assert car.vin == VIN
    assert car.immobilizer is not None and car.immobilizer.config.vin == VIN


def test_ecus_are_the_engine_and_the_immobilizer(car: Vehicle) -> None:
    assert [ecu.name for ecu in car.ecus] == ["engine", "immobilizer"]
    assert car.ecus[1] is car.immobilizer
    assert car.ecus[0] is car.engine


def test_factory_keys_are_derived_from_the_vin() -> None:
    first, second = _car(), _car(seed=2)
    assert first.factory_keys == second.factory_keys  # the same VIN: the same keys
    assert [k.kind for k in first.factory_keys] == [KeyKind.MASTER, KeyKind.MASTER, KeyKind.SUB]
    other = _car(lab_vin("LS430", 2004, 2))
    assert not set(other.factory_keys) & set(first.factory_keys)


def test_unknown_model_year_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError):
        Vehicle.from_catalog("LS430", 1990, clock=FakeClock())


def test_every_system_type_of_the_chart_is_simulated() -> None:
    assert set(KEY_SYSTEMS) == set(SystemType)
    smart = Vehicle.from_catalog("LS460", 2012, clock=FakeClock())
    assert [ecu.system_name for ecu in smart.ecus] == ["ENGINE", "SMART KEY"]


def test_a_refused_model_year_leaves_the_state_dir_unclaimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A car that could not be built must not claim the state directory for itself."""
    monkeypatch.delitem(KEY_SYSTEMS, SystemType.SMART_KEY)  # as if it were not simulated
    with pytest.raises(VehicleError, match="not simulated yet"):
        Vehicle.from_catalog("LS460", 2012, state_dir=tmp_path, clock=FakeClock())
    vehicle = Vehicle.from_catalog("LS430", 2004, VIN, state_dir=tmp_path, clock=FakeClock())
    assert vehicle.vin == VIN


def test_clock_and_time_scale_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="clock"):
        Vehicle.from_catalog("LS430", 2004, clock=FakeClock(), time_scale=10.0)


def test_an_invalid_vin_is_refused() -> None:
    with pytest.raises(ValueError, match=r"check digit|VIN"):
        Vehicle.from_catalog("LS430", 2004, "JTHBL5EF1C5000001", clock=FakeClock())


# -- keys and ignition ------------------------------------------------------------------------


def test_new_key_makes_unregistered_blanks(car: Vehicle) -> None:
    master = car.new_key("master")
    sub = car.new_key(KeyKind.SUB)
    assert master.kind is KeyKind.MASTER and sub.kind is KeyKind.SUB
    assert master not in car.factory_keys and sub not in car.factory_keys
    assert car.new_key("master") != master  # every blank is a new one


def test_new_key_is_reproducible_with_the_seed() -> None:
    assert _car(seed=4).new_key("master") == _car(seed=4).new_key("master")


def test_a_smart_key_does_not_fit_an_ls430(car: Vehicle) -> None:
    with pytest.raises(VehicleError, match=r"transponder key ECU.*smart keys do not fit"):
        car.new_key("smart")


def test_an_unknown_key_kind_is_refused(car: Vehicle) -> None:
    with pytest.raises(VehicleError, match="unknown key kind"):
        car.new_key("valet")


def test_presenting_a_second_key_is_refused(car: Vehicle) -> None:
    car.present_key(car.factory_keys[0])
    car.present_key(car.factory_keys[0])  # the same key again: nothing happens
    with pytest.raises(VehicleError, match="withdraw"):
        car.present_key(car.factory_keys[1])
    assert car.physical.inserted_key == car.factory_keys[0]


def test_withdraw_turns_the_ignition_off_and_is_idempotent(car: Vehicle) -> None:
    car.present_key(car.factory_keys[0])
    car.set_ignition("on")
    car.withdraw_key()
    assert car.physical.inserted_key is None
    assert car.physical.ignition is Ignition.OFF
    car.withdraw_key()  # no key: nothing happens


def test_ignition_on_needs_a_key(car: Vehicle) -> None:
    with pytest.raises(VehicleError, match="insert a key"):
        car.set_ignition("on")
    with pytest.raises(VehicleError, match="insert a key"):
        car.set_ignition("acc")
    car.set_ignition("off")  # always possible
    assert car.physical.ignition is Ignition.OFF


def test_ignition_start_is_refused(car: Vehicle) -> None:
    car.present_key(car.factory_keys[0])
    with pytest.raises(VehicleError, match="start_engine"):
        car.set_ignition("start")
    with pytest.raises(VehicleError, match="start_engine"):
        car.set_ignition(Ignition.START)
    assert car.physical.ignition is Ignition.OFF


def test_unknown_ignition_position_is_refused(car: Vehicle) -> None:
    car.present_key(car.factory_keys[0])
    with pytest.raises(VehicleError, match="ignition must be"):
        car.set_ignition("run")


def test_ignition_accepts_names_in_any_case_and_enum_values(car: Vehicle) -> None:
    car.present_key(car.factory_keys[0])
    car.set_ignition("ACC")
    assert _ignition(car) is Ignition.ACC
    car.set_ignition(Ignition.ON)
    assert _ignition(car) is Ignition.ON


def _ignition(car: Vehicle) -> Ignition:
    return car.physical.ignition


@pytest.mark.parametrize("kmh", [-0.01, MAX_SPEED_KMH + 0.01, math.nan, math.inf])
def test_a_bad_speed_is_refused(car: Vehicle, kmh: float) -> None:
    with pytest.raises(VehicleError, match="speed"):
        car.set_speed(kmh)
    assert car.physical.speed_kmh == 0.0


def test_speed_limits_are_accepted(car: Vehicle) -> None:
    car.set_speed(MAX_SPEED_KMH)
    assert car.physical.speed_kmh == MAX_SPEED_KMH
    car.set_speed(0)
    assert car.physical.stopped


def test_doors(car: Vehicle) -> None:
    car.set_door("trunk", True)
    assert car.physical.doors_open["trunk"]
    with pytest.raises(VehicleError, match="unknown door"):
        car.set_door("sunroof", True)


def test_brake(car: Vehicle) -> None:
    car.set_brake(True)
    assert car.physical.brake_pressed
    car.set_brake(False)
    assert not car.physical.brake_pressed
    car.press_brake()  # press and release
    assert not car.physical.brake_pressed


# -- running on a bus -------------------------------------------------------------------------


def test_start_engine_needs_the_car_running_on_a_bus(car: Vehicle) -> None:
    car.present_key(car.factory_keys[0])
    car.set_ignition("on")
    with pytest.raises(VehicleError, match="not running"):
        car.start_engine()
    assert not car.engine_running


def test_start_engine_on_a_bus(car: Vehicle, channel: str) -> None:
    bus = can.Bus(interface="virtual", channel=channel)
    try:
        with car.running(bus) as running:
            assert running is car and car.is_running
            car.present_key(car.factory_keys[0])
            assert car.start_engine() is True  # from OFF: turns to START and back to ON
            assert car.engine_running
            assert car.physical.ignition is Ignition.ON
            assert car.start_engine() is True  # already running
            car.set_ignition("off")
            assert not car.engine_running
    finally:
        bus.shutdown()
    assert not car.is_running


def test_start_and_stop_twice_cleanly(car: Vehicle, channel: str) -> None:
    before = {thread.ident for thread in threading.enumerate()}
    bus = can.Bus(interface="virtual", channel=channel)
    try:
        for _ in range(2):
            with car.running(bus):
                assert car.is_running
                assert _read_vin(channel) == VIN.encode("ascii")
                with pytest.raises(VehicleError, match="already running"):
                    car.start(bus)
            assert not car.is_running
            with pytest.raises(VehicleError, match="not running"):
                _ = car.connection
    finally:
        bus.shutdown()
    deadline = time.monotonic() + 3.0  # threads that were told to stop may take a moment
    leftover = _new_threads(before)
    while leftover and time.monotonic() < deadline:
        leftover[0].join(timeout=0.05)
        leftover = _new_threads(before)
    assert leftover == []


def _new_threads(before: set[int | None]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]


def test_stop_without_start_is_harmless(car: Vehicle) -> None:
    car.stop()
    assert not car.is_running


def test_two_vehicles_in_one_process_run_independently() -> None:
    other_vin = lab_vin("LS430", 2004, 2)
    first, second = _car(VIN), _car(other_vin, seed=2)
    channels = (_channel(), _channel())
    buses = [can.Bus(interface="virtual", channel=name) for name in channels]
    try:
        with first.running(buses[0]), second.running(buses[1]):
            assert _read_vin(channels[0]) == VIN.encode("ascii")
            assert _read_vin(channels[1]) == other_vin.encode("ascii")
            first.present_key(first.factory_keys[0])
            assert first.start_engine() is True
            assert not second.engine_running
            second.present_key(first.factory_keys[0])  # the other car's key
            assert second.start_engine() is False
            assert first.engine_running
    finally:
        for bus in buses:
            bus.shutdown()
