"""Key verification and the immobilizer state (DID 0x0101): unset by a registered key at
ignition ON, set again when the key is withdrawn or 20 s after ignition OFF (domain.md)."""

from __future__ import annotations

from ecusim.ecus.start_control import StartResult
from tests.ecusim.key_ecu_kit import DID_IMMOBILIZER_STATE, read_did

from .conftest import RELOCK_S, Car

SET = bytes([0x01])  # DID 0x0101: 01 = immobilizer set
UNSET = bytes([0x00])  # DID 0x0101: 00 = unset (start allowed)


def test_factory_car_is_set_until_a_key_is_verified(car: Car) -> None:
    assert read_did(car, DID_IMMOBILIZER_STATE) == SET
    car.insert(car.master)
    assert read_did(car, DID_IMMOBILIZER_STATE) == SET  # key in, ignition OFF: not verified yet
    car.vehicle.set_ignition("acc")
    assert read_did(car, DID_IMMOBILIZER_STATE) == SET  # ACC does not verify either
    car.vehicle.set_ignition("on")
    assert read_did(car, DID_IMMOBILIZER_STATE) == UNSET


def test_every_factory_key_unsets_the_immobilizer(car: Car) -> None:
    for key in car.vehicle.factory_keys:
        car.ignition_on_with(key)
        assert read_did(car, DID_IMMOBILIZER_STATE) == UNSET, key
        car.withdraw()
        assert read_did(car, DID_IMMOBILIZER_STATE) == SET, key


def test_unknown_key_leaves_the_immobilizer_set(car: Car) -> None:
    car.ignition_on_with(car.vehicle.new_key("master"))
    assert read_did(car, DID_IMMOBILIZER_STATE) == SET
    assert not car.immobilizer.start_permitted()


def test_withdrawing_the_key_sets_the_immobilizer_at_once(car: Car) -> None:
    car.ignition_on_with(car.master)
    assert read_did(car, DID_IMMOBILIZER_STATE) == UNSET
    car.withdraw()  # no clock movement at all
    assert read_did(car, DID_IMMOBILIZER_STATE) == SET


def test_ignition_off_with_the_key_left_in_sets_after_20_s(car: Car) -> None:
    car.ignition_on_with(car.master)
    car.vehicle.set_ignition("off")
    car.advance(19.9)
    assert read_did(car, DID_IMMOBILIZER_STATE) == UNSET  # 19.9 s: still unset
    car.advance(RELOCK_S - 19.9)
    assert read_did(car, DID_IMMOBILIZER_STATE) == SET  # 20 s on the vehicle clock


def test_ignition_on_again_within_20_s_cancels_the_relock(car: Car) -> None:
    car.ignition_on_with(car.master)
    car.vehicle.set_ignition("off")
    car.advance(10.0)
    car.vehicle.set_ignition("on")
    car.advance(30.0)
    assert read_did(car, DID_IMMOBILIZER_STATE) == UNSET


def test_factory_keys_start_the_engine(running_car: Car) -> None:
    for key in running_car.vehicle.factory_keys:
        running_car.ignition_on_with(key)
        assert running_car.vehicle.start_engine() is True, key
        assert running_car.vehicle.engine_running
        assert running_car.vehicle.engine.start_control.last_result is StartResult.STARTED
        running_car.withdraw()
        assert not running_car.vehicle.engine_running  # ignition OFF stops the engine


def test_unknown_key_does_not_start_the_engine(running_car: Car) -> None:
    running_car.ignition_on_with(running_car.vehicle.new_key("master"))
    assert running_car.vehicle.start_engine() is False
    assert not running_car.vehicle.engine_running
    assert running_car.vehicle.engine.start_control.last_result is StartResult.NO_PERMISSION


def test_no_key_no_start(running_car: Car) -> None:
    assert running_car.vehicle.start_engine() is False
    assert not running_car.vehicle.engine_running
