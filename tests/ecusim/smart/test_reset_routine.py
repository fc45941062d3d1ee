"""Routine 0x0201 Smart Key Reset (diagnostic-contract.md §4, the reset bulletin): level 0x11,
ignition ON, vehicle stopped; 0x78 while erasing; then every smart key erased and the 16-minute
waiting period running on the vehicle clock (only with the ignition ON; leaving ON restarts it)."""

from __future__ import annotations

from tests.ecusim.key_ecu_kit import (
    DID_IMMOBILIZER_STATE,
    DID_REGISTRATION_MODE,
    DID_SECURITY_INDICATOR,
    ERASE_S,
    enter_extended,
    read_byte,
    read_did,
    unlock_diag,
    unlock_reset,
)

from .conftest import (
    CONDITIONS_NOT_CORRECT,
    DID_SMART_KEYS,
    MODE_WAITING,
    PENDING,
    RESET_RESULTS,
    SECURITY_DENIED,
    SEQUENCE_ERROR,
    START_RESET,
    WAITING_S,
    Car,
    reset_smart_keys,
    waiting_s,
)


def test_reset_needs_level_0x11(car: Car) -> None:
    car.vehicle.set_ignition("on")
    enter_extended(car)
    assert car.handle(START_RESET) == SECURITY_DENIED  # nothing unlocked
    unlock_diag(car)
    assert car.handle(START_RESET) == SECURITY_DENIED  # level 0x01 is not enough
    assert read_byte(car, DID_SMART_KEYS) == 2


def test_reset_is_not_available_in_the_default_session(car: Car) -> None:
    car.vehicle.set_ignition("on")
    # negative, RoutineControl, serviceNotSupportedInActiveSession
    assert car.handle(START_RESET) == bytes([0x7F, 0x31, 0x7F])


def test_reset_needs_ignition_on(car: Car) -> None:
    enter_extended(car)
    unlock_reset(car)
    assert car.handle(START_RESET) == CONDITIONS_NOT_CORRECT  # ignition OFF
    car.vehicle.set_ignition("acc")
    assert car.handle(START_RESET) == CONDITIONS_NOT_CORRECT
    assert read_byte(car, DID_SMART_KEYS) == 2


def test_reset_needs_the_vehicle_stopped(car: Car) -> None:
    car.vehicle.set_ignition("on")
    car.vehicle.set_speed(3.0)
    enter_extended(car)
    unlock_reset(car)
    assert car.handle(START_RESET) == CONDITIONS_NOT_CORRECT
    assert read_byte(car, DID_SMART_KEYS) == 2


def test_reset_takes_no_option(car: Car) -> None:
    car.vehicle.set_ignition("on")
    enter_extended(car)
    unlock_reset(car)
    # 31 01 02 01 = start RID 0x0201, then an option byte 01 → negative, 0x31 requestOutOfRange
    assert car.handle(START_RESET + bytes([0x01])) == bytes([0x7F, 0x31, 0x31])


def test_results_before_the_reset_is_a_sequence_error(car: Car) -> None:
    car.vehicle.set_ignition("on")
    enter_extended(car)
    unlock_reset(car)
    assert car.handle(RESET_RESULTS) == SEQUENCE_ERROR


def test_reset_answers_0x78_while_erasing_then_erases_every_smart_key(car: Car) -> None:
    car.bring(car.old_keys[0])
    car.vehicle.set_ignition("on")
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x00  # the old key is verified
    enter_extended(car)
    unlock_reset(car)
    assert car.handle(START_RESET) == PENDING
    assert car.advance(ERASE_S - 0.5) == []  # still erasing (the next 0x78 is due later)
    # 3E 00 = TesterPresent while busy: negative, TesterPresent, busyRepeatRequest
    assert car.handle(bytes([0x3E, 0x00])) == bytes([0x7F, 0x3E, 0x21])
    # 71 = positive RoutineControl, 01 = startRoutine, 02 01 = RID, 00 = status done
    assert car.advance(0.6) == [bytes([0x71, 0x01, 0x02, 0x01, 0x00])]
    # 71 03 02 01 = results echo, 00 = done, 00 = smart keys left
    assert car.handle(RESET_RESULTS) == bytes([0x71, 0x03, 0x02, 0x01, 0x00, 0x00])
    assert read_byte(car, DID_SMART_KEYS) == 0
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_WAITING
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x01  # the old key no longer verifies
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x02, 0x00])  # blinking: set
    assert waiting_s(car) == int(WAITING_S)


def test_the_waiting_period_counts_down_on_the_vehicle_clock(car: Car) -> None:
    reset_smart_keys(car)
    assert waiting_s(car) == 960
    car.advance(100.0)
    assert waiting_s(car) == 860
    car.advance(0.5)
    assert waiting_s(car) == 860  # rounded up to whole seconds
    car.advance(859.5)
    assert waiting_s(car) == 0
    car.advance(100.0)
    assert waiting_s(car) == 0
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_WAITING  # 0x0206 not started yet


def test_ignition_off_restarts_the_waiting_period(car: Car) -> None:
    reset_smart_keys(car)
    car.advance(500.0)
    assert waiting_s(car) == 460
    car.vehicle.set_ignition("off")
    assert waiting_s(car) == 960  # restarted; it does not count with the ignition OFF
    car.advance(300.0)
    assert waiting_s(car) == 960
    car.vehicle.set_ignition("acc")
    car.advance(10.0)
    assert waiting_s(car) == 960  # nor in ACC
    car.vehicle.set_ignition("on")
    car.advance(60.0)
    assert waiting_s(car) == 900


def test_keys_near_the_car_do_not_stop_the_waiting_period(car: Car) -> None:
    reset_smart_keys(car)
    car.bring(car.old_keys[0])
    car.bring(car.old_keys[1], "outside")
    car.advance(10.0)
    assert waiting_s(car) == 950
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x01


def test_a_reset_while_keys_are_in_the_cabin_does_not_need_them(car: Car) -> None:
    """The reset is for cars whose keys are all lost: no key needs to be present."""
    reset_smart_keys(car)
    assert car.vehicle.physical.carried == {}
    assert read_byte(car, DID_SMART_KEYS) == 0
