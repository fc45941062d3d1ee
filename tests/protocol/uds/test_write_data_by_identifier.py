"""WriteDataByIdentifier 0x2E (ISO 14229-1 §11.7; diagnostic-contract.md §4: VIN written only in the
extended session with level 0x01 unlocked, and only with a valid check digit, else 0x31)."""

from __future__ import annotations

import pytest

from .conftest import (
    FUNCTIONAL,
    LEVEL_DIAG,
    LEVEL_IMMO,
    Bench,
    enter_extended,
    unlock,
)

VIN_BYTES = b"JTHBL5EF0C5000001"
"""The bench car's VIN: 17 ASCII bytes."""

NEW_VIN = b"JTHBA1D29G5000002"
"""Another valid VIN (check digit '9')."""

BAD_CHECK_DIGIT_VIN = b"JTHBA1D20G5000002"
"""NEW_VIN with a wrong check digit ('0' instead of '9')."""

WRITE_NEW_VIN = bytes([0x2E, 0xF1, 0x90]) + NEW_VIN  # WDBI, DID F190, 17 ASCII bytes


def read_vin(bench: Bench) -> bytes | None:
    return bench.handle(bytes([0x22, 0xF1, 0x90]))  # RDBI, DID F190 (VIN)


def test_write_vin_in_extended_session_with_level_01(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(WRITE_NEW_VIN)
    assert response == bytes([0x6E, 0xF1, 0x90])  # positive SID, DID F190
    assert read_vin(bench) == bytes([0x62, 0xF1, 0x90]) + NEW_VIN  # positive, DID F190, new VIN


def test_write_in_default_session_is_refused(bench: Bench) -> None:
    response = bench.handle(WRITE_NEW_VIN)
    assert response == bytes([0x7F, 0x2E, 0x31])  # negative, WDBI, requestOutOfRange
    assert read_vin(bench) == bytes([0x62, 0xF1, 0x90]) + VIN_BYTES  # positive, F190, old VIN


def test_write_locked_is_0x33(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(WRITE_NEW_VIN)
    assert response == bytes([0x7F, 0x2E, 0x33])  # negative, WDBI, securityAccessDenied
    assert read_vin(bench) == bytes([0x62, 0xF1, 0x90]) + VIN_BYTES  # positive, F190, old VIN


def test_write_locked_functional_is_answered(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(WRITE_NEW_VIN, FUNCTIONAL)
    assert response == bytes([0x7F, 0x2E, 0x33])  # negative, WDBI, securityAccessDenied


def test_write_with_the_other_level_is_0x33(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    response = bench.handle(WRITE_NEW_VIN)
    assert response == bytes([0x7F, 0x2E, 0x33])  # negative, WDBI, securityAccessDenied


def test_write_after_relock_by_session_change_is_0x33(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    enter_extended(bench)
    response = bench.handle(WRITE_NEW_VIN)
    assert response == bytes([0x7F, 0x2E, 0x33])  # negative, WDBI, securityAccessDenied


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x2E, 0xF1, 0x90]) + NEW_VIN[:16],  # WDBI, DID F190, 16 ASCII bytes
        bytes([0x2E, 0xF1, 0x90]) + NEW_VIN + b"0",  # WDBI, DID F190, 18 ASCII bytes
        bytes([0x2E, 0xF1, 0x90, 0x4A]),  # WDBI, DID F190, 1 byte 'J'
    ],
)
def test_wrong_vin_length_is_0x13(bench: Bench, payload: bytes) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x2E, 0x13])  # negative, WDBI, incorrectMessageLength
    assert read_vin(bench) == bytes([0x62, 0xF1, 0x90]) + VIN_BYTES  # positive, F190, old VIN


def test_vin_with_bad_check_digit_is_0x31(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x2E, 0xF1, 0x90]) + BAD_CHECK_DIGIT_VIN)  # WDBI, F190, 17 B
    assert response == bytes([0x7F, 0x2E, 0x31])  # negative, WDBI, requestOutOfRange
    assert read_vin(bench) == bytes([0x62, 0xF1, 0x90]) + VIN_BYTES  # positive, F190, old VIN


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x2E]),  # WDBI without DID
        bytes([0x2E, 0xF1]),  # WDBI, half a DID
        bytes([0x2E, 0xF1, 0x90]),  # WDBI, DID F190, no data
        bytes([0x2E, 0x12, 0x34]),  # WDBI, DID 1234 (unsupported) and no data: 0x13 first
    ],
)
def test_shorter_than_minimum_is_0x13(bench: Bench, payload: bytes) -> None:
    enter_extended(bench)
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x2E, 0x13])  # negative, WDBI, incorrectMessageLength


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x2E, 0x12, 0x34, 0x00]),  # WDBI, DID 1234 (unsupported), 1 data byte
        bytes([0x2E, 0xF1, 0x8C, 0x41]),  # WDBI, DID F18C (read-only), 1 data byte 'A'
    ],
)
def test_unsupported_or_read_only_did_is_0x31(bench: Bench, payload: bytes) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x2E, 0x31])  # negative, WDBI, requestOutOfRange


def test_unsupported_did_functional_gets_no_response(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x2E, 0x12, 0x34, 0x00]), FUNCTIONAL)  # WDBI, DID 1234, 00
    assert response is None


def test_did_without_security_writes_in_extended_session(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x2E, 0x01, 0x50, 0x05]))  # WDBI, DID 0150, value 05
    assert response == bytes([0x6E, 0x01, 0x50])  # positive SID, DID 0150
    response = bench.handle(bytes([0x22, 0x01, 0x50]))  # RDBI, DID 0150
    assert response == bytes([0x62, 0x01, 0x50, 0x05])  # positive SID, DID 0150, value 05


def test_writer_value_out_of_range_is_0x31(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x2E, 0x01, 0x50, 0x11]))  # WDBI, DID 0150, value 11 (> 10)
    assert response == bytes([0x7F, 0x2E, 0x31])  # negative, WDBI, requestOutOfRange
    response = bench.handle(bytes([0x22, 0x01, 0x50]))  # RDBI, DID 0150
    assert response == bytes([0x62, 0x01, 0x50, 0x00])  # positive SID, DID 0150, value 00


def test_writer_conditions_not_correct_propagates(bench: Bench) -> None:
    enter_extended(bench)
    bench.vehicle.speed_kmh = 30
    response = bench.handle(bytes([0x2E, 0x01, 0x50, 0x05]))  # WDBI, DID 0150, value 05
    assert response == bytes([0x7F, 0x2E, 0x22])  # negative, WDBI, conditionsNotCorrect
    response = bench.handle(bytes([0x2E, 0x01, 0x50, 0x05]), FUNCTIONAL)  # same, functional
    assert response == bytes([0x7F, 0x2E, 0x22])  # negative, WDBI, conditionsNotCorrect


def test_exact_length_of_a_one_byte_did(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x2E, 0x01, 0x50, 0x05, 0x00]))  # WDBI, DID 0150, 2 bytes
    assert response == bytes([0x7F, 0x2E, 0x13])  # negative, WDBI, incorrectMessageLength
