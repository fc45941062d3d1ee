"""ReadDTCInformation 0x19, sub-functions 0x01, 0x02, 0x0A (ISO 14229-1 §12.3).

The bench memory (conftest): P0335 = 03 35 00 status 0x2E (failed, then passed), B2796 = A7 96 00
status 0x2F (failing), B2799 = A7 99 00 status 0x50 (not tested since clear); availability 0x7F.
"""

from __future__ import annotations

import pytest

from protocol.constants import Addressing
from protocol.uds.dtc import DtcMemory

from .conftest import DTC_B2796, FUNCTIONAL, PHYSICAL, Bench, enter_extended, make_bench


@pytest.mark.parametrize(
    ("mask", "count"),
    [
        (0x01, 1),  # testFailed: B2796
        (0x08, 2),  # confirmedDTC: P0335, B2796
        (0x10, 1),  # testNotCompletedSinceLastClear: B2799
        (0xFF, 3),  # every bit
        (0x80, 0),  # warningIndicatorRequested: not supported by this memory
        (0x00, 0),  # empty mask matches nothing
    ],
)
def test_report_number_of_dtc_by_status_mask(bench: Bench, mask: int, count: int) -> None:
    response = bench.handle(bytes([0x19, 0x01, mask]))  # ReadDTCInformation, 0x01, status mask
    assert response == bytes(
        [
            0x59,  # positive SID
            0x01,  # reportNumberOfDTCByStatusMask
            0x7F,  # DTCStatusAvailabilityMask
            0x01,  # DTCFormatIdentifier: ISO_14229-1_DTCFormat
            0x00,  # DTCCount high byte
            count,  # DTCCount low byte
        ]
    )


def test_report_dtc_by_status_mask_confirmed(bench: Bench) -> None:
    response = bench.handle(bytes([0x19, 0x02, 0x08]))  # ReadDTCInformation, 0x02, confirmed
    assert response == bytes(
        [
            0x59,  # positive SID
            0x02,  # reportDTCByStatusMask
            0x7F,  # DTCStatusAvailabilityMask
            0x03, 0x35, 0x00,  # DTC P0335
            0x2E,  # status: failedThisCycle, pending, confirmed, failedSinceClear
            0xA7, 0x96, 0x00,  # DTC B2796
            0x2F,  # status: testFailed, failedThisCycle, pending, confirmed, failedSinceClear
        ]
    )  # fmt: skip


def test_report_dtc_by_status_mask_test_failed(bench: Bench) -> None:
    response = bench.handle(bytes([0x19, 0x02, 0x01]))  # ReadDTCInformation, 0x02, testFailed
    assert response == bytes([0x59, 0x02, 0x7F, 0xA7, 0x96, 0x00, 0x2F])  # pos, 02, avail, B2796


def test_report_dtc_by_status_mask_without_match(bench: Bench) -> None:
    response = bench.handle(bytes([0x19, 0x02, 0x80]))  # ReadDTCInformation, 0x02, warning bit
    assert response == bytes([0x59, 0x02, 0x7F])  # positive SID, 0x02, availability mask, no DTC


def test_report_supported_dtc(bench: Bench) -> None:
    response = bench.handle(bytes([0x19, 0x0A]))  # ReadDTCInformation, reportSupportedDTC
    assert response == bytes(
        [
            0x59,  # positive SID
            0x0A,  # reportSupportedDTC
            0x7F,  # DTCStatusAvailabilityMask
            0x03, 0x35, 0x00, 0x2E,  # DTC P0335, status 2E
            0xA7, 0x96, 0x00, 0x2F,  # DTC B2796, status 2F
            0xA7, 0x99, 0x00, 0x50,  # DTC B2799, status 50 (not completed since clear / cycle)
        ]
    )  # fmt: skip


def test_status_follows_the_memory(bench: Bench) -> None:
    assert bench.dtcs is not None
    bench.dtcs.report_passed(DTC_B2796)
    response = bench.handle(bytes([0x19, 0x02, 0x01]))  # ReadDTCInformation, 0x02, testFailed
    assert response == bytes([0x59, 0x02, 0x7F])  # positive SID, 0x02, availability, no DTC
    response = bench.handle(bytes([0x19, 0x01, 0x08]))  # ReadDTCInformation, 0x01, confirmed
    assert response == bytes([0x59, 0x01, 0x7F, 0x01, 0x00, 0x02])  # pos, 01, 7F, fmt 01, count 2


def test_availability_mask_masks_reported_status() -> None:
    memory = DtcMemory([0x123400], availability_mask=0x09)  # testFailed and confirmedDTC only
    memory.report_failed(0x123400)
    bench = make_bench(dtcs=memory)
    response = bench.handle(bytes([0x19, 0x0A]))  # ReadDTCInformation, reportSupportedDTC
    assert response == bytes(
        [
            0x59,  # positive SID
            0x0A,  # reportSupportedDTC
            0x09,  # DTCStatusAvailabilityMask
            0x12, 0x34, 0x00,  # DTC 123400
            0x09,  # status 2F masked by 09: testFailed, confirmedDTC
        ]
    )  # fmt: skip
    response = bench.handle(bytes([0x19, 0x01, 0x20]))  # 0x01, mask testFailedSinceLastClear
    assert response == bytes([0x59, 0x01, 0x09, 0x01, 0x00, 0x00])  # pos, 01, 09, fmt, count 0


def test_works_in_extended_session(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x19, 0x01, 0x01]))  # ReadDTCInformation, 0x01, testFailed
    assert response == bytes([0x59, 0x01, 0x7F, 0x01, 0x00, 0x01])  # pos, 01, 7F, fmt, count 1


def test_suppress_bit_hides_positive_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x19, 0x81, 0x01]))  # 0x01 + suppress bit, testFailed
    assert response is None


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x19]),  # ReadDTCInformation without sub-function
        bytes([0x19, 0x01]),  # reportNumberOfDTCByStatusMask without mask
        bytes([0x19, 0x02]),  # reportDTCByStatusMask without mask
        bytes([0x19, 0x01, 0x08, 0x00]),  # reportNumberOfDTCByStatusMask, mask, extra byte
        bytes([0x19, 0x0A, 0x00]),  # reportSupportedDTC, extra byte
        bytes([0x19, 0x81]),  # reportNumberOfDTCByStatusMask + suppress bit, no mask
    ],
)
@pytest.mark.parametrize("addressing", [PHYSICAL, FUNCTIONAL])
def test_wrong_length_is_0x13(bench: Bench, payload: bytes, addressing: Addressing) -> None:
    response = bench.handle(payload, addressing)
    assert response == bytes([0x7F, 0x19, 0x13])  # negative, ReadDTCInformation, incorrectLength


@pytest.mark.parametrize("sub_function", [0x00, 0x03, 0x04, 0x0B, 0x42, 0x7F, 0x83])
def test_unsupported_sub_function_is_0x12(bench: Bench, sub_function: int) -> None:
    response = bench.handle(bytes([0x19, sub_function, 0xFF]))  # 0x19, sub-function, one byte
    assert response == bytes([0x7F, 0x19, 0x12])  # negative, ReadDTCInformation, subFuncNotSupp.


def test_unsupported_sub_function_functional_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x19, 0x03]), FUNCTIONAL)  # 0x19, sub-function 03
    assert response is None


def test_server_without_dtc_memory_does_not_support_the_service() -> None:
    bench = make_bench(with_dtcs=False)
    response = bench.handle(bytes([0x19, 0x0A]))  # ReadDTCInformation, reportSupportedDTC
    assert response == bytes([0x7F, 0x19, 0x11])  # negative, 0x19, serviceNotSupported
