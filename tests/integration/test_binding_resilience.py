"""The ISO-TP binding over a real virtual bus: response pending (0x78) in order, and a node that
keeps serving when an ECU listener or its NVM fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import can
import isotp
import pytest

from ecusim.ecus.base import DiagnosableEcu
from ecusim.ecus.engine import EngineEcu
from ecusim.tool.contract import client_stack
from protocol.clock import MonotonicClock
from protocol.constants import ResetType
from protocol.isotp_binding import IsoTpAddressing, IsoTpParameters
from protocol.nvm import FileNvm
from protocol.uds.pending import TimedWork
from protocol.uds.routines import Routine
from protocol.uds.server import ServerConfig, UdsServer
from protocol.uds.timing import ServerTiming
from tests.integration.uds_bench import Bench

RECEIVE_TIMEOUT_S = 5.0
SLOW_ROUTINE = 0x0F01
WORK_S = 0.7
REPEAT_S = 0.2


class SlowEcu(DiagnosableEcu):
    """A node with one routine that takes WORK_S of real time."""

    name = "slow"
    system_name = "SLOW"

    def __init__(self) -> None:
        clock = MonotonicClock()
        self.addressing = IsoTpAddressing(0x7E1, 0x7E9)
        self.isotp_parameters = IsoTpParameters()
        self.server = UdsServer(
            config=ServerConfig(timing=ServerTiming(pending_repeat_s=REPEAT_S)),
            routines=[
                Routine(
                    SLOW_ROUTINE,
                    "slow",
                    start=lambda option: TimedWork(clock.now() + WORK_S, lambda: b"\x00"),
                )
            ],
        )


@pytest.fixture
def raw_client(channel: str) -> Iterator[isotp.NotifierBasedCanStack]:
    """A bare can-isotp client (0x7E0 → 0x7E8) that shows every response, 0x78s included."""
    bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(bus, [], timeout=0.05)
    stack = client_stack(bus, notifier, IsoTpAddressing(request_id=0x7E0, response_id=0x7E8))
    stack.start()
    yield stack
    stack.stop()
    notifier.stop()
    bus.shutdown()


def _exchange(stack: isotp.NotifierBasedCanStack, request: bytes) -> bytes:
    stack.send(request)
    response = stack.recv(block=True, timeout=RECEIVE_TIMEOUT_S)
    assert response is not None, f"no response to {request.hex()}"
    return bytes(response)


def test_response_pending_goes_out_first_repeats_then_the_final_answer(
    bench: Bench, channel: str
) -> None:
    bench.serve(SlowEcu())
    bus = can.Bus(interface="virtual", channel=channel)
    notifier = can.Notifier(bus, [], timeout=0.05)
    stack = client_stack(bus, notifier, IsoTpAddressing(request_id=0x7E1, response_id=0x7E9))
    stack.start()
    try:
        # DiagnosticSessionControl extendedDiagnosticSession → 50 03 + P2/P2*
        assert _exchange(stack, bytes([0x10, 0x03]))[:2] == bytes([0x50, 0x03])
        stack.send(bytes([0x31, 0x01, 0x0F, 0x01]))  # RoutineControl, startRoutine, RID 0F01
        responses: list[bytes] = []
        while not responses or responses[-1][0] != 0x71:
            response = stack.recv(block=True, timeout=RECEIVE_TIMEOUT_S)
            assert response is not None, f"stalled after {[r.hex() for r in responses]}"
            responses.append(bytes(response))
    finally:
        stack.stop()
        notifier.stop()
        bus.shutdown()
    pending = bytes([0x7F, 0x31, 0x78])  # negative response, RoutineControl, responsePending
    assert responses[0] == pending  # first: the 0x78, at once
    assert responses[-1] == bytes([0x71, 0x01, 0x0F, 0x01, 0x00])  # final: routine started, 00
    assert all(r == pending for r in responses[:-1])
    assert len(responses) - 1 >= 2  # repeated while the 0.7 s of work runs (every 0.2 s)


def test_node_keeps_serving_when_a_reset_listener_fails(
    bench: Bench, raw_client: isotp.NotifierBasedCanStack
) -> None:
    ecu = EngineEcu()

    def broken_listener(reset_type: ResetType) -> None:
        raise RuntimeError("ECU bug")

    ecu.server.reset_listeners.append(broken_listener)
    bench.serve(ecu)
    assert _exchange(raw_client, bytes([0x11, 0x01])) == bytes([0x51, 0x01])  # ECUReset hard
    assert _exchange(raw_client, bytes([0x3E, 0x00])) == bytes([0x7E, 0x00])  # TesterPresent


def test_node_keeps_serving_and_fails_safe_when_its_nvm_breaks(
    bench: Bench, raw_client: isotp.NotifierBasedCanStack, tmp_path: Path
) -> None:
    path = tmp_path / "engine.json"
    ecu = EngineEcu(nvm=FileNvm(path, kind="engine"))
    FileNvm(path, kind="engine").save({"security": {"failed_attempts": 0}})
    bench.serve(ecu)
    path.write_text("corrupted while running", encoding="utf-8")
    assert _exchange(raw_client, bytes([0x11, 0x01])) == bytes([0x51, 0x01])  # ECUReset hard
    assert _exchange(raw_client, bytes([0x3E, 0x00])) == bytes([0x7E, 0x00])  # TesterPresent
    # extendedDiagnosticSession, then requestSeed level 1: the unreadable counter fails safe
    assert _exchange(raw_client, bytes([0x10, 0x03]))[:2] == bytes([0x50, 0x03])
    assert _exchange(raw_client, bytes([0x27, 0x01])) == bytes([0x7F, 0x27, 0x37])  # delay
