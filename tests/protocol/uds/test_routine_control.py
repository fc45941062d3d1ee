"""RoutineControl 0x31 (ISO 14229-1 §14.2; diagnostic-contract.md §4: extended session;
preconditions 0x22, locked 0x33, stop or results before start 0x24, unknown RID 0x31)."""

from __future__ import annotations

import pytest

from protocol.constants import Addressing

from .conftest import (
    ERASE_S,
    FUNCTIONAL,
    LEVEL_DIAG,
    LEVEL_IMMO,
    PHYSICAL,
    Bench,
    enter_extended,
    unlock,
)

START_0202_MASTER = bytes([0x31, 0x01, 0x02, 0x02, 0x01])  # RC, start, RID 0202, option master


# -- session and length ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x31, 0x01, 0x02, 0x03]),  # RC, start, RID 0203
        bytes([0x31]),  # RC without sub-function: 0x7F before 0x13
        bytes([0x31, 0x05, 0x02, 0x03]),  # RC, sub-function 05: 0x7F before 0x12
    ],
)
def test_default_session_is_0x7f(bench: Bench, payload: bytes) -> None:
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x31, 0x7F])  # negative, RC, serviceNotSupportedInSession


def test_default_session_functional_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x03]), FUNCTIONAL)  # RC, start, RID 0203
    assert response is None


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x31]),  # RC without sub-function
        bytes([0x31, 0x01]),  # RC, start, no RID
        bytes([0x31, 0x01, 0x02]),  # RC, start, half a RID
        bytes([0x31, 0x05, 0x02]),  # RC, sub-function 05, half a RID: 0x13 before 0x12
    ],
)
@pytest.mark.parametrize("addressing", [PHYSICAL, FUNCTIONAL])
def test_shorter_than_minimum_is_0x13(bench: Bench, payload: bytes, addressing: Addressing) -> None:
    enter_extended(bench)
    response = bench.handle(payload, addressing)
    assert response == bytes([0x7F, 0x31, 0x13])  # negative, RC, incorrectMessageLength


# -- start / stop / results --------------------------------------------------------------------


def test_start_routine_without_security(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x03]))  # RC, start, RID 0203
    assert response == bytes([0x71, 0x01, 0x02, 0x03])  # positive SID, start, RID 0203


def test_start_results_stop_cycle(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(START_0202_MASTER)
    assert response == bytes([0x71, 0x01, 0x02, 0x02, 0x01])  # pos, start, RID 0202, running
    response = bench.handle(bytes([0x31, 0x03, 0x02, 0x02]))  # RC, requestResults, RID 0202
    assert response == bytes([0x71, 0x03, 0x02, 0x02, 0x01])  # pos, results, RID 0202, running
    response = bench.handle(bytes([0x31, 0x02, 0x02, 0x02]))  # RC, stop, RID 0202
    assert response == bytes([0x71, 0x02, 0x02, 0x02, 0x00])  # pos, stop, RID 0202, done
    assert bench.vehicle.registration_open is False


def test_stop_ends_the_routine_so_results_is_0x24(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    assert bench.handle(START_0202_MASTER) == bytes([0x71, 0x01, 0x02, 0x02, 0x01])  # started
    response = bench.handle(bytes([0x31, 0x02, 0x02, 0x02]))  # RC, stop, RID 0202
    assert response == bytes([0x71, 0x02, 0x02, 0x02, 0x00])  # pos, stop, RID 0202, done
    response = bench.handle(bytes([0x31, 0x02, 0x02, 0x02]))  # RC, stop, RID 0202 again
    assert response == bytes([0x7F, 0x31, 0x24])  # negative, RC, requestSequenceError


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x31, 0x02, 0x02, 0x02]),  # RC, stop, RID 0202
        bytes([0x31, 0x03, 0x02, 0x02]),  # RC, requestResults, RID 0202
    ],
)
def test_stop_or_results_before_start_is_0x24(bench: Bench, payload: bytes) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x31, 0x24])  # negative, RC, requestSequenceError


def test_start_option_record_out_of_range_is_0x31(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x02, 0x03]))  # RC, start, RID 0202, opt 03
    assert response == bytes([0x7F, 0x31, 0x31])  # negative, RC, requestOutOfRange


def test_failed_start_does_not_count_as_started(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    bench.vehicle.master_key_present = False
    response = bench.handle(START_0202_MASTER)
    assert response == bytes([0x7F, 0x31, 0x22])  # negative, RC, conditionsNotCorrect
    response = bench.handle(bytes([0x31, 0x03, 0x02, 0x02]))  # RC, requestResults, RID 0202
    assert response == bytes([0x7F, 0x31, 0x24])  # negative, RC, requestSequenceError


# -- unknown RID, security, unsupported sub-functions -------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x31, 0x01, 0xFF, 0x00]),  # RC, start, RID FF00: unknown
        bytes([0x31, 0x03, 0x12, 0x34]),  # RC, requestResults, RID 1234: unknown
    ],
)
def test_unknown_rid_is_0x31(bench: Bench, payload: bytes) -> None:
    enter_extended(bench)
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x31, 0x31])  # negative, RC, requestOutOfRange


def test_unknown_rid_functional_gets_no_response(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x01, 0xFF, 0x00]), FUNCTIONAL)  # RC, start, RID FF00
    assert response is None


def test_locked_routine_is_0x33(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(START_0202_MASTER)
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x01]))  # RC, start, RID 0201
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied


def test_locked_routine_functional_is_answered(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(START_0202_MASTER, FUNCTIONAL)
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied


def test_routine_needs_its_own_level(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x01]))  # RC, start, RID 0201 (level 0x11)
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied
    unlock(bench, LEVEL_IMMO)
    response = bench.handle(START_0202_MASTER)  # RID 0202 needs level 0x01, now re-locked
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x31, 0x00, 0x02, 0x03]),  # RC, sub-function 00 (ISO reserved), RID 0203
        bytes([0x31, 0x04, 0x02, 0x03]),  # RC, sub-function 04 (ISO reserved), RID 0203
        bytes([0x31, 0x7F, 0x02, 0x03]),  # RC, sub-function 7F (ISO reserved), RID 0203
        bytes([0x31, 0x04, 0xFF, 0xFF]),  # RC, sub-function 04, unknown RID: 0x12 before 0x31
        bytes([0x31, 0x04, 0x02, 0x02]),  # RC, sub-function 04, locked RID: 0x12 before 0x33
    ],
)
def test_unsupported_control_type_is_0x12(bench: Bench, payload: bytes) -> None:
    enter_extended(bench)
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x31, 0x12])  # negative, RC, subFunctionNotSupported


def test_unsupported_control_type_functional_gets_no_response(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x04, 0x02, 0x03]), FUNCTIONAL)  # RC, type 04, RID 0203
    assert response is None


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x31, 0x02, 0x02, 0x03]),  # RC, stop, RID 0203 (start only)
        bytes([0x31, 0x03, 0x02, 0x03]),  # RC, requestResults, RID 0203 (start only)
    ],
)
def test_routine_without_stop_or_results_is_0x12(bench: Bench, payload: bytes) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x03]))  # RC, start, RID 0203
    assert response == bytes([0x71, 0x01, 0x02, 0x03])  # positive SID, start, RID 0203
    response = bench.handle(payload)
    assert response == bytes([0x7F, 0x31, 0x12])  # negative, RC, subFunctionNotSupported


def test_stop_of_a_routine_without_stop_is_0x12_even_before_start(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    response = bench.handle(bytes([0x31, 0x02, 0x02, 0x01]))  # RC, stop, RID 0201 (no stop)
    assert response == bytes([0x7F, 0x31, 0x12])  # negative, RC, subFunctionNotSupported


def test_security_is_checked_before_sequence(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x02, 0x02, 0x02]))  # RC, stop, RID 0202, not started
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied


def test_security_is_checked_before_preconditions(bench: Bench) -> None:
    enter_extended(bench)
    bench.vehicle.master_key_present = False
    response = bench.handle(START_0202_MASTER)
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied


# -- preconditions ------------------------------------------------------------------------------


def test_precondition_not_met_is_0x22(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    bench.vehicle.master_key_present = False
    response = bench.handle(START_0202_MASTER)
    assert response == bytes([0x7F, 0x31, 0x22])  # negative, RC, conditionsNotCorrect
    response = bench.handle(START_0202_MASTER, FUNCTIONAL)
    assert response == bytes([0x7F, 0x31, 0x22])  # functional too: negative, RC, 0x22


@pytest.mark.parametrize(("ignition_on", "speed_kmh"), [(False, 0), (True, 20)])
def test_immobilizer_reset_preconditions(bench: Bench, ignition_on: bool, speed_kmh: int) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    bench.vehicle.ignition_on = ignition_on
    bench.vehicle.speed_kmh = speed_kmh
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x01]))  # RC, start, RID 0201
    assert response == bytes([0x7F, 0x31, 0x22])  # negative, RC, conditionsNotCorrect
    assert bench.server.is_busy is False


# -- suppress bit and pending work -------------------------------------------------------------


def test_suppress_bit_hides_positive_start_only(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x81, 0x02, 0x03]))  # RC, start + suppress, RID 0203
    assert response is None
    response = bench.handle(bytes([0x31, 0x81, 0xFF, 0x00]))  # RC, start + suppress, RID FF00
    assert response == bytes([0x7F, 0x31, 0x31])  # negative, RC, requestOutOfRange


def test_long_routine_answers_0x78_then_final_response(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x01]))  # RC, start, RID 0201
    assert response == bytes([0x7F, 0x31, 0x78])  # negative, RC, responsePending
    bench.advance(ERASE_S)
    assert bench.poll() == [bytes([0x71, 0x01, 0x02, 0x01, 0x00])]  # pos, start, RID 0201, done
    response = bench.handle(bytes([0x31, 0x03, 0x02, 0x01]))  # RC, requestResults, RID 0201
    assert response == bytes([0x71, 0x03, 0x02, 0x01, 0x00])  # pos, results, RID 0201, done
