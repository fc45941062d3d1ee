"""Extended 11-bit addressing: two ECUs on 0x750/0x758 told apart by the sub-address byte
(diagnostic-contract.md §1: transponder key ECU 0x57, certification ECU 0xB5), on one bus with one
Notifier."""

from __future__ import annotations

from dataclasses import dataclass

import can
import isotp
import pytest
import udsoncan
from udsoncan.client import Client

from ecusim.ecus.engine import EngineConfig, EngineEcu
from ecusim.ecus.identification import serial_number_for
from protocol.isotp_binding import IsoTpAddressing
from tests.integration.uds_bench import (
    DID_ACTIVE_SESSION,
    DID_SERIAL_NUMBER,
    DID_VIN,
    EXTENDED_SESSION,
    Bench,
    ScanTool,
    client_config,
    engine_did_codecs,
)

REQUEST_ID = 0x750
RESPONSE_ID = 0x758
IMMOBILIZER_SUB_ADDRESS = 0x57
SMART_KEY_SUB_ADDRESS = 0xB5
IMMOBILIZER_VIN = "JTHBL5EF0C5000001"
SMART_KEY_VIN = "JTHBA1D29G5000002"
PAD = 0xCC


@dataclass
class Node:
    sub_address: int
    vin: str
    ecu: EngineEcu
    client: Client


def _node(bench: Bench, tool: ScanTool, sub_address: int, vin: str) -> Node:
    ecu = EngineEcu(
        EngineConfig(
            vin=vin,
            addressing=IsoTpAddressing(
                request_id=REQUEST_ID, response_id=RESPONSE_ID, extended_address=sub_address
            ),
        )
    )
    bench.serve(ecu)
    codecs = engine_did_codecs()
    codecs[DID_SERIAL_NUMBER] = udsoncan.AsciiCodec(len(serial_number_for("ENG", vin)))
    client = tool.client(
        isotp.Address(
            isotp.AddressingMode.Extended_11bits,
            txid=REQUEST_ID,
            rxid=RESPONSE_ID,
            target_address=sub_address,
            source_address=sub_address,
        ),
        config=client_config(data_identifiers=codecs),
    )
    return Node(sub_address, vin, ecu, client)


@pytest.fixture
def nodes(bench: Bench, tester: ScanTool) -> tuple[Node, Node]:
    """Two ECUs on the same bus and Notifier, same CAN IDs, different sub-addresses."""
    return (
        _node(bench, tester, IMMOBILIZER_SUB_ADDRESS, IMMOBILIZER_VIN),
        _node(bench, tester, SMART_KEY_SUB_ADDRESS, SMART_KEY_VIN),
    )


def test_each_node_answers_with_its_own_identity(nodes: tuple[Node, Node]) -> None:
    serials = set()
    for node in nodes:
        assert node.client.read_data_by_identifier_first(DID_VIN) == node.vin  # multi-frame
        serial = node.client.read_data_by_identifier_first(DID_SERIAL_NUMBER)
        assert serial == serial_number_for("ENG", node.vin)
        serials.add(serial)
    assert len(serials) == 2


def test_sessions_and_security_are_per_node(nodes: tuple[Node, Node]) -> None:
    immobilizer, smart_key = nodes

    immobilizer.client.change_session(EXTENDED_SESSION)
    immobilizer.client.unlock_security_access(0x01)

    assert immobilizer.client.read_data_by_identifier_first(DID_ACTIVE_SESSION) == 0x03
    assert smart_key.client.read_data_by_identifier_first(DID_ACTIVE_SESSION) == 0x01
    assert immobilizer.ecu.server.security.unlocked_level == 0x01
    assert smart_key.ecu.server.security.unlocked_level is None

    smart_key.client.change_session(EXTENDED_SESSION)
    smart_key.client.unlock_security_access(0x01)
    assert smart_key.ecu.server.security.unlocked_level == 0x01


def _tester_present_frame(sub_address: int) -> bytes:
    return bytes(
        [
            sub_address,  # N_TA: the addressed ECU
            0x02,  # PCI: Single Frame, 2 bytes
            0x3E,  # TesterPresent
            0x00,  # zeroSubFunction
            PAD,  # padding
            PAD,  # padding
            PAD,  # padding
            PAD,  # padding
        ]
    )


def _tester_present_response(sub_address: int) -> bytes:
    return bytes(
        [
            sub_address,  # N_TA echoed
            0x02,  # PCI: Single Frame, 2 bytes
            0x7E,  # TesterPresent positive response
            0x00,  # zeroSubFunction
            PAD,  # padding
            PAD,  # padding
            PAD,  # padding
            PAD,  # padding
        ]
    )


def test_each_node_answers_only_its_own_sub_address(
    nodes: tuple[Node, Node], tester: ScanTool
) -> None:
    tester.send(REQUEST_ID, _tester_present_frame(0x99))  # a sub-address no node has
    tester.send(REQUEST_ID, _tester_present_frame(IMMOBILIZER_SUB_ADDRESS))
    tester.send(REQUEST_ID, _tester_present_frame(SMART_KEY_SUB_ADDRESS))

    # Each node handles its frames in order, so a wrong answer would come before its right one.
    expected = {
        _tester_present_response(IMMOBILIZER_SUB_ADDRESS),
        _tester_present_response(SMART_KEY_SUB_ADDRESS),
    }
    received: list[bytes] = []
    while not expected <= set(received):
        frame = tester.next_frame(RESPONSE_ID)
        assert frame is not None, f"missing responses; got {[r.hex() for r in received]}"
        received.append(bytes(frame.data))
    assert sorted(received) == sorted(expected)


def _check_extended_frame(frame: can.Message, sub_addresses: set[int]) -> int:
    """Every response frame: 8 bytes, N_TA first, ISO-TP PCI second, padded with 0xCC.
    Returns the sub-address."""
    data = bytes(frame.data)
    assert frame.arbitration_id == RESPONSE_ID
    assert not frame.is_extended_id
    assert len(data) == 8, data.hex()
    assert data[0] in sub_addresses, data.hex()
    pci = data[1] >> 4
    if pci == 0x0:  # Single Frame: length in the low nibble
        used = 2 + (data[1] & 0x0F)
    elif pci == 0x3:  # Flow Control: FS, BS, STmin
        used = 4
    else:  # First Frame or Consecutive Frame: every byte may carry data
        used = 8
    assert data[used:] == bytes([PAD]) * (8 - used), data.hex()
    return data[0]


def test_every_response_frame_echoes_the_sub_address_and_is_padded(
    nodes: tuple[Node, Node], tester: ScanTool
) -> None:
    for node in nodes:
        node.client.change_session(EXTENDED_SESSION)
        node.client.unlock_security_access(0x01)
        node.client.read_data_by_identifier_first(DID_VIN)  # First + Consecutive Frames
        node.client.write_data_by_identifier(DID_VIN, node.vin)  # the node sends a Flow Control
        node.client.tester_present()  # Single Frame

    frames = tester.drain()
    seen = [
        _check_extended_frame(f, {IMMOBILIZER_SUB_ADDRESS, SMART_KEY_SUB_ADDRESS}) for f in frames
    ]
    assert set(seen) == {IMMOBILIZER_SUB_ADDRESS, SMART_KEY_SUB_ADDRESS}
    flow_controls = [f for f in frames if f.data[1] >> 4 == 0x3]
    assert len(flow_controls) == 2  # one per VIN write
    assert bytes(flow_controls[0].data[1:4]) == bytes(
        [
            0x30,  # PCI: Flow Control, FS = ContinueToSend
            0x00,  # BS = 0: no further flow control
            0x00,  # STmin = 0 ms
        ]
    )
