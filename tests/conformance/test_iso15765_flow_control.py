"""ISO 15765-2 conformance, flow control received by the node as a sender (issue 15, 1 and 3).

Every node is driven from outside: the tester is a python-can bus object of its own on the
car's virtual channel, sending and reading raw CAN frames (no project code on its side). The
request is ReadDataByIdentifier VIN (0x22 0xF190); the 20-byte response (``62 F1 90`` + 17 VIN
characters) needs a First Frame and consecutive frames, so the tester's flow control decides
how it goes on:

- FlowStatus WAIT (ISO 15765-2 §9.6.5, §9.7): each WAIT restarts the sender's N_Bs timer,
  up to N_WFTmax WAITs in a row; one more and the sender aborts (N_Result N_WFT_OVRN).
- a reserved STmin (0x80-0xF0, 0xFA-0xFF, §9.6.5.4, Table 20): the sender uses 0x7F (127 ms).

N_Bs and STmin are real-time timers of the transport layer (the car's time scale does not
apply to them), so the waits here are real seconds, a few in all.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import can
import pytest

from ecusim.car.vehicle import Vehicle
from protocol.isotp_binding import IsoTpParameters

VIN = "JTHBL5EF0C5000001"
READ_VIN = bytes([0x03, 0x22, 0xF1, 0x90])
"""Single Frame: PCI 0x03 (SF, 3 bytes), 0x22 ReadDataByIdentifier, DID 0xF190 (VIN)."""
VIN_RESPONSE = bytes([0x62, 0xF1, 0x90]) + VIN.encode("ascii")
"""0x62 positive response to 0x22, DID 0xF190, then the 17 VIN characters: 20 bytes."""
CONTINUE = bytes([0x30, 0x00, 0x00])
"""Flow control: 0x30 FS=0 ContinueToSend, BS 0x00 (no further FC), STmin 0x00."""
WAIT = bytes([0x31, 0x00, 0x00])
"""Flow control: 0x31 FS=1 WAIT, BS and STmin ignored by the sender."""
CONTINUE_RESERVED_STMIN = bytes([0x30, 0x00, 0xFA])
"""Flow control: 0x30 ContinueToSend, BS 0x00, STmin 0xFA (reserved → 0x7F = 127 ms)."""
TESTER_PAD = 0xCC
FRAME_TIMEOUT_S = 2.0
"""Longest wait for one frame the node must send (generous; never a timing assertion)."""
SILENCE_S = 0.5
"""How long the tester listens to be sure no consecutive frame follows an aborted transfer."""


@dataclass(frozen=True)
class Node:
    """A node's physical CAN IDs and its ISO 15765-2 extended address byte (N_TA), if any."""

    request_id: int
    response_id: int
    extended_address: int | None

    @property
    def prefix(self) -> bytes:
        return b"" if self.extended_address is None else bytes([self.extended_address])


ENGINE = Node(request_id=0x7E0, response_id=0x7E8, extended_address=None)
"""The engine ECU: normal addressing (diagnostic-contract.md §1)."""
TRANSPONDER = Node(request_id=0x750, response_id=0x758, extended_address=0x57)
"""The transponder key ECU: extended addressing, address byte 0x57 first in every frame."""
NODES = [pytest.param(ENGINE, id="engine-normal"), pytest.param(TRANSPONDER, id="key-extended")]


class RawTester:
    """The tester: a python-can bus of its own, raw frames on the node's IDs."""

    def __init__(self, bus: can.BusABC, node: Node) -> None:
        self.bus = bus
        self.node = node

    def send(self, pdu: bytes) -> None:
        """Send one N_PDU (PCI and data), after the address byte, padded to 8 bytes."""
        data = (self.node.prefix + pdu).ljust(8, bytes([TESTER_PAD]))
        self.bus.send(can.Message(arbitration_id=self.node.request_id, data=data,
                                  is_extended_id=False))  # fmt: skip

    def receive(self, timeout: float = FRAME_TIMEOUT_S) -> can.Message | None:
        """The node's next frame on its response ID (its address byte checked), or ``None``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = self.bus.recv(timeout=left)
            if msg is None or msg.arbitration_id != self.node.response_id:
                continue  # body broadcasts and other nodes
            assert bytes(msg.data[: len(self.node.prefix)]) == self.node.prefix
            return msg
        return None

    def pdu(self, msg: can.Message) -> bytes:
        return bytes(msg.data[len(self.node.prefix) :])

    def first_frame(self) -> bytes:
        """Request the VIN; check the First Frame (FF_DL 20) and return its data bytes."""
        self.send(READ_VIN)
        msg = self.receive()
        assert msg is not None, "no First Frame"
        pdu = self.pdu(msg)
        assert pdu[0] >> 4 == 0x1  # N_PCItype 1: First Frame
        assert ((pdu[0] & 0x0F) << 8) | pdu[1] == len(VIN_RESPONSE)  # FF_DL = 20
        return pdu[2:]

    def consecutive_frames(self, data: bytes) -> tuple[bytes, list[float]]:
        """Read consecutive frames until the response is complete (or one is missing):
        the bytes so far and each CF's timestamp."""
        stamps: list[float] = []
        sequence = 1
        while len(data) < len(VIN_RESPONSE):
            msg = self.receive()
            if msg is None:
                break
            pdu = self.pdu(msg)
            assert pdu[0] == 0x20 | sequence  # N_PCItype 2: CF, SN counting from 1
            data += pdu[1:]
            stamps.append(msg.timestamp)
            sequence = (sequence + 1) & 0x0F
        return data[: len(VIN_RESPONSE)], stamps


@pytest.fixture(params=NODES)
def tester(request: pytest.FixtureRequest) -> Iterator[RawTester]:
    node: Node = request.param
    channel = f"iso15765-fc-{uuid.uuid4().hex}"
    car = Vehicle.from_catalog("LS430", 2004, VIN, seed=1)
    car_bus = can.Bus(interface="virtual", channel=channel)
    tester_bus = can.Bus(interface="virtual", channel=channel)
    try:
        with car.running(car_bus):
            yield RawTester(tester_bus, node)
    finally:
        tester_bus.shutdown()
        car_bus.shutdown()


N_WFT_MAX = IsoTpParameters().n_wft_max
"""The nodes' N_WFTmax (they keep the ISO-TP defaults)."""


def test_four_waits_then_continue_deliver_the_whole_response(tester: RawTester) -> None:
    """4 WAITs 0.4 s apart (1.6 s, longer than N_Bs = 1 s: only a restarted N_Bs survives it),
    then ContinueToSend: all 20 bytes arrive (§9.6.5, §9.7)."""
    assert N_WFT_MAX >= 4
    data = tester.first_frame()
    for _ in range(4):
        time.sleep(0.4)
        tester.send(WAIT)
    tester.send(CONTINUE)
    data, _ = tester.consecutive_frames(data)
    assert data == VIN_RESPONSE


def test_n_wft_max_waits_in_a_row_are_still_accepted(tester: RawTester) -> None:
    """Exactly N_WFTmax WAITs (the limit itself), then ContinueToSend: all 20 bytes arrive."""
    data = tester.first_frame()
    for _ in range(N_WFT_MAX):
        time.sleep(0.02)
        tester.send(WAIT)
    tester.send(CONTINUE)
    data, _ = tester.consecutive_frames(data)
    assert data == VIN_RESPONSE


def test_one_wait_more_than_n_wft_max_aborts_the_transfer(tester: RawTester) -> None:
    """N_WFTmax + 1 WAITs: the node aborts (N_WFT_OVRN): a ContinueToSend then brings no
    consecutive frame, and the next request is answered in full."""
    data = tester.first_frame()
    for _ in range(N_WFT_MAX + 1):
        time.sleep(0.02)
        tester.send(WAIT)
    time.sleep(0.05)
    tester.send(CONTINUE)
    assert tester.receive(timeout=SILENCE_S) is None  # aborted: no CF, ever
    data = tester.first_frame()
    tester.send(CONTINUE)
    data, _ = tester.consecutive_frames(data)
    assert data == VIN_RESPONSE


def test_a_reserved_st_min_is_taken_as_127_ms(tester: RawTester) -> None:
    """STmin 0xFA (reserved): every consecutive frame arrives, at least ~127 ms apart
    (§9.6.5.4; asserted ≥ 100 ms, never an upper bound)."""
    data = tester.first_frame()
    tester.send(CONTINUE_RESERVED_STMIN)
    data, stamps = tester.consecutive_frames(data)
    assert data == VIN_RESPONSE
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert gaps, "a VIN response has at least two consecutive frames"
    assert min(gaps) >= 0.100
