"""Routine 0x0201 Immobilizer Reset (diagnostic-contract.md §4, the reset bulletin): level 0x11,
ignition ON, vehicle stopped; 0x78 while erasing; then every key erased and automatic registration
open with the ready code 21 flashing."""

from __future__ import annotations

import dataclasses

from ecusim.car.keys import KeyKind
from tests.ecusim.key_ecu_kit import (
    DID_IMMOBILIZER_STATE,
    DID_MASTER_KEYS,
    DID_REGISTRATION_MODE,
    DID_SECURITY_INDICATOR,
    DID_SUB_KEYS,
    ERASE_S,
    enter_extended,
    key_counts,
    read_did,
    send_wrong_pass_code,
    unlock_diag,
    unlock_reset,
)

from .conftest import Car, make_car, reset_immobilizer

START_RESET = bytes([0x31, 0x01, 0x02, 0x01])  # RoutineControl, startRoutine, RID 0x0201
RESET_RESULTS = bytes([0x31, 0x03, 0x02, 0x01])  # RoutineControl, requestResults, RID 0x0201
PENDING = bytes([0x7F, 0x31, 0x78])  # negative, RoutineControl, responsePending
CONDITIONS_NOT_CORRECT = bytes([0x7F, 0x31, 0x22])  # negative, RoutineControl, 0x22
SECURITY_DENIED = bytes([0x7F, 0x31, 0x33])  # negative, RoutineControl, securityAccessDenied


def test_reset_needs_level_0x11(car: Car) -> None:
    car.ignition_on_with(car.master)
    enter_extended(car)
    assert car.handle(START_RESET) == SECURITY_DENIED  # nothing unlocked
    unlock_diag(car)
    assert car.handle(START_RESET) == SECURITY_DENIED  # level 0x01 is not enough
    assert key_counts(car) == (2, 1)


def test_reset_is_not_available_in_the_default_session(car: Car) -> None:
    car.ignition_on_with(car.master)
    # negative, RoutineControl, serviceNotSupportedInActiveSession
    assert car.handle(START_RESET) == bytes([0x7F, 0x31, 0x7F])


def test_reset_needs_ignition_on(car: Car) -> None:
    car.insert(car.master)  # key in, ignition OFF
    enter_extended(car)
    unlock_reset(car)
    assert car.handle(START_RESET) == CONDITIONS_NOT_CORRECT
    car.vehicle.set_ignition("acc")
    assert car.handle(START_RESET) == CONDITIONS_NOT_CORRECT
    assert key_counts(car) == (2, 1)


def test_reset_needs_the_vehicle_stopped(car: Car) -> None:
    car.ignition_on_with(car.master)
    car.vehicle.set_speed(10.0)
    enter_extended(car)
    unlock_reset(car)
    assert car.handle(START_RESET) == CONDITIONS_NOT_CORRECT
    assert key_counts(car) == (2, 1)
    car.vehicle.set_speed(0.0)
    assert car.handle(START_RESET) == PENDING


def test_reset_takes_no_option_record(car: Car) -> None:
    car.ignition_on_with(car.master)
    enter_extended(car)
    unlock_reset(car)
    # 31 01 02 01 = start RID 0201, then an unexpected option byte 01
    assert car.handle(START_RESET + bytes([0x01])) == bytes([0x7F, 0x31, 0x31])  # outOfRange


def test_results_before_start_are_a_sequence_error(car: Car) -> None:
    car.ignition_on_with(car.master)
    enter_extended(car)
    unlock_reset(car)
    # negative, RoutineControl, requestSequenceError
    assert car.handle(RESET_RESULTS) == bytes([0x7F, 0x31, 0x24])


def test_reset_answers_pending_then_the_final_response(car: Car) -> None:
    lost_all_masters = car.vehicle.new_key("master")  # the owner lost every master key
    car.ignition_on_with(lost_all_masters)
    enter_extended(car)
    unlock_reset(car)
    assert car.handle(START_RESET) == PENDING
    assert car.advance(ERASE_S - 0.1) == []  # still erasing (no repeat needed within P2*)
    assert car.immobilizer.key_count(KeyKind.MASTER) == 2  # nothing erased yet
    # 71 = positive RoutineControl, 01 = startRoutine, 02 01 = RID, 00 = status done
    assert car.advance(0.2) == [bytes([0x71, 0x01, 0x02, 0x01, 0x00])]
    assert key_counts(car) == (0, 0)


def test_pending_is_repeated_every_p2_star_while_erasing() -> None:
    slow = make_car()
    # A slower erase than the default 2 s (erase_duration_s is configurable [LAB]).
    slow.immobilizer.config = dataclasses.replace(slow.immobilizer.config, erase_duration_s=12.0)
    slow.ignition_on_with(slow.master)
    enter_extended(slow)
    unlock_reset(slow)
    assert slow.handle(START_RESET) == PENDING
    responses: list[bytes] = []
    for _ in range(11):  # 11 s in 1 s steps: the server repeats 0x78 every 2 s (< P2* = 5 s)
        responses += slow.advance(1.0)
    assert responses == [PENDING] * 5  # at 2, 4, 6, 8 and 10 s
    assert slow.immobilizer.key_count(KeyKind.MASTER) == 2  # still erasing
    # 71 01 02 01 = positive start of RID 0201; 00 = done
    assert slow.advance(1.0) == [bytes([0x71, 0x01, 0x02, 0x01, 0x00])]


def test_requests_while_erasing_are_busy(car: Car) -> None:
    car.ignition_on_with(car.master)
    enter_extended(car)
    unlock_reset(car)
    assert car.handle(START_RESET) == PENDING
    # 22 01 06 = RDBI master keys → negative, RDBI, busyRepeatRequest
    assert car.handle(bytes([0x22, 0x01, 0x06])) == bytes([0x7F, 0x22, 0x21])
    car.advance(ERASE_S)
    assert read_did(car, DID_MASTER_KEYS) == bytes([0x00])  # 0 masters: erased


def test_after_the_reset_all_keys_are_gone_and_automatic_registration_is_open(car: Car) -> None:
    reset_immobilizer(car, car.vehicle.new_key("master"))
    assert read_did(car, DID_MASTER_KEYS) == bytes([0x00])  # 0 masters
    assert read_did(car, DID_SUB_KEYS) == bytes([0x00])  # 0 subs
    assert read_did(car, DID_REGISTRATION_MODE) == bytes([0x01])  # 1 = automatic registration
    # 03 = flashing a code, 15 = code 21 (the ready code of the bulletin)
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x03, 0x15])
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01])  # set
    # 71 03 02 01 = positive results of RID 0201; 00 = done; 00 masters; 00 subs
    assert car.handle(RESET_RESULTS) == bytes([0x71, 0x03, 0x02, 0x01, 0x00, 0x00, 0x00])


def test_reset_erases_keys_that_were_verified(car: Car) -> None:
    reset_immobilizer(car, car.master)
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01])  # set again
    car.withdraw()
    for key in car.vehicle.factory_keys:
        car.cycle(key)  # automatic registration takes them back as new keys …
    assert key_counts(car) == (2, 1)


def test_old_keys_do_not_start_after_a_reset(running_car: Car) -> None:
    reset_immobilizer(running_car, running_car.master)
    running_car.withdraw()
    new_master = running_car.vehicle.new_key("master")
    running_car.cycle(new_master)
    for _ in range(5):
        running_car.vehicle.press_brake()  # ends automatic registration (1 master)
    assert read_did(running_car, DID_REGISTRATION_MODE) == bytes([0x00])  # normal
    for old in running_car.vehicle.factory_keys:
        running_car.ignition_on_with(old)
        assert running_car.vehicle.start_engine() is False, old
        running_car.withdraw()
    running_car.ignition_on_with(new_master)
    assert running_car.vehicle.start_engine() is True


def test_reset_with_the_wrong_pass_code_is_refused(car: Car) -> None:
    car.ignition_on_with(car.master)
    enter_extended(car)
    # negative, SecurityAccess, invalidKey
    assert send_wrong_pass_code(car) == bytes([0x7F, 0x27, 0x35])
    assert car.handle(START_RESET) == SECURITY_DENIED
    assert key_counts(car) == (2, 1)
