"""The certification ECU's identification and state DIDs (diagnostic-contract.md §4,
docs/smart-key.md)."""

from __future__ import annotations

from ecusim.ecus.identification import serial_number_for
from protocol.passcode import diagnostic_key
from tests.ecusim.key_ecu_kit import (
    DID_ACTIVE_SESSION,
    DID_CAPABILITIES,
    DID_IMMOBILIZER_STATE,
    DID_MASTER_KEYS,
    DID_PART_NUMBER,
    DID_REGISTRATION_MODE,
    DID_SECURITY_INDICATOR,
    DID_SECURITY_STATUS,
    DID_SERIAL_NUMBER,
    DID_SUB_KEYS,
    DID_SYSTEM_NAME,
    DID_VIN,
    VIN,
    enter_extended,
    read_byte,
    read_did,
    request_seed,
    security_status,
    unlock_diag,
)

from .conftest import DID_REFUSAL, DID_SMART_KEYS, MODE_NORMAL, WAITING_S, Car, refusal, waiting_s

OTHER_VIN = "JTHBA1D29G5000002"
"""The second VIN of diagnostic-contract.md §5 (valid check digit)."""


def test_the_certification_ecu_answers_at_0x750_sub_address_0xb5(car: Car) -> None:
    addressing = car.certification.addressing
    assert (addressing.request_id, addressing.response_id) == (0x750, 0x758)
    assert addressing.extended_address == 0xB5
    assert car.vehicle.describe() == [
        "engine (ENGINE): 0x7E0 -> 0x7E8, functional 0x7DF",
        "certification (SMART KEY): 0x750 -> 0x758 ext 0xB5",
    ]


def test_identification(car: Car) -> None:
    assert read_did(car, DID_VIN) == VIN.encode("ascii")
    assert read_did(car, DID_SYSTEM_NAME) == b"SMART KEY"
    assert read_did(car, DID_PART_NUMBER) == b"89990-LAB01"
    serial = read_did(car, DID_SERIAL_NUMBER)
    assert serial == serial_number_for("CER", VIN).encode("ascii")
    assert serial.startswith(b"CER") and 10 <= len(serial) <= 16
    assert read_byte(car, DID_ACTIVE_SESSION) == 0x01
    enter_extended(car)
    assert read_byte(car, DID_ACTIVE_SESSION) == 0x03


def test_factory_state(car: Car) -> None:
    assert read_byte(car, DID_SMART_KEYS) == 2  # the chart's factory set: 2 smart keys
    assert read_byte(car, DID_MASTER_KEYS) == 0  # no masters in a smart system
    assert read_byte(car, DID_SUB_KEYS) == 0  # no subs either
    assert read_byte(car, DID_REGISTRATION_MODE) == MODE_NORMAL
    assert read_did(car, DID_CAPABILITIES) == bytes([0x03, 0x01])  # smart key, reset supported
    assert waiting_s(car) == 0  # keys stored: no waiting period
    assert read_did(car, DID_SECURITY_STATUS) == security_status()  # no fails, no delay
    assert refusal(car) == (0x00, "none")
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x01  # no key in the car: set
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x02, 0x00])  # blinking, no code


def test_several_dids_in_one_request(car: Car) -> None:
    # 22 = ReadDataByIdentifier; DIDs 0x010D, 0x010A, 0x0109
    response = car.handle(bytes([0x22, 0x01, 0x0D, 0x01, 0x0A, 0x01, 0x09]))
    assert response == bytes(
        [
            0x62,  # positive ReadDataByIdentifier
            *(0x01, 0x0D, 0x02),  # 0x010D: 2 smart keys
            *(0x01, 0x0A, 0x03, 0x01),  # 0x010A: smart key system, reset supported
            *(0x01, 0x09, 0x00),  # 0x0109: normal
        ]
    )


def test_a_registered_key_in_the_cabin_unsets_the_immobilizer(car: Car) -> None:
    key = car.old_keys[0]
    car.bring(key, "outside")
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x01  # outside: not in the cabin
    car.bring(key, "cabin")
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x00  # verified inside, ignition OFF too
    assert read_did(car, DID_SECURITY_INDICATOR) == bytes([0x00, 0x00])  # off
    car.bring(key, "switch")
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x00  # the engine switch is in the cabin
    car.take_away(key)
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x01


def test_an_unregistered_smart_key_leaves_the_immobilizer_set(car: Car) -> None:
    car.bring(car.vehicle.new_key("smart"))
    assert read_byte(car, DID_IMMOBILIZER_STATE) == 0x01
    assert not car.certification.key_verified


def test_the_vin_is_written_once_with_level_0x01(car: Car) -> None:
    """diagnostic-contract.md §4: 0xF190 needs the extended session (else 0x31) and level 0x01
    (else 0x33); the certification ECU's VIN is set, so with both any write answers 0x22 and
    changes nothing."""
    write = bytes([0x2E, 0xF1, 0x90]) + OTHER_VIN.encode("ascii")  # WDBI, DID F190, 17 ASCII
    # negative, WriteDataByIdentifier, requestOutOfRange: F190 is not writable by default
    assert car.handle(write) == bytes([0x7F, 0x2E, 0x31])
    enter_extended(car)
    # negative, WriteDataByIdentifier, securityAccessDenied
    assert car.handle(write) == bytes([0x7F, 0x2E, 0x33])
    unlock_diag(car)
    # negative, WriteDataByIdentifier, conditionsNotCorrect: the VIN is set
    assert car.handle(write) == bytes([0x7F, 0x2E, 0x22])
    assert read_did(car, DID_VIN) == VIN.encode("ascii")
    assert car.certification.vin == VIN


def test_a_blank_certification_ecu_takes_one_vin_write(car: Car) -> None:
    car.vehicle.install_blank_key_ecu()  # a new certification ECU: no keys, no VIN
    assert read_did(car, DID_VIN) == b" " * 17  # 17 ASCII spaces: not written yet
    enter_extended(car)
    unlock_diag(car)
    write = bytes([0x2E, 0xF1, 0x90]) + OTHER_VIN.encode("ascii")  # WDBI, DID F190, 17 ASCII
    assert car.handle(write) == bytes([0x6E, 0xF1, 0x90])  # positive WDBI, DID echo
    assert car.certification.vin == OTHER_VIN
    # negative, WriteDataByIdentifier, conditionsNotCorrect: written once
    assert car.handle(write) == bytes([0x7F, 0x2E, 0x22])


def test_security_status_counts_wrong_keys(car: Car) -> None:
    enter_extended(car)
    seed = request_seed(car, 0x01)
    wrong = bytes(b ^ 0xFF for b in diagnostic_key(seed))
    # 27 = SecurityAccess, 02 = sendKey level 0x01, then a wrong 4-byte key → 0x35 invalidKey
    assert car.handle(bytes([0x27, 0x02]) + wrong) == bytes([0x7F, 0x27, 0x35])
    assert read_did(car, DID_SECURITY_STATUS) == security_status(diag=(1, 0))  # 0x01: 1 fail


def test_the_waiting_period_reads_full_while_no_key_is_stored_and_the_ignition_is_off(
    car: Car,
) -> None:
    car.vehicle.install_blank_key_ecu()  # a new certification ECU: no keys
    assert read_byte(car, DID_SMART_KEYS) == 0
    assert waiting_s(car) == int(WAITING_S)
    assert read_did(car, DID_REFUSAL)[0] == 0x00
