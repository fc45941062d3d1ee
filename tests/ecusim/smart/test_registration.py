"""Routine 0x0206 Smart Key Code Registration (diagnostic-contract.md §4, domain.md): level 0x01 or
0x11; only with no keys stored; refused at ≥ 5 km/h with the reason logged (DID 0x010E);
registration opens once the waiting period has run; a new key is registered by touching it to the
engine switch, up to 7; it closes at ignition OFF, at the limit or with ``31 02 02 06``."""

from __future__ import annotations

import pytest

from ecusim.car.keys import Key, TransponderFault
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
    write_blank_vin,
)

from .conftest import (
    CONDITIONS_NOT_CORRECT,
    DID_SMART_KEYS,
    DONE,
    FAILED,
    LIMIT,
    MODE_NORMAL,
    MODE_OPEN,
    MODE_WAITING,
    REFUSED_ALREADY_REGISTERED,
    REFUSED_IGNITION,
    REFUSED_KEYS_STORED,
    REFUSED_MOVING,
    REFUSED_NOT_SMART,
    REFUSED_NOT_VERIFIED,
    REFUSED_WAITING,
    REGISTRATION_RESULTS,
    RUNNING,
    SECURITY_DENIED,
    SEQUENCE_ERROR,
    START_REGISTRATION,
    STOP_REGISTRATION,
    WAITING_S,
    Car,
    open_registration,
    refusal,
    reset_smart_keys,
    routine,
    waiting_s,
)

# -- access and preconditions --------------------------------------------------------------


def test_registration_needs_level_0x01_or_0x11(car: Car) -> None:
    car.vehicle.install_blank_key_ecu()
    car.vehicle.set_ignition("on")
    enter_extended(car)
    assert car.handle(START_REGISTRATION) == SECURITY_DENIED
    unlock_diag(car)
    assert routine(car, START_REGISTRATION) == (RUNNING, int(WAITING_S), 0)


def test_registration_accepts_level_0x11_too(car: Car) -> None:
    car.vehicle.install_blank_key_ecu()
    car.vehicle.set_ignition("on")
    enter_extended(car)
    write_blank_vin(car)  # a blank ECU has no VIN, so no Pass-Code, until its one VIN write
    unlock_reset(car)
    assert routine(car, START_REGISTRATION) == (RUNNING, int(WAITING_S), 0)


def test_results_and_stop_before_start_are_sequence_errors(car: Car) -> None:
    reset_smart_keys(car)
    assert car.handle(REGISTRATION_RESULTS) == SEQUENCE_ERROR
    assert car.handle(STOP_REGISTRATION) == SEQUENCE_ERROR


def test_new_registration_only_with_no_keys_stored(car: Car) -> None:
    car.vehicle.set_ignition("on")
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(START_REGISTRATION) == CONDITIONS_NOT_CORRECT
    assert refusal(car) == (REFUSED_KEYS_STORED, "new registration only with no keys stored")
    assert read_byte(car, DID_SMART_KEYS) == 2
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_NORMAL


def test_registration_needs_ignition_on(car: Car) -> None:
    reset_smart_keys(car)
    car.vehicle.set_ignition("acc")
    assert car.handle(START_REGISTRATION) == CONDITIONS_NOT_CORRECT
    assert refusal(car) == (REFUSED_IGNITION, "ignition not ON")


@pytest.mark.parametrize("kmh", [5.0, 60.0])
def test_registration_is_refused_at_5_kmh_and_more_with_the_reason_logged(
    car: Car, kmh: float
) -> None:
    reset_smart_keys(car)
    car.vehicle.set_speed(kmh)
    assert car.handle(START_REGISTRATION) == CONDITIONS_NOT_CORRECT
    assert refusal(car) == (REFUSED_MOVING, "vehicle moving")
    # 22 = ReadDataByIdentifier, 01 0E = the refusal log: 62 01 0E, code 01, "vehicle moving"
    assert car.handle(bytes([0x22, 0x01, 0x0E])) == bytes([0x62, 0x01, 0x0E, 0x01]) + (
        b"vehicle moving"
    )
    assert car.handle(REGISTRATION_RESULTS) == SEQUENCE_ERROR  # the routine never started


def test_registration_starts_below_5_kmh(car: Car) -> None:
    reset_smart_keys(car)
    car.vehicle.set_speed(4.9)
    assert routine(car, START_REGISTRATION) == (RUNNING, int(WAITING_S), 0)


def test_registration_takes_no_option(car: Car) -> None:
    reset_smart_keys(car)
    # start RID 0x0206 with an option byte 01 → negative, RoutineControl, requestOutOfRange
    assert car.handle(START_REGISTRATION + bytes([0x01])) == bytes([0x7F, 0x31, 0x31])


# -- the waiting period, then registration open --------------------------------------------------


def test_registration_opens_by_itself_once_the_waiting_period_has_run(car: Car) -> None:
    reset_smart_keys(car)
    assert routine(car, START_REGISTRATION) == (RUNNING, 960, 0)
    car.advance_in_session(WAITING_S - 1.0)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_WAITING
    assert routine(car, REGISTRATION_RESULTS) == (RUNNING, 1, 0)
    car.advance_in_session(1.0)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_OPEN
    assert routine(car, REGISTRATION_RESULTS) == (RUNNING, 0, 0)
    assert waiting_s(car) == 0
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x01, 0x00])  # steady: waiting for keys


def test_a_start_after_the_waiting_period_opens_registration_at_once(car: Car) -> None:
    reset_smart_keys(car)
    car.advance_in_session(WAITING_S + 30.0)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_WAITING  # not requested yet
    assert routine(car, START_REGISTRATION) == (RUNNING, 0, 0)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_OPEN


def test_the_waiting_period_is_enforced_even_when_requested(car: Car) -> None:
    """A key touched to the switch during the waiting period is refused and the reason logged."""
    reset_smart_keys(car)
    routine(car, START_REGISTRATION)
    car.advance_in_session(100.0)
    car.touch_switch(car.vehicle.new_key("smart"))
    assert read_byte(car, DID_SMART_KEYS) == 0
    assert refusal(car) == (REFUSED_WAITING, "waiting period running")
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x02, 0x00])  # code gone with the key


# -- registering keys ---------------------------------------------------------------------------


def test_touching_new_keys_to_the_switch_registers_them(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    new = [car.vehicle.new_key("smart"), car.vehicle.new_key("smart")]
    for key in new:
        car.bring(key, "cabin")
    assert read_byte(car, DID_SMART_KEYS) == 0  # being in the cabin is not enough
    for count, key in enumerate(new, start=1):
        car.touch_switch(key)
        assert read_byte(car, DID_SMART_KEYS) == count
    assert routine(car, REGISTRATION_RESULTS) == (RUNNING, 0, 2)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_OPEN  # more may follow
    assert routine(car, STOP_REGISTRATION) == (DONE, 0, 2)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_NORMAL
    assert car.handle(REGISTRATION_RESULTS) == SEQUENCE_ERROR  # stopped: start again first
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x00  # the new keys are in the cabin


def test_a_touch_at_speed_is_refused_and_logged(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    key = car.vehicle.new_key("smart")
    car.vehicle.set_speed(12.0)
    car.vehicle.present_key(key, "switch")
    assert read_byte(car, DID_SMART_KEYS) == 0
    assert refusal(car) == (REFUSED_MOVING, "vehicle moving")
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x03, 21])  # flashing 2-1
    car.vehicle.set_speed(0.0)
    car.vehicle.present_key(key, "cabin")
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x01, 0x00])  # steady again
    car.touch_switch(key)
    assert read_byte(car, DID_SMART_KEYS) == 1


def test_touching_a_registered_key_again_flashes_2_2(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    key = car.vehicle.new_key("smart")
    car.touch_switch(key)
    car.vehicle.present_key(key, "switch")
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x03, 22])  # flashing 2-2
    assert refusal(car) == (REFUSED_ALREADY_REGISTERED, "key already registered")
    assert read_byte(car, DID_SMART_KEYS) == 1


def test_an_old_key_is_a_new_key_after_the_reset(car: Car) -> None:
    """The reset erased the factory keys' codes: touching one registers it again."""
    reset_smart_keys(car)
    open_registration(car)
    car.touch_switch(car.old_keys[0])
    assert read_byte(car, DID_SMART_KEYS) == 1


def test_a_transponder_key_cannot_be_registered(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    master = Key(0x1234_5678)  # a master blank (top digit 1) of some transponder car
    car.vehicle.present_key(master, "switch")
    assert read_byte(car, DID_SMART_KEYS) == 0
    assert refusal(car) == (REFUSED_NOT_SMART, "not a smart key")


def test_a_key_that_answers_wrongly_is_refused_with_b2797(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    broken = Key(car.vehicle.new_key("smart").transponder_id, fault=TransponderFault.GARBLED)
    car.vehicle.present_key(broken, "switch")
    assert read_byte(car, DID_SMART_KEYS) == 0
    assert refusal(car) == (REFUSED_NOT_VERIFIED, "key did not answer correctly")
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x03, 21])  # flashing 2-1
    # 19 0A = ReadDTCInformation reportSupportedDTC; find B2797 (0xA79700) failed
    response = car.handle(bytes([0x19, 0x0A]))
    assert response is not None and response[:3] == bytes([0x59, 0x0A, 0x7F])
    records = {response[i : i + 3]: response[i + 3] for i in range(3, len(response), 4)}
    assert records[bytes([0xA7, 0x97, 0x00])] & 0x01  # testFailed


def test_registration_closes_at_the_limit_of_7(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    for _ in range(LIMIT):
        car.touch_switch(car.vehicle.new_key("smart"))
    assert read_byte(car, DID_SMART_KEYS) == LIMIT
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_NORMAL  # closed by itself
    assert routine(car, REGISTRATION_RESULTS) == (DONE, 0, LIMIT)
    car.touch_switch(car.vehicle.new_key("smart"))  # an 8th key: registration is closed
    assert read_byte(car, DID_SMART_KEYS) == LIMIT


def test_ignition_off_closes_registration(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    car.touch_switch(car.vehicle.new_key("smart"))
    car.vehicle.set_ignition("off")
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_NORMAL
    car.vehicle.set_ignition("on")
    car.touch_switch(car.vehicle.new_key("smart"))
    assert read_byte(car, DID_SMART_KEYS) == 1  # closed: the second key was not registered
    enter_extended(car)
    unlock_diag(car)
    assert car.handle(START_REGISTRATION) == CONDITIONS_NOT_CORRECT  # keys are stored now
    assert refusal(car)[0] == REFUSED_KEYS_STORED


def test_ignition_off_without_a_key_restarts_the_wait(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    car.vehicle.set_ignition("off")
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_WAITING  # still no key stored
    assert waiting_s(car) == int(WAITING_S)
    car.vehicle.set_ignition("on")
    enter_extended(car)
    unlock_diag(car)
    # 0x0206 again: running, the full waiting period ahead
    assert routine(car, START_REGISTRATION) == (RUNNING, int(WAITING_S), 0)


def test_stopping_with_no_key_registered_fails(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    assert routine(car, STOP_REGISTRATION) == (FAILED, 0, 0)
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_WAITING
    assert routine(car, START_REGISTRATION) == (RUNNING, 0, 0)  # the wait has already run
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_OPEN


def test_a_second_reset_during_registration_erases_the_new_keys(car: Car) -> None:
    reset_smart_keys(car)
    open_registration(car)
    car.touch_switch(car.vehicle.new_key("smart"))
    # 0x0201 again (level 0x11 is still unlocked): 0x78, then done
    assert car.handle(bytes([0x31, 0x01, 0x02, 0x01])) == bytes([0x7F, 0x31, 0x78])
    # 71 01 02 01 = positive startRoutine RID 0x0201, 00 = done
    assert car.advance(ERASE_S + 0.1) == [bytes([0x71, 0x01, 0x02, 0x01, 0x00])]
    assert read_byte(car, DID_SMART_KEYS) == 0
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_WAITING
    # the registration routine was aborted and its key erased: failed
    assert routine(car, REGISTRATION_RESULTS) == (FAILED, 960, 0)
