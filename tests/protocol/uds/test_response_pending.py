"""Response pending (diagnostic-contract.md §2; ISO 14229-1 §8.7.2, A.1): work longer than P2server
answers ``7F <sid> 78`` at once, repeats it while working, then sends the final response, which
the suppress bit never hides after a 0x78.

Routine 0x0201 (conftest) erases for ERASE_S = 12 s; the server repeats 0x78 every
``pending_repeat_s`` = 2 s (below P2*server = 5 s).
"""

from __future__ import annotations

import pytest

from protocol.clock import FakeClock
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.uds.pending import Reply, TimedWork
from protocol.uds.routines import Routine

from .conftest import (
    ERASE_S,
    FUNCTIONAL,
    LEVEL_IMMO,
    S3_S,
    START_S,
    Bench,
    active_session,
    enter_extended,
    make_bench,
    unlock,
)

START_RESET = bytes([0x31, 0x01, 0x02, 0x01])  # RoutineControl, startRoutine, RID 0201
PENDING = bytes([0x7F, 0x31, 0x78])  # negative, RoutineControl, responsePending
FINAL = bytes([0x71, 0x01, 0x02, 0x01, 0x00])  # positive SID, startRoutine, RID 0201, done
REPEAT_S = 2.0
"""ServerTiming.pending_repeat_s default."""


def started(bench: Bench, request: bytes = START_RESET) -> None:
    """Extended session, level 0x11 unlocked, routine 0x0201 started (answered 0x78)."""
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    assert bench.handle(request) == PENDING
    assert bench.server.is_busy


def test_0x78_is_the_answer_of_the_same_call(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    response = bench.handle(bytes([0x31, 0x01, 0x02, 0x01]))  # RC, startRoutine, RID 0201
    assert response == bytes([0x7F, 0x31, 0x78])  # negative, RC, responsePending


def test_0x78_repeats_every_pending_repeat_s_then_final(bench: Bench) -> None:
    started(bench)
    timeline: list[tuple[float, list[bytes]]] = []
    for _ in range(int(ERASE_S / 0.5)):  # poll every 0.5 s up to ERASE_S
        bench.advance(0.5)
        timeline.append((bench.clock.now() - START_S, bench.poll()))
    expected: list[tuple[float, list[bytes]]] = []
    for step in range(1, int(ERASE_S / 0.5) + 1):
        elapsed = step * 0.5
        if elapsed == ERASE_S:
            expected.append((elapsed, [FINAL]))
        elif elapsed % REPEAT_S == 0:
            expected.append((elapsed, [PENDING]))
        else:
            expected.append((elapsed, []))
    assert timeline == expected
    assert not bench.server.is_busy
    bench.advance(REPEAT_S)
    assert bench.poll() == []  # nothing more after the final response


def test_repeat_gap_never_exceeds_p2_star(bench: Bench) -> None:
    started(bench)
    last_pending = bench.clock.now()
    while bench.server.is_busy:
        bench.advance(0.25)
        out = bench.poll()
        if out == [PENDING]:
            assert bench.clock.now() - last_pending <= 5.0  # P2*server = 5000 ms
            last_pending = bench.clock.now()
    assert bench.clock.now() - last_pending <= 5.0


def test_late_poll_sends_the_final_response_only(bench: Bench) -> None:
    started(bench)
    bench.advance(ERASE_S + 3.0)
    assert bench.poll() == [FINAL]


def test_final_response_is_not_suppressed_after_0x78(bench: Bench) -> None:
    suppressed_start = bytes([0x31, 0x81, 0x02, 0x01])  # RC, startRoutine + suppress bit, 0201
    started(bench, suppressed_start)
    bench.advance(ERASE_S)
    assert bench.poll() == [bytes([0x71, 0x01, 0x02, 0x01, 0x00])]  # pos, start, 0201, done


def test_functional_request_gets_0x78_and_final(bench: Bench) -> None:
    enter_extended(bench)
    unlock(bench, LEVEL_IMMO)
    response = bench.handle(START_RESET, FUNCTIONAL)
    assert response == bytes([0x7F, 0x31, 0x78])  # negative, RC, responsePending
    bench.advance(ERASE_S)
    assert bench.poll() == [FINAL]


@pytest.mark.parametrize(
    "payload",
    [
        bytes([0x22, 0xF1, 0x90]),  # RDBI, DID F190
        bytes([0x10, 0x01]),  # DSC, defaultSession
        bytes([0x31, 0x01, 0x02, 0x01]),  # RC, startRoutine, RID 0201 again
        bytes([0x27, 0x11]),  # SecurityAccess, requestSeed 0x11
        bytes([0x11, 0x01]),  # ECUReset, hardReset
    ],
)
def test_other_requests_while_pending_are_0x21(bench: Bench, payload: bytes) -> None:
    started(bench)
    bench.advance(1.0)
    response = bench.handle(payload)
    assert response == bytes([0x7F, payload[0], 0x21])  # negative, echoed SID, busyRepeatRequest
    bench.advance(ERASE_S - 1.0)
    assert bench.poll() == [FINAL]  # the busy request changed nothing
    assert active_session(bench) == 0x03
    response = bench.handle(bytes([0x31, 0x03, 0x02, 0x01]))  # RC, requestResults, RID 0201
    assert response == bytes([0x71, 0x03, 0x02, 0x01, 0x00])  # pos, results, 0201, done


def test_suppressed_tester_present_while_pending_is_silent(bench: Bench) -> None:
    started(bench)
    for _ in range(5):
        bench.advance(1.0)
        assert bench.handle(bytes([0x3E, 0x80])) is None  # TesterPresent + suppress bit
        assert bench.handle(bytes([0x3E, 0x80]), FUNCTIONAL) is None  # same, functional
    bench.advance(ERASE_S - 5.0)
    assert bench.poll() == [FINAL]


def test_s3_is_suspended_while_pending(bench: Bench) -> None:
    started(bench)
    for _ in range(int(ERASE_S)):  # 12 s without any request: far beyond S3 = 5 s
        bench.advance(1.0)
        out = bench.poll()
        assert out in ([], [PENDING], [FINAL])
    assert not bench.server.is_busy
    bench.advance(S3_S - 0.1)  # S3 restarts with the final response
    response = bench.handle(bytes([0x31, 0x03, 0x02, 0x01]))  # RC, requestResults, RID 0201
    assert response == bytes([0x71, 0x03, 0x02, 0x01, 0x00])  # pos, results, 0201, done
    bench.advance(S3_S + 0.1)
    assert active_session(bench) == 0x01


def test_s3_restarts_at_the_final_response(bench: Bench) -> None:
    started(bench)
    bench.advance(ERASE_S)
    assert bench.poll() == [FINAL]
    bench.advance(S3_S + 0.1)
    assert bench.poll() == []
    assert active_session(bench) == 0x01


def _failing_routines(clock: FakeClock) -> list[Routine]:
    def fail_nrc() -> bytes:
        raise NegativeResponseError(Nrc.GENERAL_PROGRAMMING_FAILURE, "flash write failed")

    def fail_bug() -> bytes:
        raise RuntimeError("eraser bug")

    def start_nrc(option: bytes) -> Reply:
        return TimedWork(clock.now() + 3.0, fail_nrc)

    def start_bug(option: bytes) -> Reply:
        return TimedWork(clock.now() + 3.0, fail_bug)

    return [
        Routine(0x0A72, "pending work answering 0x72", start=start_nrc),
        Routine(0x0A10, "pending work raising", start=start_bug),
    ]


def test_pending_work_nrc_is_sent_after_0x78() -> None:
    clock = FakeClock(START_S)
    bench = make_bench(clock=clock, extra_routines=_failing_routines(clock))
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x81, 0x0A, 0x72]))  # RC, start + suppress, RID 0A72
    assert response == bytes([0x7F, 0x31, 0x78])  # negative, RC, responsePending
    bench.advance(3.0)
    assert bench.poll() == [bytes([0x7F, 0x31, 0x72])]  # negative, RC, generalProgrammingFailure
    assert not bench.server.is_busy


def test_pending_work_exception_is_0x10_and_the_server_keeps_serving() -> None:
    clock = FakeClock(START_S)
    bench = make_bench(clock=clock, extra_routines=_failing_routines(clock))
    enter_extended(bench)
    response = bench.handle(bytes([0x31, 0x01, 0x0A, 0x10]))  # RC, startRoutine, RID 0A10
    assert response == bytes([0x7F, 0x31, 0x78])  # negative, RC, responsePending
    bench.advance(3.0)
    assert bench.poll() == [bytes([0x7F, 0x31, 0x10])]  # negative, RC, generalReject
    response = bench.handle(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert response == bytes([0x7E, 0x00])  # positive SID, sub-function echo
    assert active_session(bench) == 0x03
