"""Data identifiers of the transponder key ECU (diagnostic-contract.md §4), all read in the default
session through the pure server core."""

from __future__ import annotations

from pathlib import Path

from protocol.passcode import pass_code
from protocol.uds.security import SecurityPolicy
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
BOOT_DELAY_S = SecurityPolicy().boot_delay_s + 0.5
"""Past the boot delay of a level whose last attempt failed (diagnostic-contract.md §3)."""


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


def test_the_vin_write_needs_extended_session_and_level_0x01(car: Car) -> None:
    """diagnostic-contract.md §4: 0xF190 is writable only in the extended session (else 0x31)
    and with level 0x01 unlocked (else 0x33), before the write-once rule is looked at."""
    # 2E = WriteDataByIdentifier, F1 90 = VIN, then 17 ASCII bytes: locked in the default session
    write = bytes([0x2E, 0xF1, 0x90]) + OTHER_VALID_VIN
    assert car.handle(write) == bytes([0x7F, 0x2E, 0x31])  # not writable here: requestOutOfRange
    enter_extended(car)
    assert car.handle(write) == bytes([0x7F, 0x2E, 0x33])  # level 0x01 locked: securityDenied


def test_a_set_vin_is_never_written_again_and_the_pass_code_stays_its_own(
    tmp_path: Path,
) -> None:
    """diagnostic-contract.md §4: the transponder key ECU's VIN is written once; with level 0x01
    unlocked any write answers 0x22 (another VIN, the same VIN, a bad check digit alike) and
    changes nothing, in RAM and in NVM."""
    car = make_car(tmp_path)
    enter_extended(car)
    unlock_diag(car)
    write = bytes([0x2E, 0xF1, 0x90]) + OTHER_VALID_VIN  # WDBI, DID F190, 17 ASCII bytes
    assert car.handle(write) == bytes([0x7F, 0x2E, 0x22])  # negative, WDBI, conditionsNotCorrect
    same = bytes([0x2E, 0xF1, 0x90]) + VIN.encode("ascii")  # WDBI, DID F190, its own VIN
    assert car.handle(same) == bytes([0x7F, 0x2E, 0x22])  # negative, WDBI, conditionsNotCorrect
    bad = bytes([0x2E, 0xF1, 0x90]) + b"1M8GDM9A1KP042788"  # WDBI, F190, check digit should be X
    assert car.handle(bad) == bytes([0x7F, 0x2E, 0x22])  # the value is not even looked at
    assert read_did(car, DID_VIN) == VIN.encode("ascii")
    seed = request_seed(car, LEVEL_RESET)
    # 27 = SecurityAccess, 12 = sendKey level 0x11, then the Pass-Code of the OTHER VIN
    other_code = pass_code(OTHER_VALID_VIN.decode("ascii"), seed)
    assert car.handle(bytes([0x27, 0x12]) + other_code) == bytes([0x7F, 0x27, 0x35])  # invalidKey
    restarted = restart(car, tmp_path)
    assert read_did(restarted, DID_VIN) == VIN.encode("ascii")  # NVM unchanged


def test_a_blank_replacement_ecu_takes_one_vin_write(tmp_path: Path) -> None:
    """diagnostic-contract.md §4: a blank replacement ECU has no VIN (0xF190 reads 17 spaces) and
    accepts no Pass-Code; its one write (extended, level 0x01, valid check digit) sets it, in
    NVM; a second write answers 0x22."""
    car = make_car(tmp_path)
    car.vehicle.install_blank_key_ecu()
    assert read_did(car, DID_VIN) == b" " * 17  # 17 ASCII spaces: no VIN yet
    enter_extended(car)
    assert send_wrong_pass_code(car) == bytes([0x7F, 0x27, 0x35])  # no VIN: no Pass-Code fits
    seed = request_seed(car, LEVEL_RESET)
    # 27 = SecurityAccess, 12 = sendKey level 0x11, then the Pass-Code of the car's VIN: refused
    code = pass_code(VIN, seed)
    assert car.handle(bytes([0x27, 0x12]) + code) == bytes([0x7F, 0x27, 0x35])  # invalidKey
    unlock_diag(car)
    bad = bytes([0x2E, 0xF1, 0x90]) + b"1M8GDM9A1KP042788"  # WDBI, F190, check digit should be X
    assert car.handle(bad) == bytes([0x7F, 0x2E, 0x31])  # negative, WDBI, requestOutOfRange
    write = bytes([0x2E, 0xF1, 0x90]) + OTHER_VALID_VIN  # WDBI, DID F190, 17 ASCII bytes
    assert car.handle(write) == bytes([0x6E, 0xF1, 0x90])  # positive WDBI, DID echo
    assert read_did(car, DID_VIN) == OTHER_VALID_VIN
    again = bytes([0x2E, 0xF1, 0x90]) + VIN.encode("ascii")  # WDBI, DID F190, a second write
    assert car.handle(again) == bytes([0x7F, 0x2E, 0x22])  # negative, WDBI, conditionsNotCorrect
    restarted = restart(car, tmp_path)
    assert read_did(restarted, DID_VIN) == OTHER_VALID_VIN  # kept in NVM
    enter_extended(restarted)
    # Level 0x11's last attempt failed before the restart: its boot delay (§3, per level) first.
    # 27 = SecurityAccess, 11 = requestSeed level 0x11 -> 7F 27 37 requiredTimeDelayNotExpired
    assert restarted.handle(bytes([0x27, 0x11])) == bytes([0x7F, 0x27, 0x37])
    restarted.advance(BOOT_DELAY_S)
    enter_extended(restarted)  # the wait outlasted S3: the session fell back to default
    seed = request_seed(restarted, LEVEL_RESET)
    # 27 = SecurityAccess, 12 = sendKey level 0x11, then the Pass-Code for the written VIN
    new_code = pass_code(OTHER_VALID_VIN.decode("ascii"), seed)
    assert restarted.handle(bytes([0x27, 0x12]) + new_code) == bytes([0x67, 0x12])  # unlocked
    unlock_diag(restarted)
    assert restarted.handle(again) == bytes([0x7F, 0x2E, 0x22])  # still set after a restart
