"""Fault injection and the request record (protocol.uds.faults) on a real binding.

The rules and the record are tested as values first; then a :class:`UdsServer` is served by a
:class:`UdsIsoTpBinding` with a :class:`FaultInjector` on a python-can ``virtual`` bus, and a
tester sends raw single frames and reads the node's frames byte by byte (normal addressing
0x7E0 → 0x7E8, padding 0xCC).
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import can
import pytest

from protocol.clock import MonotonicClock
from protocol.constants import Addressing
from protocol.errors import ConfigurationError
from protocol.isotp_binding import (
    IsoTpAddressing,
    RequestExchange,
    RequestInterceptor,
    UdsIsoTpBinding,
)
from protocol.uds.faults import (
    MAX_DELAY_S,
    Delay,
    Drop,
    ExtraPending,
    FaultInjector,
    FaultPlan,
    FaultRule,
    ForceNrc,
    RecordedRequest,
    RequestLog,
)
from protocol.uds.pending import TimedWork
from protocol.uds.routines import Routine
from protocol.uds.server import UdsServer

REQUEST_ID = 0x7E0
RESPONSE_ID = 0x7E8
PAD = 0xCC
SLOW_ROUTINE = 0x0F01
WORK_S = 0.05
"""Real time the slow routine works after its 0x78."""
FRAME_TIMEOUT_S = 2.0
"""How long a test waits for a frame that must come."""
SILENCE_S = 0.3
"""How long a test listens to be sure no frame comes."""


# -- rules as values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda p: p.force_nrc(0x100, sid=0x27), "NRC", id="nrc-above-a-byte"),
        pytest.param(lambda p: p.force_nrc(-1), "NRC", id="nrc-negative"),
        pytest.param(lambda p: p.force_nrc(0x00), "NRC", id="nrc-positive-response"),
        pytest.param(lambda p: p.drop(sid=0x100), "sid", id="sid-above-a-byte"),
        pytest.param(lambda p: p.drop(sid=0x7F), "response SID", id="sid-negative-response"),
        pytest.param(lambda p: p.drop(sid=0x50), "response SID", id="sid-positive-response"),
        pytest.param(lambda p: p.drop(sid=0x10, sub_function=0x83), "sub_function", id="sub-bit"),
        pytest.param(lambda p: p.drop(data=b""), "data", id="data-empty"),
        pytest.param(lambda p: p.drop(ecu=""), "ecu", id="ecu-empty"),
        pytest.param(lambda p: p.drop(times=0), "times", id="times-zero"),
        pytest.param(lambda p: p.drop(times=-2), "times", id="times-negative"),
        pytest.param(lambda p: p.drop(times=True), "times", id="times-bool"),
        pytest.param(lambda p: p.delay(-0.1), "delay", id="delay-negative"),
        pytest.param(lambda p: p.delay(math.nan), "delay", id="delay-nan"),
        pytest.param(lambda p: p.delay(math.inf), "delay", id="delay-infinite"),
        pytest.param(lambda p: p.delay(MAX_DELAY_S + 1), "delay", id="delay-unbounded"),
        pytest.param(lambda p: p.extra_pending(0), "count", id="pending-zero"),
        pytest.param(lambda p: p.extra_pending(101), "count", id="pending-too-many"),
        pytest.param(lambda p: p.extra_pending(2, interval_s=-1), "interval_s", id="interval-neg"),
        pytest.param(lambda p: p.extra_pending(100, interval_s=1.0), "exceeds", id="pending-long"),
    ],
)
def test_invalid_rules_are_refused_with_the_reason(build: Any, message: str) -> None:
    plan = FaultPlan()
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        build(plan)
    assert plan.rules() == ()


def test_a_refused_rule_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        FaultPlan().force_nrc(0x1FF)


def test_rules_match_sid_sub_function_data_and_ecu() -> None:
    reset = FaultRule(Drop(), sid=0x31, data=bytes([0x01, 0x02, 0x01]), ecu="immobilizer")
    start_routine = bytes([0x31, 0x01, 0x02, 0x01])  # RoutineControl, start, RID 0x0201
    results = bytes([0x31, 0x03, 0x02, 0x01])  # RoutineControl, results, RID 0x0201
    assert reset.matches("immobilizer", start_routine)
    assert not reset.matches("engine", start_routine)  # another node
    assert not reset.matches("immobilizer", results)  # other data bytes
    assert not reset.matches("immobilizer", bytes([0x31]))  # too short for the data
    assert not reset.matches("immobilizer", b"")  # not a request

    tester_present = FaultRule(Drop(), sid=0x3E, sub_function=0x00)
    assert tester_present.matches("any", bytes([0x3E, 0x00]))  # TesterPresent
    assert tester_present.matches("any", bytes([0x3E, 0x80]))  # suppress bit ignored
    assert not tester_present.matches("any", bytes([0x3E, 0x01]))  # another sub-function
    assert not tester_present.matches("any", bytes([0x3E]))  # no sub-function at all

    anything = FaultRule(Delay(0.0))
    assert anything.matches("engine", bytes([0x22, 0xF1, 0x90]))


def test_the_first_rule_in_force_wins_and_spent_rules_go() -> None:
    plan = FaultPlan()
    once = plan.force_nrc(0x22, sid=0x27, times=1)
    twice = plan.force_nrc(0x33, sid=0x27, times=2)
    always = plan.drop(sid=0x27)
    request = bytes([0x27, 0x01])  # SecurityAccess requestSeed 0x01

    assert plan.rules() == (once, twice, always)
    assert [plan.take("ecu", request) for _ in range(4)] == [once, twice, twice, always]
    assert plan.rules() == (always,)
    assert plan.take("ecu", bytes([0x10, 0x03])) is None  # no rule for DiagnosticSessionControl
    assert plan.remove(always) is True
    assert plan.remove(always) is False
    assert len(plan) == 0


def test_clear_withdraws_every_rule() -> None:
    plan = FaultPlan()
    plan.delay(0.5, sid=0x22)
    plan.extra_pending(3, sid=0x31)
    plan.clear()
    assert plan.rules() == ()
    assert plan.take("ecu", bytes([0x22, 0xF1, 0x90])) is None


def test_rules_describe_themselves() -> None:
    assert Delay(0.5).describe() == "delay 0.5 s"
    assert Drop().describe() == "drop response"
    assert ForceNrc(0x22).describe() == "force NRC 0x22"
    assert ExtraPending(3).describe() == "3 extra 0x78"
    rule = FaultRule(ForceNrc(0x31), sid=0x22, data=bytes([0xF1, 0x90]), ecu="engine", times=2)
    assert rule.describe() == "force NRC 0x31 for SID 0x22 data F1 90 on engine (2 times)"


def test_rules_are_shared_safely_between_threads() -> None:
    plan = FaultPlan()
    plan.drop(sid=0x3E, times=500)
    taken: list[FaultRule | None] = []
    lock = threading.Lock()

    def take_many() -> None:
        for _ in range(200):
            rule = plan.take("ecu", bytes([0x3E, 0x00]))
            with lock:
                taken.append(rule)

    threads = [threading.Thread(target=take_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(rule is not None for rule in taken) == 500  # exactly its uses, no more
    assert plan.rules() == ()


# -- the record as a value ---------------------------------------------------------------------


def test_the_log_keeps_requests_in_order_with_their_final_response() -> None:
    log = RequestLog()
    first = log.begin("immobilizer", 1.0, Addressing.PHYSICAL, bytes([0x31, 0x01, 0x02, 0x01]))
    second = log.begin("engine", 1.5, Addressing.FUNCTIONAL, bytes([0x3E, 0x80]), "drop response")
    log.responded(first, bytes([0x7F, 0x31, 0x78]))  # response pending: not final
    assert log.all()[0].response is None
    log.responded(first, bytes([0x71, 0x01, 0x02, 0x01, 0x00]))  # the final response
    log.responded(first, bytes([0x7F, 0x31, 0x78]))  # a stray 0x78 does not undo it

    reset, tester_present = log.all()
    assert reset == RecordedRequest(
        ecu="immobilizer",
        time=1.0,
        addressing=Addressing.PHYSICAL,
        request=bytes([0x31, 0x01, 0x02, 0x01]),
        response=bytes([0x71, 0x01, 0x02, 0x01, 0x00]),
        fault=None,
        responses=(
            bytes([0x7F, 0x31, 0x78]),
            bytes([0x71, 0x01, 0x02, 0x01, 0x00]),
            bytes([0x7F, 0x31, 0x78]),
        ),
    )
    assert (reset.sid, reset.nrc) == (0x31, None)
    assert tester_present.fault == "drop response"
    assert tester_present.response is None
    assert log.sids() == [0x31, 0x3E]
    assert log.sids("engine") == [0x3E]
    assert log.for_ecu("immobilizer") == (reset,)
    assert log.last() == tester_present
    assert list(log) == [reset, tester_present]
    assert len(log) == 2
    assert reset.describe() == "immobilizer physical 31 01 02 01 -> 71 01 02 01 00"
    assert tester_present.describe() == "engine functional 3E 80 -> - [drop response]"
    log.clear()
    assert len(log) == 0
    assert log.last() is None
    log.responded(second, bytes([0x7E, 0x00]))  # for a cleared record: ignored
    assert log.all() == ()


def test_a_negative_final_response_has_its_nrc() -> None:
    log = RequestLog()
    ticket = log.begin("engine", 0.0, Addressing.PHYSICAL, bytes([0x27, 0x01]))
    log.responded(ticket, bytes([0x7F, 0x27, 0x7F]))  # serviceNotSupportedInActiveSession
    assert log.all()[0].nrc == 0x7F


def test_the_log_forgets_the_oldest_records_beyond_its_size() -> None:
    log = RequestLog(max_records=2)
    tickets = [log.begin("ecu", float(i), Addressing.PHYSICAL, bytes([0x3E, i])) for i in range(3)]
    log.responded(tickets[0], bytes([0x7E, 0x00]))  # forgotten: ignored
    log.responded(tickets[2], bytes([0x7E, 0x02]))
    assert [record.request[1] for record in log.all()] == [1, 2]
    assert [record.response for record in log.all()] == [None, bytes([0x7E, 0x02])]
    with pytest.raises(ConfigurationError, match="max_records"):
        RequestLog(max_records=0)


def test_wait_for_returns_a_record_already_there_or_one_to_come() -> None:
    log = RequestLog()
    log.begin("engine", 0.0, Addressing.PHYSICAL, bytes([0x10, 0x03]))
    assert log.wait_for(lambda r: r.sid == 0x10, timeout=0).request == bytes([0x10, 0x03])

    def later() -> None:
        ticket = log.begin("engine", 0.1, Addressing.PHYSICAL, bytes([0x3E, 0x00]))
        log.responded(ticket, bytes([0x7E, 0x00]))

    timer = threading.Timer(0.05, later)
    timer.start()
    try:
        record = log.wait_for(lambda r: r.response == bytes([0x7E, 0x00]), timeout=FRAME_TIMEOUT_S)
    finally:
        timer.join()
    assert record.sid == 0x3E


def test_wait_for_gives_up_after_its_timeout_naming_what_it_saw() -> None:
    log = RequestLog()
    log.begin("engine", 0.0, Addressing.PHYSICAL, bytes([0x10, 0x03]))
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"within 0\.05 s.*engine physical 10 03"):
        log.wait_for(lambda r: r.sid == 0x31, timeout=0.05)
    assert time.monotonic() - started < 1.0
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ConfigurationError, match="timeout"):
            log.wait_for(lambda r: True, timeout=bad)


def test_the_injector_is_a_request_interceptor() -> None:
    assert isinstance(FaultInjector(FaultPlan(), RequestLog()), RequestInterceptor)


# -- on a real binding -------------------------------------------------------------------------


@dataclass
class Node:
    """A UdsServer served on a virtual channel through a FaultInjector, and a raw tester."""

    server: UdsServer
    binding: UdsIsoTpBinding
    plan: FaultPlan
    log: RequestLog
    tester: can.BusABC
    routine_runs: list[float]

    def send(self, payload: bytes) -> None:
        """One single frame: PCI (length), the payload, padding."""
        data = bytes([len(payload)]) + payload
        self.tester.send(
            can.Message(
                arbitration_id=REQUEST_ID,
                data=data.ljust(8, bytes([PAD])),
                is_extended_id=False,
            )
        )

    def frame(self, timeout: float = FRAME_TIMEOUT_S) -> bytes | None:
        """The node's next frame (``None``: none within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.tester.recv(timeout=left)
            if message is not None and message.arbitration_id == RESPONSE_ID:
                return bytes(message.data)
        return None

    def answered(self, sid: int) -> RecordedRequest:
        """The first record of a ``sid`` request, once its final response is recorded."""
        return self.log.wait_for(
            lambda r: r.sid == sid and r.response is not None, timeout=FRAME_TIMEOUT_S
        )


@pytest.fixture
def node(request: pytest.FixtureRequest) -> Iterator[Node]:
    readable = re.sub(r"[^A-Za-z0-9]+", "-", request.node.nodeid)[-50:]
    channel = f"faults-{readable}-{uuid.uuid4().hex[:8]}"
    clock = MonotonicClock()
    runs: list[float] = []

    def start_slow(option: bytes) -> TimedWork:
        runs.append(clock.now())
        return TimedWork(clock.now() + WORK_S, lambda: bytes([0x00]))

    server = UdsServer(routines=[Routine(SLOW_ROUTINE, "slow", start=start_slow)])
    bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(bus, [], timeout=0.05)
    plan, log = FaultPlan(), RequestLog()
    binding = UdsIsoTpBinding(
        server,
        bus,
        notifier,
        IsoTpAddressing(REQUEST_ID, RESPONSE_ID),
        clock=clock,
        name="engine",
        interceptor=FaultInjector(plan, log),
    )
    tester = can.Bus(interface="virtual", channel=channel)
    binding.start()
    try:
        yield Node(server, binding, plan, log, tester, runs)
    finally:
        binding.stop()
        notifier.stop()
        bus.shutdown()
        tester.shutdown()


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (set by the node's threads) for at most FRAME_TIMEOUT_S real seconds."""
    deadline = time.monotonic() + FRAME_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {FRAME_TIMEOUT_S} s"
        time.sleep(0.005)


def enter_extended(node: Node) -> None:
    node.send(bytes([0x10, 0x03]))  # DiagnosticSessionControl, extendedDiagnosticSession
    assert node.frame() == bytes(
        [
            0x06,  # PCI: single frame, 6 bytes
            0x50,  # DiagnosticSessionControl positive response
            0x03,  # extendedDiagnosticSession
            0x00, 0x32,  # P2server 50 ms
            0x01, 0xF4,  # P2*server 500 x 10 ms
            PAD,  # padding
        ]
    )  # fmt: skip


def test_without_a_rule_the_server_answers_and_the_request_is_recorded(node: Node) -> None:
    node.send(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert node.frame() == bytes(
        [
            0x02,  # PCI: single frame, 2 bytes
            0x7E,  # TesterPresent positive response
            0x00,  # zeroSubFunction
            PAD, PAD, PAD, PAD, PAD,  # padding
        ]
    )  # fmt: skip
    record = node.answered(0x3E)
    assert (record.ecu, record.addressing, record.fault) == ("engine", Addressing.PHYSICAL, None)
    assert record.request == bytes([0x3E, 0x00])
    assert record.response == bytes([0x7E, 0x00])
    assert record.time <= MonotonicClock().now()


def test_a_forced_nrc_answers_without_the_server_seeing_the_request(node: Node) -> None:
    node.plan.force_nrc(0x22, sid=0x10, times=1)
    node.send(bytes([0x10, 0x03]))  # DiagnosticSessionControl, extendedDiagnosticSession
    assert node.frame() == bytes(
        [
            0x03,  # PCI: single frame, 3 bytes
            0x7F,  # negative response
            0x10,  # DiagnosticSessionControl
            0x22,  # NRC conditionsNotCorrect, as forced
            PAD, PAD, PAD, PAD,  # padding
        ]
    )  # fmt: skip
    assert node.server.session == 0x01  # still the default session
    record = node.answered(0x10)
    assert (record.fault, record.nrc) == ("force NRC 0x22", 0x22)
    enter_extended(node)  # the rule is spent: the server answers again


def test_a_dropped_response_is_processed_but_never_sent(node: Node) -> None:
    node.plan.drop(sid=0x10, sub_function=0x03, times=1)
    node.send(bytes([0x10, 0x03]))  # DiagnosticSessionControl, extendedDiagnosticSession
    assert node.frame(timeout=SILENCE_S) is None
    record = node.log.wait_for(lambda r: r.sid == 0x10, timeout=FRAME_TIMEOUT_S)
    assert (record.fault, record.response, record.responses) == ("drop response", None, ())
    node.send(bytes([0x3E, 0x00]))  # TesterPresent: no rule for it
    assert node.frame() == bytes([0x02, 0x7E, 0x00, PAD, PAD, PAD, PAD, PAD])
    # Checked once the next request is answered: the node handles requests one after another,
    # while the record above exists as soon as the request arrives, before it is processed.
    assert node.server.session == 0x03  # processed: the session changed


def test_extra_pending_precedes_the_answer_and_lifts_suppression(node: Node) -> None:
    node.send(bytes([0x3E, 0x80]))  # TesterPresent, suppressPosRspMsgIndicationBit
    assert node.frame(timeout=SILENCE_S) is None  # suppressed, as asked

    node.plan.extra_pending(2, sid=0x3E, interval_s=0.01)
    node.send(bytes([0x3E, 0x80]))  # the same request again
    pending = bytes(
        [
            0x03,  # PCI: single frame, 3 bytes
            0x7F,  # negative response
            0x3E,  # TesterPresent
            0x78,  # NRC requestCorrectlyReceived-ResponsePending
            PAD, PAD, PAD, PAD,  # padding
        ]
    )  # fmt: skip
    assert node.frame() == pending
    assert node.frame() == pending
    # ISO 14229-1 §7.5: after a 0x78 the final response is sent, suppress bit or not.
    assert node.frame() == bytes(
        [
            0x02,  # PCI: single frame, 2 bytes
            0x7E,  # TesterPresent positive response
            0x00,  # zeroSubFunction (the suppress bit is not echoed)
            PAD, PAD, PAD, PAD, PAD,  # padding
        ]
    )  # fmt: skip
    record = node.answered(0x3E)
    assert record.request == bytes([0x3E, 0x80])
    assert record.fault == "2 extra 0x78"
    assert record.responses == (
        bytes([0x7F, 0x3E, 0x78]),
        bytes([0x7F, 0x3E, 0x78]),
        bytes([0x7E, 0x00]),
    )


def test_extra_pending_before_a_negative_answer(node: Node) -> None:
    node.plan.extra_pending(1, sid=0x27)
    node.send(bytes([0x27, 0x01]))  # SecurityAccess requestSeed: this node has no levels
    assert node.frame() == bytes([0x03, 0x7F, 0x27, 0x78, PAD, PAD, PAD, PAD])  # pending
    assert node.frame() == bytes(
        [
            0x03,  # PCI: single frame, 3 bytes
            0x7F,  # negative response
            0x27,  # SecurityAccess
            0x11,  # NRC serviceNotSupported: the server's own answer
            PAD, PAD, PAD, PAD,  # padding
        ]
    )  # fmt: skip


def test_a_delayed_response_comes_late_and_a_spent_rule_no_more(node: Node) -> None:
    delay_s = 0.3
    node.plan.delay(delay_s, sid=0x3E, times=1)
    started = time.monotonic()
    node.send(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert node.frame() == bytes([0x02, 0x7E, 0x00, PAD, PAD, PAD, PAD, PAD])
    assert time.monotonic() - started >= delay_s
    assert node.answered(0x3E).fault == "delay 0.3 s"
    node.log.clear()
    node.send(bytes([0x3E, 0x00]))  # again: the rule is spent
    assert node.frame() == bytes([0x02, 0x7E, 0x00, PAD, PAD, PAD, PAD, PAD])
    assert node.answered(0x3E).fault is None


def test_a_delayed_0x78_still_precedes_its_final_response(node: Node) -> None:
    """The routine is done WORK_S after it starts, long before the delayed 0x78 goes out: the
    final response must still follow the 0x78 (the binding's I/O lock)."""
    enter_extended(node)
    delay_s = 0.3
    node.plan.delay(delay_s, sid=0x31)
    started = time.monotonic()
    node.send(bytes([0x31, 0x01, 0x0F, 0x01]))  # RoutineControl, startRoutine, RID 0x0F01
    assert node.frame() == bytes(
        [
            0x03,  # PCI: single frame, 3 bytes
            0x7F,  # negative response
            0x31,  # RoutineControl
            0x78,  # NRC requestCorrectlyReceived-ResponsePending
            PAD, PAD, PAD, PAD,  # padding
        ]
    )  # fmt: skip
    assert time.monotonic() - started >= delay_s
    assert node.frame() == bytes(
        [
            0x05,  # PCI: single frame, 5 bytes
            0x71,  # RoutineControl positive response
            0x01,  # startRoutine
            0x0F, 0x01,  # RID 0x0F01
            0x00,  # routine status: done
            PAD, PAD,  # padding
        ]
    )  # fmt: skip
    record = node.answered(0x31)
    assert record.response == bytes([0x71, 0x01, 0x0F, 0x01, 0x00])
    assert record.responses[0] == bytes([0x7F, 0x31, 0x78])


def test_a_dropped_request_with_pending_work_sends_neither_0x78_nor_final(node: Node) -> None:
    enter_extended(node)
    node.plan.drop(sid=0x31, data=bytes([0x01, 0x0F, 0x01]), times=1)
    node.send(bytes([0x31, 0x01, 0x0F, 0x01]))  # RoutineControl, startRoutine, RID 0x0F01
    # The server's lock covers the whole request: a routine seen running is busy until it ends.
    _wait_until(lambda: bool(node.routine_runs) and not node.server.is_busy, "routine done")
    assert len(node.routine_runs) == 1  # the routine ran all the same, and finished
    assert node.frame(timeout=SILENCE_S) is None  # neither its 0x78 nor its final response
    node.send(bytes([0x3E, 0x00]))  # TesterPresent: the node serves on
    assert node.frame() == bytes([0x02, 0x7E, 0x00, PAD, PAD, PAD, PAD, PAD])


def test_rules_for_another_node_leave_this_one_alone(node: Node) -> None:
    node.plan.force_nrc(0x10, ecu="immobilizer")
    node.send(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    assert node.frame() == bytes([0x02, 0x7E, 0x00, PAD, PAD, PAD, PAD, PAD])
    assert len(node.plan) == 1


def test_stop_ends_a_long_delay_at_once_and_nothing_is_sent(node: Node) -> None:
    node.plan.delay(MAX_DELAY_S, sid=0x3E)
    node.send(bytes([0x3E, 0x00]))  # TesterPresent, zeroSubFunction
    node.log.wait_for(lambda r: r.sid == 0x3E, timeout=FRAME_TIMEOUT_S)  # the delay runs
    started = time.monotonic()
    node.binding.stop()
    assert time.monotonic() - started < 1.0
    assert node.frame(timeout=SILENCE_S) is None


def test_an_empty_payload_is_not_recorded(node: Node) -> None:
    exchange = RequestExchange(node.binding, b"", Addressing.PHYSICAL, 0.0)
    assert FaultInjector(node.plan, node.log).on_request(exchange) is None
    assert len(node.log) == 0


@pytest.mark.parametrize("seconds", [-1.0, math.nan, math.inf])
def test_an_exchange_refuses_an_endless_or_negative_wait(node: Node, seconds: float) -> None:
    exchange = RequestExchange(node.binding, bytes([0x3E, 0x00]), Addressing.PHYSICAL, 0.0)
    with pytest.raises(ValueError, match="wait"):
        exchange.wait(seconds)
