"""ReadDataByIdentifier 0x22 (ISO 14229-1 §11.2; diagnostic-contract.md §4: several DIDs per
request, all reads in the default session)."""

from __future__ import annotations

import pytest

from protocol.constants import Addressing

from .conftest import (
    FUNCTIONAL,
    LEVEL_DIAG,
    LEVEL_IMMO,
    PHYSICAL,
    Bench,
    enter_extended,
    unlock,
)

VIN_BYTES = b"JTHBL5EF0C5000001"
"""The bench car's VIN: 17 ASCII bytes."""


def test_read_vin_in_default_session(bench: Bench) -> None:
    response = bench.handle(bytes([0x22, 0xF1, 0x90]))  # RDBI, DID F190 (VIN)
    assert response == (
        bytes([0x62, 0xF1, 0x90])  # positive SID, DID F190
        + VIN_BYTES  # 17 ASCII bytes J T H B L 5 E F 0 C 5 0 0 0 0 0 1
    )


def test_read_identification_dids(bench: Bench) -> None:
    assert bench.handle(bytes([0x22, 0xF1, 0x8C])) == (  # RDBI, DID F18C (serial number)
        bytes([0x62, 0xF1, 0x8C]) + b"LAB0000000001"  # positive SID, DID F18C, 13 ASCII bytes
    )
    assert bench.handle(bytes([0x22, 0xF1, 0x87])) == (  # RDBI, DID F187 (part number)
        bytes([0x62, 0xF1, 0x87]) + b"89661-53A10"  # positive SID, DID F187, 11 ASCII bytes
    )
    assert bench.handle(bytes([0x22, 0xF1, 0x97])) == (  # RDBI, DID F197 (system name)
        bytes([0x62, 0xF1, 0x97]) + b"ENGINE"  # positive SID, DID F197, 6 ASCII bytes
    )


def test_active_session_did(bench: Bench) -> None:
    response = bench.handle(bytes([0x22, 0xF1, 0x86]))  # RDBI, DID F186 (active session)
    assert response == bytes([0x62, 0xF1, 0x86, 0x01])  # positive SID, DID F186, default
    enter_extended(bench)
    response = bench.handle(bytes([0x22, 0xF1, 0x86]))  # RDBI, DID F186 (active session)
    assert response == bytes([0x62, 0xF1, 0x86, 0x03])  # positive SID, DID F186, extended


def test_several_dids_in_request_order(bench: Bench) -> None:
    request = bytes(
        [
            0x22,  # RDBI
            0xF1, 0x97,  # DID F197 (system name)
            0xF1, 0x86,  # DID F186 (active session)
            0xF1, 0x90,  # DID F190 (VIN)
        ]
    )  # fmt: skip
    response = bench.handle(request)
    assert response == (
        bytes([0x62])  # positive SID
        + bytes([0xF1, 0x97])
        + b"ENGINE"  # DID F197, 6 ASCII bytes
        + bytes([0xF1, 0x86, 0x01])  # DID F186, default session
        + bytes([0xF1, 0x90])
        + VIN_BYTES  # DID F190, 17 ASCII bytes
    )


def test_unsupported_dids_are_left_out(bench: Bench) -> None:
    request = bytes(
        [
            0x22,  # RDBI
            0x12, 0x34,  # DID 1234: unsupported
            0xF1, 0x86,  # DID F186 (active session)
            0xFF, 0xFF,  # DID FFFF: unsupported
            0xF1, 0x97,  # DID F197 (system name)
        ]
    )  # fmt: skip
    response = bench.handle(request)
    assert response == (
        bytes([0x62])  # positive SID
        + bytes([0xF1, 0x86, 0x01])  # DID F186, default session
        + bytes([0xF1, 0x97])
        + b"ENGINE"  # DID F197, 6 ASCII bytes
    )


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x22, 0x12, 0x34]),  # RDBI, DID 1234: unsupported
        bytes([0x22, 0x12, 0x34, 0xAB, 0xCD]),  # RDBI, DIDs 1234 and ABCD: both unsupported
    ],
)
def test_no_supported_did_is_0x31(bench: Bench, payload: bytes) -> None:
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x22, 0x31])  # negative, RDBI, requestOutOfRange


def test_no_supported_did_functional_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x22, 0x12, 0x34]), FUNCTIONAL)  # RDBI, DID 1234: unsupported
    assert response is None


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x22]),  # RDBI without DID
        bytes([0x22, 0xF1]),  # RDBI, half a DID
        bytes([0x22, 0xF1, 0x90, 0xF1]),  # RDBI, DID F190 and half a DID
        bytes([0x22, 0x12, 0x34, 0x56]),  # RDBI, odd length and DID 1234 unsupported: 0x13 first
    ],
)
@pytest.mark.parametrize("addressing", [PHYSICAL, FUNCTIONAL])
def test_odd_length_is_0x13_even_functional(
    bench: Bench, payload: bytes, addressing: Addressing
) -> None:
    response = bench.handle(payload, addressing)
    assert response == bytes([0x7F, 0x22, 0x13])  # negative, RDBI, incorrectMessageLength


def test_sixteen_dids_are_answered(bench: Bench) -> None:
    request = bytes([0x22]) + bytes([0xF1, 0x86]) * 16  # RDBI, 16 x DID F186 (the maximum)
    response = bench.handle(request)
    assert response == bytes([0x62]) + bytes([0xF1, 0x86, 0x01]) * 16  # pos, 16 x (F186, 01)


def test_more_dids_than_the_maximum_is_0x13(bench: Bench) -> None:
    request = bytes([0x22]) + bytes([0xF1, 0x86]) * 17  # RDBI, 17 x DID F186 (max 16)
    response = bench.handle(request)
    assert response == bytes([0x7F, 0x22, 0x13])  # negative, RDBI, incorrectMessageLength


def test_locked_did_is_0x33(bench: Bench) -> None:
    response = bench.handle(bytes([0x22, 0x01, 0x10]))  # RDBI, DID 0110 (needs level 0x01)
    assert response == bytes([0x7F, 0x22, 0x33])  # negative, RDBI, securityAccessDenied
    enter_extended(bench)
    response = bench.handle(bytes([0x22, 0x01, 0x10]))  # RDBI, DID 0110 (needs level 0x01)
    assert response == bytes([0x7F, 0x22, 0x33])  # negative, RDBI, securityAccessDenied


def test_locked_did_among_others_is_0x33(bench: Bench) -> None:
    response = bench.handle(
        bytes([0x22, 0xF1, 0x90, 0x01, 0x10])  # RDBI, DID F190 (free), DID 0110 (level 0x01)
    )
    assert response == bytes([0x7F, 0x22, 0x33])  # negative, RDBI, securityAccessDenied


def test_locked_did_functional_is_answered(bench: Bench) -> None:
    response = bench.handle(bytes([0x22, 0x01, 0x10]), FUNCTIONAL)  # RDBI, DID 0110, functional
    assert response == bytes([0x7F, 0x22, 0x33])  # negative, RDBI, securityAccessDenied


def test_did_readable_once_its_level_is_unlocked(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x22, 0x01, 0x10]))  # RDBI, DID 0110 (needs level 0x01)
    assert response == bytes([0x62, 0x01, 0x10, 0x5A, 0xA5])  # positive, DID 0110, data 5A A5


def test_did_needs_its_own_level_not_any_level(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    response = bench.handle(bytes([0x22, 0x01, 0x10]))  # RDBI, DID 0110 (needs level 0x01)
    assert response == bytes([0x7F, 0x22, 0x33])  # negative, RDBI, securityAccessDenied


def test_reader_conditions_not_correct_propagates(bench: Bench) -> None:
    response = bench.handle(bytes([0x22, 0x01, 0x20]))  # RDBI, DID 0120 (coolant)
    assert response == bytes([0x62, 0x01, 0x20, 0x7B])  # positive, DID 0120, raw 7B
    bench.vehicle.ignition_on = False
    response = bench.handle(bytes([0x22, 0x01, 0x20]))  # RDBI, DID 0120 (coolant)
    assert response == bytes([0x7F, 0x22, 0x22])  # negative, RDBI, conditionsNotCorrect
    response = bench.handle(bytes([0x22, 0x01, 0x20]), FUNCTIONAL)  # same, functional
    assert response == bytes([0x7F, 0x22, 0x22])  # negative, RDBI, conditionsNotCorrect


def test_security_is_checked_before_reader_conditions(bench: Bench) -> None:
    bench.vehicle.ignition_on = False
    response = bench.handle(
        bytes([0x22, 0x01, 0x20, 0x01, 0x10])  # RDBI, DID 0120 (0x22 now), DID 0110 (locked)
    )
    assert response == bytes([0x7F, 0x22, 0x33])  # negative, RDBI, securityAccessDenied


def test_suppress_bit_does_not_apply_to_rdbi(bench: Bench) -> None:
    # 0x22 has no sub-function: F1 is a DID byte, its bit 7 is not a suppress bit.
    response = bench.handle(bytes([0x22, 0xF1, 0x86]))  # RDBI, DID F186
    assert response == bytes([0x62, 0xF1, 0x86, 0x01])  # positive SID, DID F186, default
