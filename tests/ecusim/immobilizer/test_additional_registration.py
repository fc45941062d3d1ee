"""Routine 0x0202 Additional key registration (diagnostic-contract.md §4): level 0x01, a registered
master key present, option 01 master / 02 sub; the next new key within 30 s is registered, up to 5
masters + 3 subs (domain.md)."""

from __future__ import annotations

import dataclasses

from ecusim.car.keys import Key, TransponderFault
from tests.ecusim.key_ecu_kit import (
    DID_IMMOBILIZER_STATE,
    DID_REGISTRATION_MODE,
    DID_SECURITY_INDICATOR,
    enter_extended,
    key_counts,
    read_did,
    unlock_diag,
    unlock_reset,
)

from .conftest import WINDOW_S, Car

OPTION_MASTER = 0x01
OPTION_SUB = 0x02
RESULTS = bytes([0x31, 0x03, 0x02, 0x02])  # RoutineControl, requestRoutineResults, RID 0x0202
STOP = bytes([0x31, 0x02, 0x02, 0x02])  # RoutineControl, stopRoutine, RID 0x0202
STARTED = bytes([0x71, 0x01, 0x02, 0x02, 0x01])  # positive start of RID 0202, 01 = running
CONDITIONS_NOT_CORRECT = bytes([0x7F, 0x31, 0x22])  # negative, RoutineControl, 0x22
ADDITIONAL = bytes([0x02])  # DID 0x0109: 2 = additional registration
NORMAL = bytes([0x00])  # DID 0x0109: 0 = normal


def _start(option: int) -> bytes:
    return bytes([0x31, 0x01, 0x02, 0x02, option])  # RoutineControl, start, RID 0202, option


def _results(status: int, remaining_s: int) -> bytes:
    # 71 03 02 02 = positive results of RID 0202; status (0 done, 1 running, 2 failed);
    # remaining window in seconds, 2 bytes big-endian
    return bytes([0x71, 0x03, 0x02, 0x02, status]) + remaining_s.to_bytes(2, "big")


def _open_window(car: Car, option: int, master: Key | None = None) -> None:
    """Registered master in, ignition ON, extended session, level 0x01, start 0202, master out."""
    car.ignition_on_with(master if master is not None else car.master)
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(_start(option)) == STARTED
    car.withdraw()


def test_needs_level_0x01(car: Car) -> None:
    car.ignition_on_with(car.master)
    enter_extended(car)
    # negative, RoutineControl, securityAccessDenied
    assert car.handle(_start(OPTION_MASTER)) == bytes([0x7F, 0x31, 0x33])
    unlock_reset(car)  # level 0x11 is not level 0x01
    assert car.handle(_start(OPTION_MASTER)) == bytes([0x7F, 0x31, 0x33])


def test_needs_a_key_in_the_cylinder(car: Car) -> None:
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(_start(OPTION_MASTER)) == CONDITIONS_NOT_CORRECT


def test_needs_a_registered_master_not_a_sub(car: Car) -> None:
    car.ignition_on_with(car.sub)
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(_start(OPTION_SUB)) == CONDITIONS_NOT_CORRECT


def test_needs_a_registered_master_not_an_unknown_one(car: Car) -> None:
    car.ignition_on_with(car.vehicle.new_key("master"))
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(_start(OPTION_MASTER)) == CONDITIONS_NOT_CORRECT


def test_needs_a_master_that_answers_correctly(car: Car) -> None:
    car.ignition_on_with(dataclasses.replace(car.master, fault=TransponderFault.GARBLED))
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(_start(OPTION_MASTER)) == CONDITIONS_NOT_CORRECT


def test_option_byte_is_checked(car: Car) -> None:
    car.ignition_on_with(car.master)
    enter_extended(car)
    unlock_diag(car)
    # negative, RoutineControl, requestOutOfRange: option 03 is neither master nor sub
    assert car.handle(_start(0x03)) == bytes([0x7F, 0x31, 0x31])
    # 31 01 02 02 without an option → negative, RoutineControl, incorrectMessageLength
    assert car.handle(bytes([0x31, 0x01, 0x02, 0x02])) == bytes([0x7F, 0x31, 0x13])
    # 31 01 02 02 01 01: two option bytes → negative, RoutineControl, incorrectMessageLength
    assert car.handle(bytes([0x31, 0x01, 0x02, 0x02, 0x01, 0x01])) == bytes([0x7F, 0x31, 0x13])
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL


def test_results_before_start_are_a_sequence_error(car: Car) -> None:
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(RESULTS) == bytes([0x7F, 0x31, 0x24])  # negative, RC, sequenceError
    assert car.handle(STOP) == bytes([0x7F, 0x31, 0x24])  # negative, RC, sequenceError


def test_window_runs_30_s_on_the_vehicle_clock(car: Car) -> None:
    _open_window(car, OPTION_MASTER)
    assert read_did(car, DID_REGISTRATION_MODE) == ADDITIONAL
    assert car.handle(RESULTS) == _results(0x01, 30)  # running, 30 s left
    car.advance_in_session(10.0)
    assert car.handle(RESULTS) == _results(0x01, 20)  # running, 20 s left
    car.advance_in_session(19.9)
    assert car.handle(RESULTS) == _results(0x01, 1)  # running, 0.1 s left (rounded up)
    car.advance_in_session(WINDOW_S - 29.9)
    assert car.handle(RESULTS) == _results(0x02, 0)  # failed: no key came, 0 s left
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL
    late = car.vehicle.new_key("master")
    car.insert(late)
    assert key_counts(car) == (2, 1)  # too late: not registered


def test_a_new_master_within_the_window_is_registered(car: Car) -> None:
    _open_window(car, OPTION_MASTER)
    car.advance_in_session(12.0)
    new_master = car.vehicle.new_key("master")
    car.insert(new_master)
    assert key_counts(car) == (3, 1)
    assert car.handle(RESULTS) == _results(0x00, 0)  # done, window closed
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL
    car.vehicle.set_ignition("on")
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x00])  # the new master is accepted


def test_a_new_sub_with_option_02_is_registered(car: Car) -> None:
    _open_window(car, OPTION_SUB)
    car.insert(car.vehicle.new_key("sub"))
    assert key_counts(car) == (2, 2)
    assert car.handle(RESULTS) == _results(0x00, 0)  # done


def test_the_wrong_blank_kind_fails(car: Car) -> None:
    _open_window(car, OPTION_MASTER)
    car.insert(car.vehicle.new_key("sub"))  # a sub blank while a master was asked for
    assert key_counts(car) == (2, 1)
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x03, 0x15])  # flashing 2-1
    assert car.handle(RESULTS) == _results(0x02, 0)  # failed
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL


def test_a_master_blank_cannot_be_registered_as_a_sub(car: Car) -> None:
    _open_window(car, OPTION_SUB)
    car.insert(car.vehicle.new_key("master"))
    assert key_counts(car) == (2, 1)
    assert car.handle(RESULTS) == _results(0x02, 0)  # failed


def test_registered_keys_inserted_during_the_window_do_not_close_it(car: Car) -> None:
    _open_window(car, OPTION_MASTER)
    car.cycle(car.second_master)  # another registered master: ignored
    running = car.handle(RESULTS)
    assert running is not None and running[:5] == _results(0x01, 30)[:5]  # still running
    car.insert(car.sub)  # a registered sub: 2-2, window stays open
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x03, 0x16])  # flashing 2-2
    assert read_did(car, DID_REGISTRATION_MODE) == ADDITIONAL
    car.withdraw()
    car.insert(car.vehicle.new_key("master"))
    assert key_counts(car) == (3, 1)


def test_at_most_5_masters(car: Car) -> None:
    for count in (3, 4, 5):
        _open_window(car, OPTION_MASTER)
        car.insert(car.vehicle.new_key("master"))
        assert key_counts(car) == (count, 1)
        car.withdraw()
    _open_window(car, OPTION_MASTER)
    car.insert(car.vehicle.new_key("master"))
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x03, 0x17])  # flashing 2-3
    assert key_counts(car) == (5, 1)
    assert car.handle(RESULTS) == _results(0x02, 0)  # failed


def test_at_most_3_subs(car: Car) -> None:
    for count in (2, 3):
        _open_window(car, OPTION_SUB)
        car.insert(car.vehicle.new_key("sub"))
        assert key_counts(car) == (2, count)
        car.withdraw()
    _open_window(car, OPTION_SUB)
    car.insert(car.vehicle.new_key("sub"))
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x03, 0x17])  # flashing 2-3
    assert key_counts(car) == (2, 3)
    assert car.handle(RESULTS) == _results(0x02, 0)  # failed


def test_stop_closes_the_window(car: Car) -> None:
    _open_window(car, OPTION_MASTER)
    # 71 02 02 02 = positive stop of RID 0202; 02 = failed (closed without a new key)
    assert car.handle(STOP) == bytes([0x71, 0x02, 0x02, 0x02, 0x02])
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL
    car.insert(car.vehicle.new_key("master"))
    assert key_counts(car) == (2, 1)  # not registered
    assert car.handle(RESULTS) == bytes([0x7F, 0x31, 0x24])  # stopped: negative, sequenceError


def test_a_second_window_cannot_open_while_one_is_open(car: Car) -> None:
    car.ignition_on_with(car.master)
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(_start(OPTION_MASTER)) == STARTED
    assert car.handle(_start(OPTION_SUB)) == CONDITIONS_NOT_CORRECT  # not in normal mode


def test_ecu_reset_closes_the_window(car: Car) -> None:
    """diagnostic-contract.md §2: ECUReset answers first, then resets: volatile state is lost, NVM
    kept. The open registration window is volatile (TransponderKeyEcu keeps it in memory only)."""
    _open_window(car, OPTION_MASTER)
    assert car.handle(bytes([0x11, 0x01])) == bytes([0x51, 0x01])  # ECUReset hardReset → pos
    assert read_did(car, DID_REGISTRATION_MODE) == NORMAL
    car.insert(car.vehicle.new_key("master"))
    assert key_counts(car) == (2, 1)  # no window any more: not registered
