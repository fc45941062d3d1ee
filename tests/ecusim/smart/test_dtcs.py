"""The certification ECU's DTCs (domain.md [S]): B2796 no answer, B2797 wrong answer, B2798 too
slow, B2799 ECU-ECM ID mismatch reported by the ECM. Encoded as 3 bytes (B2796 → 0xA79600)."""

from __future__ import annotations

from dbc import body
from ecusim.car.keys import Key, TransponderFault
from tests.ecusim.key_ecu_kit import (
    DID_IMMOBILIZER_STATE,
    DTC_B2796,
    DTC_B2797,
    DTC_B2798,
    DTC_B2799,
    TEST_FAILED,
    dtc_statuses,
    read_byte,
)

from .conftest import Car


def test_the_supported_dtcs(car: Car) -> None:
    assert set(dtc_statuses(car)) == {DTC_B2796, DTC_B2797, DTC_B2798, DTC_B2799}
    assert not any(status & TEST_FAILED for status in dtc_statuses(car).values())


def test_a_silent_key_in_the_cabin_logs_b2796(car: Car) -> None:
    silent = Key(car.old_keys[0].transponder_id, fault=TransponderFault.SILENT)
    car.bring(silent)
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x01
    assert dtc_statuses(car)[DTC_B2796] & TEST_FAILED


def test_a_garbled_answer_logs_b2797(car: Car) -> None:
    garbled = Key(car.old_keys[0].transponder_id, fault=TransponderFault.GARBLED)
    car.bring(garbled)
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x01
    assert dtc_statuses(car)[DTC_B2797] & TEST_FAILED


def test_a_slow_key_logs_b2798_and_a_good_answer_passes_the_tests(car: Car) -> None:
    slow = Key(car.old_keys[0].transponder_id, response_time_s=0.6)
    car.bring(slow)
    assert dtc_statuses(car)[DTC_B2798] & TEST_FAILED
    car.take_away()
    car.bring(car.old_keys[0])  # the same key answering in time
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x00
    assert not dtc_statuses(car)[DTC_B2798] & TEST_FAILED


def test_an_id_mismatch_from_the_ecm_logs_b2799_once_per_attempt(car: Car) -> None:
    engine_status = {
        "EngineRunning": 0,
        "ImmobilizerIdMatch": 0,
        "LastStartResult": 3,  # refused: ID mismatch
        "StartAttempts": 1,
        "EngineSpeed": 0,
    }
    car.system.on_frame(body.ENGINE_STATUS, engine_status)
    assert dtc_statuses(car)[DTC_B2799] & TEST_FAILED
    # 14 FF FF FF = ClearDiagnosticInformation, all groups → 54
    assert car.handle(bytes([0x14, 0xFF, 0xFF, 0xFF])) == bytes([0x54])
    car.system.on_frame(body.ENGINE_STATUS, engine_status)  # the same attempt repeated
    assert not dtc_statuses(car)[DTC_B2799] & TEST_FAILED
    car.system.on_frame(body.ENGINE_STATUS, {**engine_status, "StartAttempts": 2})
    assert dtc_statuses(car)[DTC_B2799] & TEST_FAILED
