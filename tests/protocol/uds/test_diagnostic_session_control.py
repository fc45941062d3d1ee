"""DiagnosticSessionControl 0x10 (ISO 14229-1 §10.2; diagnostic-contract.md §2)."""

from __future__ import annotations

from protocol.uds.server import ServerConfig
from protocol.uds.timing import ServerTiming

from .conftest import (
    FUNCTIONAL,
    LEVEL_DIAG,
    Bench,
    active_session,
    assert_locked_for_level_01,
    assert_unlocked_for_level_01,
    enter_extended,
    make_bench,
    unlock,
)


def test_extended_session_positive_response_carries_p2_and_p2_star(bench: Bench) -> None:
    response = bench.handle(bytes([0x10, 0x03]))  # DSC, extendedDiagnosticSession
    assert response == bytes(
        [
            0x50,  # positive response SID (0x10 + 0x40)
            0x03,  # session echo: extendedDiagnosticSession
            0x00,  # P2server_max high byte
            0x32,  # P2server_max low byte: 50 ms
            0x01,  # P2*server_max high byte
            0xF4,  # P2*server_max low byte: 500 x 10 ms = 5000 ms
        ]
    )
    assert active_session(bench) == 0x03


def test_default_session_positive_response(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x10, 0x01]))  # DSC, defaultSession
    assert response == bytes([0x50, 0x01, 0x00, 0x32, 0x01, 0xF4])  # pos, 01, P2 50ms, P2* 500x10ms
    assert active_session(bench) == 0x01


def test_default_to_default_is_answered(bench: Bench) -> None:
    response = bench.handle(bytes([0x10, 0x01]))  # DSC, defaultSession (already in it)
    assert response == bytes([0x50, 0x01, 0x00, 0x32, 0x01, 0xF4])  # pos, 01, P2 50ms, P2* 500x10ms


def test_programming_session_when_configured() -> None:
    bench = make_bench(config=ServerConfig(sessions=frozenset({0x01, 0x02, 0x03})))
    response = bench.handle(bytes([0x10, 0x02]))  # DSC, programmingSession
    assert response == bytes([0x50, 0x02, 0x00, 0x32, 0x01, 0xF4])  # pos, 02, P2 50ms, P2* 500x10ms
    assert active_session(bench) == 0x02


def test_session_parameter_record_follows_configured_timing() -> None:
    timing = ServerTiming(p2_s=0.025, p2_star_s=2.5, pending_repeat_s=1.0)
    bench = make_bench(config=ServerConfig(timing=timing))
    response = bench.handle(bytes([0x10, 0x03]))  # DSC, extendedDiagnosticSession
    assert response == bytes(
        [
            0x50,  # positive response SID
            0x03,  # session echo
            0x00,  # P2server_max high byte
            0x19,  # P2server_max low byte: 25 ms
            0x00,  # P2*server_max high byte
            0xFA,  # P2*server_max low byte: 250 x 10 ms = 2500 ms
        ]
    )


def test_suppress_positive_response_bit_changes_session_silently(bench: Bench) -> None:
    response = bench.handle(bytes([0x10, 0x83]))  # DSC, extended session + suppress bit
    assert response is None
    assert active_session(bench) == 0x03


def test_unsupported_session_is_0x12_and_session_unchanged(bench: Bench) -> None:
    enter_extended(bench)
    for session in (0x00, 0x02, 0x04, 0x05, 0x40, 0x7F):
        response = bench.handle(bytes([0x10, session]))  # DSC, unsupported session type
        assert response == bytes([0x7F, 0x10, 0x12]), hex(session)  # neg, DSC, subFunctionNotSupp.
    assert active_session(bench) == 0x03


def test_unsupported_session_with_suppress_bit_still_gets_the_nrc(bench: Bench) -> None:
    response = bench.handle(bytes([0x10, 0x85]))  # DSC, session 0x05 + suppress bit
    assert response == bytes([0x7F, 0x10, 0x12])  # negative, DSC, subFunctionNotSupported


def test_unsupported_session_functional_gets_no_response(bench: Bench) -> None:
    response = bench.handle(bytes([0x10, 0x05]), FUNCTIONAL)  # DSC, session 0x05, functional
    assert response is None


def test_functional_session_change_is_answered(bench: Bench) -> None:
    response = bench.handle(bytes([0x10, 0x03]), FUNCTIONAL)  # DSC, extended, functional
    assert response == bytes([0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])  # pos, 03, P2 50ms, P2* 500x10ms


def test_extra_byte_is_0x13_and_session_unchanged(bench: Bench) -> None:
    response = bench.handle(bytes([0x10, 0x03, 0x00]))  # DSC, extended, one byte too many
    assert response == bytes([0x7F, 0x10, 0x13])  # negative, DSC, incorrectMessageLength
    assert active_session(bench) == 0x01


def test_bare_sid_is_0x13(bench: Bench) -> None:
    response = bench.handle(bytes([0x10]))  # DSC without a session type
    assert response == bytes([0x7F, 0x10, 0x13])  # negative, DSC, incorrectMessageLength


def test_extended_to_extended_relocks_security(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    assert_unlocked_for_level_01(bench)
    enter_extended(bench)  # the same session again is still a session change
    assert_locked_for_level_01(bench)


def test_extended_to_default_relocks_security() -> None:
    # SecurityAccess allowed in every session, so the lock is observable in the default one.
    bench = make_bench(security_everywhere=True)
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x10, 0x01]))  # DSC, defaultSession
    assert response == bytes([0x50, 0x01, 0x00, 0x32, 0x01, 0xF4])  # pos, 01, P2 50ms, P2* 500x10ms
    assert_locked_for_level_01(bench)


def test_default_to_extended_relocks_security() -> None:
    bench = make_bench(security_everywhere=True)
    unlock(bench, LEVEL_DIAG)  # unlocked in the default session
    enter_extended(bench)
    assert_locked_for_level_01(bench)


def test_default_to_default_keeps_security() -> None:
    bench = make_bench(security_everywhere=True)
    unlock(bench, LEVEL_DIAG)
    response = bench.handle(bytes([0x10, 0x01]))  # DSC, defaultSession while in default
    assert response == bytes([0x50, 0x01, 0x00, 0x32, 0x01, 0xF4])  # pos, 01, P2 50ms, P2* 500x10ms
    assert_unlocked_for_level_01(bench)


def test_session_change_drops_an_outstanding_seed(bench: Bench) -> None:
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x01]))  # SecurityAccess, requestSeed level 0x01
    assert response is not None and response[:2] == bytes([0x67, 0x01])  # positive, level 01
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x02, 0x00, 0x00, 0x00, 0x00]))  # sendKey, 4 key bytes
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SecurityAccess, requestSequenceError
