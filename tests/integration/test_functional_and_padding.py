"""Functional addressing (0x7DF), frame padding and CAN-FD on the engine node
(diagnostic-contract.md §1 and §2, ISO 14229-1 §7.5.3, ISO 15765-2)."""

from __future__ import annotations

from collections.abc import Iterator

import can
import pytest

from ecusim.ecus.engine import DEFAULT_VIN, EngineConfig, EngineEcu
from protocol.isotp_binding import IsoTpParameters
from tests.integration.uds_bench import (
    CLIENT_ISOTP_PARAMS,
    DID_VIN,
    EXTENDED_SESSION,
    REQUEST_TIMEOUT_S,
    Bench,
    ClientFactory,
    ScanTool,
)

FUNCTIONAL_ID = 0x7DF
REQUEST_ID = 0x7E0
RESPONSE_ID = 0x7E8
PAD = 0xCC

TESTER_PRESENT_FRAME = bytes(
    [
        0x02,  # PCI: Single Frame, 2 bytes
        0x3E,  # TesterPresent
        0x00,  # zeroSubFunction
        PAD,  # padding
        PAD,  # padding
        PAD,  # padding
        PAD,  # padding
        PAD,  # padding
    ]
)

TESTER_PRESENT_RESPONSE_FRAME = bytes(
    [
        0x02,  # PCI: Single Frame, 2 bytes
        0x7E,  # TesterPresent positive response
        0x00,  # zeroSubFunction
        PAD,  # padding
        PAD,  # padding
        PAD,  # padding
        PAD,  # padding
        PAD,  # padding
    ]
)


def _single_frame(payload: bytes, pad: int = PAD) -> bytes:
    """A classic Single Frame: PCI (0x0L) + payload, padded to 8 bytes."""
    assert len(payload) <= 7
    return bytes([len(payload)]) + payload + bytes([pad]) * (7 - len(payload))


def _next_response(tester: ScanTool) -> bytes:
    frame = tester.next_frame(RESPONSE_ID)
    assert frame is not None, "the node did not answer"
    return bytes(frame.data)


def test_functional_tester_present_is_answered_on_the_physical_response_id(
    engine_node: EngineEcu, tester: ScanTool
) -> None:
    tester.send(FUNCTIONAL_ID, TESTER_PRESENT_FRAME)

    assert _next_response(tester) == TESTER_PRESENT_RESPONSE_FRAME


def test_functional_tester_present_with_suppress_bit_is_not_answered(
    engine_node: EngineEcu, tester: ScanTool
) -> None:
    tester.send(
        FUNCTIONAL_ID,
        bytes(
            [
                0x02,  # PCI: Single Frame, 2 bytes
                0x3E,  # TesterPresent
                0x80,  # zeroSubFunction + suppressPosRspMsgIndicationBit
                PAD,  # padding
                PAD,  # padding
                PAD,  # padding
                PAD,  # padding
                PAD,  # padding
            ]
        ),
    )
    tester.send(FUNCTIONAL_ID, TESTER_PRESENT_FRAME)

    # Functional requests are handled in order: the first answer is the one to 3E 00.
    assert _next_response(tester) == TESTER_PRESENT_RESPONSE_FRAME


SUPPRESSED_WHEN_FUNCTIONAL = [
    pytest.param(
        bytes([0x85, 0x01]),  # ControlDTCSetting on: a service the engine lacks
        0x11,  # serviceNotSupported
        id="0x11-unsupported-service",
    ),
    pytest.param(
        bytes([0x27, 0x01]),  # SecurityAccess requestSeed in the default session
        0x7F,  # serviceNotSupportedInActiveSession
        id="0x7F-service-not-in-session",
    ),
    pytest.param(
        bytes([0x3E, 0x05]),  # TesterPresent with an unknown sub-function
        0x12,  # subFunctionNotSupported
        id="0x12-unknown-sub-function",
    ),
    pytest.param(
        bytes([0x22, 0x12, 0x34]),  # ReadDataByIdentifier of DID 0x1234 (unknown)
        0x31,  # requestOutOfRange
        id="0x31-unknown-did",
    ),
]


@pytest.mark.parametrize(("payload", "nrc"), SUPPRESSED_WHEN_FUNCTIONAL)
def test_functionally_suppressed_nrcs(
    engine_node: EngineEcu, tester: ScanTool, payload: bytes, nrc: int
) -> None:
    tester.send(FUNCTIONAL_ID, _single_frame(payload))
    tester.send(FUNCTIONAL_ID, TESTER_PRESENT_FRAME)
    assert _next_response(tester) == TESTER_PRESENT_RESPONSE_FRAME  # nothing came before it

    tester.send(REQUEST_ID, _single_frame(payload))
    # Physically addressed, the same request gets its NRC: 7F <sid> <nrc>.
    assert _next_response(tester) == _single_frame(bytes([0x7F, payload[0], nrc]))


def test_functional_length_error_is_still_answered(
    engine_node: EngineEcu, tester: ScanTool
) -> None:
    """0x13 is not among the NRCs suppressed for functional requests (ISO 14229-1 §7.5.3)."""
    tester.send(
        FUNCTIONAL_ID,
        bytes(
            [
                0x01,  # PCI: Single Frame, 1 byte
                0x3E,  # TesterPresent without its sub-function
                PAD,  # padding
                PAD,  # padding
                PAD,  # padding
                PAD,  # padding
                PAD,  # padding
                PAD,  # padding
            ]
        ),
    )

    assert _next_response(tester) == bytes(
        [
            0x03,  # PCI: Single Frame, 3 bytes
            0x7F,  # negative response
            0x3E,  # TesterPresent
            0x13,  # incorrectMessageLengthOrInvalidFormat
            PAD,  # padding
            PAD,  # padding
            PAD,  # padding
            PAD,  # padding
        ]
    )


FUNCTIONAL_FIRST_FRAME = bytes(
    [
        0x10,  # PCI: First Frame, FF_DL high nibble 0
        0x13,  # FF_DL: 19 bytes
        0x22,  # ReadDataByIdentifier
        0xF1,  # DID F190 high byte
        0x90,  # DID F190 low byte (VIN)
        0xF1,  # DID F18C high byte
        0x8C,  # DID F18C low byte (serial number)
        0xF1,  # DID F187 high byte
    ]
)
FUNCTIONAL_CONSECUTIVE_FRAMES = (
    bytes(
        [
            0x21,  # PCI: Consecutive Frame, SN 1
            0x87,  # DID F187 low byte (part number)
            0xF1,  # DID F197 high byte
            0x97,  # DID F197 low byte (system name)
            0xF1,  # DID F186 high byte
            0x86,  # DID F186 low byte (active session)
            0xF1,  # DID F190 high byte
            0x90,  # DID F190 low byte (VIN)
        ]
    ),
    bytes(
        [
            0x22,  # PCI: Consecutive Frame, SN 2
            0xF1,  # DID F18C high byte
            0x8C,  # DID F18C low byte
            0xF1,  # DID F187 high byte
            0x87,  # DID F187 low byte
            0xF1,  # DID F197 high byte
            0x97,  # DID F197 low byte
            PAD,  # padding (19 bytes = 6 + 7 + 6)
        ]
    ),
)


def test_functional_first_frame_is_ignored(engine_node: EngineEcu, tester: ScanTool) -> None:
    """Multi-frame functional requests are not allowed (ISO 15765-2; diagnostic-contract.md §1): no
    Flow Control, no response, and the node keeps serving."""
    tester.send(FUNCTIONAL_ID, FUNCTIONAL_FIRST_FRAME)
    tester.send(FUNCTIONAL_ID, TESTER_PRESENT_FRAME)

    assert _next_response(tester) == TESTER_PRESENT_RESPONSE_FRAME  # no Flow Control before it

    # Even a tester that sends the Consecutive Frames without waiting for a Flow Control gets
    # nothing: the reassembled 19-byte functional request is dropped.
    tester.send(FUNCTIONAL_ID, FUNCTIONAL_FIRST_FRAME)
    for frame in FUNCTIONAL_CONSECUTIVE_FRAMES:
        tester.send(FUNCTIONAL_ID, frame)
    tester.send(FUNCTIONAL_ID, TESTER_PRESENT_FRAME)
    assert _next_response(tester) == TESTER_PRESENT_RESPONSE_FRAME

    tester.send(REQUEST_ID, TESTER_PRESENT_FRAME)
    assert _next_response(tester) == TESTER_PRESENT_RESPONSE_FRAME


def _check_padded(frame: can.Message, pad: int) -> None:
    """8 bytes; whatever the ISO-TP PCI leaves unused holds ``pad``."""
    data = bytes(frame.data)
    assert frame.dlc == 8 and len(data) == 8, data.hex()
    pci = data[0] >> 4
    if pci == 0x0:  # Single Frame
        used = 1 + (data[0] & 0x0F)
    elif pci == 0x3:  # Flow Control
        used = 3
    else:  # First or Consecutive Frame (the 20-byte VIN response fills its last CF exactly)
        used = 8
    assert data[used:] == bytes([pad]) * (8 - used), data.hex()


def _exercise(client_factory: ClientFactory) -> None:
    """Requests that make the node send Single, First, Consecutive and Flow Control frames."""
    client = client_factory()
    client.tester_present()
    assert client.read_data_by_identifier_first(DID_VIN) == DEFAULT_VIN
    client.change_session(EXTENDED_SESSION)
    client.unlock_security_access(0x01)
    client.write_data_by_identifier(DID_VIN, DEFAULT_VIN)  # 20-byte request: Flow Control
    client.conn.send(bytes([0x27]))  # SecurityAccess without sub-function: 3-byte 7F 27 13
    assert client.conn.wait_frame(timeout=REQUEST_TIMEOUT_S, exception=True) == bytes(
        [0x7F, 0x27, 0x13]  # negative response, SecurityAccess, incorrectLength
    )


@pytest.mark.parametrize("pad", [PAD, 0x00])
def test_every_frame_is_padded_to_8_bytes(
    bench: Bench, tester: ScanTool, uds_client: ClientFactory, pad: int
) -> None:
    bench.serve(EngineEcu(EngineConfig(isotp=IsoTpParameters(padding=pad))))

    _exercise(uds_client)

    frames = tester.drain()
    kinds = {f.data[0] >> 4 for f in frames}
    assert kinds == {0x0, 0x1, 0x2, 0x3}  # SF, FF, CF and FC were all seen
    for frame in frames:
        assert frame.arbitration_id == RESPONSE_ID
        _check_padded(frame, pad)
    negative = [f for f in frames if bytes(f.data[1:4]) == bytes([0x7F, 0x27, 0x13])]
    assert bytes(negative[0].data) == bytes(
        [
            0x03,  # PCI: Single Frame, 3 bytes
            0x7F,  # negative response
            0x27,  # SecurityAccess
            0x13,  # incorrectMessageLengthOrInvalidFormat
            pad,  # padding
            pad,  # padding
            pad,  # padding
            pad,  # padding
        ]
    )


@pytest.fixture
def fd_bench(channel: str) -> Iterator[Bench]:
    vehicle = Bench(channel, fd=True)
    yield vehicle
    vehicle.close()


@pytest.fixture
def fd_tester(channel: str) -> Iterator[ScanTool]:
    side = ScanTool(channel, fd=True)
    yield side
    side.close()


def test_can_fd_vin_in_one_frame(fd_bench: Bench, fd_tester: ScanTool) -> None:
    assert fd_bench.connection.bus.protocol is can.CanProtocol.CAN_FD
    fd_bench.serve(EngineEcu(EngineConfig(isotp=IsoTpParameters(fd=True))))
    client = fd_tester.client(params={**CLIENT_ISOTP_PARAMS, "can_fd": True, "tx_data_length": 64})

    assert client.read_data_by_identifier_first(DID_VIN) == DEFAULT_VIN

    frames = fd_tester.drain()
    assert len(frames) == 1  # 20 bytes fit one CAN-FD Single Frame
    frame = frames[0]
    assert frame.is_fd
    assert frame.arbitration_id == RESPONSE_ID
    data = bytes(frame.data)
    assert len(data) == 24  # the smallest CAN-FD length that holds 2 + 20 bytes
    assert data[:5] == bytes(
        [
            0x00,  # PCI: Single Frame with escape sequence (ISO 15765-2 CAN-FD)
            0x14,  # SF_DL: 20 bytes
            0x62,  # ReadDataByIdentifier positive response
            0xF1,  # DID high byte
            0x90,  # DID low byte (VIN)
        ]
    )
    assert data[5:22] == DEFAULT_VIN.encode("ascii")
    assert data[22:] == bytes([PAD, PAD])  # padding up to the CAN-FD length 24
