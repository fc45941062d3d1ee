"""Routine 0x0204 Erase keys (diagnostic-contract.md §4): level 0x01, a registered master key
present; option 01 erases all but the present master, option 02 erases all (and automatic
registration opens, as with an ECU that has no codes)."""

from __future__ import annotations

from tests.ecusim.key_ecu_kit import (
    DID_IMMOBILIZER_STATE,
    DID_REGISTRATION_MODE,
    enter_extended,
    key_counts,
    read_did,
    unlock_diag,
    unlock_reset,
)

from .conftest import Car

ERASE_ALL_BUT_MASTER = bytes([0x31, 0x01, 0x02, 0x04, 0x01])  # RC, start, RID 0204, option 01
ERASE_ALL = bytes([0x31, 0x01, 0x02, 0x04, 0x02])  # RC, start, RID 0204, option 02
CONDITIONS_NOT_CORRECT = bytes([0x7F, 0x31, 0x22])  # negative, RoutineControl, 0x22
SECURITY_DENIED = bytes([0x7F, 0x31, 0x33])  # negative, RoutineControl, securityAccessDenied


def _prepare(car: Car, *, with_diag: bool = True) -> None:
    car.ignition_on_with(car.second_master)
    enter_extended(car)
    if with_diag:
        unlock_diag(car)


def test_option_01_keeps_only_the_inserted_master(car: Car) -> None:
    _prepare(car)
    # 71 01 02 04 = positive start of RID 0204; 00 = done; 01 master left; 00 subs
    assert car.handle(ERASE_ALL_BUT_MASTER) == bytes([0x71, 0x01, 0x02, 0x04, 0x00, 0x01, 0x00])
    assert key_counts(car) == (1, 0)
    assert read_did(car, DID_REGISTRATION_MODE) == bytes([0x00])  # normal
    car.withdraw()
    for erased in (car.master, car.sub):
        car.ignition_on_with(erased)
        assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01]), erased  # still set
        car.withdraw()
    car.ignition_on_with(car.second_master)
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x00])  # the kept master works


def test_option_02_erases_all_and_opens_automatic_registration(car: Car) -> None:
    _prepare(car)
    # 71 01 02 04 = positive start of RID 0204; 00 = done; 00 masters; 00 subs
    assert car.handle(ERASE_ALL) == bytes([0x71, 0x01, 0x02, 0x04, 0x00, 0x00, 0x00])
    assert key_counts(car) == (0, 0)
    assert read_did(car, DID_REGISTRATION_MODE) == bytes([0x01])  # automatic registration
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01])  # set
    car.withdraw()
    car.cycle(car.master)  # registered anew by automatic registration
    assert key_counts(car) == (1, 0)


def test_results_report_the_counts(car: Car) -> None:
    _prepare(car)
    assert car.handle(ERASE_ALL_BUT_MASTER) is not None
    # 31 03 02 04 = results of RID 0204 → 71 03 02 04, 00 done, 01 master, 00 subs
    assert car.handle(bytes([0x31, 0x03, 0x02, 0x04])) == bytes(
        [0x71, 0x03, 0x02, 0x04, 0x00, 0x01, 0x00]
    )


def test_needs_level_0x01(car: Car) -> None:
    _prepare(car, with_diag=False)
    assert car.handle(ERASE_ALL) == SECURITY_DENIED
    unlock_reset(car)
    assert car.handle(ERASE_ALL) == SECURITY_DENIED  # level 0x11 is not level 0x01
    assert key_counts(car) == (2, 1)


def test_needs_a_registered_master_inserted(car: Car) -> None:
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(ERASE_ALL) == CONDITIONS_NOT_CORRECT  # no key in
    car.insert(car.sub)
    assert car.handle(ERASE_ALL_BUT_MASTER) == CONDITIONS_NOT_CORRECT  # a sub is not a master
    car.withdraw()
    car.insert(car.vehicle.new_key("master"))
    assert car.handle(ERASE_ALL) == CONDITIONS_NOT_CORRECT  # an unknown master
    assert key_counts(car) == (2, 1)


def test_option_byte_is_checked(car: Car) -> None:
    _prepare(car)
    # 31 01 02 04 03: option 03 → negative, RoutineControl, requestOutOfRange
    assert car.handle(bytes([0x31, 0x01, 0x02, 0x04, 0x03])) == bytes([0x7F, 0x31, 0x31])
    # 31 01 02 04 without option → negative, RoutineControl, incorrectMessageLength
    assert car.handle(bytes([0x31, 0x01, 0x02, 0x04])) == bytes([0x7F, 0x31, 0x13])
    assert key_counts(car) == (2, 1)
