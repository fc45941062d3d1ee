"""ClearDiagnosticInformation 0x14 (ISO 14229-1 §12.2): all DTCs (group FFFFFF) or one DTC."""

from __future__ import annotations

import pytest

from protocol.constants import Addressing, Nrc, Sid
from protocol.errors import NegativeResponseError
from protocol.uds.services.clear_diagnostic_information import ClearDiagnosticInformationHandler

from .conftest import FUNCTIONAL, PHYSICAL, Bench, enter_extended, make_bench

SUPPORTED_BEFORE_CLEAR = bytes(
    [
        0x59,  # positive SID
        0x0A,  # reportSupportedDTC
        0x7F,  # DTCStatusAvailabilityMask
        0x03, 0x35, 0x00, 0x2E,  # DTC P0335, status 2E
        0xA7, 0x96, 0x00, 0x2F,  # DTC B2796, status 2F
        0xA7, 0x99, 0x00, 0x50,  # DTC B2799, status 50
    ]
)  # fmt: skip


def read_supported(bench: Bench) -> bytes | None:
    return bench.handle(bytes([0x19, 0x0A]))  # ReadDTCInformation, reportSupportedDTC


def test_clear_all(bench: Bench) -> None:
    response = bench.handle(bytes([0x14, 0xFF, 0xFF, 0xFF]))  # ClearDTC, group FFFFFF (all)
    assert response == bytes([0x54])  # positive SID
    assert read_supported(bench) == bytes(
        [
            0x59,  # positive SID
            0x0A,  # reportSupportedDTC
            0x7F,  # DTCStatusAvailabilityMask
            0x03, 0x35, 0x00, 0x50,  # DTC P0335, status 50 (not completed since clear / cycle)
            0xA7, 0x96, 0x00, 0x50,  # DTC B2796, status 50
            0xA7, 0x99, 0x00, 0x50,  # DTC B2799, status 50
        ]
    )  # fmt: skip


def test_clear_one_dtc(bench: Bench) -> None:
    response = bench.handle(bytes([0x14, 0xA7, 0x96, 0x00]))  # ClearDTC, DTC B2796
    assert response == bytes([0x54])  # positive SID
    assert read_supported(bench) == bytes(
        [
            0x59,  # positive SID
            0x0A,  # reportSupportedDTC
            0x7F,  # DTCStatusAvailabilityMask
            0x03, 0x35, 0x00, 0x2E,  # DTC P0335, status 2E (untouched)
            0xA7, 0x96, 0x00, 0x50,  # DTC B2796, status 50 (cleared)
            0xA7, 0x99, 0x00, 0x50,  # DTC B2799, status 50 (untouched)
        ]
    )  # fmt: skip


def test_clear_in_extended_session(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x14, 0xFF, 0xFF, 0xFF]))  # ClearDTC, group FFFFFF (all)
    assert response == bytes([0x54])  # positive SID


def test_functional_clear_all_is_answered(bench: Bench) -> None:
    response = bench.handle(bytes([0x14, 0xFF, 0xFF, 0xFF]), FUNCTIONAL)  # ClearDTC, all
    assert response == bytes([0x54])  # positive SID


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x14, 0x12, 0x34, 0x56]),  # ClearDTC, group 123456: unknown
        bytes([0x14, 0xA7, 0x96, 0x01]),  # ClearDTC, B2796 with failure type 01: unknown
        bytes([0x14, 0x00, 0x00, 0x00]),  # ClearDTC, group 000000: unknown
    ],
)
def test_unknown_group_is_0x31_and_nothing_cleared(bench: Bench, payload: bytes) -> None:
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x14, 0x31])  # negative, ClearDTC, requestOutOfRange
    assert read_supported(bench) == SUPPORTED_BEFORE_CLEAR


def test_unknown_group_functional_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x14, 0x12, 0x34, 0x56]), FUNCTIONAL)  # ClearDTC, 123456
    assert response is None
    assert read_supported(bench) == SUPPORTED_BEFORE_CLEAR


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x14]),  # ClearDTC without group
        bytes([0x14, 0xFF]),  # ClearDTC, 1 group byte
        bytes([0x14, 0xFF, 0xFF]),  # ClearDTC, 2 group bytes
        bytes([0x14, 0xFF, 0xFF, 0xFF, 0x00, 0x00]),  # ClearDTC, all, memory selection, extra
        bytes([0x14, 0x12, 0x34, 0x56, 0x00, 0x00]),  # ClearDTC, unknown group, 2 extra: 0x13
    ],
)
@pytest.mark.parametrize("addressing", [PHYSICAL, FUNCTIONAL])
def test_wrong_length_is_0x13_and_nothing_cleared(
    bench: Bench, payload: bytes, addressing: Addressing
) -> None:
    response = bench.handle(payload, addressing)
    assert response == bytes([0x7F, 0x14, 0x13])  # negative, ClearDTC, incorrectMessageLength
    assert read_supported(bench) == SUPPORTED_BEFORE_CLEAR


def test_ecu_condition_is_0x22_after_group_check(bench: Bench) -> None:
    def engine_running() -> None:
        raise NegativeResponseError(Nrc.CONDITIONS_NOT_CORRECT, "engine running")

    bench.server.services[int(Sid.CLEAR_DIAGNOSTIC_INFORMATION)] = (
        ClearDiagnosticInformationHandler(condition=engine_running)
    )
    response = bench.handle(bytes([0x14, 0xFF, 0xFF, 0xFF]))  # ClearDTC, group FFFFFF (all)
    assert response == bytes([0x7F, 0x14, 0x22])  # negative, ClearDTC, conditionsNotCorrect
    response = bench.handle(bytes([0x14, 0x12, 0x34, 0x56]))  # ClearDTC, unknown group 123456
    assert response == bytes([0x7F, 0x14, 0x31])  # negative, ClearDTC, requestOutOfRange
    assert read_supported(bench) == SUPPORTED_BEFORE_CLEAR


def test_server_without_dtc_memory_does_not_support_the_service() -> None:
    bench = make_bench(with_dtcs=False)
    response = bench.handle(bytes([0x14, 0xFF, 0xFF, 0xFF]))  # ClearDTC, group FFFFFF (all)
    assert response == bytes([0x7F, 0x14, 0x11])  # negative, ClearDTC, serviceNotSupported


def test_memory_selection_of_the_primary_memory_clears(bench: Bench) -> None:
    """ISO 14229-1:2020 §12.2.2.2: an optional MemorySelection byte; 0x00 is the only memory."""
    # ClearDTC, groupOfDTC FF FF FF (all), MemorySelection 0x00
    response = bench.handle(bytes([0x14, 0xFF, 0xFF, 0xFF, 0x00]))
    assert response == bytes([0x54])  # positive ClearDiagnosticInformation


def test_unknown_memory_selection_is_0x31_and_nothing_cleared(bench: Bench) -> None:
    # ClearDTC, groupOfDTC FF FF FF (all), MemorySelection 0x01 (no such user memory)
    response = bench.handle(bytes([0x14, 0xFF, 0xFF, 0xFF, 0x01]))
    assert response == bytes([0x7F, 0x14, 0x31])  # negative, ClearDTC, requestOutOfRange
    assert read_supported(bench) == SUPPORTED_BEFORE_CLEAR
