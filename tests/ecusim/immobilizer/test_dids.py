"""Data identifiers of the transponder key ECU (diagnostic-contract.md §4), all read in the default
session through the pure server core."""

from __future__ import annotations

from pathlib import Path

from protocol.passcode import pass_code
from tests.ecusim.key_ecu_kit import (
    DID_CAPABILITIES,
    DID_SECURITY_STATUS,
    DID_SYSTEM_NAME,
    DID_VIN,
    DID_WAITING_PERIOD,
    LEVEL_RESET,
    PHYSICAL,
    VIN,
    enter_extended,
    read_did,
    request_seed,
    restart,
    security_status,
    send_wrong_pass_code,
    unlock_diag,
)

from .conftest import Car, make_car

OTHER_VALID_VIN = b"1M8GDM9AXKP042788"  # 17 ASCII bytes, valid check digit "X"


def test_capabilities_transponder_key_ecu_with_reset(car: Car) -> None:
    # 02 = system type transponder key ECU, 01 = reset supported
    assert read_did(car, DID_CAPABILITIES) == bytes([0x02, 0x01])


def test_no_waiting_period_on_a_transponder_system(car: Car) -> None:
    assert read_did(car, DID_WAITING_PERIOD) == bytes([0x00, 0x00])  # 0 s, 2 bytes


def test_system_name(car: Car) -> None:
    assert read_did(car, DID_SYSTEM_NAME) == b"IMMOBILISER"


def test_vin_and_serial_number(car: Car) -> None:
    assert read_did(car, DID_VIN) == VIN.encode("ascii")
    serial = read_did(car, 0xF18C)
    assert 10 <= len(serial) <= 16 and serial.isascii()
    engine_serial = car.vehicle.engine.server.handle(
        bytes([0x22, 0xF1, 0x8C]),  # RDBI, DID F18C (serial number), on the ECM
        PHYSICAL,
        car.clock.now(),
    )
    assert engine_serial is not None and engine_serial[3:] != serial  # unique per ECU


def test_factory_state(car: Car) -> None:
    # 22 = RDBI; 01 01 immobilizer state, 01 06 masters, 01 07 subs, 01 08 indicator, 01 09 mode
    request = bytes([0x22, 0x01, 0x01, 0x01, 0x06, 0x01, 0x07, 0x01, 0x08, 0x01, 0x09])
    assert car.handle(request) == bytes(
        [
            0x62,  # positive RDBI
            0x01, 0x01, 0x01,  # 0101: 01 = set
            0x01, 0x06, 0x02,  # 0106: 2 masters
            0x01, 0x07, 0x01,  # 0107: 1 sub
            0x01, 0x08, 0x02, 0x00,  # 0108: 02 blinking, no code
            0x01, 0x09, 0x00,  # 0109: 00 normal
        ]
    )  # fmt: skip


def test_security_status_counts_failed_attempts_and_the_delay(car: Car) -> None:
    assert read_did(car, DID_SECURITY_STATUS) == security_status()  # no failures, no delay
    enter_extended(car)
    assert send_wrong_pass_code(car) == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey
    assert send_wrong_pass_code(car) == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey
    # negative, SecurityAccess, exceededNumberOfAttempts: the 10 s delay starts
    assert send_wrong_pass_code(car) == bytes([0x7F, 0x27, 0x36])
    assert read_did(car, DID_SECURITY_STATUS) == security_status(reset=(3, 10))  # 0x11: 3, 10 s
    car.advance(2.5)
    assert read_did(car, DID_SECURITY_STATUS) == security_status(reset=(3, 8))  # 7.5 s → 8 (ceil)
    # 27 11 = requestSeed level 0x11 during the delay → negative, SA, requiredTimeDelayNotExpired
    assert car.handle(bytes([0x27, 0x11])) == bytes([0x7F, 0x27, 0x37])


def test_security_status_reads_in_the_default_session(car: Car) -> None:
    enter_extended(car)
    assert send_wrong_pass_code(car) == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey
    # 10 01 = DSC default → 50 01 00 32 01 F4 (positive, default, P2 50 ms, P2* 5 s)
    assert car.handle(bytes([0x10, 0x01])) == bytes([0x50, 0x01, 0x00, 0x32, 0x01, 0xF4])
    assert read_did(car, DID_SECURITY_STATUS) == security_status(reset=(1, 0))  # 0x11: 1 failed


def test_a_right_key_resets_the_failed_attempt_counter(car: Car) -> None:
    enter_extended(car)
    assert send_wrong_pass_code(car) == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey
    unlock_diag(car)  # a right key on level 0x01 leaves level 0x11's count alone
    assert read_did(car, DID_SECURITY_STATUS) == security_status(reset=(1, 0))
    car.handle(bytes([0x10, 0x03]))  # DSC extended again: re-locks level 0x01
    seed = request_seed(car, 0x11)
    # 27 12 = sendKey level 0x11 with the right Pass-Code → 67 12
    assert car.handle(bytes([0x27, 0x12]) + pass_code(VIN, seed)) == bytes([0x67, 0x12])
    assert read_did(car, DID_SECURITY_STATUS) == security_status()  # 0x11's own right key


def test_vin_write_follows_the_contract_and_the_pass_code_follows_the_vin(
    tmp_path: Path,
) -> None:
    """diagnostic-contract.md §4: 0xF190 is writable in the extended session with level 0x01
    unlocked and only with a valid check digit (else 0x31). The immobilizer keeps the new VIN in NVM
    and computes Pass-Codes for it from then on."""
    car = make_car(tmp_path)
    # 2E = WriteDataByIdentifier, F1 90 = VIN, then 17 ASCII bytes: locked in the default session
    write = bytes([0x2E, 0xF1, 0x90]) + OTHER_VALID_VIN
    assert car.handle(write) == bytes([0x7F, 0x2E, 0x31])  # not writable here: requestOutOfRange
    enter_extended(car)
    assert car.handle(write) == bytes([0x7F, 0x2E, 0x33])  # level 0x01 locked: securityDenied
    unlock_diag(car)
    bad = bytes([0x2E, 0xF1, 0x90]) + b"1M8GDM9A1KP042788"  # check digit should be X
    assert car.handle(bad) == bytes([0x7F, 0x2E, 0x31])  # negative, WDBI, requestOutOfRange
    assert car.handle(write) == bytes([0x6E, 0xF1, 0x90])  # positive WDBI, DID echo
    assert read_did(car, DID_VIN) == OTHER_VALID_VIN
    seed = request_seed(car, LEVEL_RESET)
    new_code = pass_code(OTHER_VALID_VIN.decode("ascii"), seed)
    # 27 = SecurityAccess, 12 = sendKey level 0x11, then the Pass-Code for the NEW VIN
    assert car.handle(bytes([0x27, 0x12]) + new_code) == bytes([0x67, 0x12])  # unlocked
    restarted = restart(car, tmp_path)
    assert read_did(restarted, DID_VIN) == OTHER_VALID_VIN  # kept in NVM
