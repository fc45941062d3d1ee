"""S3server (diagnostic-contract.md §2): 5.0 s in a non-default session, restarted by ANY request;
on expiry the server is back in the default session with security locked."""

from __future__ import annotations

import pytest

from protocol.constants import Addressing

from .conftest import (
    FUNCTIONAL,
    LEVEL_DIAG,
    PHYSICAL,
    S3_S,
    Bench,
    active_session,
    assert_locked_for_level_01,
    assert_unlocked_for_level_01,
    enter_extended,
    make_bench,
    request_seed,
    unlock,
)


def test_session_lives_just_under_s3(bench: Bench) -> None:
    enter_extended(bench)
    bench.advance(S3_S - 0.1)
    assert bench.poll() == []
    assert active_session(bench) == 0x03


def test_session_ends_after_s3_on_the_next_request(bench: Bench) -> None:
    enter_extended(bench)
    bench.advance(S3_S + 0.1)
    assert active_session(bench) == 0x01


def test_session_ends_after_s3_on_poll_without_a_message(bench: Bench) -> None:
    enter_extended(bench)
    bench.advance(S3_S + 0.1)
    assert bench.poll() == []  # expiry sends nothing
    bench.advance(100.0)
    assert active_session(bench) == 0x01


def test_s3_expiry_locks_security(bench: Bench) -> None:
    # Regression: security was not re-locked on S3 timeout; a second tester inherited it.
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    assert_unlocked_for_level_01(bench)  # DID 0110 is readable in every session once unlocked
    bench.advance(S3_S + 0.1)
    assert bench.poll() == []
    assert_locked_for_level_01(bench)


def test_s3_expiry_locks_security_seen_from_the_next_request(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    bench.advance(S3_S + 0.1)
    assert_locked_for_level_01(bench)  # no poll: the request itself sees the expiry first


def test_second_tester_after_s3_expiry_gets_a_locked_server(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    bench.advance(S3_S + 0.1)
    bench.poll()
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x02, 0x01]))  # RC, start, RID 0202
    assert response == bytes([0x7F, 0x31, 0x7F])  # negative, RC, serviceNotSupportedInSession
    enter_extended(bench)
    assert request_seed(bench, LEVEL_DIAG) != bytes(4)  # a real seed: the level is locked
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x02, 0x01]))  # RC, start, RID 0202
    assert response == bytes([0x7F, 0x31, 0x33])  # negative, RC, securityAccessDenied


def test_s3_expiry_drops_an_outstanding_seed(bench: Bench) -> None:
    enter_extended(bench)
    request_seed(bench, LEVEL_DIAG)
    bench.advance(S3_S + 0.1)
    enter_extended(bench)
    response = bench.handle(bytes([0x27, 0x02, 0x00, 0x00, 0x00, 0x00]))  # sendKey, 4 key bytes
    assert response == bytes([0x7F, 0x27, 0x24])  # negative, SA, requestSequenceError


@pytest.mark.parametrize(
    ("payload", "addressing"),
    [
        (bytes([0x3E, 0x80]), PHYSICAL),  # TesterPresent + suppress bit: no response
        (bytes([0x3E, 0x00]), FUNCTIONAL),  # TesterPresent, functional
        (bytes([0x22, 0xF1, 0x90]), PHYSICAL),  # RDBI, DID F190: positive response
        (bytes([0xBA]), PHYSICAL),  # unknown SID BA: 0x11
        (bytes([0xBA, 0x01]), FUNCTIONAL),  # unknown SID BA, functional: no response
        (bytes([0x22, 0x12, 0x34]), FUNCTIONAL),  # RDBI, DID 1234, functional: 0x31 suppressed
        (bytes([0x27, 0x05]), PHYSICAL),  # SecurityAccess, level 0x05: 0x12
        (bytes([0x10, 0x05]), FUNCTIONAL),  # DSC, session 05, functional: 0x12 suppressed
        (bytes([0x14]), PHYSICAL),  # ClearDTC without group: 0x13
    ],
)
def test_any_request_restarts_s3(bench: Bench, payload: bytes, addressing: Addressing) -> None:
    enter_extended(bench)
    bench.advance(4.0)
    bench.handle(payload, addressing)
    bench.advance(S3_S - 0.1)  # 8.9 s after the session started, 4.9 s after the request
    assert bench.poll() == []
    assert active_session(bench) == 0x03  # this read restarts S3 again
    bench.advance(S3_S + 0.1)
    assert bench.poll() == []
    assert active_session(bench) == 0x01


def test_tester_present_keeps_the_session_and_the_unlock(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_DIAG)
    for _ in range(15):  # 15 x 4.5 s = 67.5 s
        bench.advance(4.5)
        assert bench.poll() == []
        assert bench.handle(bytes([0x3E, 0x80]), FUNCTIONAL) is None  # TesterPresent + suppress
    assert_unlocked_for_level_01(bench)
    assert active_session(bench) == 0x03


def test_no_s3_in_the_default_session() -> None:
    # SecurityAccess allowed in the default session: S3 must not lock it there.
    bench = make_bench(security_everywhere=True)
    unlock(bench, LEVEL_DIAG)
    bench.advance(60.0)
    assert bench.poll() == []
    assert_unlocked_for_level_01(bench)
