"""Response rules applied by the server core for every service (diagnostic-contract.md §2;
ISO 14229-1 §7.5, §8): NRC order, suppress-positive-response, functional NRC suppression, empty
payloads, unknown SIDs, 0x14 responseTooLong, handler exceptions → 0x10."""

from __future__ import annotations

import pytest

from protocol.constants import Addressing
from protocol.uds.data_identifiers import DataIdentifier
from protocol.uds.routines import Routine
from protocol.uds.server import ServerConfig

from .conftest import (
    FUNCTIONAL,
    LEVEL_DIAG,
    PHYSICAL,
    S3_S,
    Bench,
    active_session,
    enter_extended,
    make_bench,
    request_seed,
    unlock,
    wrong_key_for,
)


def _broken_reader() -> bytes:
    raise RuntimeError("sensor driver bug")


def _broken_start(option: bytes) -> bytes:
    raise ValueError(f"routine bug with option {option!r}")


BROKEN_DID = DataIdentifier(0x0BAD, "reader that raises", read=_broken_reader)
BIG_DID = DataIdentifier(0x0B16, "4092 data bytes", read=lambda: bytes(4092))
TOO_BIG_DID = DataIdentifier(0x0B17, "4093 data bytes", read=lambda: bytes(4093))
BROKEN_ROUTINE = Routine(0x0BAD, "start that raises", start=_broken_start)


# -- empty payload and unknown SIDs -------------------------------------------------------------


@pytest.mark.parametrize("addressing", [PHYSICAL, FUNCTIONAL])
def test_empty_payload_is_ignored(bench: Bench, addressing: Addressing) -> None:
    assert bench.handle(b"", addressing) is None  # empty payload: no response at all
    response = bench.handle(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert response == bytes([0x7E, 0x00])  # positive SID, sub-function echo


def test_empty_payload_does_not_keep_the_session_alive(bench: Bench) -> None:
    enter_extended(bench)
    bench.advance(4.0)
    assert bench.handle(b"") is None  # ignored: not a request
    bench.advance(S3_S - 4.0 + 0.1)
    assert active_session(bench) == 0x01


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0xBA]),  # unknown SID BA, nothing else
        bytes([0x85, 0x01]),  # ControlDTCSetting on: not offered by this server
        bytes([0x85, 0x81]),  # ControlDTCSetting on + suppress bit: the NRC is still sent
        bytes([0x23, 0x12, 0x00, 0x10, 0x01]),  # ReadMemoryByAddress: not offered
        bytes([0x50, 0x03]),  # a positive-response SID sent as a request
        bytes([0x7F, 0x22, 0x11]),  # a negative-response SID sent as a request
    ],
)
def test_unknown_sid_is_0x11(bench: Bench, payload: bytes) -> None:
    response = bench.handle(payload)
    assert response == bytes([0x7F, payload[0], 0x11])  # negative, echoed SID, serviceNotSupported


def test_unknown_sid_in_extended_session_is_0x11(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x28, 0x00, 0x01]))  # CommunicationControl: not offered
    assert response == bytes([0x7F, 0x28, 0x11])  # negative, CommunicationControl, 0x11


def test_unknown_sid_functional_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x85, 0x02]), FUNCTIONAL)  # ControlDTCSetting off
    assert response is None


# -- one-byte requests (scanners) --------------------------------------------------------------


@pytest.mark.parametrize("sid", [0x10, 0x11, 0x3E, 0x22, 0x2E, 0x19, 0x14])
def test_bare_sid_in_default_session_is_0x13(bench: Bench, sid: int) -> None:
    response = bench.handle(bytes([sid]))  # the SID alone
    assert response == bytes([0x7F, sid, 0x13])  # negative, echoed SID, incorrectMessageLength


@pytest.mark.parametrize("sid", [0x10, 0x11, 0x3E, 0x22, 0x2E, 0x19, 0x14, 0x27, 0x31])
def test_bare_sid_in_extended_session_is_0x13(bench: Bench, sid: int) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([sid]))  # the SID alone
    assert response == bytes([0x7F, sid, 0x13])  # negative, echoed SID, incorrectMessageLength
    assert active_session(bench) == 0x03  # nothing crashed or changed


@pytest.mark.parametrize("sid", [0x27, 0x31])
def test_bare_sid_not_available_in_default_session_is_0x7f(bench: Bench, sid: int) -> None:
    response = bench.handle(bytes([sid]))  # the SID alone, service not in this session
    assert response == bytes([0x7F, sid, 0x7F])  # negative, echoed SID, notSupportedInSession


# -- NRC order: the earlier rule wins when a request breaks two ---------------------------------


def test_order_0x11_before_0x13(bench: Bench) -> None:
    response = bench.handle(bytes([0x2F]))  # InputOutputControl (not offered), no DID: too short
    assert response == bytes([0x7F, 0x2F, 0x11])  # negative, 0x2F, serviceNotSupported


def test_order_0x7f_before_0x13(bench: Bench) -> None:
    response = bench.handle(bytes([0x31, 0x01]))  # RC (extended only), start, no RID
    assert response == bytes([0x7F, 0x31, 0x7F])  # negative, RC, serviceNotSupportedInSession


def test_order_0x7f_before_0x12(bench: Bench) -> None:
    response = bench.handle(bytes([0x27, 0x05]))  # SA (extended only), unsupported level 0x05
    assert response == bytes([0x7F, 0x27, 0x7F])  # negative, SA, serviceNotSupportedInSession


def test_order_0x13_before_0x12(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x09, 0x02]))  # RC, type 09 (unsupported), half a RID
    assert response == bytes([0x7F, 0x31, 0x13])  # negative, RC, incorrectMessageLength


def test_order_0x12_before_0x33(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x09, 0x02, 0x02]))  # RC, type 09, RID 0202 (locked)
    assert response == bytes([0x7F, 0x31, 0x12])  # negative, RC, subFunctionNotSupported


def test_order_0x7e_before_0x24() -> None:
    bench = make_bench(config=ServerConfig(sessions=frozenset({0x01, 0x02, 0x03})))
    response = bench.handle(bytes([0x10, 0x02]))  # DSC, programmingSession
    assert response == bytes([0x50, 0x02, 0x00, 0x32, 0x01, 0xF4])  # pos, 02, P2 50ms, P2* 500x10ms
    response = bench.handle(bytes([0x27, 0x02, 0x00, 0x00, 0x00, 0x00]))  # sendKey, no seed
    assert response == bytes([0x7F, 0x27, 0x7E])  # negative, SA, subFunctionNotSupportedInSession


def test_order_0x33_before_0x24(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x03, 0x02, 0x02]))  # RC, results, RID 0202 (locked)
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied


def test_order_0x33_before_service_specific_0x22(bench: Bench) -> None:
    enter_extended(bench)
    bench.vehicle.master_key_present = False
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x02, 0x01]))  # RC, start, 0202, master
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied


def test_order_0x24_before_service_specific_0x35(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x02, 0xDE, 0xAD, 0xBE, 0xEF]))  # sendKey, no seed
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError


# -- suppress-positive-response bit --------------------------------------------------------------


def test_suppress_bit_suppresses_positive_responses(bench: Bench) -> None:
    assert bench.handle(bytes([0x3E, 0x80])) is None  # TesterPresent + suppress bit
    assert bench.handle(bytes([0x10, 0x83])) is None  # DSC extended + suppress bit
    assert active_session(bench) == 0x03  # the suppressed request was carried out


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes([0x3E, 0x81]), bytes([0x7F, 0x3E, 0x12])),  # TP 01+suppress: neg, TP, 0x12
        (bytes([0x10, 0x85]), bytes([0x7F, 0x10, 0x12])),  # DSC 05+suppress: neg, DSC, 0x12
        (bytes([0x3E, 0x80, 0x00]), bytes([0x7F, 0x3E, 0x13])),  # TP+suppress, extra: 0x13
        (bytes([0x31, 0x81, 0xFF, 0xFF]), bytes([0x7F, 0x31, 0x31])),  # RC start+sup, FFFF: 31
        (bytes([0x31, 0x81, 0x02, 0x02, 0x01]), bytes([0x7F, 0x31, 0x33])),  # locked 0202: 33
        (bytes([0x27, 0x82, 0x00, 0x00, 0x00, 0x00]), bytes([0x7F, 0x27, 0x24])),  # no seed: 24
    ],
)
def test_suppress_bit_never_suppresses_nrcs(bench: Bench, payload: bytes, expected: bytes) -> None:
    enter_extended(bench)
    assert bench.handle(payload) == expected


def test_services_without_sub_function_ignore_bit_7(bench: Bench) -> None:
    response = bench.handle(bytes([0x22, 0xF1, 0x97]))  # RDBI, DID F197: F1 has bit 7 set
    assert response == bytes([0x62, 0xF1, 0x97]) + b"ENGINE"  # positive, DID F197, 6 ASCII bytes


# -- functionally addressed requests -------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0xBA, 0x00]),  # 0x11: unknown SID BA
        bytes([0x10, 0x05]),  # 0x12: DSC, unsupported session 05
        bytes([0x22, 0x12, 0x34]),  # 0x31: RDBI, unsupported DID 1234
        bytes([0x31, 0x01, 0x02, 0x03]),  # 0x7F: RC in the default session
    ],
)
def test_functional_nrcs_0x11_0x12_0x31_0x7f_are_suppressed(bench: Bench, payload: bytes) -> None:
    assert bench.handle(payload, FUNCTIONAL) is None
    physical = bench.handle(payload, PHYSICAL)  # the same request physically is answered
    assert physical is not None and physical[:2] == bytes([0x7F, payload[0]])  # neg, SID


def test_functional_nrc_0x7e_is_suppressed() -> None:
    bench = make_bench(config=ServerConfig(sessions=frozenset({0x01, 0x02, 0x03})))
    response = bench.handle(bytes([0x10, 0x02]))  # DSC, programmingSession
    assert response == bytes([0x50, 0x02, 0x00, 0x32, 0x01, 0xF4])  # pos, 02, P2 50ms, P2* 500x10ms
    assert bench.handle(bytes([0x27, 0x01]), FUNCTIONAL) is None  # SA requestSeed 01: 0x7E
    response = bench.handle(bytes([0x27, 0x01]), PHYSICAL)  # the same request physically
    assert response == bytes([0x7F, 0x27, 0x7E])  # negative, SA, subFunctionNotSupportedInSession


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bytes([0x22, 0xF1]), bytes([0x7F, 0x22, 0x13])),  # RDBI half a DID: neg, RDBI, 0x13
        (bytes([0x22, 0x01, 0x10]), bytes([0x7F, 0x22, 0x33])),  # RDBI locked DID: 0x33
        (bytes([0x22, 0x01, 0x20]), bytes([0x7F, 0x22, 0x22])),  # RDBI coolant, ign. off: 0x22
        (bytes([0x27, 0x02, 0x00, 0x00, 0x00, 0x00]), bytes([0x7F, 0x27, 0x24])),  # no seed: 24
        (bytes([0x22, 0xF1, 0x86]), bytes([0x62, 0xF1, 0x86, 0x03])),  # positive: F186 = 03
    ],
)
def test_functional_other_responses_are_sent(bench: Bench, payload: bytes, expected: bytes) -> None:
    enter_extended(bench)
    bench.vehicle.ignition_on = False
    assert bench.handle(payload, FUNCTIONAL) == expected


def test_functional_invalid_key_is_sent(bench: Bench) -> None:
    enter_extended(bench)
    seed = request_seed(bench, LEVEL_DIAG)
    key = wrong_key_for(LEVEL_DIAG, seed)
    response = bench.handle(bytes([0x27, 0x02]) + key, FUNCTIONAL)  # SA, sendKey 0x02, bad key
    assert response == bytes([0x7F, 0x27, 0x35])  # negative, SA, invalidKey


# -- responseTooLong ----------------------------------------------------------------------------


def test_response_at_the_maximum_length_is_sent() -> None:
    bench = make_bench(extra_dids=[BIG_DID])
    response = bench.handle(bytes([0x22, 0x0B, 0x16]))  # RDBI, DID 0B16 (4092 data bytes)
    assert response == bytes([0x62, 0x0B, 0x16]) + bytes(4092)  # positive, DID 0B16, 4092 zeros
    assert response is not None and len(response) == 4095


def test_response_longer_than_the_maximum_is_0x14() -> None:
    bench = make_bench(extra_dids=[TOO_BIG_DID])
    response = bench.handle(bytes([0x22, 0x0B, 0x17]))  # RDBI, DID 0B17 (4093 data bytes)
    assert response == bytes([0x7F, 0x22, 0x14])  # negative, RDBI, responseTooLong


def test_suppress_bit_does_not_hide_0x14() -> None:
    bench = make_bench(config=ServerConfig(max_response_length=8))
    response = bench.handle(bytes([0x19, 0x8A]))  # reportSupportedDTC + suppress: 15 bytes
    assert response == bytes([0x7F, 0x19, 0x14])  # negative, ReadDTCInformation, responseTooLong
    response = bench.handle(bytes([0x19, 0x81, 0x01]))  # 0x01 + suppress: 6 bytes, positive
    assert response is None


def test_configured_maximum_response_length_gives_0x14() -> None:
    bench = make_bench(config=ServerConfig(max_response_length=8))
    response = bench.handle(bytes([0x22, 0xF1, 0x97]))  # RDBI, DID F197: 3 + 6 = 9 bytes
    assert response == bytes([0x7F, 0x22, 0x14])  # negative, RDBI, responseTooLong
    response = bench.handle(bytes([0x22, 0xF1, 0x86]))  # RDBI, DID F186: 4 bytes
    assert response == bytes([0x62, 0xF1, 0x86, 0x01])  # positive SID, DID F186, default


# -- handler exceptions -------------------------------------------------------------------------


@pytest.mark.parametrize("addressing", [PHYSICAL, FUNCTIONAL])
def test_reader_exception_is_0x10_and_the_server_keeps_serving(addressing: Addressing) -> None:
    bench = make_bench(extra_dids=[BROKEN_DID])
    response = bench.handle(bytes([0x22, 0x0B, 0xAD]), addressing)  # RDBI, DID 0BAD (raises)
    assert response == bytes([0x7F, 0x22, 0x10])  # negative, RDBI, generalReject
    response = bench.handle(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert response == bytes([0x7E, 0x00])  # positive SID, sub-function echo
    response = bench.handle(bytes([0x22, 0xF1, 0x97]))  # RDBI, DID F197
    assert response == bytes([0x62, 0xF1, 0x97]) + b"ENGINE"  # positive, DID F197, 6 ASCII bytes


def test_routine_exception_is_0x10_and_the_server_keeps_serving() -> None:
    bench = make_bench(extra_routines=[BROKEN_ROUTINE])
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x01, 0x0B, 0xAD]))  # RC, start, RID 0BAD (raises)
    assert response == bytes([0x7F, 0x31, 0x10])  # negative, RC, generalReject
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x03]))  # RC, start, RID 0203
    assert response == bytes([0x71, 0x01, 0x02, 0x03])  # positive SID, start, RID 0203
    unlock(bench, LEVEL_DIAG)
    assert active_session(bench) == 0x03
