"""The security indicator (DID 0x0108) and the immobilizer DTCs B2796-B2799 (domain.md)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import can

from ecusim.car.keys import Key, TransponderFault
from ecusim.car.physical import Ignition
from ecusim.ecus.start_control import StartResult
from tests.ecusim.key_ecu_kit import (
    CONFIRMED_DTC,
    DID_IMMOBILIZER_STATE,
    DID_SECURITY_INDICATOR,
    DTC_B2796,
    DTC_B2797,
    DTC_B2798,
    DTC_B2799,
    STATUS_AFTER_CLEAR,
    TEST_FAILED,
    dtc_statuses,
    read_did,
    restart,
    unique_channel,
)

from .conftest import Car, make_car

INDICATOR_OFF = bytes([0x00, 0x00])  # DID 0x0108: mode 0 off, no code
INDICATOR_STEADY = bytes([0x01, 0x00])  # DID 0x0108: mode 1 steady, no code
INDICATOR_BLINKING = bytes([0x02, 0x00])  # DID 0x0108: mode 2 blinking, no code


def _clear_all(car: Car) -> None:
    response = car.handle(bytes([0x14, 0xFF, 0xFF, 0xFF]))  # ClearDiagnosticInformation, all
    assert response == bytes([0x54])  # positive ClearDiagnosticInformation


def _failed(status: int) -> bool:
    return bool(status & TEST_FAILED) and bool(status & CONFIRMED_DTC)


# -- security indicator -----------------------------------------------------------------------


def test_indicator_blinks_while_set_with_no_key_in(car: Car) -> None:
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01])  # set
    assert read_did(car, DID_SECURITY_INDICATOR) == INDICATOR_BLINKING


def test_indicator_is_off_while_unset(car: Car) -> None:
    car.ignition_on_with(car.master)
    assert read_did(car, DID_SECURITY_INDICATOR) == INDICATOR_OFF
    car.withdraw()
    assert read_did(car, DID_SECURITY_INDICATOR) == INDICATOR_BLINKING


def test_indicator_blinks_again_after_the_relock_delay(car: Car) -> None:
    car.ignition_on_with(car.master)
    car.vehicle.set_ignition("off")
    # The key is still in: set again after 20 s, but the indicator only blinks with no key in.
    car.advance(20.0)
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01])  # set
    assert read_did(car, DID_SECURITY_INDICATOR) == INDICATOR_OFF
    car.withdraw()
    assert read_did(car, DID_SECURITY_INDICATOR) == INDICATOR_BLINKING


def test_indicator_is_steady_in_automatic_registration_with_no_key_in(car: Car) -> None:
    car.immobilizer.keys.set_automatic_registration(True)  # as after routine 0x0204 option 02
    assert read_did(car, DID_SECURITY_INDICATOR) == INDICATOR_STEADY


# -- DTCs -------------------------------------------------------------------------------------


def test_factory_car_has_no_failed_dtc(car: Car) -> None:
    statuses = dtc_statuses(car)
    assert statuses == {
        DTC_B2796: STATUS_AFTER_CLEAR,
        DTC_B2797: STATUS_AFTER_CLEAR,
        DTC_B2798: STATUS_AFTER_CLEAR,
        DTC_B2799: STATUS_AFTER_CLEAR,
    }


def test_silent_key_logs_b2796(car: Car) -> None:
    silent = dataclasses.replace(car.master, fault=TransponderFault.SILENT)
    car.ignition_on_with(silent)
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01])  # still set
    response = car.handle(bytes([0x19, 0x02, 0x01]))  # ReadDTCInformation, byStatusMask, testFailed
    # 59 02 = positive, report by mask; 7F = availability; A7 96 00 = B2796; 2F = status:
    # testFailed | thisCycle | pending | confirmed | sinceLastClear
    assert response == bytes([0x59, 0x02, 0x7F, 0xA7, 0x96, 0x00, 0x2F])
    everything = car.handle(bytes([0x19, 0x02, 0xFF]))  # ReadDTCInformation, byStatusMask, FF
    assert everything is not None
    # 59 02 = positive, report by mask; 7F = availability; then 4-byte records
    assert everything[:3] == bytes([0x59, 0x02, 0x7F])
    records = [everything[i : i + 4] for i in range(3, len(everything), 4)]
    assert bytes([0xA7, 0x96, 0x00, 0x2F]) in records  # B2796, testFailed … confirmed
    statuses = dtc_statuses(car)
    assert _failed(statuses[DTC_B2796])
    assert not statuses[DTC_B2797] & TEST_FAILED
    assert not statuses[DTC_B2798] & TEST_FAILED


def test_garbled_registered_key_logs_b2797(car: Car) -> None:
    garbled = dataclasses.replace(car.master, fault=TransponderFault.GARBLED)
    car.ignition_on_with(garbled)
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01])  # still set
    response = car.handle(bytes([0x19, 0x02, 0x01]))  # ReadDTCInformation, byStatusMask, testFailed
    # 59 02 = positive, report by mask; 7F = availability; A7 97 00 = B2797; 2F = failed, confirmed
    assert response == bytes([0x59, 0x02, 0x7F, 0xA7, 0x97, 0x00, 0x2F])


def test_slow_key_logs_b2798(car: Car) -> None:
    slow = dataclasses.replace(car.master, response_time_s=0.6)
    car.ignition_on_with(slow)
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01])  # still set
    response = car.handle(bytes([0x19, 0x02, 0x01]))  # ReadDTCInformation, byStatusMask, testFailed
    # 59 02 = positive, report by mask; 7F = availability; A7 98 00 = B2798; 2F = failed, confirmed
    assert response == bytes([0x59, 0x02, 0x7F, 0xA7, 0x98, 0x00, 0x2F])


def test_key_within_the_response_limit_is_identified(car: Car) -> None:
    car.ignition_on_with(dataclasses.replace(car.master, response_time_s=0.5))
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x00])  # 0.5 s is still in time
    assert not dtc_statuses(car)[DTC_B2798] & TEST_FAILED


def test_a_good_key_clears_test_failed_of_the_communication_dtcs(car: Car) -> None:
    car.ignition_on_with(dataclasses.replace(car.master, fault=TransponderFault.SILENT))
    car.withdraw()
    car.ignition_on_with(car.master)
    status = dtc_statuses(car)[DTC_B2796]
    assert not status & TEST_FAILED
    assert status & CONFIRMED_DTC  # confirmed stays until cleared


def test_clear_diagnostic_information_clears_every_dtc(car: Car) -> None:
    car.ignition_on_with(dataclasses.replace(car.master, fault=TransponderFault.SILENT))
    car.withdraw()
    car.ignition_on_with(dataclasses.replace(car.master, response_time_s=0.6))
    assert _failed(dtc_statuses(car)[DTC_B2798])
    _clear_all(car)
    assert set(dtc_statuses(car).values()) == {STATUS_AFTER_CLEAR}
    response = car.handle(bytes([0x19, 0x02, 0x01]))  # ReadDTCInformation, byStatusMask, failed
    assert response == bytes([0x59, 0x02, 0x7F])  # positive, report by mask, availability: none


def test_dtc_statuses_survive_a_restart_and_so_does_a_clear(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    car.ignition_on_with(dataclasses.replace(car.master, fault=TransponderFault.GARBLED))
    failed = dtc_statuses(car)
    assert _failed(failed[DTC_B2797])

    again = restart(car, tmp_path)
    assert dtc_statuses(again) == failed

    _clear_all(again)
    cleared = restart(again, tmp_path)
    assert set(dtc_statuses(cleared).values()) == {STATUS_AFTER_CLEAR}


# -- ECU-ECM communication ID mismatch (B2799) -----------------------------------------------


def test_ecm_id_mismatch_refuses_start_and_logs_b2799(running_car: Car) -> None:
    vehicle = running_car.vehicle
    control = vehicle.engine.start_control
    assert control.communication_id is not None
    control.communication_id ^= 0x00000001  # an ECM paired with another immobilizer
    running_car.ignition_on_with(running_car.master)
    assert read_did(running_car, DID_IMMOBILIZER_STATE) == bytes([0x00])  # the key is fine
    assert vehicle.start_engine() is False
    assert not vehicle.engine_running
    assert control.last_result is StartResult.ID_MISMATCH  # LastStartResult 3
    assert int(control.last_result) == 3
    response = running_car.handle(bytes([0x19, 0x02, 0x01]))  # ReadDTCInformation, mask failed
    # 59 02 = positive, report by mask; 7F = availability; A7 99 00 = B2799; 2F = failed, confirmed
    assert response == bytes([0x59, 0x02, 0x7F, 0xA7, 0x99, 0x00, 0x2F])


def test_ecm_id_mismatch_dtc_is_persisted(tmp_path: Path) -> None:
    car = make_car(tmp_path)
    bus = can.Bus(interface="virtual", channel=unique_channel())
    try:
        with car.vehicle.running(bus):
            control = car.vehicle.engine.start_control
            assert control.communication_id is not None
            control.communication_id ^= 0x00000100
            car.ignition_on_with(car.master)
            assert car.vehicle.start_engine() is False
    finally:
        bus.shutdown()
    again = restart(car, tmp_path)
    assert _failed(dtc_statuses(again)[DTC_B2799])
    # The ECM's own NVM was never changed: the restarted pair matches again and starts.
    bus = can.Bus(interface="virtual", channel=unique_channel())
    try:
        with again.vehicle.running(bus):
            again.ignition_on_with(again.master)
            assert again.vehicle.start_engine() is True
    finally:
        bus.shutdown()


def test_cleared_b2799_stays_cleared_until_the_next_start_attempt(running_car: Car) -> None:
    """ClearDiagnosticInformation must not be undone by the ECM's periodic ENGINE_STATUS, which
    repeats the verdict of the *last* start attempt (LastStartResult 3) every 100 ms: no new
    start attempt, no new test result (ISO 14229-1 Annex D: testFailed again only when the test
    runs and fails again)."""
    vehicle = running_car.vehicle
    control = vehicle.engine.start_control
    assert control.communication_id is not None
    control.communication_id ^= 0x00000001
    running_car.ignition_on_with(running_car.master)
    assert vehicle.start_engine() is False
    attempts = control.start_attempts
    _clear_all(running_car)
    assert dtc_statuses(running_car)[DTC_B2799] == STATUS_AFTER_CLEAR

    # Let the car broadcast ENGINE_STATUS twice on the vehicle clock (the body thread sends one
    # per turn after a clock jump) and wait until the second one is out.
    observer = can.Bus(interface="virtual", channel=running_car.channel)
    try:
        for _ in range(2):
            running_car.clock.advance(0.2)
            _wait_for_frame(observer, 0x2C0)  # ENGINE_STATUS
    finally:
        observer.shutdown()
    assert control.start_attempts == attempts  # nobody cranked
    assert vehicle.physical.ignition is Ignition.ON
    assert dtc_statuses(running_car)[DTC_B2799] == STATUS_AFTER_CLEAR


def test_cleared_b2799_stays_untested_after_a_good_start(running_car: Car) -> None:
    """After 14 FF FF FF every DTC is "not completed since last clear" (0x50) until its test
    runs again; the ECM repeating an old "started" verdict is not a new test."""
    vehicle = running_car.vehicle
    running_car.ignition_on_with(running_car.master)
    assert vehicle.start_engine() is True
    _clear_all(running_car)
    observer = can.Bus(interface="virtual", channel=running_car.channel)
    try:
        for _ in range(2):
            running_car.clock.advance(0.2)
            _wait_for_frame(observer, 0x2C0)  # ENGINE_STATUS
    finally:
        observer.shutdown()
    assert dtc_statuses(running_car)[DTC_B2799] == STATUS_AFTER_CLEAR


def _wait_for_frame(bus: can.BusABC, arbitration_id: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = bus.recv(timeout=0.05)
        if message is not None and message.arbitration_id == arbitration_id:
            return
    raise AssertionError(f"no frame {arbitration_id:03X} within {timeout_s} s")


def test_key_built_from_another_id_is_unknown_not_faulty(car: Car) -> None:
    """A key this car does not know answers correctly for itself: no start, but no DTC."""
    stranger = Key(car.master.transponder_id ^ 0x1)
    car.ignition_on_with(stranger)
    assert read_did(car, DID_IMMOBILIZER_STATE) == bytes([0x01])  # 01 = set
    assert not any(status & TEST_FAILED for status in dtc_statuses(car).values())
