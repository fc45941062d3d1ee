"""The embedding API on a smart-key car: what makes sense works, what does not is a clear
VehicleError (issue: "vehicle.new_key("smart") and the other API calls behave sensibly")."""

from __future__ import annotations

import pytest

from ecusim.car.keys import KeyKind
from ecusim.car.physical import Ignition, KeyLocation
from ecusim.catalog import SystemType
from ecusim.ecus.engine import EngineEcu
from ecusim.errors import VehicleError
from ecusim.systems.registry import KEY_SYSTEMS
from ecusim.systems.smart import SmartKeySystem
from tests.ecusim.key_ecu_kit import DID_REGISTRATION_MODE, read_byte

from .conftest import DID_SMART_KEYS, MODE_WAITING, Car


def test_the_registry_builds_smart_key_cars() -> None:
    assert KEY_SYSTEMS[SystemType.SMART_KEY] is SmartKeySystem


def test_the_car_is_made_of_the_engine_and_the_certification_ecu(car: Car) -> None:
    assert [ecu.name for ecu in car.vehicle.ecus] == ["engine", "certification"]
    assert isinstance(car.vehicle.engine, EngineEcu)
    assert car.vehicle.immobilizer is None  # no transponder key ECU in a smart car
    assert car.system.carried_keys


def test_the_factory_keys_are_2_smart_keys_derived_from_the_vin(car: Car) -> None:
    keys = car.vehicle.factory_keys
    assert [key.kind for key in keys] == [KeyKind.SMART, KeyKind.SMART]
    assert keys == Car(car.vehicle, car.clock).old_keys


def test_new_key_makes_smart_blanks(car: Car) -> None:
    key = car.vehicle.new_key("smart")
    assert key.kind is KeyKind.SMART
    assert key not in car.vehicle.factory_keys
    assert car.vehicle.new_key(KeyKind.SMART) != key


@pytest.mark.parametrize("kind", ["master", "sub"])
def test_master_and_sub_keys_do_not_fit(car: Car, kind: str) -> None:
    with pytest.raises(VehicleError, match=rf"smart key\).*{kind} keys do not fit"):
        car.vehicle.new_key(kind)


def test_keys_are_carried_not_inserted(car: Car) -> None:
    key = car.old_keys[0]
    car.vehicle.present_key(key)  # the cabin by default
    assert car.vehicle.physical.carried == {key: KeyLocation.CABIN}
    assert car.vehicle.physical.inserted_key is None
    car.vehicle.present_key(car.old_keys[1], "outside")  # a second key: fine
    car.vehicle.withdraw_key(key)
    assert car.vehicle.physical.carried == {car.old_keys[1]: KeyLocation.OUTSIDE}
    car.vehicle.withdraw_key()
    assert car.vehicle.physical.carried == {}


def test_an_unknown_location_is_refused(car: Car) -> None:
    with pytest.raises(ValueError, match="trunk"):
        car.vehicle.present_key(car.old_keys[0], "trunk")


def test_the_ignition_turns_without_a_key_lab_service_mode(car: Car) -> None:
    car.vehicle.set_ignition("on")
    assert car.vehicle.physical.ignition is Ignition.ON


def test_install_blank_key_ecu_erases_the_smart_keys(car: Car) -> None:
    car.vehicle.install_blank_key_ecu()
    assert read_byte(car, DID_SMART_KEYS) == 0
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_WAITING


def test_start_engine_needs_the_car_running_on_a_bus(car: Car) -> None:
    car.vehicle.present_key(car.old_keys[0])
    with pytest.raises(VehicleError, match="not running"):
        car.vehicle.start_engine()


def test_describe_keys_lists_the_smart_keys(car: Car) -> None:
    described = car.system.describe_keys()
    assert described == ", ".join(f"smart {k.transponder_id:08X}" for k in car.old_keys)
