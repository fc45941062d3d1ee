"""ECUReset 0x11 (ISO 14229-1 §10.3; diagnostic-contract.md §2: positive response first, then the
reset: volatile state lost, NVM kept)."""

from __future__ import annotations

import pytest

from protocol.constants import ResetType
from protocol.uds.server import ServerConfig

from .conftest import (
    FUNCTIONAL,
    LEVEL_DIAG,
    PHYSICAL,
    Bench,
    active_session,
    assert_locked_for_level_01,
    assert_unlocked_for_level_01,
    enter_extended,
    make_bench,
    read_did,
    request_seed,
    security_status_response,
    send_wrong_key,
    unlock,
)


@pytest.mark.parametrize("reset_type", [0x01, 0x03])  # hardReset, softReset
def test_reset_answers_first_then_resets_to_default_and_locked(
    bench: Bench, reset_type: int
) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x11, reset_type]))  # ECUReset, resetType
    assert response == bytes([0x51, reset_type])  # positive SID, resetType echo
    assert active_session(bench) == 0x01
    assert_locked_for_level_01(bench)


@pytest.mark.parametrize("reset_type", [0x01, 0x03])  # hardReset, softReset
def test_reset_in_default_session(bench: Bench, reset_type: int) -> None:
    response = bench.handle(bytes([0x11, reset_type]))  # ECUReset, resetType
    assert response == bytes([0x51, reset_type])  # positive SID, resetType echo


@pytest.mark.parametrize("reset_type", [0x00, 0x02, 0x04, 0x05, 0x40, 0x7F])
def test_other_reset_types_are_0x12_and_nothing_resets(bench: Bench, reset_type: int) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x11, reset_type]))  # ECUReset, unsupported resetType
    assert response == bytes([0x7F, 0x11, 0x12])  # negative, ECUReset, subFunctionNotSupported
    assert active_session(bench) == 0x03
    assert_unlocked_for_level_01(bench)


def test_unsupported_reset_type_functional_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x11, 0x02]), FUNCTIONAL)  # ECUReset, keyOffOnReset
    assert response is None


def test_functional_hard_reset_is_answered(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x11, 0x01]), FUNCTIONAL)  # ECUReset, hardReset
    assert response == bytes([0x51, 0x01])  # positive SID, hardReset
    assert active_session(bench) == 0x01


def test_suppress_bit_resets_silently(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x11, 0x81]))  # ECUReset, hardReset + suppress bit
    assert response is None
    assert active_session(bench) == 0x01
    assert_locked_for_level_01(bench)


def test_suppress_bit_does_not_hide_0x12(bench: Bench) -> None:
    response = bench.handle(bytes([0x11, 0x82]))  # ECUReset, keyOffOnReset + suppress bit
    assert response == bytes([0x7F, 0x11, 0x12])  # negative, ECUReset, subFunctionNotSupported


def test_wrong_length_is_0x13_and_nothing_resets(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x11, 0x01, 0x00]))  # ECUReset, hardReset, extra byte
    assert response == bytes([0x7F, 0x11, 0x13])  # negative, ECUReset, incorrectMessageLength
    assert active_session(bench) == 0x03


def test_bare_sid_is_0x13(bench: Bench) -> None:
    response = bench.handle(bytes([0x11]))  # ECUReset without resetType
    assert response == bytes([0x7F, 0x11, 0x13])  # negative, ECUReset, incorrectMessageLength


def test_reset_forgets_started_routines(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x02, 0x01]))  # RC, start, RID 0202, master
    assert response == bytes([0x71, 0x01, 0x02, 0x02, 0x01])  # positive, start, RID 0202, running
    response = bench.handle(bytes([0x11, 0x01]))  # ECUReset, hardReset
    assert response == bytes([0x51, 0x01])  # positive SID, hardReset
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x31, 0x03, 0x02, 0x02]))  # RC, requestResults, RID 0202
    assert response == bytes([0x7F, 0x31, 0x24])  # negative, RC, requestSequenceError


def test_reset_drops_an_outstanding_seed(bench: Bench) -> None:
    enter_extended(bench)
    request_seed(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x11, 0x03]))  # ECUReset, softReset
    assert response == bytes([0x51, 0x03])  # positive SID, softReset
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x02, 0x00, 0x00, 0x00, 0x00]))  # sendKey, 4 key bytes
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SecurityAccess, requestSequenceError


def test_reset_keeps_nvm_failed_attempt_counter(bench: Bench) -> None:
    enter_extended(bench)
    assert send_wrong_key(bench, LEVEL_DIAG) == bytes([0x7F, 0x27, 0x35])  # neg, SA, invalidKey
    response = bench.handle(bytes([0x11, 0x01]))  # ECUReset, hardReset
    assert response == bytes([0x51, 0x01])  # positive SID, hardReset
    response = read_did(bench, 0x010C)
    # level 0x01: still 1 failed attempt, 10 s boot delay (its last attempt failed);
    # level 0x11: 0 failed attempts, no delay
    assert response == security_status_response(diag=(1, 10), immo=(0, 0))


def test_reset_listener_is_called_after_the_answer(bench: Bench) -> None:
    seen: list[ResetType] = []
    bench.server.reset_listeners.append(seen.append)
    response = bench.handle(bytes([0x11, 0x03]))  # ECUReset, softReset
    assert response == bytes([0x51, 0x03])  # positive SID, softReset
    assert seen == [ResetType.SOFT_RESET]


def test_configured_reboot_time_keeps_the_server_silent() -> None:
    bench = make_bench(config=ServerConfig(reset_duration_s=0.5))
    response = bench.handle(bytes([0x11, 0x01]))  # ECUReset, hardReset
    assert response == bytes([0x51, 0x01])  # positive SID, hardReset
    bench.advance(0.4)
    assert bench.handle(bytes([0x3E, 0x00])) is None  # TesterPresent while rebooting: silent
    bench.advance(0.1)
    response = bench.handle(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert response == bytes([0x7E, 0x00])  # positive SID, sub-function echo


def test_reset_waits_until_the_response_is_on_the_bus(bench: Bench) -> None:
    """ISO 14229-1 §10.3: the positive response goes out first, then the ECU resets."""
    seen: list[ResetType] = []
    bench.server.reset_listeners.append(seen.append)
    enter_extended(bench)
    now = bench.clock.now()
    response = bench.server.handle(bytes([0x11, 0x01]), PHYSICAL, now)  # ECUReset, hardReset
    assert response == bytes([0x51, 0x01])  # positive SID, hardReset
    assert seen == [] and bench.server.session == 0x03  # not yet: the response is not sent
    bench.server.after_response(now)
    assert seen == [ResetType.HARD_RESET] and bench.server.session == 0x01  # defaultSession
