"""An abandoned ISO-TP transfer (design guide pitfall): scapy's ISO-TP scanner sends a bare First
Frame, waits for the Flow Control and never sends the Consecutive Frames. The node must give the
reception up after N_Cr and keep serving, and must serve a new request even before that.

(Response pending 0x78 is not reachable on the engine, which has no slow routine: the unit tests
of the server core cover it.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import isotp
import pytest

from ecusim.ecus.engine import DEFAULT_VIN, EngineConfig, EngineEcu
from protocol.isotp_binding import IsoTpParameters
from tests.integration.uds_bench import (
    DID_ACTIVE_SESSION,
    DID_SERIAL_NUMBER,
    DID_VIN,
    ENGINE_SERIAL,
    Bench,
    ClientFactory,
    ScanTool,
)

REQUEST_ID = 0x7E0
RESPONSE_ID = 0x7E8
PAD = 0xCC
N_CR_S = 0.2
TIMEOUT_WAIT_S = 3.0
"""Upper bound on waiting for the node to report its N_Cr timeout (expected after 0.2 s)."""

ABANDONED_FIRST_FRAME = bytes(
    [
        0x10,  # PCI: First Frame, FF_DL high nibble 0
        0x14,  # FF_DL low byte: 20 bytes announced
        0x22,  # ReadDataByIdentifier
        0xF1,  # DID F190 high byte
        0x90,  # DID F190 low byte (VIN)
        0xF1,  # DID F18C high byte
        0x8C,  # DID F18C low byte (serial number)
        0xF1,  # next DID high byte; the rest never comes
    ]
)

FLOW_CONTROL_CONTINUE = bytes(
    [
        0x30,  # PCI: Flow Control, FS = ContinueToSend
        0x00,  # BS = 0: send everything without further flow control
        0x00,  # STmin = 0 ms
        PAD,  # padding
        PAD,  # padding
        PAD,  # padding
        PAD,  # padding
        PAD,  # padding
    ]
)


class _IsoTpErrorWatcher(logging.Handler):
    """Sets an event when the binding logs a can-isotp error of the watched type (the binding
    logs every can-isotp error it is told about through its ``error_handler``).

    ``seen_at``: the log record's own wall-clock time (``time.time()`` in the node's thread), to
    compare with the Flow Control's bus timestamp: both are taken by the node, so a test thread
    scheduled late on a loaded machine does not shorten or lengthen the measured N_Cr."""

    def __init__(self, error_type: type[Exception]) -> None:
        super().__init__(level=logging.DEBUG)
        self.error_type = error_type
        self.seen = threading.Event()
        self.seen_at: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if any(isinstance(arg, self.error_type) for arg in args) and not self.seen.is_set():
            self.seen_at = record.created
            self.seen.set()


@pytest.fixture
def n_cr_timeouts() -> Iterator[_IsoTpErrorWatcher]:
    logger = logging.getLogger("protocol.isotp_binding")
    watcher = _IsoTpErrorWatcher(isotp.errors.ConsecutiveFrameTimeoutError)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(watcher)
    yield watcher
    logger.removeHandler(watcher)
    logger.setLevel(old_level)


@pytest.fixture
def fast_engine(bench: Bench) -> EngineEcu:
    ecu = EngineEcu(EngineConfig(isotp=IsoTpParameters(n_cr_s=N_CR_S)))
    bench.serve(ecu)
    return ecu


def _abandon_a_transfer(tester: ScanTool) -> float:
    """Send the bare First Frame, check the Flow Control, return when the node sent it (the
    virtual bus stamps each frame with ``time.time()`` as it is sent)."""
    tester.send(REQUEST_ID, ABANDONED_FIRST_FRAME)
    frame = tester.next_frame(RESPONSE_ID)
    assert frame is not None, "no Flow Control for the First Frame"
    assert bytes(frame.data) == FLOW_CONTROL_CONTINUE
    return float(frame.timestamp)


def test_node_serves_after_the_n_cr_timeout(
    fast_engine: EngineEcu,
    tester: ScanTool,
    uds_client: ClientFactory,
    n_cr_timeouts: _IsoTpErrorWatcher,
) -> None:
    flow_control_at = _abandon_a_transfer(tester)

    assert n_cr_timeouts.seen.wait(TIMEOUT_WAIT_S), "the node never gave the transfer up"
    assert n_cr_timeouts.seen_at is not None
    waited = n_cr_timeouts.seen_at - flow_control_at
    assert N_CR_S * 0.75 <= waited < 1.0  # the configured N_Cr, not can-isotp's 1 s default

    client = uds_client()
    assert client.read_data_by_identifier_first(DID_VIN) == DEFAULT_VIN
    # A multi-frame request (11 bytes) is reassembled normally again.
    response = client.read_data_by_identifier(
        [DID_VIN, DID_SERIAL_NUMBER, DID_ACTIVE_SESSION, DID_VIN, DID_SERIAL_NUMBER]
    )
    assert response is not None
    assert response.service_data.values[DID_SERIAL_NUMBER] == ENGINE_SERIAL
    # Only the two answers above (two First Frames) and one Flow Control for the 11-byte
    # request: nothing late for the abandoned one.
    pci_types = [f.data[0] >> 4 for f in tester.drain() if f.arbitration_id == RESPONSE_ID]
    assert pci_types.count(0x1) == 2
    assert pci_types.count(0x3) == 1


def test_a_new_single_frame_request_interrupts_the_abandoned_transfer(
    fast_engine: EngineEcu, tester: ScanTool, uds_client: ClientFactory
) -> None:
    _abandon_a_transfer(tester)
    client = uds_client()

    # ISO 15765-2: a new Single Frame during reception aborts it and is processed.
    assert client.tester_present() is not None


def test_a_new_first_frame_interrupts_the_abandoned_transfer(
    fast_engine: EngineEcu, tester: ScanTool, uds_client: ClientFactory
) -> None:
    _abandon_a_transfer(tester)
    client = uds_client()

    # ISO 15765-2: a new First Frame during reception aborts it and starts a new reception.
    response = client.read_data_by_identifier([DID_VIN, DID_SERIAL_NUMBER, DID_VIN, DID_VIN])
    assert response is not None
    assert response.service_data.values[DID_VIN] == DEFAULT_VIN


def test_default_n_cr_is_one_second(engine_node: EngineEcu) -> None:
    """diagnostic-contract.md §1: N_Cr = 1.0 s unless configured."""
    assert engine_node.isotp_parameters.n_cr_s == 1.0
    assert engine_node.isotp_parameters.to_isotp()["rx_consecutive_frame_timeout"] == 1000
