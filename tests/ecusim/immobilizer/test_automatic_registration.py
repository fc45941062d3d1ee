"""Automatic (new) registration (domain.md "Registration procedures"): after a reset every key
inserted is registered, up to 3 masters + 1 sub (LS430); flash codes 2-1 / 2-2 / 2-3; it ends at
the limit, by the brake pedal pressed 5 times within 15 s (≥ 1 master) or by routine 0x0203."""

from __future__ import annotations

import dataclasses

from ecusim.ecus.start_control import StartResult
from tests.ecusim.key_ecu_kit import (
    DID_REGISTRATION_MODE,
    DID_SECURITY_INDICATOR,
    key_counts,
    read_did,
)

from .conftest import Car, reset_immobilizer

AUTOMATIC = bytes([0x01])  # DID 0x0109: 1 = automatic (new) registration
NORMAL = bytes([0x00])  # DID 0x0109: 0 = normal
STEADY = bytes([0x01, 0x00])  # DID 0x0108: mode 1 steady, no code
OFF = bytes([0x00, 0x00])  # DID 0x0108: mode 0 off, no code
CODE_2_1 = bytes([0x03, 0x15])  # DID 0x0108: mode 3 flashing, code 21 (registration failed)
CODE_2_2 = bytes([0x03, 0x16])  # DID 0x0108: mode 3 flashing, code 22 (already registered)
CODE_2_3 = bytes([0x03, 0x17])  # DID 0x0108: mode 3 flashing, code 23 (over the limit)

END_AUTOMATIC = bytes([0x31, 0x01, 0x02, 0x03])  # RoutineControl, startRoutine, RID 0x0203
CONDITIONS_NOT_CORRECT = bytes([0x7F, 0x31, 0x22])  # negative, RoutineControl, 0x22


def _after_reset(car: Car) -> None:
    """Reset with a factory key (then pulled out): no key registered, automatic mode."""
    reset_immobilizer(car, car.master)
    car.withdraw()
    assert key_counts(car) == (0, 0)
    assert read_did(car, DID_REGISTRATION_MODE) == AUTOMATIC


def _press_brake_at(car: Car, offsets: list[float]) -> None:
    """Press the brake at these vehicle-clock offsets (seconds from now)."""
    elapsed = 0.0
    for offset in offsets:
        car.advance(offset - elapsed)
        elapsed = offset
        car.vehicle.press_brake()


def test_each_inserted_blank_is_registered(car: Car) -> None:
    _after_reset(car)
    masters = [car.vehicle.new_key("master") for _ in range(2)]
    for count, key in enumerate(masters, start=1):
        car.cycle(key)
        assert key_counts(car) == (count, 0)
    sub = car.vehicle.new_key("sub")
    car.cycle(sub)
    assert key_counts(car) == (2, 1)
    assert read_did(car, DID_REGISTRATION_MODE) == AUTOMATIC  # 3 masters + 1 sub not reached


def test_indicator_is_steady_while_waiting_and_off_with_a_key_in(car: Car) -> None:
    _after_reset(car)
    key = car.vehicle.new_key("master")
    car.insert(key)
    assert read_did(car, DID_SECURITY_INDICATOR) == OFF  # a key is in
    car.withdraw()
    assert read_did(car, DID_SECURITY_INDICATOR) == STEADY  # registration waiting, no key in


def test_ready_code_flashes_until_the_first_key_is_inserted(car: Car) -> None:
    """ImmobilizerConfig: ``ready_code`` is "flashed right after a reset until the first key is
    inserted" (the bulletin: ready to accept keys when the light flashes 21 or 22). Pulling out
    the key the reset was done with is not inserting a key."""
    reset_immobilizer(car, car.vehicle.new_key("master"))
    assert read_did(car, DID_SECURITY_INDICATOR) == CODE_2_1  # 03 15: the ready code 21
    car.withdraw()  # the technician pulls out the key used for the reset
    assert read_did(car, DID_SECURITY_INDICATOR) == CODE_2_1  # still ready: 03 15
    car.insert(car.vehicle.new_key("master"))
    assert read_did(car, DID_SECURITY_INDICATOR) == OFF  # first key in: code gone
    car.withdraw()
    assert read_did(car, DID_SECURITY_INDICATOR) == STEADY


def test_a_key_already_registered_flashes_2_2(car: Car) -> None:
    _after_reset(car)
    key = car.vehicle.new_key("master")
    car.cycle(key)
    car.insert(key)
    assert read_did(car, DID_SECURITY_INDICATOR) == CODE_2_2
    assert key_counts(car) == (1, 0)
    car.withdraw()
    assert read_did(car, DID_SECURITY_INDICATOR) == STEADY  # the code goes with the key


def test_a_sub_key_first_flashes_2_1(car: Car) -> None:
    _after_reset(car)
    sub = car.vehicle.new_key("sub")
    car.insert(sub)
    assert key_counts(car) == (0, 0)
    car.withdraw()
    # Again: any ready code was cleared by the first insertion, so this 21 is the failure code.
    car.insert(sub)
    assert read_did(car, DID_SECURITY_INDICATOR) == CODE_2_1
    assert key_counts(car) == (0, 0)


def test_the_2_1_failure_is_not_the_ready_code(car: Car) -> None:
    # Make the ready code 22 (the bulletin's other example) so that 21 can only mean 2-1.
    car.immobilizer.config = dataclasses.replace(car.immobilizer.config, ready_code=22)
    reset_immobilizer(car, car.master)
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x03, 0x16])  # flashing ready code 22
    car.withdraw()
    car.insert(car.vehicle.new_key("sub"))
    assert read_did(car, DID_SECURITY_INDICATOR) == CODE_2_1  # 2-1: first key must be a master
    assert key_counts(car) == (0, 0)


def test_a_sub_after_a_master_is_registered(car: Car) -> None:
    _after_reset(car)
    car.cycle(car.vehicle.new_key("master"))
    car.cycle(car.vehicle.new_key("sub"))
    assert key_counts(car) == (1, 1)


def test_a_fourth_master_flashes_2_3(car: Car) -> None:
    _after_reset(car)
    for _ in range(3):
        car.cycle(car.vehicle.new_key("master"))
    assert key_counts(car) == (3, 0)
    assert read_did(car, DID_REGISTRATION_MODE) == AUTOMATIC  # the sub slot is still free
    car.insert(car.vehicle.new_key("master"))
    assert read_did(car, DID_SECURITY_INDICATOR) == CODE_2_3
    assert key_counts(car) == (3, 0)


def test_registration_ends_by_itself_at_3_masters_and_1_sub(car: Car) -> None:
    _after_reset(car)
    keys = [car.vehicle.new_key(kind) for kind in ("master", "master", "sub", "master")]
    for key in keys[:-1]:
        car.cycle(key)
        assert read_did(car, DID_REGISTRATION_MODE) == AUTOMATIC
    car.cycle(keys[-1])
    assert key_counts(car) == (3, 1)
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL


def test_five_brake_presses_within_15_s_end_it(car: Car) -> None:
    _after_reset(car)
    car.cycle(car.vehicle.new_key("master"))
    _press_brake_at(car, [0.0, 3.0, 6.0, 9.0])
    assert read_did(car, DID_REGISTRATION_MODE) == AUTOMATIC  # 4 presses are not enough
    _press_brake_at(car, [3.0])
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL
    assert key_counts(car) == (1, 0)


def test_five_brake_presses_in_exactly_15_s_end_it(car: Car) -> None:
    _after_reset(car)
    car.cycle(car.vehicle.new_key("master"))
    _press_brake_at(car, [0.0, 3.75, 7.5, 11.25, 15.0])
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL


def test_holding_the_brake_counts_as_a_press(car: Car) -> None:
    _after_reset(car)
    car.cycle(car.vehicle.new_key("master"))
    for _ in range(5):
        car.vehicle.set_brake(True)
        car.vehicle.set_brake(False)
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL


def test_five_brake_presses_spread_over_16_s_do_not_end_it(car: Car) -> None:
    _after_reset(car)
    car.cycle(car.vehicle.new_key("master"))
    _press_brake_at(car, [0.0, 4.0, 8.0, 12.0, 16.0])
    assert read_did(car, DID_REGISTRATION_MODE) == AUTOMATIC


def test_brake_presses_without_a_master_do_not_end_it(car: Car) -> None:
    _after_reset(car)
    for _ in range(5):
        car.vehicle.press_brake()
    assert read_did(car, DID_REGISTRATION_MODE) == AUTOMATIC
    assert key_counts(car) == (0, 0)


def test_routine_0203_ends_it_with_a_master_registered(car: Car) -> None:
    _after_reset(car)  # the extended session of the reset is still active
    car.cycle(car.vehicle.new_key("master"))
    # 71 = positive RoutineControl, 01 = start, 02 03 = RID, 00 = done
    assert car.handle(END_AUTOMATIC) == bytes([0x71, 0x01, 0x02, 0x03, 0x00])
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL
    # 31 03 02 03 = results of RID 0203 → 71 03 02 03, 00 done, 01 master, 00 subs
    assert car.handle(bytes([0x31, 0x03, 0x02, 0x03])) == bytes(
        [0x71, 0x03, 0x02, 0x03, 0x00, 0x01, 0x00]
    )


def test_routine_0203_needs_a_master(car: Car) -> None:
    _after_reset(car)
    assert car.handle(END_AUTOMATIC) == CONDITIONS_NOT_CORRECT
    assert read_did(car, DID_REGISTRATION_MODE) == AUTOMATIC


def test_routine_0203_needs_automatic_mode(car: Car) -> None:
    response = car.handle(bytes([0x10, 0x03]))  # DiagnosticSessionControl, extended
    assert response == bytes([0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])  # pos, 03, P2, P2*
    assert car.handle(END_AUTOMATIC) == CONDITIONS_NOT_CORRECT  # factory car: normal mode


def test_no_start_during_automatic_registration_and_only_registered_keys_after(
    running_car: Car,
) -> None:
    car = running_car
    _after_reset(car)
    new_master = car.vehicle.new_key("master")
    car.cycle(new_master)
    car.ignition_on_with(new_master)
    assert car.vehicle.start_engine() is False  # registration still running
    assert car.vehicle.engine.start_control.last_result is StartResult.NO_PERMISSION
    for _ in range(5):
        car.vehicle.press_brake()
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL
    assert car.vehicle.start_engine() is True  # the key still in: verified when cranking
    car.withdraw()
    for stranger in (car.vehicle.new_key("master"), car.master):
        car.ignition_on_with(stranger)
        assert car.vehicle.start_engine() is False, stranger
        car.withdraw()
    car.ignition_on_with(new_master)
    assert car.vehicle.start_engine() is True
