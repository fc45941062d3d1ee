"""TesterPresent 0x3E (ISO 14229-1 §10.6; diagnostic-contract.md §2: ``3E 00`` / ``3E 80``, other
sub-functions 0x12)."""

from __future__ import annotations

import pytest

from protocol.constants import Addressing

from .conftest import FUNCTIONAL, PHYSICAL, Bench, active_session, enter_extended


def test_zero_sub_function_is_answered(bench: Bench) -> None:
    response = bench.handle(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert response == bytes([0x7E, 0x00])  # positive SID, sub-function echo


def test_suppress_bit_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x3E, 0x80]))  # TesterPresent, zeroSubFunction + suppress bit
    assert response is None


def test_functional_zero_sub_function_is_answered(bench: Bench) -> None:
    response = bench.handle(bytes([0x3E, 0x00]), FUNCTIONAL)  # TesterPresent, zeroSubFunction
    assert response == bytes([0x7E, 0x00])  # positive SID, sub-function echo


def test_functional_suppress_bit_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x3E, 0x80]), FUNCTIONAL)  # TesterPresent, 00 + suppress bit
    assert response is None


@pytest.mark.parametrize("sub_function", [0x01, 0x02, 0x7F, 0x81, 0xFF])
def test_other_sub_functions_are_0x12(bench: Bench, sub_function: int) -> None:
    response = bench.handle(bytes([0x3E, sub_function]))  # TesterPresent, unsupported sub-function
    assert response == bytes([0x7F, 0x3E, 0x12])  # negative, TesterPresent, subFunctionNotSupported


def test_other_sub_function_functional_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x3E, 0x01]), FUNCTIONAL)  # TesterPresent, sub-function 01
    assert response is None


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x3E]),  # TesterPresent without sub-function
        bytes([0x3E, 0x00, 0x00]),  # TesterPresent, zeroSubFunction, extra byte
        bytes([0x3E, 0x80, 0x00]),  # TesterPresent, 00 + suppress bit, extra byte
    ],
)
@pytest.mark.parametrize("addressing", [PHYSICAL, FUNCTIONAL])
def test_wrong_length_is_0x13_even_functional_or_suppressed(
    bench: Bench, payload: bytes, addressing: Addressing
) -> None:
    response = bench.handle(payload, addressing)
    assert response == bytes([0x7F, 0x3E, 0x13])  # negative, TesterPresent, incorrectMessageLength


def test_tester_present_does_not_change_session(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert response == bytes([0x7E, 0x00])  # positive SID, sub-function echo
    assert active_session(bench) == 0x03


def test_suppressed_tester_present_keeps_extended_session_alive(bench: Bench) -> None:
    enter_extended(bench)
    for _ in range(10):  # 10 x 4 s = 40 s, far beyond S3 = 5 s
        bench.advance(4.0)
        assert bench.handle(bytes([0x3E, 0x80])) is None  # TesterPresent, 00 + suppress bit
        assert bench.poll() == []
    bench.advance(4.0)
    assert active_session(bench) == 0x03
